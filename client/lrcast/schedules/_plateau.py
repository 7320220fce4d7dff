"""ReduceLROnPlateau as a pure fold over metric reports.

`PlateauRule.step(state, value)` is PyTorch's ``ReduceLROnPlateau.step(value)``
with the scheduler's mutable fields lifted into an immutable `PlateauState`.
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
