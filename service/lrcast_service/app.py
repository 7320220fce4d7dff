"""The app factory: `create_app(settings)` builds an app on its own store, cache, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from . import errors
from .auth import Auth
from .config import Settings
from .deps import require_token
from .domain.live import LiveRuns, encode
from .metrics import Metrics, MetricsMiddleware
from .migrations import upgrade
from .models import ErrorBody
from .routes import (
    amendments,
    dashboard,
    events,
    health,
    leases,
    lr,
    preview,
    reports,
    rewind,
    rounds,
    runs,
    suggestion,
)
from .routes.lr_fast import FastLR
from .store import notify
from .store.sql import SqlStore


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
                raise errors.ApiError(413, "too_large", f"body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)

    async def _too_large(self, send: Any) -> None:
        data = encode(errors.ApiError(413, "too_large", f"body over {self.limit} bytes").body())
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


class LRCastAPI(FastAPI):
    """FastAPI, with the fast path of ``GET .../lr`` (`routes/lr_fast.py`) ahead of its
    whole middleware stack: what the fast path does not answer goes through FastAPI."""

    fast: FastLR | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.fast is not None and await self.fast.answer(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service on its own store, cache and metrics registry (migrated first). In front,
    outermost first: the fast LR path, metrics, the body limit."""
    settings = settings or Settings()
    upgrade(settings.database)
    store = SqlStore(settings.database, settings.pool_size)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # replicas over PostgreSQL: follow the other replicas' writes (store/notify.py)
        replication = notify.attach(api.state.live, store, settings.database)
        if replication is not None:
            await replication.start()
        try:
            yield
        finally:
            if replication is not None:
                await replication.stop()
            store.close()

    api = LRCastAPI(title="lrcast", version="1", lifespan=lifespan,
                  description="Learning-rate schedules as a service: every rank of a training "
                              "job gets the same LR for the same step.")
    api.state.settings = settings
    api.state.store = store
    api.state.auth = Auth(settings.token_list())
    api.state.metrics = Metrics()
    api.state.live = LiveRuns(store, settings.reserve_chunk, settings.max_wait)
    errors.install(api)

    # each router carries its /v1 prefix itself, so a route's path is its full template
    for module in (runs, lr, reports, amendments, rewind, leases, events, preview, rounds,
                   suggestion):
        api.include_router(module.router, dependencies=[Depends(require_token)],
                           responses={401: {"model": ErrorBody, "description": "unauthorized"},
                                      404: {"model": ErrorBody, "description": "run_not_found"},
                                      422: {"model": ErrorBody,
                                            "description": "invalid input, naming the field"}})
    api.include_router(health.router)
    api.include_router(dashboard.router)  # the web dashboard at / (public; the API needs tokens)

    api.add_middleware(BodyLimit, limit=settings.max_body)
    api.add_middleware(MetricsMiddleware, metrics=api.state.metrics)
    api.fast = FastLR(api.state.live, api.state.auth, api.state.metrics)
    return api
