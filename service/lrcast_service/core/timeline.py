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
import threading
from bisect import bisect_right
from collections import OrderedDict
from typing import Any

from lrcast.schedules import (
    Consumption,
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
from lrcast.schedules._clock import CLOCK_KEYS, check_covered, spec_consumption

from .errors import Invalid, RunUnreadable, StepOutOfRange
from .record import Instance, RunRecord

__all__ = [
    "MAX_POINTS",
    "MAX_VALUES",
    "PARSE_CACHE_BYTES",
    "build_run_schedule",
    "build_schedule",
    "build_timeline",
    "check_amendment_clock",
    "consumption_of",
    "evaluate",
    "evaluate_range",
    "instance_at",
    "metric_driven",
    "own_position",
    "schedule_of",
    "segment_at",
    "step_range",
]

#: the most steps one range query or preview evaluates
MAX_POINTS = 100_000
#: the most LRs (points x parameter groups) one range query or preview returns: ~20 MB of JSON
MAX_VALUES = 1_000_000
#: the parse cache keeps built schedules for at most this many bytes of spec JSON (a built
#: schedule's size grows with its spec's: groups, members, points)
PARSE_CACHE_BYTES = 16 * 2**20


class _ParseCache:
    """Built schedules by spec JSON, least recently used dropped first, bounded by the JSON's
    bytes (functools.lru_cache bounds only the count, and one spec may be 1 MiB)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, Schedule] = OrderedDict()
        self._lock = threading.Lock()  # previews and reads build on worker threads

    def get(self, spec_json: str) -> Schedule:
        with self._lock:
            if spec_json in self._entries:
                self._entries.move_to_end(spec_json)
                return self._entries[spec_json]
        schedule = parse(json.loads(spec_json))  # outside the lock: a build may take a while
        if len(spec_json) <= self.max_bytes:
            with self._lock:
                if spec_json not in self._entries:
                    self._entries[spec_json] = schedule
                    self.bytes += len(spec_json)
                while self.bytes > self.max_bytes:
                    dropped, _ = self._entries.popitem(last=False)
                    self.bytes -= len(dropped)
        return schedule


_parsed = _ParseCache(PARSE_CACHE_BYTES)


def schedule_of(spec: dict[str, Any]) -> Schedule:
    """The built `Schedule` of a stored spec (built once per distinct spec: they are pure)."""
    return _parsed.get(json.dumps(spec, sort_keys=True))


def build_schedule(spec: dict[str, Any], field: str = "schedule") -> Schedule:
    """The spec's `Schedule`, or `Invalid` naming ``schedule.<path>``."""
    try:
        return schedule_of(spec)
    except SpecError as exc:
        raise Invalid(f"{field}.{exc.path}" if exc.path else field, exc.reason) from exc
    except Exception as exc:  # anything a malformed spec makes the engine raise: the spec's fault
        raise Invalid(field, f"{type(exc).__name__}: {exc}") from exc


def build_run_schedule(spec: dict[str, Any], field: str = "schedule") -> Schedule:
    """`build_schedule` for a run's (or a preview's) own spec: a sample/token clock or batch
    scaling needs the batch of step 0 in it (``batch``), the client reports what changes."""
    schedule = build_schedule(spec, field)
    try:
        check_covered(schedule, spec_consumption(schedule))
    except SpecError as exc:
        raise Invalid(f"{field}.{exc.path}", exc.reason) from exc
    return schedule


def check_amendment_clock(rec: RunRecord, spec: dict[str, Any]) -> None:
    """An amendment's spec takes the run's log: it declares none (``batch``,
    ``batch_schedule`` are the run's spec's), and its clock needs what the log gives."""
    for key in ("batch", "batch_schedule"):
        if key in spec:
            raise Invalid(f"schedule.{key}", "only the run's own spec declares what steps "
                          "consume; report changes with POST .../consumption")
    try:
        check_covered(schedule_of(spec), consumption_of(rec))
    except SpecError as exc:
        raise Invalid("schedule.clock", f"the run's log lacks it: {exc.reason}") from exc


def consumption_of(rec: RunRecord) -> Consumption:
    """The run's log: what its spec declares, with the reported entries on top."""
    declared = spec_consumption(schedule_of(rec.spec)) if any(
        k in rec.spec for k in CLOCK_KEYS) else Consumption()
    return declared.merged(rec.consumption)


def own_position(rec: RunRecord, inst: Instance, step: int) -> int:
    """Global `step` as `inst`'s schedule counts it: ``step - origin``, or on its clock
    ``C(step) - C(origin)`` (`StepOutOfRange` where the log has no amount)."""
    schedule = schedule_of(inst.spec)
    if not any(k in inst.spec for k in CLOCK_KEYS):
        return step - inst.origin
    try:
        return Segment(inst.origin, schedule, inst.origin).bound(consumption_of(rec)) \
            .position(step)
    except EngineStepOutOfRange as exc:
        raise StepOutOfRange(step, str(exc)) from exc


def build_timeline(rec: RunRecord) -> Timeline:
    """The run's resolved schedule: its segments with each instance's plateau decisions.

    Raises `RunUnreadable` when a stored spec no longer builds (an older version accepted
    what this one refuses, e.g. composites nested past the depth limit): the run's reads
    answer that error instead of failing."""
    histories = {
        idx: PlateauHistory([(step - inst.origin, lrs) for step, lrs in rec.decisions.get(idx, [])])
        for idx, inst in rec.instances.items()
    }
    try:
        return Timeline([
            Segment(from_step, schedule_of(rec.instances[idx].spec), rec.instances[idx].origin,
                    scale, histories[idx])
            for from_step, idx, scale in rec.segments
        ], consumption_of(rec))
    except (ScheduleError, RecursionError, ValueError, TypeError) as exc:
        raise RunUnreadable(rec.run_id, f"{type(exc).__name__}: {exc}") from exc


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
        lrs_out = list(map(float, lrs))
        moms_out = list(map(float, moms)) if moms is not None else None
    except EngineStepOutOfRange as exc:
        raise StepOutOfRange(step, str(exc)) from exc
    except ScheduleError as exc:
        raise StepOutOfRange(step, f"step {step}: {type(exc).__name__}: {exc}") from exc
    except OverflowError as exc:  # the LR does not fit a float: as a non-finite one below
        raise StepOutOfRange(step, f"step {step}: the schedule's value overflows") from exc
    # a finite sum means every value is finite (an inf or a nan makes it inf or nan); only a
    # sum that is not (a non-finite value, or finite ones whose sum overflows) is looked into
    if not math.isfinite(sum(lrs_out) + (sum(moms_out) if moms_out else 0.0)) and not all(
            map(math.isfinite, lrs_out + (moms_out or []))):
        raise StepOutOfRange(step, f"step {step}: the schedule gives a non-finite value")
    return lrs_out, moms_out


def step_range(start: int, stop: int, stride: int, groups: int = 1) -> range:
    """``range(start, stop, stride)``, refused when empty, over `MAX_POINTS` points, or over
    `MAX_VALUES` LRs with `groups` parameter groups."""
    if stop <= start:
        raise Invalid("stop", "must be greater than start")
    steps = range(start, stop, stride)
    if len(steps) > MAX_POINTS:
        raise Invalid("stop", f"at most {MAX_POINTS} points per call")
    if len(steps) * groups > MAX_VALUES:
        raise Invalid("stop", f"at most {MAX_VALUES} LRs (points x {groups} parameter groups) "
                              f"per call: at most {MAX_VALUES // groups} points")
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
