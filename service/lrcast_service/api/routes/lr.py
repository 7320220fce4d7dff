"""LR queries: one step (``/lr``), a range (``/lrs``), the resolved schedule (``/timeline``).

``GET /lr`` is normally answered by the fast path (`api/fast_lr.py`) before FastAPI; this
route answers what the fast path hands over (cache misses, frontier extensions, long-polls,
errors) with the same bytes (`RunView.lr_body`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from ...core import autopilot, frontier, timeline
from ...core.errors import RewindDirective
from ...runtime.live import LiveRuns
from ..deps import LiveDep
from ..errors import conflicts
from ..models import LR, MAX_STEP, LRRange, ResolvedTimeline
from ..params import RankQ, RunId, StepQ, StopQ, StrideQ, WaitQ

router = APIRouter(prefix="/v1", tags=["lr"])


@router.get("/runs/{run_id}/lr", response_model=LR, responses=conflicts(
    "round_pending (with step, missing_ranks)", "rewind (an autopilot directive for this rank)",
    "run_unreadable"))
async def get_lr(run_id: RunId, step: StepQ, live: LiveDep, rank: RankQ = None,
                 wait: WaitQ = 0.0) -> Response:
    """The LR of every parameter group at `step`. Every rank gets the same answer for the
    same step: an amendment can no longer take effect at a step once it was served. While
    the plateau round at some step s <= `step` waits for reports, waits up to `wait` seconds
    for it, then 409 round_pending."""
    frontier.check_rank((await live.view(run_id)).world_size, rank)
    return Response(await lr_body(live, run_id, step, rank, wait),
                    media_type="application/json")


async def lr_body(live: LiveRuns, run_id: str, step: int, rank: int | None,
                  wait: float) -> bytes:
    """The route's work once the rank is checked, shared with the long-poll path
    (`api/fast_longpoll.py`): the step served (past the barrier, within `wait`), then its
    encoded answer; a rank the autopilot's directive stops is `RewindDirective` (409)."""
    view, _ = await live.served(run_id, step, 1, rank, wait)
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
