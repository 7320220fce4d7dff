"""Rewind: the job resumed from a checkpoint (`core/rewind.py`)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Response

from ...core import rewind as rule
from ..deps import LiveDep
from ..errors import conflicts
from ..idempotency import KeyDep, encode
from ..models import RewindIn, RewindOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["rewind"])


@router.post("/runs/{run_id}/rewind", response_model=RewindOut,
             responses=conflicts("run_unreadable"))
async def rewind(run_id: RunId, body: RewindIn, live: LiveDep, key: KeyDep) -> Response:
    """The job resumed from a checkpoint saved at `to_step`, after that step's round (if
    any) was decided: reports, rounds and decisions after `to_step` are dropped, the plateau
    state is restored to what it was at `to_step`, amendments stay, and the served frontier
    goes back to `to_step` (so the job may amend from the checkpoint on).

    Idempotent: a rewind identical (to_step, resume_id) to the latest applied one is a no-op
    (`applied` false). With a resume_id that holds until another rewind; without one, only
    while nothing was reported since."""
    def rewound(applied: bool) -> None:
        if applied:
            live.rewound(run_id, body.to_step)

    return await key.apply(
        run_id, partial(rule.rewind, to_step=body.to_step, resume_id=body.resume_id),
        lambda rec, applied: encode(RewindOut(run_id=run_id, to_step=body.to_step,
                                              version=rec.version, applied=applied)),
        after=rewound)
