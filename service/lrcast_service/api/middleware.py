"""The ASGI middleware around the API: the request body limit and the metrics."""

from __future__ import annotations

import json
import time
from typing import Any

from .errors import ApiError
from .metrics import Metrics

__all__ = ["BodyLimit", "MetricsMiddleware"]

Scope = dict[str, Any]


class BodyLimit:
    """413 for request bodies over `limit` bytes (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._too_large(send)
                return
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, "too_large", f"body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)

    async def _too_large(self, send: Any) -> None:
        error = ApiError(413, "too_large", f"body over {self.limit} bytes")
        data = json.dumps(error.body(), separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


class MetricsMiddleware:
    """Counts each HTTP request under its route template (``/v1/runs/{run_id}/lr``), never the
    raw path; unmatched paths count as ``unmatched``."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - start)
