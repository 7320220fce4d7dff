"""Preview: a schedule evaluated without storing anything."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from lrcast.schedules import PlateauHistory, Timeline

from ..errors import invalid
from ..models import LRRange, PreviewIn
from ._common import build_schedule
from .lr import check_range, evaluate_range

router = APIRouter(prefix="/v1", tags=["preview"])


def _preview(body: PreviewIn) -> dict[str, Any]:
    schedule = build_schedule(body.schedule)
    if body.steps is not None:
        steps = check_range(0, body.steps, 1)
    elif body.stop is not None:
        steps = check_range(body.start, body.stop, body.stride)
    else:
        raise invalid("steps", "give steps, or start and stop")
    decisions = []
    if body.reports and schedule.plateau is None:
        raise invalid("reports", "the schedule has no metric-driven part")
    if schedule.plateau is not None:
        state = schedule.plateau.initial(schedule.base_lrs)
        for report in sorted(body.reports, key=lambda r: r.step):
            if report.step < schedule.plateau_start:
                continue  # as the service: a round before the plateau part is inactive
            new = schedule.plateau.step(state, report.value)
            if new.lrs != state.lrs:
                decisions.append((report.step, new.lrs))
            state = new
    timeline = Timeline.single(schedule, PlateauHistory(decisions))
    return evaluate_range(timeline, steps)


@router.post("/preview", response_model=LRRange)
async def preview(body: PreviewIn) -> dict[str, Any]:
    """LRs of `schedule` for ``range(steps)`` or ``range(start, stop, stride)`` (at most
    100,000 points), with `reports` (one aggregated value per round) fed to its plateau part
    as the service would; nothing is stored."""
    return await run_in_threadpool(_preview, body)
