"""The LR range test's result: ``GET /v1/runs/{run_id}/suggestion``.

A run whose schedule is ``LRRangeTest`` (torch-lr-finder's sweep) takes the training loss
as a report at every step. The decided rounds' aggregated losses, paired with the LR of
their step, go through the engine's `suggest_lr` (torch-lr-finder's smoothing, divergence
stop and steepest-descent suggestion). Once the smoothed loss has diverged the test is over:
`refuse_after_stop` (called by the report route) answers reports past that step with 409
``range_test_stopped``, which is how the training loop learns to stop.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lrcast.schedules import StepOutOfRange, suggest_lr

from ..deps import LiveDep, StoreDep
from ..domain.live import LiveRuns, RunView
from ..errors import ApiError
from ..store.base import Store
from ._common import RunId

router = APIRouter(prefix="/v1", tags=["range test"])

RANGE_TEST = "LRRangeTest"


class Suggestion(BaseModel):
    """torch-lr-finder's conclusion so far, with the curve it is drawn from."""

    run_id: str
    suggested_lr: float | None = Field(description="the LR at the steepest descent of the "
                                                   "smoothed loss (None: too few points)")
    suggested_step: int | None
    best_loss: float | None = Field(description="the lowest smoothed loss")
    diverged: bool = Field(description="the smoothed loss exceeded diverge_th * best_loss")
    stopped_at: int | None = Field(description="the step at which the test diverged")
    done: bool = Field(description="diverged, or every step of the sweep was reported")
    num_iter: int
    steps: list[int] = Field(description="the decided rounds kept (up to the divergence)")
    lrs: list[float]
    losses: list[float] = Field(description="aggregated loss per step, as reported")
    smoothed: list[float] = Field(description="the smoothed loss torch-lr-finder plots")


def is_range_test(view: RunView) -> bool:
    return view.record.spec.get("type") == RANGE_TEST


def analyse(store: Store, view: RunView, *, smooth_f: float = 0.05, diverge_th: float = 5,
            skip_start: int = 10, skip_end: int = 5) -> dict[str, Any]:
    """The suggestion for a range-test run from its decided rounds (blocking: one read)."""
    steps, lrs, losses = [], [], []
    for step, value in store.decided_values(view.run_id):
        try:
            lr = float(view.timeline.lr(step))
        except StepOutOfRange:  # past the sweep (the engine raises there): not part of the test
            break
        if not math.isfinite(lr) or lr <= 0:
            continue
        steps.append(step)
        lrs.append(lr)
        losses.append(value)
    result = suggest_lr(lrs, losses, smooth_f=smooth_f, diverge_th=diverge_th,
                        skip_start=skip_start, skip_end=skip_end)
    kept = len(result.losses)
    num_iter = int(getattr(view.timeline.segments[0].schedule, "num_iter", 0) or 0)
    stopped_at = steps[kept - 1] if result.diverged else None
    return {
        "run_id": view.run_id,
        "suggested_lr": result.lr,
        "suggested_step": steps[result.index] if result.index is not None else None,
        "best_loss": result.best_loss, "diverged": result.diverged, "stopped_at": stopped_at,
        "done": result.diverged or (bool(steps) and steps[-1] >= num_iter - 1),
        "num_iter": num_iter, "steps": steps[:kept], "lrs": list(result.lrs),
        "losses": losses[:kept], "smoothed": list(result.losses),
    }


@router.get("/runs/{run_id}/suggestion", response_model=Suggestion,
            responses={409: {"description": "not_range_test: the run is no LR range test"}})
async def suggestion(run_id: RunId, live: LiveDep, store: StoreDep,
                     smooth_f: Annotated[float, Query(ge=0, lt=1)] = 0.05,
                     diverge_th: Annotated[float, Query(gt=1, le=1e6)] = 5,
                     skip_start: Annotated[int, Query(ge=0, le=100_000)] = 10,
                     skip_end: Annotated[int, Query(ge=0, le=100_000)] = 5) -> dict[str, Any]:
    """The suggested LR of an ``LRRangeTest`` run (torch-lr-finder's rule: the steepest
    descent of the smoothed loss, skipping `skip_start` points at the start and `skip_end`
    at the end) and the loss-vs-LR curve, from the losses reported so far."""
    view = await live.view(run_id)
    if not is_range_test(view):
        raise ApiError(409, "not_range_test", f"run {run_id!r} is not an LR range test (its "
                       f"schedule is {view.record.spec.get('type')!r})")
    return await run_in_threadpool(analyse, store, view, smooth_f=smooth_f,
                                   diverge_th=diverge_th, skip_start=skip_start,
                                   skip_end=skip_end)


#: the default analysis per (store, run, version): a report that decides no round changes no
#: version, so the ranks of one round share one read
_STOPS: dict[tuple[int, str, int], dict[str, Any]] = {}


async def refuse_after_stop(live: LiveRuns, run_id: str, step: int) -> None:
    """409 range_test_stopped for a report past the step where a range test diverged; a
    no-op (one cached lookup) for every other run."""
    view = await live.view(run_id)
    if not is_range_test(view):
        return
    key = (id(live.store), run_id, view.version)
    result = _STOPS.get(key)
    if result is None:
        result = await run_in_threadpool(analyse, live.store, view)
        if len(_STOPS) > 1024:
            _STOPS.clear()
        _STOPS[key] = result
    stopped = result["stopped_at"]
    if stopped is not None and step > stopped:
        raise ApiError(409, "range_test_stopped",
                       f"the LR range test stopped at step {stopped}: the loss diverged; "
                       f"suggested lr {result['suggested_lr']}", step=step, stopped_at=stopped,
                       suggested_lr=result["suggested_lr"])
