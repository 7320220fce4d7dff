"""Amendments: a running job's schedule changed from a step on (`core/amendments.py`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ...core import amendments, timeline
from ...core.changes import Change, History
from ...core.record import RunRecord
from ..deps import LiveDep
from ..errors import conflicts
from ..idempotency import KeyDep, encode
from ..models import AmendmentIn, AmendmentOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["amendments"])


@router.post("/runs/{run_id}/amendments", response_model=AmendmentOut, responses=conflicts(
    "amendment_too_early (with min_step)", "round_pending (with step, missing_ranks)",
    "run_unreadable"))
async def amend(run_id: RunId, body: AmendmentIn, live: LiveDep, key: KeyDep) -> Response:
    """From `from_step` on, either a new `schedule` (it starts at its own step 0 there, as a
    SequentialLR member does, with a fresh plateau state), `scale` x the schedule in force
    (scales compound: 0.5 then 0.5 is 0.25) or a `cooldown` (transformers' WSD decay phase
    from the LRs in force at `from_step`). Segments from `from_step` on are replaced; without
    `from_step`, from the first step an amendment may take. 409 amendment_too_early with
    `min_step` when a rank was already served (or leased) an LR at or beyond `from_step`, or
    a plateau round lies beyond it."""
    cooldown = body.cooldown.model_dump() if body.cooldown is not None else None
    amendments.check_amendment(body.schedule, body.scale, cooldown)
    await live.view(run_id)  # 404 before the write transaction

    def rule(rec: RunRecord, _: History) -> tuple[Change, int]:
        change = amendments.amend(rec, body.from_step, body.schedule, body.scale, cooldown)
        return change, change.replace_segments_from

    return await key.apply(run_id, rule, lambda rec, from_step: encode(AmendmentOut(
        run_id=run_id, from_step=from_step, version=rec.version,
        timeline=timeline.build_timeline(rec).to_json())))
