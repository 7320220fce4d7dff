"""Amendments: a running job's schedule changed from a step on."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import LiveDep
from ..errors import invalid, spec_error
from ..models import AmendmentIn, AmendmentOut
from ._common import RunId, build_schedule

router = APIRouter(prefix="/v1", tags=["amendments"])


@router.post("/runs/{run_id}/amendments", response_model=AmendmentOut)
async def amend(run_id: RunId, body: AmendmentIn, live: LiveDep) -> AmendmentOut:
    """From `from_step` on, either a new `schedule` (it starts at its own step 0 there, as a
    SequentialLR member does, with a fresh plateau state) or `scale` x the schedule in force
    (scales compound: 0.5 then 0.5 is 0.25). Segments from `from_step` on are replaced.
    409 amendment_too_early with `min_step` when a rank was already served (or leased) an LR
    at or beyond `from_step`, or a plateau round lies beyond it."""
    if (body.schedule is None) == (body.scale is None):
        raise invalid("schedule", "give exactly one of schedule or scale")
    view = await live.view(run_id)
    if body.schedule is not None:
        new = build_schedule(body.schedule)
        if new.num_groups != view.timeline.num_groups:
            raise spec_error(ValueError(
                f"has {new.num_groups} parameter group(s); the run has "
                f"{view.timeline.num_groups}"), "schedule.lr")
    rec = await live.write(run_id, live.store.amend, run_id, body.from_step, body.schedule,
                           body.scale)
    view = live.views[run_id]
    return AmendmentOut(run_id=run_id, from_step=body.from_step, version=rec.version,
                        timeline=view.timeline_json())

