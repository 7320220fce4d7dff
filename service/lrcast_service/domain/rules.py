"""The rules of a run, as pure functions of its `RunRecord`: its `Timeline`, how a round
is aggregated and folded, and where amendments may start."""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lrcast.schedules import (
    PlateauHistory,
    PlateauState,
    Schedule,
    Segment,
    Timeline,
    parse,
)

from .record import Instance, RunRecord


@lru_cache(maxsize=1024)
def _parse_cached(spec_json: str) -> Schedule:
    return parse(json.loads(spec_json))


def schedule_of(spec: dict[str, Any]) -> Schedule:
    """The built `Schedule` of a stored spec (built once per distinct spec: they are pure)."""
    return _parse_cached(json.dumps(spec, sort_keys=True))


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


def plateau_state(inst: Instance) -> PlateauState | None:
    """The instance's fold state now (its initial state if nothing was folded yet)."""
    schedule = schedule_of(inst.spec)
    if schedule.plateau is None:
        return None
    if inst.state is not None:
        return PlateauState.from_json(inst.state)
    return schedule.plateau.initial(schedule.base_lrs)


def metric_driven(rec: RunRecord) -> bool:
    """True if any instance in the timeline has a metric-driven part."""
    used = {idx for _, idx, _ in rec.segments}
    return any(schedule_of(rec.instances[i].spec).metric_driven for i in used)


def aggregate(values: list[float], how: str) -> float:
    """Combine one round's values (the same order-independent result on every replica)."""
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    return math.fsum(values) / len(values)


@dataclass(frozen=True)
class Outcome:
    """What deciding a round did: the aggregated value, and the fold if it was active."""

    step: int
    value: float
    instance: int
    folded: bool
    old_lrs: tuple[float, ...] | None
    new_state: PlateauState | None

    @property
    def changed(self) -> bool:
        return self.new_state is not None and self.new_state.lrs != self.old_lrs


def decide(rec: RunRecord, step: int, values: list[float]) -> Outcome:
    """Decide the round at global `step`: aggregate, and fold once into the instance in
    force there if its metric-driven part is active (its own step >= plateau_start)."""
    value = aggregate(values, rec.aggregate)
    inst = instance_at(rec, step)
    schedule = schedule_of(inst.spec)
    state = plateau_state(inst)
    if schedule.plateau is None or state is None or step - inst.origin < schedule.plateau_start:
        return Outcome(step, value, inst.idx, False, None, None)
    new_state = schedule.plateau.step(state, value)
    return Outcome(step, value, inst.idx, True, state.lrs, new_state)


def min_amendment_step(rec: RunRecord) -> int:
    """The smallest step an amendment may start at: no rank has been served (or leased) an
    LR at or beyond the persisted frontier, and rounds are never re-attributed: an
    amendment may start at the latest round's step (replacing its effect), not before."""
    return max(rec.frontier, rec.last_round_step or 0)


def first_open_round(rec: RunRecord) -> int | None:
    return min(rec.open_rounds) if rec.open_rounds else None
