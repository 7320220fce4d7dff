"""A run's resolved schedule: the original spec and its amendments, joined by step.

Like optax's ``join_schedules``: each `Segment` governs the global steps from its
`from_step` up to the next segment's, and hands its schedule the steps counted
from its `origin` (the global step that is the schedule's own step 0). A scale
amendment is a segment with the same schedule, origin and plateau history as the
one in force, and another `scale`. The service and the client evaluate the same
`Timeline`, built from the same JSON, so every rank computes the same LRs.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from ._base import LRs, Schedule
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
    history: PlateauHistory = field(default=EMPTY_HISTORY)

    def lrs(self, step: int) -> LRs:
        lrs = self.schedule.lrs(step - self.origin, self.history)
        if self.scale == 1.0:
            return lrs
        return tuple(lr * self.scale for lr in lrs)

    def momentums(self, step: int) -> LRs | None:
        return self.schedule.momentums(step - self.origin)

    def values(self, step: int) -> tuple[LRs, LRs | None]:
        lrs, momentums = self.schedule.values(step - self.origin, self.history)
        if self.scale != 1.0:
            lrs = tuple(lr * self.scale for lr in lrs)
        return lrs, momentums


class Timeline:
    """Segments sorted by `from_step`; the first starts at step 0."""

    __slots__ = ("segments", "_starts")

    def __init__(self, segments: list[Segment]) -> None:
        if not segments or segments[0].from_step != 0:
            raise ValueError("a timeline starts with a segment at step 0")
        self.segments = sorted(segments, key=lambda s: s.from_step)
        self._starts = [s.from_step for s in self.segments]

    @classmethod
    def single(cls, schedule: Schedule, history: PlateauHistory = EMPTY_HISTORY) -> Timeline:
        return cls([Segment(0, schedule, 0, 1.0, history)])

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
    def from_json(cls, segments: list[dict[str, Any]]) -> Timeline:
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
        return cls(result)
