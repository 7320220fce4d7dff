"""Amendments: a running job's schedule changed from a step on (`core/amendments.py`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ...core import amendments, timeline
from ..deps import LiveDep
from ..errors import conflicts
from ..idempotency import KeyDep, encode
from ..models import AmendmentIn, AmendmentOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["amendments"])


@router.post("/runs/{run_id}/amendments", response_model=AmendmentOut, responses=conflicts(
    "amendment_too_early (with min_step)", "run_unreadable"))
async def amend(run_id: RunId, body: AmendmentIn, live: LiveDep, key: KeyDep) -> Response:
    """From `from_step` on, either a new `schedule` (it starts at its own step 0 there, as a
    SequentialLR member does, with a fresh plateau state) or `scale` x the schedule in force
    (scales compound: 0.5 then 0.5 is 0.25). Segments from `from_step` on are replaced.
    409 amendment_too_early with `min_step` when a rank was already served (or leased) an LR
    at or beyond `from_step`, or a plateau round lies beyond it."""
    amendments.check_amendment(body.schedule, body.scale)
    await live.view(run_id)  # 404 before the write transaction
    return await key.apply(run_id, lambda rec, _: (
        amendments.amend(rec, body.from_step, body.schedule, body.scale), None),
        lambda rec, _: encode(AmendmentOut(
            run_id=run_id, from_step=body.from_step, version=rec.version,
            timeline=timeline.build_timeline(rec).to_json())))
