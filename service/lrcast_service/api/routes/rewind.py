"""Rewind: the job resumed from a checkpoint (`core/rewind.py`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ...core import autopilot
from ...core import rewind as rule
from ...core.changes import Change, History
from ...core.record import RunRecord
from ..errors import conflicts
from ..idempotency import KeyDep, encode
from ..models import RewindIn, RewindOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["rewind"])


@router.post("/runs/{run_id}/rewind", response_model=RewindOut,
             responses=conflicts("run_unreadable"))
async def rewind(run_id: RunId, body: RewindIn, key: KeyDep) -> Response:
    """The job resumed from a checkpoint saved at `to_step`, after that step's round (if
    any) was decided: reports, rounds and decisions after `to_step` are dropped, the plateau
    state is restored to what it was at `to_step`, amendments stay, and the served frontier
    goes back to `to_step` (so the job may amend from the checkpoint on).

    Idempotent: a rewind identical (to_step, resume_id) to the latest applied one is a no-op
    (`applied` false). With a resume_id that holds until another rewind; without one, only
    while nothing was reported since. With `resume_id` = an autopilot directive's id it
    acknowledges that directive for `rank` (the first one rewinds the run and scales the LR
    from `to_step`; `to_step` must be the directive's)."""
    def ack_or_rewind(rec: RunRecord, history: History) -> tuple[Change, bool]:
        if body.resume_id is not None:  # an autopilot directive's id: its acknowledgement
            acked = autopilot.acknowledge(rec, history, body.rank, body.to_step,
                                          body.resume_id)
            if acked is not None:
                return acked
        return rule.rewind(rec, history, body.to_step, body.resume_id)

    return await key.apply(
        run_id, ack_or_rewind,
        lambda rec, applied: encode(RewindOut(run_id=run_id, to_step=body.to_step,
                                              version=rec.version, applied=applied)))
