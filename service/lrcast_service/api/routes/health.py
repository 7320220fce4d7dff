"""Liveness, readiness and metrics (not under /v1: no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from ..deps import MetricsDep, StoreDep
from ..errors import ApiError
from ..models import Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status)
async def healthz() -> Status:
    """The process answers."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status)
async def readyz(store: StoreDep) -> Status:
    """The store answers (503 otherwise)."""
    try:
        await run_in_threadpool(store.ping)
    except Exception as exc:
        raise ApiError(503, "store_unavailable", f"the store does not answer: "
                                                 f"{type(exc).__name__}") from exc
    return Status(status="ready")


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
          "description": "Prometheus text format"}})
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus text format."""
    return Response(await run_in_threadpool(metrics.render), media_type=CONTENT_TYPE_LATEST)
