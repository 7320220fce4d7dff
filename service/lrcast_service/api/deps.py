"""FastAPI dependencies: the app's services (store, live views, range tests, previews,
settings, metrics). The token is checked before them, by `middleware.TokenGate`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ..config import Settings
from ..runtime.live import LiveRuns
from ..runtime.range_tests import RangeTests
from ..store.base import Store
from .metrics import Metrics
from .previews import PreviewPool


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


def get_previews(request: Request) -> PreviewPool:
    return request.app.state.previews


LiveDep = Annotated[LiveRuns, Depends(get_live)]
StoreDep = Annotated[Store, Depends(get_store)]
RangeTestsDep = Annotated[RangeTests, Depends(get_range_tests)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
PreviewsDep = Annotated[PreviewPool, Depends(get_previews)]
