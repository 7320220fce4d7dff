"""Multiplicative PyTorch schedulers: ConstantLR, LinearLR, StepLR, MultiStepLR, ExponentialLR,
PolynomialLR.

PyTorch's ``get_lr()`` for these multiplies the optimizer's current ``group["lr"]`` by a
per-step ratio (the "chainable" form). Standalone, the product of the ratios telescopes to
the closed form ``base_lr * cum(step)`` used here; inside ChainedScheduler/SequentialLR the
ratios themselves matter, so every class also implements the `Multiplicative` hooks
(`first`, `span`) documented in `_compose.py`.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from ._base import Schedule
from ._common import open_fields, required_lrs
from ._compose import Multiplicative
from ._context import BuildContext


class ConstantLR(Multiplicative):
    """``lr = base_lr * factor`` for ``step < total_iters``, then ``base_lr``.

    PyTorch: ``get_lr`` multiplies by `factor` at epoch 0 and by ``1/factor`` at epoch
    ``total_iters`` (the epoch-0 branch wins, so with ``total_iters=0`` the LR stays
    ``base_lr * factor`` forever, while ``_get_closed_form_lr`` at epoch 0 gives ``base_lr``).
    """

    def __init__(self, spec: dict[str, Any], base_lrs: tuple[float, ...], factor: float,
                 total_iters: int) -> None:
        super().__init__(spec, base_lrs)
        self.factor, self.total_iters = factor, total_iters

    def first(self, mode: str) -> float:
        if mode == "closed" and self.total_iters <= 0:
            return 1.0
        return self.factor

    def span(self, a: int, b: int) -> float:
        t = self.total_iters
        return 1.0 / self.factor if t > 0 and a <= t <= b else 1.0

    def cum(self, step: int) -> float:
        return self.factor if step < self.total_iters or self.total_iters <= 0 else 1.0


class LinearLR(Multiplicative):
    """``lr = base_lr * (s + (e - s) * min(step, total_iters) / total_iters)``.

    PyTorch's chainable ratio ``1 + (e - s) / (total_iters * s + (step - 1) * (e - s))``
    telescopes to this; after `total_iters` the LR is left unchanged.
    """

    def __init__(self, spec: dict[str, Any], base_lrs: tuple[float, ...], start: float,
                 end: float, total_iters: int) -> None:
        super().__init__(spec, base_lrs)
        self.start, self.end, self.total_iters = start, end, total_iters

    def _f(self, m: int) -> float:
        return self.start + (self.end - self.start) * min(self.total_iters, m) / self.total_iters

    def first(self, mode: str) -> float:
        return self.start

    def span(self, a: int, b: int) -> float:
        if a - 1 >= self.total_iters or b < a:
            return 1.0
        return self._f(b) / self._f(a - 1)

    def cum(self, step: int) -> float:
        return self._f(step)


class StepLR(Multiplicative):
    """``lr = base_lr * gamma ** (step // step_size)`` (ratio `gamma` at non-zero multiples)."""

    def __init__(self, spec: dict[str, Any], base_lrs: tuple[float, ...], step_size: int,
                 gamma: float) -> None:
        super().__init__(spec, base_lrs)
        self.step_size, self.gamma = step_size, gamma

    def first(self, mode: str) -> float:
        return 1.0

    def span(self, a: int, b: int) -> float:
        n = b // self.step_size - (a - 1) // self.step_size
        return self.gamma ** n if n > 0 else 1.0

    def cum(self, step: int) -> float:
        return self.gamma ** (step // self.step_size)


class MultiStepLR(Multiplicative):
    """``lr = base_lr * gamma ** bisect_right(sorted(milestones), step)``.

    PyTorch keeps the milestones in a Counter: a milestone given n times multiplies by
    ``gamma ** n`` at that epoch (epoch 0 included, even during the initial step).
    """

    def __init__(self, spec: dict[str, Any], base_lrs: tuple[float, ...], milestones: list[int],
                 gamma: float) -> None:
        super().__init__(spec, base_lrs)
        self.milestones, self.gamma = sorted(milestones), gamma

    def first(self, mode: str) -> float:
        n = bisect_right(self.milestones, 0) - bisect_right(self.milestones, -1)
        return self.gamma ** n if n else 1.0

    def span(self, a: int, b: int) -> float:
        n = bisect_right(self.milestones, b) - bisect_right(self.milestones, a - 1)
        return self.gamma ** n if n else 1.0

    def cum(self, step: int) -> float:
        n = bisect_right(self.milestones, step) - bisect_right(self.milestones, -1)
        return self.gamma ** n if n else 1.0


class ExponentialLR(Multiplicative):
    """``lr = base_lr * gamma ** step``.

    PyTorch quirk: the ratio at epoch 0 is 1 only in the initial step (``_is_initial``); a
    plain ``step()`` at epoch 0 (ChainedScheduler first in a SequentialLR) multiplies by gamma.
    """

    def __init__(self, spec: dict[str, Any], base_lrs: tuple[float, ...], gamma: float) -> None:
        super().__init__(spec, base_lrs)
        self.gamma = gamma

    def first(self, mode: str) -> float:
        return self.gamma if mode == "step" else 1.0

    def span(self, a: int, b: int) -> float:
        return self.gamma ** (b - a + 1) if b >= a else 1.0

    def cum(self, step: int) -> float:
        return self.gamma ** step


class PolynomialLR(Multiplicative):
    """``lr = base_lr * (1 - min(step, total_iters) / total_iters) ** power``.

    PyTorch's ratio is ``((1 - k/T) / (1 - (k-1)/T)) ** power``; at epoch 0 outside the
    initial step that is ``(T / (T + 1)) ** power`` (a quirk visible in composites).
    """

    def __init__(self, spec: dict[str, Any], base_lrs: tuple[float, ...], total_iters: int,
                 power: float) -> None:
        super().__init__(spec, base_lrs)
        self.total_iters, self.power = total_iters, power

    def _g(self, m: int) -> float:
        return 1.0 - min(self.total_iters, m) / self.total_iters

    def first(self, mode: str) -> float:
        if mode == "step":
            return (1.0 / (1.0 + 1.0 / self.total_iters)) ** self.power
        return 1.0

    def span(self, a: int, b: int) -> float:
        if a - 1 >= self.total_iters or b < a:
            return 1.0
        return (self._g(b) / self._g(a - 1)) ** self.power

    def cum(self, step: int) -> float:
        return self._g(step) ** self.power


def build_constant(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``ConstantLR(factor=1/3, total_iters=5)``."""
    f = open_fields(spec, ctx)
    factor = f.number("factor", 1.0 / 3, low=0.0, high=1.0,
                      reason="Constant multiplicative factor expected to be between 0 and 1.")
    total_iters = f.non_negative_int("total_iters", 5)
    if factor == 0.0 and total_iters > 0:
        # PyTorch divides the LR by factor at total_iters (ZeroDivisionError)
        raise f.error("factor", "must be > 0 when total_iters > 0 (PyTorch divides by it)")
    f.finish()
    return ConstantLR(spec, required_lrs(ctx, "ConstantLR"), factor, total_iters)


def build_linear(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``LinearLR(start_factor=1/3, end_factor=1.0, total_iters=5)``."""
    f = open_fields(spec, ctx)
    start = f.number("start_factor", 1.0 / 3, low=0.0, high=1.0, low_open=True,
                     reason="Starting multiplicative factor expected to be greater than 0 and "
                            "less or equal to 1.")
    end = f.number("end_factor", 1.0, low=0.0, high=1.0,
                   reason="Ending multiplicative factor expected to be between 0 and 1.")
    total_iters = f.positive_int("total_iters", 5)
    f.finish()
    return LinearLR(spec, required_lrs(ctx, "LinearLR"), start, end, total_iters)


def build_step(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``StepLR(step_size, gamma=0.1)``."""
    f = open_fields(spec, ctx)
    step_size = f.positive_int("step_size")
    gamma = f.number("gamma", 0.1)
    f.finish()
    return StepLR(spec, required_lrs(ctx, "StepLR"), step_size, gamma)


def build_multistep(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``MultiStepLR(milestones, gamma=0.1)``; duplicate milestones multiply again."""
    f = open_fields(spec, ctx)
    milestones = f.int_list("milestones", low=0)
    gamma = f.number("gamma", 0.1)
    f.finish()
    return MultiStepLR(spec, required_lrs(ctx, "MultiStepLR"), milestones, gamma)


def build_exponential(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``ExponentialLR(gamma)``."""
    f = open_fields(spec, ctx)
    gamma = f.number("gamma")
    f.finish()
    return ExponentialLR(spec, required_lrs(ctx, "ExponentialLR"), gamma)


def build_polynomial(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``PolynomialLR(total_iters=5, power=1.0)``."""
    f = open_fields(spec, ctx)
    total_iters = f.positive_int("total_iters", 5)
    # a negative power divides by zero at total_iters in PyTorch
    power = f.number("power", 1.0, low=0.0)
    f.finish()
    return PolynomialLR(spec, required_lrs(ctx, "PolynomialLR"), total_iters, power)
