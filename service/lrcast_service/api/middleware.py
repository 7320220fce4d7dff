"""The ASGI middleware around the API: the token gate, the request body limit and the
metrics."""

from __future__ import annotations

import json
import time
from typing import Any

from .auth import Auth, authorization
from .errors import ApiError
from .metrics import Metrics

__all__ = ["BodyLimit", "MetricsMiddleware", "TokenGate"]

Scope = dict[str, Any]


async def send_error(send: Any, error: ApiError) -> None:
    """Answer `error` in the API's JSON shape, from ASGI middleware (outside FastAPI)."""
    data = json.dumps(error.body(), separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(data)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class TokenGate:
    """401 for ``/v1`` requests without a configured bearer token, before anything reads
    the body: a caller without a token learns nothing about what it sent."""

    def __init__(self, app: Any, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (scope["type"] == "http" and self.auth.enabled
                and (scope["path"] == "/v1" or scope["path"].startswith("/v1/"))):
            if not self.auth.allows(authorization(scope["headers"])):
                await send_error(send, ApiError(401, "unauthorized",
                                                "missing or invalid bearer token"))
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """413 for request bodies over `limit` bytes: declared (Content-Length), or streamed
    (chunked), which is read up to the limit before the app sees it."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await self._too_large(send)
                return
            await self.app(scope, receive, send)  # the server holds the body to its length
            return
        messages, seen = [], 0
        while True:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await self._too_large(send)
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Any) -> None:
        await send_error(send, ApiError(413, "too_large", f"body over {self.limit} bytes"))


class MetricsMiddleware:
    """Counts each HTTP request under its route template (``/v1/runs/{run_id}/lr``), never the
    raw path; unmatched paths count as ``unmatched``.

    Not prometheus-fastapi-instrumentator: the fast path of ``GET .../lr`` (`fast_lr.py`)
    answers ahead of the whole middleware stack and must count into the same series with the
    same labels, so both share `Metrics.observe`; an instrumentator would own its own series
    and miss those answers."""

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
