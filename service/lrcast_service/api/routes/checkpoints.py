"""Checkpoints: the job announces each one it saved; the autopilot rewinds to the latest
before a spike (`core/autopilot.py`)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Response

from ...core import autopilot
from ..deps import LiveDep
from ..idempotency import KeyDep, encode
from ..models import CheckpointIn, CheckpointOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["autopilot"])


@router.post("/runs/{run_id}/checkpoints", response_model=CheckpointOut)
async def post_checkpoint(run_id: RunId, body: CheckpointIn, live: LiveDep,
                          key: KeyDep) -> Response:
    """The job saved a checkpoint after step `step` (idempotent: `new` is false for a step
    announced before). A rewind drops the checkpoints after its step."""
    await live.view(run_id)
    return await key.apply(run_id, partial(autopilot.checkpoint, step=body.step),
                           lambda _, new: encode(CheckpointOut(run_id=run_id, step=body.step,
                                                               new=new)))
