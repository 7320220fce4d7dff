"""LR queries: one step (``/lr``), a range (``/lrs``), the resolved schedule (``/timeline``).

``GET /lr`` is normally answered by the fast path (`api/fast_lr.py`) before FastAPI; this
route answers what the fast path hands over (cache misses, frontier extensions, long-polls,
errors) with the same bytes (`RunView.lr_body`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ...core import autopilot, frontier, membership, timeline
from ...core.errors import RewindDirective
from ...runtime.live import LiveRuns
from ..deps import LiveDep
from ..errors import conflicts
from ..models import LR, MAX_STEP, LRRange, ResolvedTimeline
from ..params import EpochQ, RankQ, RunId, StepQ, StopQ, StrideQ, WaitQ

router = APIRouter(prefix="/v1", tags=["lr"])


@router.get("/runs/{run_id}/lr", response_model=LR, responses=conflicts(
    "round_pending (with step, missing_ranks)", "rewind (an autopilot directive for this rank)",
    "stale_membership (with epoch, sent_epoch)", "run_unreadable"))
async def get_lr(run_id: RunId, step: StepQ, live: LiveDep, rank: RankQ = None,
                 wait: WaitQ = 0.0, epoch: EpochQ = None) -> Response:
    """The LR of every parameter group at `step`. Every rank gets the same answer for the
    same step: an amendment can no longer take effect at a step once it was served. While
    the plateau round at some step s <= `step` waits for reports, waits up to `wait` seconds
    for it, then 409 round_pending. A rank's `epoch` older than the run's membership epoch
    is 409 stale_membership; a newer one is answered as to an observer (no rank, no
    progress) until that generation's membership change is made."""
    return Response(await lr_body(live, run_id, step, rank, wait, epoch),
                    media_type="application/json")


async def querying_rank(live: LiveRuns, run_id: str, rank: int | None,
                        epoch: int | None) -> int | None:
    """The rank a query speaks for: `rank`, checked against the run's world size; None for
    an observer (`core.membership.observer`: a generation the run does not know yet);
    `StaleMembership` for an epoch older than the run's."""
    view = await live.view(run_id)
    if epoch is not None and epoch > view.epoch and live.replication is not None:
        # replicas: the change may have been made on another one, whose notification this
        # view has not followed yet: read the run afresh
        await live.refresh(run_id)
        view = await live.view(run_id)
    if membership.observer(view.record, epoch):
        return None
    frontier.check_rank(view.world_size, rank)
    return rank


async def lr_body(live: LiveRuns, run_id: str, step: int, rank: int | None,
                  wait: float, epoch: int | None = None) -> bytes:
    """The route's work, shared with the long-poll path (`api/fast_longpoll.py`): the rank
    checked and fenced (`querying_rank`), the step served (past the barrier, within
    `wait`), then its encoded answer; a rank the autopilot's directive stops is
    `RewindDirective` (409)."""
    rank = await querying_rank(live, run_id, rank, epoch)
    view, _ = await live.served(run_id, step, 1, rank, wait)
    membership.check_epoch(view.record, epoch, newer_ok=True)  # a change while it waited
    directive = autopilot.blocking_directive(view.record, rank, step)
    if directive is not None:  # this rank must rewind first (409 rewind)
        raise RewindDirective(directive)
    return view.lr_body(step)


@router.get("/runs/{run_id}/lrs", response_model=LRRange, responses=conflicts(
    "round_pending (with step, missing_ranks)", "run_unreadable"))
async def get_lrs(run_id: RunId, start: StepQ, stop: StopQ, live: LiveDep,
                  stride: StrideQ = 1, wait: WaitQ = 0.0) -> dict[str, Any]:
    """LRs for ``range(start, stop, stride)`` (at most 100,000 points and 1,000,000 LRs:
    points x parameter groups), for inspection: it
    does not reserve the steps, so steps at or past the run's served frontier may still be
    changed by an amendment (training ranks use ``/lr`` or a lease)."""
    groups = (await live.view(run_id)).timeline.num_groups
    steps = timeline.step_range(start, stop, stride, groups)
    view = await live.past_barrier(run_id, steps[-1], wait)
    return {**timeline.evaluate_range(view.timeline, steps), "version": view.version}


@router.get("/runs/{run_id}/timeline", response_model=ResolvedTimeline, responses=conflicts(
    "round_pending (with step, missing_ranks)", "run_unreadable"))
async def get_timeline(run_id: RunId, live: LiveDep, step: Annotated[
        int | None, Query(ge=0, le=MAX_STEP, description="barrier at this step (default: "
                                                          "any pending round)")] = None,
                       wait: WaitQ = 0.0) -> ResolvedTimeline:
    """The run's resolved schedule (segments with their plateau decisions), read-only: it
    reserves nothing (leases do). Follows the barrier rule like ``/lr``."""
    if step is None:
        view = await live.view(run_id)
        if view.barrier is not None:
            view = await live.past_barrier(run_id, view.barrier, wait)
    else:
        view = await live.past_barrier(run_id, step, wait)
    return ResolvedTimeline(run_id=view.run_id, version=view.version,
                            timeline=view.timeline_json(),
                            consumption=view.consumption_json(), metric_driven=view.metric_driven,
                            world_size=view.world_size, served_frontier=view.frontier)
