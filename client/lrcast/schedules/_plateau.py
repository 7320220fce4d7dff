"""The metric-driven schedules as pure folds over metric reports.

`PlateauRule.step(state, value)` is PyTorch's ``ReduceLROnPlateau.step(value)``
with the scheduler's mutable fields lifted into an immutable `PlateauState`;
`GreedyRule` / `GreedyState` do the same for transformers' ``GreedyLR``, which also
raises the LRs on improvement and resets them after a long stay at ``min_lr``.
The decisions it takes (the steps where the LRs changed, with the new LRs) form a
`PlateauHistory`, which a `Schedule` reads with a binary search: O(log n) per
lookup for n decisions, whatever the step.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ._types import LRs


@dataclass(frozen=True)
class PlateauState:
    """The fold's state between two reports (PyTorch's best/num_bad_epochs/cooldown_counter)."""

    lrs: LRs
    best: float
    num_bad_epochs: int = 0
    cooldown_counter: int = 0
    last_epoch: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"lrs": list(self.lrs), "best": _float_to_json(self.best),
                "num_bad_epochs": self.num_bad_epochs, "cooldown_counter": self.cooldown_counter,
                "last_epoch": self.last_epoch}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlateauState:
        """The state `to_json` wrote (a `GreedyState` if GreedyLR's)."""
        if data.get("rule") == "greedy":
            return GreedyState.from_greedy_json(data)
        return cls(lrs=tuple(float(x) for x in data["lrs"]), best=_float_from_json(data["best"]),
                   num_bad_epochs=int(data["num_bad_epochs"]),
                   cooldown_counter=int(data["cooldown_counter"]),
                   last_epoch=int(data["last_epoch"]))


@dataclass(frozen=True)
class PlateauRule:
    """The arguments of ``torch.optim.lr_scheduler.ReduceLROnPlateau``, validated."""

    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lrs: LRs = (0.0,)
    eps: float = 1e-8

    def initial(self, lrs: LRs) -> PlateauState:
        """The state right after construction, on an optimizer holding `lrs`."""
        return PlateauState(lrs=tuple(lrs), best=math.inf if self.mode == "min" else -math.inf)

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, state: PlateauState, value: float) -> PlateauState:
        """One ``scheduler.step(value)``: the next state (its `lrs` may be reduced)."""
        current = float(value)
        best, bad, cooldown = state.best, state.num_bad_epochs, state.cooldown_counter
        if self.is_better(current, best):
            best, bad = current, 0
        else:
            bad += 1
        if cooldown > 0:
            cooldown -= 1
            bad = 0  # bad epochs in cooldown are ignored, as in PyTorch
        lrs = state.lrs
        if bad > self.patience:
            lrs = tuple(self._reduce(old, min_lr)
                        for old, min_lr in zip(lrs, self.min_lrs, strict=True))
            cooldown, bad = self.cooldown, 0
        return replace(state, lrs=lrs, best=best, num_bad_epochs=bad,
                       cooldown_counter=cooldown, last_epoch=state.last_epoch + 1)

    def _reduce(self, old: float, min_lr: float) -> float:
        new = max(old * self.factor, min_lr)
        return new if old - new > self.eps else old


@dataclass(frozen=True)
class GreedyState(PlateauState):
    """GreedyLR's fields between two reports, besides `PlateauState`'s."""

    num_good_epochs: int = 0
    warmup_counter: int = 0
    #: reductions left at min_lr before the reset (GreedyLR's ``reset_start``)
    reset_countdown: int = 0
    #: the LRs a reset returns to (GreedyLR's ``_init_lrs``)
    init_lrs: LRs = ()
    #: the smoothing window (StreamingAverage's ``values`` and running ``sum``)
    window: tuple[float, ...] = ()
    window_sum: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "rule": "greedy", "num_good_epochs": self.num_good_epochs,
                "warmup_counter": self.warmup_counter, "reset_countdown": self.reset_countdown,
                "init_lrs": list(self.init_lrs), "window": list(self.window),
                "window_sum": _float_to_json(self.window_sum)}

    @classmethod
    def from_greedy_json(cls, data: dict[str, Any]) -> GreedyState:
        base = PlateauState.from_json({**data, "rule": None})
        return cls(**vars(base), num_good_epochs=int(data["num_good_epochs"]),
                   warmup_counter=int(data["warmup_counter"]),
                   reset_countdown=int(data["reset_countdown"]),
                   init_lrs=tuple(float(x) for x in data["init_lrs"]),
                   window=tuple(float(x) for x in data["window"]),
                   window_sum=_float_from_json(data["window_sum"]))


@dataclass(frozen=True)
class GreedyRule(PlateauRule):
    """The arguments of ``transformers.optimization.GreedyLR``, validated (its defaults).

    `step` is ``GreedyLR.step(value)`` operation for operation (the smoothing window keeps
    StreamingAverage's running sum, so the floats match): during cooldown or warmup the
    counters reset; otherwise more than `patience` improvements in a row divide the LRs by
    `factor` (up to `max_lrs`), more than `patience` non-improvements multiply them by it
    (down to `min_lrs`), and `reset_start` reductions with every group at its `min_lr`
    return to the initial LRs and a fresh state.
    """

    factor: float = 0.95
    threshold: float = 1e-6
    threshold_mode: str = "abs"
    min_lrs: LRs = (1e-3,)
    max_lrs: LRs = (1.0,)
    warmup: int = 0
    smooth: bool = False
    window_size: int = 50
    reset_start: int = 500

    def initial(self, lrs: LRs) -> GreedyState:
        return GreedyState(lrs=tuple(lrs), best=math.inf if self.mode == "min" else -math.inf,
                           reset_countdown=self.reset_start, init_lrs=tuple(lrs))

    def step(self, state: PlateauState, value: float) -> GreedyState:
        assert isinstance(state, GreedyState)
        current = float(value)
        window, window_sum = state.window, state.window_sum
        if self.smooth:
            window, window_sum = (*window, current), window_sum + current
            if len(window) > self.window_size:
                window_sum -= window[0]
                window = window[1:]
            current = window_sum / len(window)
        new = replace(state, window=window, window_sum=window_sum,
                      last_epoch=state.last_epoch + 1)
        if state.cooldown_counter > 0:
            return replace(new, cooldown_counter=state.cooldown_counter - 1, num_bad_epochs=0,
                           num_good_epochs=0)
        if state.warmup_counter > 0:
            return replace(new, warmup_counter=state.warmup_counter - 1, num_bad_epochs=0,
                           num_good_epochs=0)
        if self.is_better(current, state.best):
            new = replace(new, best=current, num_bad_epochs=0,
                          num_good_epochs=state.num_good_epochs + 1)
        else:
            new = replace(new, num_bad_epochs=state.num_bad_epochs + 1, num_good_epochs=0)
        if new.num_good_epochs > self.patience:
            lrs = tuple(self._increase(old, top)
                        for old, top in zip(new.lrs, self.max_lrs, strict=True))
            return replace(new, lrs=lrs, reset_countdown=self.reset_start,
                           warmup_counter=self.warmup, num_good_epochs=0)
        if new.num_bad_epochs > self.patience:
            lrs = tuple(self._reduce(old, low)
                        for old, low in zip(new.lrs, self.min_lrs, strict=True))
            new = replace(new, lrs=lrs)
            if all(lr <= low for lr, low in zip(lrs, self.min_lrs, strict=True)):
                new = replace(new, reset_countdown=new.reset_countdown - 1)
                if new.reset_countdown <= 0:
                    new = self._reset(new)
            return replace(new, cooldown_counter=self.cooldown, num_bad_epochs=0)
        return new

    def _increase(self, old: float, top: float) -> float:
        new = min(old / self.factor, top)
        return new if new - old > self.eps else old

    def _reset(self, state: GreedyState) -> GreedyState:
        """Back to the initial LRs with fresh counters and window; the epoch count goes on."""
        return replace(self.initial(state.init_lrs), last_epoch=state.last_epoch)


class PlateauHistory:
    """The plateau decisions so far: at `steps[i]` (schedule-local) the LRs became `lrs[i]`."""

    __slots__ = ("steps", "lrs")

    def __init__(self, decisions: list[tuple[int, LRs]] | None = None) -> None:
        decisions = sorted(decisions or [], key=lambda d: d[0])
        self.steps = [step for step, _ in decisions]
        self.lrs = [tuple(lrs) for _, lrs in decisions]

    def lrs_at(self, step: int, default: LRs) -> LRs:
        """The LRs in force at `step`: the latest decision at or before it, else `default`."""
        i = bisect_right(self.steps, step)
        return self.lrs[i - 1] if i else default

    def __len__(self) -> int:
        return len(self.steps)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PlateauHistory) and self.steps == other.steps
                and self.lrs == other.lrs)

    def __hash__(self) -> int:
        return hash((tuple(self.steps), tuple(self.lrs)))

    def __repr__(self) -> str:
        return f"PlateauHistory({list(zip(self.steps, self.lrs, strict=True))!r})"


EMPTY_HISTORY = PlateauHistory()


def _float_to_json(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _float_from_json(x: float | str) -> float:
    return float(x)


def fold_reports(rule: PlateauRule, lrs: LRs, reports: Iterable[tuple[int, float]], *,
                 start: int = 0) -> tuple[PlateauState, PlateauHistory]:
    """Fold `rule` over (step, value) reports in step order, starting from `lrs`.

    Reports before `start` (a schedule's `plateau_start`, where its metric-driven part
    begins) are skipped, as the service skips their rounds. Returns the final state and the
    decisions (a step whose report changed the LRs, with the new LRs). Reports at the same
    step are applied in the given order.
    """
    state = rule.initial(lrs)
    decisions: list[tuple[int, LRs]] = []
    for step, value in sorted(reports, key=lambda r: r[0]):
        if step < start:
            continue
        new = rule.step(state, value)
        if new.lrs != state.lrs:
            decisions.append((step, new.lrs))
        state = new
    return state, PlateauHistory(decisions)
