"""A run's resolved schedule: the original spec and its amendments, joined by step.

Like optax's ``join_schedules``: each `Segment` governs the global steps from its
`from_step` up to the next segment's, and hands its schedule the steps counted
from its `origin` (the global step that is the schedule's own step 0). A scale
amendment is a segment with the same schedule, origin and plateau history as the
one in force, and another `scale`. The service and the client evaluate the same
`Timeline`, built from the same JSON, so every rank computes the same LRs.

A timeline carries the run's `Consumption` log (what each step consumed, `_clock.py`): a
segment whose schedule runs on a sample or token clock (or scales by the batch) hands its
schedule the clock position ``C(step) - C(origin)`` instead, its plateau decisions keyed
likewise, and multiplies by the batch factor.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import Any

from ._base import LRs, Schedule
from ._clock import ClockMap, ClockSchedule, Consumption, spec_consumption
from ._errors import StepOutOfRange
from ._plateau import EMPTY_HISTORY, PlateauHistory
from ._registry import parse


@dataclass(frozen=True)
class Segment:
    """One piece of a timeline: `schedule` in force from global step `from_step` on."""

    from_step: int
    schedule: Schedule
    origin: int = 0
    scale: float = 1.0
    #: the plateau decisions, keyed by the schedule's own step (global step - origin)
    history: PlateauHistory = field(default=EMPTY_HISTORY)
    #: a clock schedule's view of the run's log (None: the step clock, no batch scaling;
    #: set by `Timeline`)
    clock: ClockMap | None = None
    #: `history` keyed by own clock positions (what the schedule is handed)
    clock_history: PlateauHistory = field(default=EMPTY_HISTORY)

    def bound(self, consumption: Consumption) -> Segment:
        """This segment evaluated on `consumption` (itself, if its schedule has no clock)."""
        schedule = self.schedule
        if not isinstance(schedule, ClockSchedule) or not (schedule.units or
                                                           schedule.scaling != "none"):
            return self if self.clock is None else replace(self, clock=None)
        clock = ClockMap(schedule, consumption, self.origin)
        return replace(self, clock=clock, clock_history=clock.history(self.history))

    def position(self, step: int) -> int:
        """The schedule's own position of global `step`: its step, or its clock's count."""
        return step - self.origin if self.clock is None else self.clock.position(step)

    def folds_at(self, step: int) -> bool:
        """Whether a plateau round at global `step` is folded into this segment's schedule
        (its metric-driven part is active there: own position >= plateau_start)."""
        schedule = self.schedule
        return schedule.plateau is not None and self.position(step) >= schedule.plateau_start

    def lrs(self, step: int) -> LRs:
        clock = self.clock
        if clock is None:
            lrs = self.schedule.lrs(step - self.origin, self.history)
            scale = self.scale
        else:
            lrs = self.schedule.lrs(clock.position(step), self.clock_history)
            scale = self.scale * clock.factor(step)
        if scale == 1.0:
            return lrs
        return tuple(lr * scale for lr in lrs)

    def momentums(self, step: int) -> LRs | None:
        return self.schedule.momentums(self.position(step))

    def values(self, step: int) -> tuple[LRs, LRs | None]:
        clock = self.clock
        if clock is None:
            lrs, momentums = self.schedule.values(step - self.origin, self.history)
            scale = self.scale
        else:
            lrs, momentums = self.schedule.values(clock.position(step), self.clock_history)
            scale = self.scale * clock.factor(step)
        if scale != 1.0:
            lrs = tuple(lr * scale for lr in lrs)
        return lrs, momentums


class Timeline:
    """Segments sorted by `from_step`; the first starts at step 0. `consumption`: the run's
    log (default: what the first segment's spec declares)."""

    __slots__ = ("segments", "_starts", "consumption")

    def __init__(self, segments: list[Segment], consumption: Consumption | None = None) -> None:
        if not segments or segments[0].from_step != 0:
            raise ValueError("a timeline starts with a segment at step 0")
        ordered = sorted(segments, key=lambda s: s.from_step)
        if consumption is None:
            consumption = spec_consumption(ordered[0].schedule)
        self.consumption = consumption
        self.segments = [s.bound(consumption) for s in ordered]
        self._starts = [s.from_step for s in self.segments]

    @classmethod
    def single(cls, schedule: Schedule, history: PlateauHistory = EMPTY_HISTORY,
               consumption: Consumption | None = None) -> Timeline:
        return cls([Segment(0, schedule, 0, 1.0, history)], consumption)

    def with_consumption(self, consumption: Consumption) -> Timeline:
        """The same segments on another log (the client adds its unsent entries)."""
        return self if consumption == self.consumption else Timeline(self.segments, consumption)

    def segment_at(self, step: int) -> Segment:
        if step < 0:
            raise StepOutOfRange(step, "steps start at 0")
        return self.segments[bisect_right(self._starts, step) - 1]

    def lrs(self, step: int) -> LRs:
        return self.segment_at(step).lrs(step)

    def lr(self, step: int) -> float:
        return self.segment_at(step).lrs(step)[0]

    def momentums(self, step: int) -> LRs | None:
        return self.segment_at(step).momentums(step)

    def values(self, step: int) -> tuple[LRs, LRs | None]:
        """LRs and momenta of `step` together (see `Schedule.values`)."""
        return self.segment_at(step).values(step)

    @property
    def num_groups(self) -> int:
        return self.segments[0].schedule.num_groups

    # JSON: decisions carry global steps, as the service stores and shows them -------------
    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"from_step": s.from_step, "origin": s.origin, "scale": s.scale,
             "schedule": s.schedule.spec,
             "decisions": [{"step": step + s.origin, "lrs": list(lrs)}
                           for step, lrs in zip(s.history.steps, s.history.lrs, strict=True)]}
            for s in self.segments
        ]

    @classmethod
    def from_json(cls, segments: list[dict[str, Any]],
                  consumption: list[dict[str, Any]] | Consumption | None = None) -> Timeline:
        """The timeline of `to_json`'s segments, on the log `consumption` (a `Consumption`
        or its JSON; None: what the first spec declares)."""
        built: dict[tuple[str, int], tuple[Schedule, PlateauHistory]] = {}
        result = []
        for seg in segments:
            origin = int(seg.get("origin", seg["from_step"]))
            key = (repr(seg["schedule"]), origin)
            if key not in built:  # a scale amendment shares its schedule and history
                history = PlateauHistory([(int(d["step"]) - origin, tuple(d["lrs"]))
                                          for d in seg.get("decisions", [])])
                built[key] = (parse(seg["schedule"]), history)
            schedule, history = built[key]
            result.append(Segment(int(seg["from_step"]), schedule, origin,
                                  float(seg.get("scale", 1.0)), history))
        if consumption is not None and not isinstance(consumption, Consumption):
            consumption = Consumption.from_json(consumption)
        return cls(result, consumption)
