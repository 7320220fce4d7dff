"""The LR range test's result: ``GET /v1/runs/{run_id}/suggestion`` (`core/lr_finder.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...core import lr_finder
from ...core.errors import NotRangeTest
from ..deps import LiveDep, RangeTestsDep
from ..errors import conflicts
from ..models import Suggestion
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["range test"])


@router.get("/runs/{run_id}/suggestion", response_model=Suggestion,
            responses=conflicts("not_range_test: the run is no LR range test",
                                "run_unreadable"))
async def suggestion(run_id: RunId, live: LiveDep, range_tests: RangeTestsDep,
                     smooth_f: Annotated[float, Query(ge=0, lt=1)] = 0.05,
                     diverge_th: Annotated[float, Query(gt=1, le=1e6)] = 5,
                     skip_start: Annotated[int, Query(ge=0, le=100_000)] = 10,
                     skip_end: Annotated[int, Query(ge=0, le=100_000)] = 5) -> dict[str, Any]:
    """The suggested LR of an ``LRRangeTest`` run (torch-lr-finder's rule: the steepest
    descent of the smoothed loss, skipping `skip_start` points at the start and `skip_end`
    at the end) and the loss-vs-LR curve, from the losses reported so far."""
    view = await live.view(run_id)
    if not lr_finder.is_range_test(view.record.spec):
        raise NotRangeTest(run_id, view.record.spec.get("type"))
    return await range_tests.analyse(view, smooth_f=smooth_f, diverge_th=diverge_th,
                                     skip_start=skip_start, skip_end=skip_end)
