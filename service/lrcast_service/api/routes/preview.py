"""Preview: a schedule evaluated without storing anything (`core/preview.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from ...core import preview as rule
from ..models import LRRange, PreviewIn

router = APIRouter(prefix="/v1", tags=["preview"])


@router.post("/preview", response_model=LRRange)
async def preview(body: PreviewIn) -> dict[str, Any]:
    """LRs of `schedule` for ``range(steps)`` or ``range(start, stop, stride)`` (at most
    100,000 points), with `reports` (one aggregated value per round) fed to its plateau part
    as the service would; nothing is stored."""
    return await run_in_threadpool(rule.preview, body.schedule, body.steps, body.start,
                                   body.stop, body.stride,
                                   [(r.step, r.value) for r in body.reports])
