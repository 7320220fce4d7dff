"""FastAPI dependencies: the app's services (store, live views, range tests, settings,
metrics) and auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..config import Settings
from ..runtime.live import LiveRuns
from ..runtime.range_tests import RangeTests
from ..store.base import Store
from .auth import Auth
from .metrics import Metrics


def get_live(request: Request) -> LiveRuns:
    return request.app.state.live


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_range_tests(request: Request) -> RangeTests:
    return request.app.state.range_tests


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def require_token(request: Request) -> None:
    """401 unless the request carries a configured bearer token (when tokens are set)."""
    auth: Auth = request.app.state.auth
    if auth.enabled:
        auth.check(request.headers.get("authorization"))


LiveDep = Annotated[LiveRuns, Depends(get_live)]
StoreDep = Annotated[Store, Depends(get_store)]
RangeTestsDep = Annotated[RangeTests, Depends(get_range_tests)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
