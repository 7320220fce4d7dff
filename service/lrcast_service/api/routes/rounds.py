"""Plateau rounds as reported: every rank's value per round, the aggregated value, the spread.

Read-only, for the dashboard's metric chart and the LR range test's analysis: one read
transaction (`Store.rounds`; a run's record keeps only the open and latest rounds, which is
all the LR path needs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from ..deps import StoreDep
from ..models import RoundOut, RoundPage
from ..params import RunId, StepAfterQ

router = APIRouter(prefix="/v1", tags=["rounds"])


@router.get("/runs/{run_id}/rounds", response_model=RoundPage)
async def rounds(run_id: RunId, store: StoreDep, after: StepAfterQ = -1,
                 limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> RoundPage:
    """The run's rounds with step > `after` in step order: each rank's value, the aggregated
    value once decided (`value`), and the spread (`min`, `max`) across the ranks."""
    run, rows = await run_in_threadpool(store.rounds, run_id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return RoundPage(**run, rounds=[RoundOut(**r) for r in rows],
                     next=rows[-1]["step"] if more else None)
