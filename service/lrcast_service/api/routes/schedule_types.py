"""The schedule engine's catalog: every schedule type with an example spec
(`lrcast.schedules.example_specs`), for the dashboard's presets and for users. Public: it
says nothing about any run."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter

from lrcast.schedules import example_specs, schedule_types

from ...core.timeline import schedule_of
from ..models import ScheduleType, ScheduleTypes

router = APIRouter(prefix="/v1", tags=["schedules"])


@cache
def _catalog() -> ScheduleTypes:
    """Built once: the engine's catalog does not change while the process runs."""
    examples = example_specs()
    return ScheduleTypes(types=[
        ScheduleType(type=name, example=examples[name],
                     metric_driven=schedule_of(examples[name]).metric_driven)
        for name in schedule_types()])


@router.get("/schedule-types", response_model=ScheduleTypes)
async def get_schedule_types() -> ScheduleTypes:
    """Every schedule type the service accepts (the `type` of a spec), each with an example
    spec that ``PUT /v1/runs/{run_id}`` and ``POST /v1/preview`` take as it is."""
    return _catalog()
