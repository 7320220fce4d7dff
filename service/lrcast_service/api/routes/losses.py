"""Training losses: ranks send them in batches; the autopilot judges them
(`core/autopilot.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from ...core import autopilot, membership
from ...core.changes import Change, History
from ...core.record import RunRecord
from ..deps import LiveDep, MetricsDep, StoreDep
from ..idempotency import KeyDep, encode
from ..models import MAX_STEP, LossCurve, LossesIn, LossesOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["autopilot"])


@router.post("/runs/{run_id}/losses", response_model=LossesOut)
async def post_losses(run_id: RunId, body: LossesIn, live: LiveDep, metrics: MetricsDep,
                      key: KeyDep) -> Response:
    """One rank's losses ``[[step, loss], ...]`` (a point sent again is counted once). With
    an autopilot policy, the steps every rank has sent are judged (the mean over ranks): a
    spike is an event, and in ``act`` mode one rewind directive."""
    await live.view(run_id)  # 404 before the write transaction
    def rule(rec: RunRecord, history: History) -> tuple[Change, tuple[list[str], int, str]]:
        change, raised = autopilot.log_losses(rec, history, body.rank, list(body.points))
        return change, (raised, len(change.new_losses), (rec.autopilot or {}).get("mode", "alert"))

    def counted(result: tuple[list[str], int, str]) -> None:  # once, not again on a replay
        raised, _, mode = result
        if "spike" in raised:
            metrics.spikes.labels(mode).inc()
        if "directive" in raised:
            metrics.directives.inc()

    return await key.apply(run_id, rule, lambda _, result: encode(LossesOut(
        run_id=run_id, received=len(body.points), new=result[1], events=result[0])),
        after=counted)


@router.get("/runs/{run_id}/losses", response_model=LossCurve)
async def get_losses(run_id: RunId, live: LiveDep, store: StoreDep,
                     after: Annotated[int, Query(ge=-1, le=MAX_STEP)] = -1,
                     limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> LossCurve:
    """The mean loss over ranks per step, for the steps every rank sent, after `after` (every
    rank of the membership generation in force at the step)."""
    view = await live.view(run_id)
    sizes = [(g.from_step, g.world_size) for g in membership.generations(view.record)]
    rows = await run_in_threadpool(store.loss_means, run_id, sizes, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return LossCurve(run_id=run_id, steps=[s for s, _ in rows], mean=[v for _, v in rows],
                     next=rows[-1][0] if more else None)
