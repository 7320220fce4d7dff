"""Clocks: schedules whose lengths count samples or tokens instead of optimizer steps.

A spec may name its clock at the top level, ``"clock": "step" | "sample" | "token"`` (default
``"step"``); every length in it (``T_max``, ``num_training_steps``, milestones, warmup,
``total_steps``, a plateau part's start...) is then in that unit. Optionally
``"batch_scaling": "none" | "linear" | "sqrt"`` with ``"reference_batch_size"`` (samples)
multiplies the LR by ``b / ref`` or ``sqrt(b / ref)``, where b is the global batch in samples.

What each step consumed comes from a run-length `Consumption` log: entries ``(from_step,
samples, tokens)``, each amount in force until the next entry that names it (an entry may
name one of them: the other continues). Its sources are the spec (``"batch": {"samples",
"tokens"}`` from step 0 and ``"batch_schedule": [{"from_step", "samples", "tokens"}, ...]``)
and the client's reports (``POST .../consumption``); past the last entry the last amount
continues.

- The clock position of step s is ``C(s) = sum over t < s of b(t)`` in the clock's unit (the
  step clock: ``C(s) = s``). A schedule in force from `origin` is evaluated at
  ``C(s) - C(origin)``; its plateau decisions and ``plateau_start`` are compared in the same
  unit (`ClockMap`), so warmup-then-plateau works in tokens too.
- Batch scaling at step s uses the batch of step ``s - 1`` (``b(0)`` at s = 0): the LR of step
  s must be known before step s runs, and the client learns a step's batch when it calls
  ``scheduler.step()`` after it. So the LR of step s depends only on the log before s, which
  is what lets the service promise it (an entry for step t is refused once a rank has used the
  LR of a step beyond t).

`ClockSchedule` is the built spec: its `lrs(x)` is the inner schedule at clock position x; the
`Timeline` maps steps to positions with the run's log (`ClockMap`).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any

from ._base import LRs, Schedule
from ._context import BuildContext, Builder
from ._errors import SpecError, StepOutOfRange
from ._fields import Fields, check_integer, check_number, join_path
from ._plateau import EMPTY_HISTORY, PlateauHistory

__all__ = ["CLOCKS", "CLOCK_KEYS", "SCALINGS", "ClockMap", "ClockSchedule", "Consumption",
           "Entry", "build_with_clock", "parse_entry", "spec_consumption"]

CLOCKS = ("step", "sample", "token")
SCALINGS = ("none", "linear", "sqrt")
#: the top-level keys this module reads
CLOCK_KEYS = ("clock", "batch", "batch_schedule", "batch_scaling", "reference_batch_size")
#: the log's unit of each clock
UNIT = {"sample": "samples", "token": "tokens"}
UNITS = ("samples", "tokens")

#: one log entry: (from_step, samples or None, tokens or None); None: that amount continues
Entry = tuple[int, int | None, int | None]


class _UnitLog:
    """One unit's run-length log, with the clock position at each entry (prefix sums)."""

    __slots__ = ("starts", "amounts", "before")

    def __init__(self, points: list[tuple[int, int]]) -> None:
        self.starts = [s for s, _ in points]
        self.amounts = [a for _, a in points]
        self.before: list[int] = []
        total = 0
        for i, (start, _) in enumerate(points):
            if i:
                total += (start - self.starts[i - 1]) * self.amounts[i - 1]
            self.before.append(total)

    def amount(self, step: int) -> int | None:
        i = bisect_right(self.starts, step) - 1
        return self.amounts[i] if i >= 0 else None

    def position(self, step: int, unit: str) -> int:
        """The amount consumed by steps ``0 .. step - 1``."""
        if step <= 0:
            return 0
        i = bisect_right(self.starts, step - 1) - 1
        if i < 0 or self.starts[0] != 0:
            raise StepOutOfRange(step, f"the {unit} consumed by step 0 are unknown: give "
                                       "'batch' in the spec or report them (POST "
                                       ".../consumption)")
        return self.before[i] + (step - self.starts[i]) * self.amounts[i]


class Consumption:
    """A run's run-length log of what each step consumed (immutable)."""

    __slots__ = ("entries", "_logs", "_starts")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        by_step: dict[int, list[int | None]] = {}
        for step, samples, tokens in entries:
            row = by_step.setdefault(int(step), [None, None])
            if samples is not None:
                row[0] = int(samples)
            if tokens is not None:
                row[1] = int(tokens)
        self.entries: tuple[Entry, ...] = tuple(
            (step, row[0], row[1]) for step, row in sorted(by_step.items()))
        self._starts = [e[0] for e in self.entries]
        self._logs = {unit: _UnitLog([(e[0], e[1 + i]) for e in self.entries
                                      if e[1 + i] is not None])
                      for i, unit in enumerate(UNITS)}

    def merged(self, entries: Iterable[Entry]) -> Consumption:
        """This log with `entries` added (an amount an entry names replaces the one at its
        step)."""
        entries = list(entries)
        return self if not entries else Consumption([*self.entries, *entries])

    def amount(self, unit: str, step: int) -> int | None:
        """What `step` consumed in `unit` ("samples" or "tokens"), None if unknown."""
        return self._logs[unit].amount(step)

    def recorded(self, unit: str, step: int) -> int | None:
        """The amount an entry at exactly `step` names, if any."""
        log = self._logs[unit]
        i = bisect_right(log.starts, step) - 1
        return log.amounts[i] if i >= 0 and log.starts[i] == step else None

    def next_entry(self, step: int) -> int | None:
        """The first step after `step` with an entry, if any (the amounts hold until then)."""
        i = bisect_right(self._starts, step)
        return self._starts[i] if i < len(self._starts) else None

    def position(self, unit: str, step: int) -> int:
        """``C(step)``: what steps ``0 .. step - 1`` consumed in `unit` (`StepOutOfRange` where
        a step before `step` has no amount)."""
        return self._logs[unit].position(step, unit)

    def covers(self, unit: str) -> bool:
        """True if every step has an amount in `unit` (the log names it at step 0)."""
        log = self._logs[unit]
        return bool(log.starts) and log.starts[0] == 0

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Consumption) and self.entries == other.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"Consumption({list(self.entries)!r})"

    def to_json(self) -> list[dict[str, int]]:
        return [entry_json(e) for e in self.entries]

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]] | None) -> Consumption:
        return cls(parse_entry(e, f"consumption[{i}]") for i, e in enumerate(data or ()))


EMPTY_CONSUMPTION = Consumption()


def entry_json(entry: Entry) -> dict[str, int]:
    out = {"from_step": entry[0]}
    if entry[1] is not None:
        out["samples"] = entry[1]
    if entry[2] is not None:
        out["tokens"] = entry[2]
    return out


def _amount(value: Any, where: str) -> int:
    return check_integer(value, where, low=1, reason="must be a positive integer")


def parse_entry(data: Any, path: str, *, step_key: str = "from_step",
                default_step: int | None = None) -> Entry:
    """``{"from_step", "samples"?, "tokens"?}`` (at least one amount) as an `Entry`."""
    if not isinstance(data, Mapping):
        raise SpecError(path, "must be an object with from_step and samples and/or tokens")
    unknown = sorted(set(data) - {step_key, "samples", "tokens"})
    if unknown:
        raise SpecError(join_path(path, unknown[0]), "is not a field of a consumption entry "
                        "(from_step, samples, tokens)")
    if step_key in data or default_step is None:
        if step_key not in data:
            raise SpecError(join_path(path, step_key), "is required")
        step = check_integer(data[step_key], join_path(path, step_key), low=0,
                             reason="must be a non-negative integer")
    else:
        step = default_step
    samples = data.get("samples")
    tokens = data.get("tokens")
    if samples is None and tokens is None:
        raise SpecError(path, "needs samples and/or tokens")
    return (step,
            None if samples is None else _amount(samples, join_path(path, "samples")),
            None if tokens is None else _amount(tokens, join_path(path, "tokens")))


class ClockSchedule(Schedule):
    """A schedule on a sample or token clock, or with batch scaling: `lrs(x)` is the inner
    schedule at clock position x (the `Timeline` maps steps to positions, `ClockMap`)."""

    def __init__(self, spec: dict[str, Any], inner: Schedule, clock: str, scaling: str,
                 reference: float | None, entries: tuple[Entry, ...]) -> None:
        self.spec, self.inner = spec, inner
        self.clock, self.scaling, self.reference = clock, scaling, reference
        #: what the spec says each step consumes (its "batch" and "batch_schedule")
        self.entries = entries
        self.num_groups, self.base_lrs = inner.num_groups, inner.base_lrs
        self.cycles_momentum = inner.cycles_momentum
        self.plateau, self.plateau_start = inner.plateau, inner.plateau_start
        #: the log's units this schedule reads
        self.units = tuple(dict.fromkeys(
            ([UNIT[clock]] if clock in UNIT else []) + (["samples"] if scaling != "none" else [])))

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        return self.inner.lrs(step, history)

    def momentums(self, step: int) -> LRs | None:
        return self.inner.momentums(step)

    def values(self, step: int, history: PlateauHistory | None = None) -> tuple[LRs, LRs | None]:
        return self.inner.values(step, history)


def spec_consumption(schedule: Schedule) -> Consumption:
    """The log a spec declares (empty for a spec without ``batch``/``batch_schedule``)."""
    entries = getattr(schedule, "entries", None)
    return Consumption(entries) if entries else EMPTY_CONSUMPTION


def check_covered(schedule: Schedule, consumption: Consumption, path: str = "") -> None:
    """`SpecError` naming ``batch`` if `schedule` reads a unit `consumption` does not give
    from step 0 (a sample/token clock or batch scaling needs the batch of every step)."""
    for unit in getattr(schedule, "units", ()):
        if not consumption.covers(unit):
            why = (f"the {schedule.clock} clock" if UNIT.get(schedule.clock) == unit
                   else "batch_scaling")
            raise SpecError(join_path(path, "batch"), f"required with {why}: the {unit} of "
                            "step 0 on, e.g. {\"samples\": 512, \"tokens\": 1048576}; later "
                            "changes come from batch_schedule or the client's reports")


class ClockMap:
    """How a `ClockSchedule` in force from `origin` sees global steps, on a run's log:
    `position` is its own clock position, `factor` the batch scaling."""

    __slots__ = ("unit", "scaling", "reference", "consumption", "origin", "_origin_position")

    def __init__(self, schedule: ClockSchedule, consumption: Consumption, origin: int) -> None:
        self.unit = UNIT.get(schedule.clock)
        self.scaling, self.reference = schedule.scaling, schedule.reference
        self.consumption, self.origin = consumption, origin
        self._origin_position: int | None = None

    def position(self, step: int) -> int:
        """``C(step) - C(origin)`` (``step - origin`` on the step clock)."""
        if self.unit is None:
            return step - self.origin
        if step < 0:
            raise StepOutOfRange(step, "steps start at 0")
        if self._origin_position is None:
            self._origin_position = self.consumption.position(self.unit, self.origin)
        return self.consumption.position(self.unit, step) - self._origin_position

    def factor(self, step: int) -> float:
        """The LR factor of `step` from the batch (in samples) of step ``step - 1``."""
        if self.scaling == "none":
            return 1.0
        batch = self.consumption.amount("samples", max(step - 1, 0))
        if batch is None:
            raise StepOutOfRange(step, "batch_scaling needs the samples of step "
                                       f"{max(step - 1, 0)}: give 'batch' in the spec")
        ratio = batch / self.reference
        return ratio if self.scaling == "linear" else math.sqrt(ratio)

    def history(self, history: PlateauHistory) -> PlateauHistory:
        """`history` (keyed by own steps) keyed by own clock positions instead."""
        if self.unit is None or not len(history):
            return history
        try:
            return PlateauHistory([(self.position(self.origin + k), lrs)
                                   for k, lrs in zip(history.steps, history.lrs, strict=True)])
        except StepOutOfRange:  # no log: evaluation raises that error itself
            return EMPTY_HISTORY


def _entries(f: Fields) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    if f.has("batch"):
        entries.append(parse_entry(f.raw("batch"), f.where("batch"), default_step=0))
        if entries[0][0] != 0:
            raise f.error("batch", "is the batch from step 0 on (no from_step); later changes "
                                   "go in batch_schedule")
    if f.has("batch_schedule"):
        raw = f.raw("batch_schedule")
        if not isinstance(raw, list):
            raise f.error("batch_schedule", "must be a list of {from_step, samples, tokens}")
        for i, item in enumerate(raw):
            where = join_path(f.where("batch_schedule"), i)
            entry = parse_entry(item, where)
            if entries and entry[0] <= entries[-1][0]:
                raise SpecError(join_path(where, "from_step"), "must be greater than the "
                                f"previous entry's ({entries[-1][0]})")
            entries.append(entry)
    return tuple(entries)


def build_with_clock(spec: dict[str, Any], ctx: BuildContext, build_inner: Builder) -> Schedule:
    """Build `spec` (which has a clock key) as a `ClockSchedule` around its inner spec
    (`build_inner`: the spec without the clock keys, e.g. with its ``interval``)."""
    if ctx.nested:
        key = next(k for k in CLOCK_KEYS if k in spec)
        raise SpecError(join_path(ctx.path, key), "allowed only at the top level of a "
                        "schedule (the whole schedule runs on one clock)")
    f = Fields(spec, ctx.path)
    clock = f.choice("clock", CLOCKS, "step")
    scaling = f.choice("batch_scaling", SCALINGS, "none")
    reference = None
    if scaling != "none":
        if not f.has("reference_batch_size") or spec["reference_batch_size"] is None:
            raise f.missing("reference_batch_size", f"is required with batch_scaling "
                            f"{scaling!r} (the global batch in samples the LR is given for)")
        reference = check_number(f.raw("reference_batch_size"), f.where("reference_batch_size"),
                                 low=0.0, low_open=True, reason="must be a positive number")
    elif f.has("reference_batch_size"):
        f.raw("reference_batch_size")
    entries = _entries(f)
    if clock != "step" and spec.get("interval") == "epoch":
        raise f.error("interval", f"an epoch interval counts steps; with the {clock} clock "
                                  "give the lengths in the clock's unit")
    inner_spec = {k: v for k, v in spec.items() if k not in CLOCK_KEYS}
    inner = build_inner(inner_spec, ctx)
    if clock == "step" and scaling == "none" and not entries:
        inner.spec = spec
        return inner
    return ClockSchedule(spec, inner, clock, scaling, reference, entries)
