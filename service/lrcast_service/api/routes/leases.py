"""Leases: the resolved schedule for a span of steps, for the client's local evaluation
(the horizon: `core/frontier.py`)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Response

from ...core import autopilot, consumption, frontier, membership
from ...core.errors import RewindDirective
from ..deps import LiveDep
from ..errors import conflicts
from ..idempotency import KeyDep, encode
from ..models import Lease, LeaseIn
from ..params import RunId, WaitQ
from .consumption import unchanged

router = APIRouter(prefix="/v1", tags=["leases"])


@router.post("/runs/{run_id}/leases", response_model=Lease, responses=conflicts(
    "round_pending (with step, missing_ranks)", "rewind (an autopilot directive for this rank)",
    "run_unreadable", "stale_membership (with epoch, sent_epoch)",
    "lr_already_served, consumption_conflict (its consumption entries)"))
async def lease(run_id: RunId, body: LeaseIn, live: LiveDep, key: KeyDep,
                wait: WaitQ = 0.0) -> Response:
    """Hand out the run's timeline for steps ``[step, horizon)``: the rank evaluates them
    locally (``Timeline.from_json``). horizon = step + steps, capped at the next undecided
    plateau round; the service persists served_frontier >= horizon before answering, so no
    amendment can change a leased step. A round pending at or below `step` is a barrier as
    for ``/lr`` (long-poll `wait`, then 409 round_pending). `at` tells the service where the
    rank is (its progress): leased steps past it are not used yet. A moved progress is
    written in the background, or before the answer when `at` is `step` (a rank telling where
    it stopped, e.g. when it closes its run). An `epoch` older than the run's membership
    epoch is 409 stale_membership; a newer one is answered as to an observer (no rank, no
    progress) until that generation's membership change is made. `consumption` entries are
    recorded first, as by ``POST .../consumption`` (and refused the same way)."""
    view = await live.view(run_id)
    # a generation the run does not know yet: an observer until its membership change
    observer = membership.observer(view.record, body.epoch)
    rank, at = (None, None) if observer else (body.rank, body.at)
    frontier.check_rank(view.world_size, rank)
    frontier.check_at(at, body.step + 1, "a lease's step is the rank's next one at most")
    entries = body.consumption_entries()
    if entries and not unchanged(live, view, entries):  # first: `at` may pass their steps
        await live.write(run_id, live.store.apply, run_id, partial(
            consumption.record, entries=entries, reached=live.progress.setdefault(run_id, {})),
            hold_answers=True)
    view, horizon = await live.served(run_id, body.step, body.steps, rank, wait,
                                      at=at, persist_progress=at == body.step)
    directive = autopilot.blocking_directive(view.record, rank, body.step)
    if directive is not None:  # this rank must rewind first (409 rewind)
        raise RewindDirective(directive)
    directive = autopilot.blocking_directive(view.record, rank, horizon)
    if directive is not None:  # every rank meets the directive at the same step
        horizon = directive["at_step"]
    # the served frontier only grows, so the lease's write is idempotent: its key is kept after
    return await key.keep(*encode(Lease(
        run_id=run_id, version=view.version, timeline=view.timeline_json(),
        consumption=view.consumption_json(), start=body.step, horizon=horizon,
        metric_driven=view.metric_driven, world_size=view.world_size,
        epoch=membership.current(view.record).epoch)))
