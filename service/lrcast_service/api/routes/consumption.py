"""Consumption: what each step consumed (samples, tokens), for sample and token clocks and
batch scaling (`core/consumption.py`). Leases take the same entries with a renewal."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Response

from ...core import consumption
from ...runtime.live import LiveRuns, RunView
from ..deps import LiveDep
from ..errors import conflicts
from ..idempotency import Key, KeyDep, encode
from ..models import ConsumptionIn, ConsumptionOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["consumption"])


def unchanged(live: LiveRuns, view: RunView,
              entries: list[tuple[int, int | None, int | None]]) -> bool:
    """True if `entries` change nothing in the run's log as this process holds it (every rank
    sends the same entries: all but the first need no write). Only where this process sees
    every write (no replicas): a view may lag behind another replica's."""
    return live.replication is None and not consumption.changes(view.timeline.consumption,
                                                                 entries)


async def record(run_id: str, entries: list[tuple[int, int | None, int | None]],
                 live: LiveRuns, key: Key) -> Response:
    """Add `entries` to the run's log (LR answers wait for it: the promise reads the ranks'
    progress); the answer: what it accepted and the log."""
    view = await live.view(run_id)
    if unchanged(live, view, entries):
        return await key.keep(*encode(ConsumptionOut(
            run_id=run_id, accepted=0, version=view.version,
            consumption=view.consumption_json())))
    reached = live.progress.setdefault(run_id, {})  # read by the rule, under the run's lock
    return await key.apply(
        run_id, partial(consumption.record, entries=entries, reached=reached),
        lambda rec, accepted: encode(ConsumptionOut(
            run_id=run_id, accepted=accepted, version=rec.version,
            consumption=consumption.consumption_of(rec).to_json())),
        hold_answers=True)


@router.post("/runs/{run_id}/consumption", response_model=ConsumptionOut, responses=conflicts(
    "lr_already_served (with step, served_step, rank)",
    "consumption_conflict (with step, unit, recorded, given)"))
async def post_consumption(run_id: RunId, body: ConsumptionIn, live: LiveDep,
                           key: KeyDep) -> Response:
    """From each entry's `from_step` on, every step consumes its `samples` and/or `tokens`
    (the job's global batch), until the next entry naming that amount. The LR of step s
    depends on what the steps before s consumed, so an entry that changes the log at step t
    is 409 lr_already_served once a rank has reached a step beyond t; an entry that changes
    nothing (a repeat, another rank's copy) is accepted as a no-op; another amount for a step
    where one is recorded is 409 consumption_conflict. A batch is accepted whole or not."""
    return await record(run_id, body.as_entries(), live, key)
