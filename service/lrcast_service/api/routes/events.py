"""A run's history: created, plateau decisions, amendments, rewinds, with times."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from ..deps import StoreDep
from ..models import EventPage
from ..params import EventAfterQ, RunId

router = APIRouter(prefix="/v1", tags=["events"])


@router.get("/runs/{run_id}/events", response_model=EventPage)
async def events(run_id: RunId, store: StoreDep, after: EventAfterQ = 0,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> EventPage:
    """Events oldest first; pass `next` as `after` for the next page. A decision event
    (one per decided round) has the step, the aggregated value, whether the fold ran
    (`folded`), whether it reduced the LRs (`reduced`), and the old and new LRs."""
    rows = await run_in_threadpool(store.events, run_id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return EventPage(events=rows, next=rows[-1]["id"] if more else None)
