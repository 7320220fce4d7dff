"""Beyond PyTorch: the LR range test, piecewise-linear schedules, and the range test's suggestion.

``LRRangeTest`` is torch-lr-finder's (``torch_lr_finder.LRFinder.range_test``) schedule:
with ``r = k / (num_iter - 1)``,

    exp:    lr_k = start_lr * (end_lr / start_lr) ** r
    linear: lr_k = start_lr + r * (end_lr - start_lr)

for ``k < num_iter`` (``lr_{num_iter-1} = end_lr``). torch-lr-finder runs exactly
``num_iter`` iterations, so the engine raises `StepOutOfRange` past them rather than
extrapolate. `suggest_lr` is the analysis torch-lr-finder does on the losses of such a
run (smoothing, divergence stop, steepest-gradient suggestion).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._base import LRs, Schedule
from ._context import BuildContext
from ._errors import SpecError, StepOutOfRange
from ._fields import check_integer, check_number, join_path
from ._huggingface import open_fields


class LRRangeTestSchedule(Schedule):
    """torch-lr-finder's ExponentialLR / LinearLR over `num_iter` steps (see module docs)."""

    def __init__(self, spec: dict[str, Any], base_lrs: LRs, end_lr: float, num_iter: int,
                 step_mode: str) -> None:
        self.spec = spec
        self.base_lrs = tuple(base_lrs)
        self.num_groups = len(self.base_lrs)
        self.end_lr = end_lr
        self.num_iter = num_iter
        self.exponential = step_mode == "exp"

    def lrs(self, step: int, history: Any = None) -> LRs:
        if not 0 <= step < self.num_iter:
            raise StepOutOfRange(step, f"the LR range test runs steps 0 to {self.num_iter - 1} "
                                       "(num_iter steps)")
        r = step / (self.num_iter - 1)
        end_lr = self.end_lr
        if self.exponential:
            return tuple([b * (end_lr / b) ** r for b in self.base_lrs])
        return tuple([b + r * (end_lr - b) for b in self.base_lrs])


def build_lr_range_test(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``LRFinder.range_test(start_lr, end_lr=10, num_iter=100, step_mode="exp")``'s LRs.

    ``start_lr`` (a number or one per group) defaults to the spec's ``lr``; it must be > 0
    (torch-lr-finder divides by it in exp mode and takes 0 for "unset"). ``end_lr`` is shared
    by every group, as there. ``step_mode`` is case-insensitive, as there.
    """
    f = open_fields(spec, ctx)
    mode = f.raw("step_mode", "exp")
    if not isinstance(mode, str) or mode.lower() not in ("exp", "linear"):
        raise f.error("step_mode", "must be one of 'exp', 'linear'")
    mode = mode.lower()
    if f.raw("start_lr", None) is not None:
        start = f.spec["start_lr"]
        if ctx.lrs is not None:
            groups = len(ctx.lrs)
        else:
            groups = len(start) if isinstance(start, list) else 1
        base_lrs = tuple(f.number_or_list("start_lr", groups, low=0.0, low_open=True))
    elif ctx.lrs is not None:
        base_lrs = ctx.lrs
        for i, lr in enumerate(base_lrs):
            if lr <= 0:
                where = join_path(ctx.path, "lr") if len(base_lrs) == 1 else f"lr[{i}]"
                raise SpecError(where, "must be > 0 for an LR range test (or give start_lr)")
    else:
        raise f.error("start_lr", "is required when the spec has no lr")
    end_lr = f.number("end_lr", 10, low=0.0, low_open=mode == "exp")
    num_iter = f.integer("num_iter", 100, low=2, reason="`num_iter` must be larger than 1")
    f.finish()
    return LRRangeTestSchedule(spec, base_lrs, end_lr, num_iter, mode)


class PiecewiseLinearSchedule(Schedule):
    """Linear interpolation through (step, lr) points, constant after the last one."""

    def __init__(self, spec: dict[str, Any], base_lrs: LRs, steps: list[int],
                 point_lrs: list[float]) -> None:
        self.spec = spec
        self.base_lrs = tuple(base_lrs)
        self.num_groups = len(self.base_lrs)
        self.steps = steps
        self.point_lrs = point_lrs
        ref = self.base_lrs[0]
        self.ratios = tuple(b / ref for b in self.base_lrs) if self.num_groups > 1 else (1.0,)

    def lrs(self, step: int, history: Any = None) -> LRs:
        if step < 0:
            raise StepOutOfRange(step, "steps start at 0")
        i = bisect_right(self.steps, step) - 1
        if i == len(self.steps) - 1:
            lr = self.point_lrs[i]
        else:
            s0, v0 = self.steps[i], self.point_lrs[i]
            lr = v0 + (self.point_lrs[i + 1] - v0) * ((step - s0) / (self.steps[i + 1] - s0))
        if self.num_groups == 1:
            return (lr,)
        return tuple([lr * r for r in self.ratios])


def build_piecewise_linear(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``"points": [[step, lr], ...]``: steps strictly increasing from 0, LRs finite and >= 0.

    The points give group 0's LR; with several groups (``lr`` a list), group i's LR is
    group 0's times ``lr[i] / lr[0]``, so the groups keep the ratios of their initial LRs.
    Between two points the LR is interpolated linearly; after the last point it stays.
    """
    f = open_fields(spec, ctx)
    points = f.raw("points")
    where = f.where("points")
    if not isinstance(points, list) or not points:
        raise SpecError(where, "must be a non-empty list of [step, lr] pairs")
    steps: list[int] = []
    point_lrs: list[float] = []
    for i, point in enumerate(points):
        here = join_path(where, i)
        if not isinstance(point, list) or len(point) != 2:
            raise SpecError(here, "must be a [step, lr] pair")
        step = check_integer(point[0], join_path(here, 0), low=0,
                             reason="must be a non-negative integer step")
        if i == 0 and step != 0:
            raise SpecError(join_path(here, 0), "the first point must be at step 0")
        if steps and step <= steps[-1]:
            raise SpecError(join_path(here, 0), f"steps must be strictly increasing "
                                                f"({step} after {steps[-1]})")
        steps.append(step)
        point_lrs.append(check_number(point[1], join_path(here, 1), low=0.0,
                                      reason="must be a finite number >= 0"))
    f.finish()
    base_lrs = ctx.lrs if ctx.lrs is not None else (point_lrs[0],)
    if len(base_lrs) > 1 and base_lrs[0] == 0:
        raise SpecError(join_path(ctx.path, "lr") + "[0]", "must be > 0 with several parameter "
                        "groups (the other groups keep their ratio to group 0)")
    return PiecewiseLinearSchedule(spec, base_lrs, steps, point_lrs)


# The range test's analysis --------------------------------------------------------------

@dataclass(frozen=True)
class RangeTestSuggestion:
    """What torch-lr-finder's ``range_test`` + ``plot(suggest_lr=True)`` conclude."""

    #: the LR at the steepest descent of the smoothed loss, None with fewer than 2 points
    lr: float | None
    #: its index in the given sequences, None with `lr`
    index: int | None
    #: the LRs and smoothed losses the test kept (up to and including a divergence)
    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    #: the best smoothed loss seen
    best_loss: float | None
    #: True when the test stopped because the loss exceeded ``diverge_th * best_loss``
    diverged: bool


def suggest_lr(lrs: Sequence[float], losses: Sequence[float], *, smooth_f: float = 0.05,
               diverge_th: float = 5, skip_start: int = 10,
               skip_end: int = 5) -> RangeTestSuggestion:
    """torch-lr-finder's suggestion from a range test's (lr, raw loss) per iteration.

    As ``LRFinder.range_test``: the first loss is kept as is, each later one is smoothed
    as ``smooth_f * loss + (1 - smooth_f) * previous_smoothed`` (no bias correction), the
    best loss is the smallest smoothed one, and the test stops after the first loss above
    ``diverge_th * best``. As ``LRFinder.plot``: drop `skip_start` points at the start and
    `skip_end` at the end, take the gradient of the smoothed losses against the point index
    (``numpy.gradient``: central differences, one-sided at the ends) and suggest the LR at
    its minimum (the first one; a NaN gradient wins, as with ``numpy.argmin``).
    """
    if len(lrs) != len(losses):
        raise ValueError(f"got {len(lrs)} lrs but {len(losses)} losses")
    if not 0 <= smooth_f < 1:
        raise ValueError("smooth_f is outside the range [0, 1[")
    if skip_start < 0:
        raise ValueError("skip_start cannot be negative")
    if skip_end < 0:
        raise ValueError("skip_end cannot be negative")
    kept_lrs: list[float] = []
    kept: list[float] = []
    best: float | None = None
    diverged = False
    for i, (lr, raw) in enumerate(zip(lrs, losses, strict=True)):
        loss = float(raw)
        if i == 0:
            best = loss
        else:
            if smooth_f > 0:
                loss = smooth_f * loss + (1 - smooth_f) * kept[-1]
            if loss < best:
                best = loss
        kept_lrs.append(float(lr))
        kept.append(loss)
        if loss > diverge_th * best:
            diverged = True
            break
    end = max(len(kept) - skip_end, 0)
    window = kept[skip_start:end]
    index = _argmin_gradient(window)
    if index is not None:
        index += skip_start
    return RangeTestSuggestion(
        lr=kept_lrs[index] if index is not None else None, index=index,
        lrs=tuple(kept_lrs), losses=tuple(kept), best_loss=best, diverged=diverged)


def _argmin_gradient(values: list[float]) -> int | None:
    """``numpy.gradient(values).argmin()`` without numpy; None below 2 points."""
    n = len(values)
    if n < 2:
        return None
    grad = [values[1] - values[0]]
    grad += [(values[i + 1] - values[i - 1]) / 2.0 for i in range(1, n - 1)]
    grad.append(values[-1] - values[-2])
    best = 0
    for i, g in enumerate(grad):
        if math.isnan(g):
            return i
        if g < grad[best]:
            best = i
    return best
