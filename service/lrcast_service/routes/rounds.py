"""Plateau rounds as reported: every rank's value per round, the aggregated value, the spread.

Read-only, for the dashboard's metric chart and the LR range test's analysis. It reads the
store's ``rounds`` and ``reports`` tables in one transaction (the `Store` interface keeps only
the open and latest rounds in a run's record, which is all the LR path needs).
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..deps import StoreDep
from ..errors import run_not_found
from ..store import schema as t
from ..store.base import Store
from ._common import RunId

router = APIRouter(prefix="/v1", tags=["rounds"])


class RoundOut(BaseModel):
    step: int
    decided: bool
    value: float | None = Field(description="the aggregated value, once decided")
    received: int
    expected: int
    reports: dict[int, float] = Field(description="rank -> reported value")
    min: float | None
    max: float | None


class RoundPage(BaseModel):
    """Rounds in step order; pass `next` as `after` for the next page."""

    run_id: str
    world_size: int
    aggregate: str
    rounds: list[RoundOut]
    next: int | None


def read_rounds(store: Store, run_id: str, after: int = -1,
                limit: int = 10_000) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the run's row, its rounds with step > `after`, oldest first, at most `limit`).

    Raises 404 run_not_found. One read transaction, two indexed range scans.
    """
    engine = store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn, conn.begin():
        run = conn.execute(sa.select(t.runs.c.id, t.runs.c.world_size, t.runs.c.aggregate)
                           .where(t.runs.c.id == run_id)).first()
        if run is None:
            raise run_not_found(run_id)
        rows = conn.execute(sa.select(t.rounds.c.step, t.rounds.c.decided, t.rounds.c.value)
                            .where(t.rounds.c.run_id == run_id, t.rounds.c.step > after)
                            .order_by(t.rounds.c.step).limit(limit)).all()
        rounds = [{"step": r.step, "decided": bool(r.decided), "value": r.value,
                   "reports": {}} for r in rows]
        if rounds:
            by_step = {r["step"]: r for r in rounds}
            for rep in conn.execute(sa.select(t.reports.c.step, t.reports.c.rank,
                                              t.reports.c.value)
                                    .where(t.reports.c.run_id == run_id,
                                           t.reports.c.step >= rounds[0]["step"],
                                           t.reports.c.step <= rounds[-1]["step"])):
                target = by_step.get(rep.step)
                if target is not None:
                    target["reports"][rep.rank] = rep.value
    for r in rounds:
        values = list(r["reports"].values())
        r.update(received=len(values), expected=run.world_size,
                 min=min(values) if values else None, max=max(values) if values else None,
                 reports=dict(sorted(r["reports"].items())))
    return {"run_id": run.id, "world_size": run.world_size, "aggregate": run.aggregate}, rounds


@router.get("/runs/{run_id}/rounds", response_model=RoundPage)
async def rounds(run_id: RunId, store: StoreDep, after: Annotated[int, Query(ge=-1)] = -1,
                 limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> RoundPage:
    """The run's rounds with step > `after` in step order: each rank's value, the aggregated
    value once decided (`value`), and the spread (`min`, `max`) across the ranks."""
    run, rows = await run_in_threadpool(read_rounds, store, run_id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return RoundPage(**run, rounds=[RoundOut(**r) for r in rows],
                     next=rows[-1]["step"] if more else None)
