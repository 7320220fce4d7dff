"""Plateau rounds: a batch of reports -> each counted (or refused), and the rounds they
complete decided, in step order.

This is where the plateau decision is made. A round at step s collects one value per rank;
once all ``world_size`` ranks have reported, the values are aggregated (mean, min or max, in
rank order so every replica gets the same float) and folded once into the plateau state of
the schedule instance in force at s, if its metric-driven part is active there. A round is
decided only after every round before it: rounds are applied in step order.

Per report: the same value again counts nothing; another value for a rank that reported is
`ReportConflict`; a step before the latest decided round is `RoundClosed` (unless it repeats
a report made there); a schedule with no metric-driven part at the step is
`NotMetricDriven` (an ``LRRangeTest`` takes its losses as reports too, `lr_finder.py`); a
step some rank has already reached, where the plateau rule is active, is `LRAlreadyServed`
(the promise, `core/frontier.py`: an LR a rank used never changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lrcast.schedules import PlateauState, Schedule

from . import membership
from .changes import Change, DecidedRound, History
from .errors import (
    DomainError,
    Invalid,
    LRAlreadyServed,
    NotMetricDriven,
    ReportConflict,
    RoundClosed,
)
from .frontier import merge_progress, merge_seen, served_past
from .lr_finder import is_range_test
from .record import Instance, Round, RunRecord
from .timeline import instance_at, own_position, schedule_of

__all__ = ["Outcome", "ReportResult", "aggregate", "decide", "plateau_state", "report"]


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


#: per report: (the rounds it decided, whether it counted), or the error that refused it
ReportResult = tuple[list[Outcome], bool] | DomainError


def plateau_state(inst: Instance) -> PlateauState | None:
    """The instance's fold state now (its initial state if nothing was folded yet)."""
    schedule = schedule_of(inst.spec)
    if schedule.plateau is None:
        return None
    if inst.state is not None:
        return PlateauState.from_json(inst.state)
    return schedule.plateau.initial(schedule.base_lrs)


def aggregate(values: list[float], how: str) -> float:
    """Combine one round's values (the same order-independent result on every replica)."""
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    return math.fsum(values) / len(values)


def _folds_at(rec: RunRecord, inst: Instance, step: int,
              schedule: Schedule | None = None) -> bool:
    """Whether a round at global `step` is folded into `inst` (so may change its LRs): its
    own position there (its step, or its clock's count) is past its plateau_start.
    `schedule`: the instance's, if already at hand."""
    schedule = schedule or schedule_of(inst.spec)
    return schedule.plateau is not None and \
        own_position(rec, inst, step) >= schedule.plateau_start


def decide(rec: RunRecord, step: int, values: list[float]) -> Outcome:
    """Decide the round at global `step`: aggregate, and fold once into the instance in
    force there if its metric-driven part is active (its own step >= plateau_start)."""
    value = aggregate(values, rec.aggregate)
    inst = instance_at(rec, step)
    state = plateau_state(inst)
    if state is None or not _folds_at(rec, inst, step):
        return Outcome(step, value, inst.idx, False, None, None)
    new_state = schedule_of(inst.spec).plateau.step(state, value)
    return Outcome(step, value, inst.idx, True, state.lrs, new_state)


def report(rec: RunRecord, history: History, items: list[tuple[Any, ...]],
           reached: dict[int, int] | None = None, seen: dict[int, float] | None = None,
           reserve: int = 0) -> tuple[Change, list[ReportResult]]:
    """Apply reports ``(step, rank, value)`` (or ``(step, rank, value, epoch)``: the
    sender's membership epoch, fenced by `membership.check_epoch`; None: not fenced) in
    order to `rec` (freshly loaded in the write
    transaction; it is updated in place to what the change commits): the change to write,
    and one result per report (a refused report changes nothing). `reached`: the ranks'
    steps known beyond `rec.progress` (their ``at``, answers not persisted yet), checked by
    the promise and persisted with `seen` (the ranks' last-seen times). `reserve`: the
    served frontier the ranks waiting at the barrier need, persisted (up to the next open
    round) with the batch if it decides a round: they are answered at once, with no write of
    their own."""
    change = Change(record=rec)
    rec.progress = merge_progress(rec.progress, reached or {})
    results: list[ReportResult] = []
    # this batch's reports are not in `history` before the change commits
    batch = _BatchHistory(history, {})
    for step, rank, value, *epoch in items:
        try:
            membership.check_epoch(rec, epoch[0] if epoch else None)
            results.append(_report_one(rec, change, batch, step, rank, value))
        except DomainError as exc:  # raised before this report changed anything
            results.append(exc)
    change.run["progress"] = rec.progress
    change.run["seen"] = rec.seen = merge_seen(rec.seen, seen or {})
    ok = [r for r in results if not isinstance(r, DomainError)]
    if any(counted for _, counted in ok) and rec.last_rewind is not None and \
            rec.last_rewind.get("resume_id") is None:
        change.run["last_rewind"] = rec.last_rewind = None  # its repeat is a real one again
    if any(outcomes for outcomes, _ in ok):
        change.run["version"] = rec.version = rec.version + 1
        if rec.open_rounds:  # no step at or past the next round can be answered yet
            reserve = min(reserve, min(rec.open_rounds))
        if reserve > rec.frontier:
            change.run["frontier"] = rec.frontier = reserve
    return change, results


@dataclass(frozen=True)
class _BatchHistory:
    """The older reports: the committed ones, and those made earlier in this batch."""

    committed: History
    made: dict[tuple[int, int], float]
    #: each instance's schedule, looked up once for the batch (its spec does not change)
    schedules: dict[int, Schedule] = field(default_factory=dict)

    #: `served_past` per step, for the batch (the ranks' steps do not change within it)
    passed: dict[int, tuple[int, int] | None] = field(default_factory=dict)

    def served_past(self, progress: dict[int, int], step: int) -> tuple[int, int] | None:
        if step not in self.passed:
            self.passed[step] = served_past(progress, step)
        return self.passed[step]

    def schedule(self, inst: Instance) -> Schedule:
        schedule = self.schedules.get(inst.idx)
        if schedule is None:
            schedule = self.schedules[inst.idx] = schedule_of(inst.spec)
        return schedule

    def earlier_report(self, step: int, rank: int) -> float | None:
        made = self.made.get((step, rank))
        return made if made is not None else self.committed.earlier_report(step, rank)


def _report_one(rec: RunRecord, change: Change, history: _BatchHistory, step: int, rank: int,
                value: float) -> tuple[list[Outcome], bool]:
    gens = membership.generations(rec)
    expected = membership.world_size_at(gens, step)
    if rank >= expected:
        raise Invalid("rank", f"must be in 0..{expected - 1}")
    inst = instance_at(rec, step)
    schedule = history.schedule(inst)
    if not (schedule.metric_driven or is_range_test(inst.spec)):
        raise NotMetricDriven(step)
    rnd = rec.open_rounds.get(step)
    last = rec.last_decided
    if rnd is None and last is not None and last.step == step:
        rnd = last
    if rnd is None and last is not None and step < last.step:
        old = history.earlier_report(step, rank)
        if old is not None:  # a retry of a report to an older decided round
            rnd = Round(step, True, {rank: old})
    if rnd is not None and rank in rnd.reports:
        if rnd.reports[rank] != value:
            raise ReportConflict(step, rank, rnd.reports[rank])
        return [], False  # the same report again: nothing counted twice
    if rnd is None and last is not None and step < last.step:
        raise RoundClosed(step, last.step)
    if rnd is None and len(gens) > 1 and step <= gens[-1].from_step:
        raise RoundClosed(step, gens[-1].from_step, gens[-1].epoch)
    passed = history.served_past(rec.progress, step) \
        if _folds_at(rec, inst, step, schedule) else None
    if passed is not None:
        raise LRAlreadyServed(step, served_step=passed[1], rank=passed[0])
    if rnd is None:
        change.new_rounds.append(step)
        rnd = rec.open_rounds[step] = Round(step, False)
        rec.last_round_step = max(rec.last_round_step or step, step)
    change.new_reports.append((step, rank, value))
    history.made[(step, rank)] = rnd.reports[rank] = value
    return _decide_ready(rec, change), True


def _decide_ready(rec: RunRecord, change: Change) -> list[Outcome]:
    """Decide complete rounds in step order, stopping at the first incomplete one."""
    outcomes = []
    gens = membership.generations(rec)
    for step in sorted(rec.open_rounds):
        rnd = rec.open_rounds[step]
        if len(rnd.reports) < membership.world_size_at(gens, step):
            break
        out = decide(rec, step, [rnd.reports[r] for r in sorted(rnd.reports)])
        state = out.new_state.to_json() if out.new_state else None
        change.decided.append(DecidedRound(step, out.value, out.instance, state))
        if state is not None:
            change.instance_states[out.instance] = rec.instances[out.instance].state = state
        if out.changed:
            change.new_decisions.append((out.instance, step, out.new_state.lrs))
            rec.decisions.setdefault(out.instance, []).append((step, out.new_state.lrs))
        change.events.append(("decision", {
            "step": step, "value": out.value, "folded": out.folded, "reduced": out.changed,
            "old_lrs": list(out.old_lrs) if out.old_lrs else None,
            "new_lrs": list(out.new_state.lrs) if out.new_state else None,
            "instance": out.instance}))
        del rec.open_rounds[step]
        rnd.decided, rnd.value = True, out.value
        rec.last_decided = rnd
        outcomes.append(out)
    return outcomes
