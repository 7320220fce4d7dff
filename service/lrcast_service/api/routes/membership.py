"""Membership: the job restarted with another world size (`core/membership.py`)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Response

from ...core import membership as rule
from ...core.record import RunRecord
from ..errors import conflicts
from ..idempotency import KeyDep, encode
from ..models import Generation, MembershipIn, MembershipOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["membership"])


def generations(rec: RunRecord) -> list[Generation]:
    """The run's generations as the API shows them."""
    return [Generation(**g.to_json()) for g in rule.generations(rec)]


def answer(run_id: str, rec: RunRecord, result: rule.MembershipResult) -> tuple[int, bytes]:
    """The same body for the change and for every repeat of it."""
    return encode(MembershipOut(run_id=run_id, **result.generation.to_json(),
                                generations=generations(rec)))


@router.post("/runs/{run_id}/membership", response_model=MembershipOut, responses=conflicts(
    "membership_conflict (with fields: what conflicts, and the epoch, world_size and "
    "from_step in force)", "run_unreadable"))
async def post_membership(run_id: RunId, body: MembershipIn, key: KeyDep) -> Response:
    """The job resumed from its checkpoint at `from_step` with `world_size` ranks, as
    membership generation `epoch` (greater than the run's). It implies the rewind to
    `from_step` (rounds, reports and decisions after it dropped, plateau state restored),
    every undecided round is discarded (recorded in the ``membership`` event with its
    partial reports), and the rounds after `from_step` expect `world_size` reports. The
    same generation again is a no-op with the same answer; its epoch with another
    world_size or from_step, or an older epoch, is 409 membership_conflict. Each replica
    brings its own record of the ranks' progress back when it installs the change
    (`LiveRuns.install`)."""
    return await key.apply(
        run_id, partial(rule.change, epoch=body.epoch, world_size=body.world_size,
                        from_step=body.from_step),
        lambda rec, result: answer(run_id, rec, result))
