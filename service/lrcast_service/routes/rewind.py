"""Rewind: the job resumed from a checkpoint."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import LiveDep
from ..models import RewindIn, RewindOut
from ._common import RunId

router = APIRouter(prefix="/v1", tags=["rewind"])


@router.post("/runs/{run_id}/rewind", response_model=RewindOut)
async def rewind(run_id: RunId, body: RewindIn, live: LiveDep) -> RewindOut:
    """The job resumed from a checkpoint saved at `to_step`, after that step's round (if
    any) was decided: reports, rounds and decisions after `to_step` are dropped, the plateau
    state is restored to what it was at `to_step`, amendments stay, and the served frontier
    goes back to `to_step` (so the job may amend from the checkpoint on).

    Idempotent: a rewind identical (to_step, resume_id) to the latest applied one is a no-op
    (`applied` false). With a resume_id that holds until another rewind; without one, only
    while nothing was reported since."""
    rec, applied = await live.write(run_id, live.store.rewind, run_id, body.to_step,
                                    body.resume_id)
    if applied:
        progress = live.progress.get(run_id, {})
        for rank, step in progress.items():
            progress[rank] = min(step, body.to_step)
    return RewindOut(run_id=run_id, to_step=body.to_step, version=rec.version, applied=applied)
