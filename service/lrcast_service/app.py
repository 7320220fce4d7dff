"""The app factory: `create_app(settings)` wires a store, the live views, the API and its
middleware into one app (each on its own database, cache and metrics registry)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .api import errors, idempotency
from .api.auth import Auth
from .api.fast_longpoll import FastLongPoll
from .api.fast_lr import FastLR
from .api.fast_reports import FastReports
from .api.metrics import Metrics
from .api.middleware import BodyLimit, MetricsMiddleware, TokenGate
from .api.previews import PreviewPool
from .api.routes import (
    amendments,
    checkpoints,
    consumption,
    dashboard,
    docs,
    events,
    health,
    leases,
    losses,
    lr,
    membership,
    preview,
    reports,
    rewind,
    rounds,
    runs,
    schedule_types,
    suggestion,
)
from .config import Settings
from .migrations import upgrade
from .runtime import replication
from .runtime.live import LiveRuns
from .runtime.range_tests import RangeTests
from .store.sql import SqlStore

__all__ = ["create_app"]

#: the routers under /v1 that need a token (each carries its /v1 prefix itself, so a
#: route's path is its full template)
_API = (runs, lr, reports, amendments, rewind, leases, events, preview, rounds, suggestion,
        losses, checkpoints, consumption, membership, schedule_types)


class LRCastAPI(FastAPI):
    """FastAPI, with the fast paths of ``GET .../lr`` (`api/fast_lr.py`, and at a plateau
    round's barrier `api/fast_longpoll.py`) and of ``POST .../reports``
    (`api/fast_reports.py`) ahead of its whole middleware stack: what a fast path does not
    answer goes through FastAPI."""

    fast: FastLR | None = None
    fast_reports: FastReports | None = None
    fast_longpoll: FastLongPoll | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.fast is not None and await self.fast.answer(scope, send):
            return
        if self.fast_longpoll is not None and await self.fast_longpoll.answer(scope, send):
            return
        if self.fast_reports is not None and self.fast_reports.takes(scope):
            await self.fast_reports(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service on its own store, cache and metrics registry (migrated first). In front,
    outermost first: the fast LR path, metrics, the token gate, the body limit."""
    settings = settings or Settings()
    upgrade(settings.database)
    store = SqlStore(settings.database, settings.pool_size)
    live = LiveRuns(store, settings.reserve_chunk, settings.max_wait)
    previews = PreviewPool()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # replicas over PostgreSQL: follow the other replicas' writes
        following = replication.attach(live, store, settings.database)
        if following is not None:
            await following.start()
        try:
            yield
        finally:
            if following is not None:
                await following.stop()
            store.close()
            previews.close()

    api = LRCastAPI(title="lrcast", version="1", lifespan=lifespan, docs_url=None,
                    redoc_url=None,  # api/routes/docs.py serves them without a CDN
                    description="Learning-rate schedules as a service: every rank of a "
                                "training job gets the same LR for the same step.")
    api.state.settings = settings
    api.state.store = store
    api.state.auth = Auth(settings.token_list())
    api.state.metrics = Metrics()
    api.state.metrics.watch(live)
    api.state.live = live
    api.state.range_tests = RangeTests(live)
    api.state.previews = previews
    errors.install(api)
    idempotency.install(api)  # Idempotency-Key on the writes

    for module in _API:
        api.include_router(module.router, responses=errors.API_RESPONSES)
    api.include_router(health.router)
    api.include_router(dashboard.router)  # the web dashboard at / (public; the API needs tokens)
    api.mount("/dashboard", dashboard.files, name="dashboard")
    api.include_router(docs.router)

    api.add_middleware(BodyLimit, limit=settings.max_body)
    api.add_middleware(TokenGate, auth=api.state.auth)  # before the body is read
    api.add_middleware(MetricsMiddleware, metrics=api.state.metrics)
    api.fast = FastLR(live, api.state.auth, api.state.metrics)
    api.fast_longpoll = FastLongPoll(live, api.state.auth, api.state.metrics)
    api.fast_reports = FastReports(live, api.state.auth, api.state.metrics,
                                   api.state.range_tests, api.state.in_flight,
                                   settings.max_body)
    return api
