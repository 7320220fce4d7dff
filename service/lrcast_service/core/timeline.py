"""A run's schedule: its specs built (once per distinct spec), its `Timeline`, and the LRs
of a step.

`evaluate` is where the engine's refusals become the user's 422: the engine's declared
errors (`ScheduleError`: `StepOutOfRange`, `SpecError`) and a value that does not fit a
float are the schedule having no LR at that step. Any other exception is a bug in the
engine, and propagates (the API logs it and answers 500 ``internal_error``): it must not
be blamed on the step.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from functools import lru_cache
from typing import Any

from lrcast.schedules import (
    PlateauHistory,
    Schedule,
    ScheduleError,
    Segment,
    SpecError,
    Timeline,
    parse,
)
from lrcast.schedules import (
    StepOutOfRange as EngineStepOutOfRange,
)

from .errors import Invalid, StepOutOfRange
from .record import Instance, RunRecord

__all__ = [
    "MAX_POINTS",
    "build_schedule",
    "build_timeline",
    "evaluate",
    "evaluate_range",
    "instance_at",
    "metric_driven",
    "schedule_of",
    "segment_at",
    "step_range",
]

#: the most steps one range query or preview evaluates
MAX_POINTS = 100_000


@lru_cache(maxsize=1024)
def _parse_cached(spec_json: str) -> Schedule:
    return parse(json.loads(spec_json))


def schedule_of(spec: dict[str, Any]) -> Schedule:
    """The built `Schedule` of a stored spec (built once per distinct spec: they are pure)."""
    return _parse_cached(json.dumps(spec, sort_keys=True))


def build_schedule(spec: dict[str, Any], field: str = "schedule") -> Schedule:
    """The spec's `Schedule`, or `Invalid` naming ``schedule.<path>``."""
    try:
        return schedule_of(spec)
    except SpecError as exc:
        raise Invalid(f"{field}.{exc.path}" if exc.path else field, exc.reason) from exc
    except Exception as exc:  # anything a malformed spec makes the engine raise: the spec's fault
        raise Invalid(field, f"{type(exc).__name__}: {exc}") from exc


def build_timeline(rec: RunRecord) -> Timeline:
    """The run's resolved schedule: its segments with each instance's plateau decisions."""
    histories = {
        idx: PlateauHistory([(step - inst.origin, lrs) for step, lrs in rec.decisions.get(idx, [])])
        for idx, inst in rec.instances.items()
    }
    return Timeline([
        Segment(from_step, schedule_of(rec.instances[idx].spec), rec.instances[idx].origin,
                scale, histories[idx])
        for from_step, idx, scale in rec.segments
    ])


def segment_at(rec: RunRecord, step: int) -> tuple[int, int, float]:
    """The (from_step, instance, scale) in force at global `step`."""
    starts = [s[0] for s in rec.segments]
    return rec.segments[bisect_right(starts, step) - 1]


def instance_at(rec: RunRecord, step: int) -> Instance:
    return rec.instances[segment_at(rec, step)[1]]


def metric_driven(rec: RunRecord) -> bool:
    """True if any instance in the timeline has a metric-driven part."""
    used = {idx for _, idx, _ in rec.segments}
    return any(schedule_of(rec.instances[i].spec).metric_driven for i in used)


def evaluate(timeline: Timeline, step: int) -> tuple[list[float], list[float] | None]:
    """LRs and momenta (None where not cycled) of `step`, as finite floats.

    Raises `StepOutOfRange` where the schedule has no LR (see the module docstring)."""
    try:
        lrs, moms = timeline.values(step)
        lrs_out = [float(x) for x in lrs]
        moms_out = [float(x) for x in moms] if moms is not None else None
    except EngineStepOutOfRange as exc:
        raise StepOutOfRange(step, str(exc)) from exc
    except ScheduleError as exc:
        raise StepOutOfRange(step, f"step {step}: {type(exc).__name__}: {exc}") from exc
    except OverflowError as exc:  # the LR does not fit a float: as a non-finite one below
        raise StepOutOfRange(step, f"step {step}: the schedule's value overflows") from exc
    if not all(math.isfinite(x) for x in lrs_out + (moms_out or [])):
        raise StepOutOfRange(step, f"step {step}: the schedule gives a non-finite value")
    return lrs_out, moms_out


def step_range(start: int, stop: int, stride: int) -> range:
    """``range(start, stop, stride)``, refused when empty or over `MAX_POINTS` points."""
    if stop <= start:
        raise Invalid("stop", "must be greater than start")
    steps = range(start, stop, stride)
    if len(steps) > MAX_POINTS:
        raise Invalid("stop", f"at most {MAX_POINTS} points per call")
    return steps


def evaluate_range(timeline: Timeline, steps: range) -> dict[str, Any]:
    """LRs (and momenta, if every step has them) for every step of `steps`."""
    lr, lrs, mom = [], [], []
    cycles = True
    for step in steps:
        values, moms = evaluate(timeline, step)
        lrs.append(values)
        lr.append(values[0])
        cycles = cycles and moms is not None
        mom.append(moms[0] if moms is not None else None)
    return {"steps": list(steps), "lr": lr, "lrs": lrs, "momentum": mom if cycles else None}
