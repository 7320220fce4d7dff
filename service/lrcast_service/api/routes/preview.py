"""Preview: a schedule evaluated without storing anything (`core/preview.py`), on the
previews' own executor (`api/previews.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...core import preview as rule
from ..deps import PreviewsDep
from ..models import ErrorBody, LRRange, PreviewIn

router = APIRouter(prefix="/v1", tags=["preview"])


@router.post("/preview", response_model=LRRange, responses={
    503: {"model": ErrorBody, "description": "busy: too many previews running (Retry-After)"}})
async def preview(body: PreviewIn, previews: PreviewsDep) -> dict[str, Any]:
    """LRs of `schedule` for ``range(steps)`` or ``range(start, stop, stride)`` (at most
    100,000 points and 1,000,000 LRs: points x parameter groups), with `reports` (one
    aggregated value per round) fed to its plateau part as the service would; nothing is
    stored. Previews run one at a time, a few more wait, and past that 503 busy."""
    return await previews.run(rule.preview, body.schedule, body.steps, body.start, body.stop,
                              body.stride, [(r.step, r.value) for r in body.reports])
