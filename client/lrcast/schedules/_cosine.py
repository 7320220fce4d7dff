"""CosineAnnealingLR and CosineAnnealingWarmRestarts (SGDR), closed form."""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

from ._base import LRs, Schedule
from ._common import open_fields, required_lrs
from ._context import BuildContext
from ._plateau import PlateauHistory


class CosineAnnealingLR(Schedule):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2``.

    PyTorch computes this recursively (``(lr - eta_min) * ratio + eta_min``, an additive
    branch where ``(step - 1 - T_max) % (2 * T_max) == 0``); standalone the recursion equals
    the closed form, and past `T_max` it keeps following the cosine back up (period
    ``2 * T_max``). The recursion is affine in the incoming LR, which matters only inside
    composites (see `from_incoming` and `_compose.py`).
    """

    def __init__(self, spec: dict[str, Any], base_lrs: LRs, T_max: int, eta_min: float) -> None:
        self.spec, self.base_lrs, self.num_groups = spec, base_lrs, len(base_lrs)
        self.T_max, self.eta_min = T_max, eta_min

    def cos_factor(self, step: int) -> float:
        """``(1 + cos(pi * step / T_max)) / 2`` as PyTorch evaluates it."""
        return (1 + math.cos(math.pi * step / self.T_max)) / 2

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        eta, c, base = self.eta_min, self.cos_factor(step), self.base_lrs
        if len(base) == 1:
            return (eta + (base[0] - eta) * c,)
        return tuple([eta + (b - eta) * c for b in base])

    def from_incoming(self, incoming: LRs, step: int) -> LRs:
        """The LRs when the first step (the initial one) ran on `incoming`, not `base_lrs`.

        Up to `T_max` the ratios telescope onto ``incoming``; at `T_max` the LR is exactly
        `eta_min` and the additive branch at ``T_max + 1`` rebuilds it from `base_lrs`.
        """
        if step > self.T_max:
            return self.lrs(step)
        eta, c = self.eta_min, self.cos_factor(step)
        if len(incoming) == 1:
            return (eta + (incoming[0] - eta) * c,)
        return tuple([eta + (x - eta) * c for x in incoming])


class CosineAnnealingWarmRestarts(Schedule):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``.

    Cycle n has length ``T_i = T_0 * T_mult ** n`` and starts at step
    ``T_0 * (T_mult ** n - 1) / (T_mult - 1)`` (``n * T_0`` when ``T_mult == 1``);
    ``T_cur`` is the step within the cycle. PyTorch advances ``T_cur``/``T_i`` by one per
    ``step()``; the integers here are the same, so the values are bit-identical.
    """

    def __init__(self, spec: dict[str, Any], base_lrs: LRs, T_0: int, T_mult: int,
                 eta_min: float) -> None:
        self.spec, self.base_lrs, self.num_groups = spec, base_lrs, len(base_lrs)
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        # with T_mult > 1 cycles grow geometrically: fewer than 64 of them start below 2**63,
        # so their start steps fit in a table searched by bisection
        self._starts: list[int] = []
        if T_mult > 1:
            n = 0
            while not self._starts or self._starts[-1] < 2**63:
                self._starts.append(T_0 * (T_mult ** n - 1) // (T_mult - 1))
                n += 1
        #: ``T_i`` of every cycle in `_starts`
        self._lengths = [T_0 * T_mult ** n for n in range(len(self._starts))]

    def position(self, step: int) -> tuple[int, int]:
        """``(T_cur, T_i)`` at `step`: O(1) for T_mult == 1, else a bisection of < 64 starts."""
        if self.T_mult == 1:
            return step % self.T_0, self.T_0
        n = bisect_right(self._starts, step) - 1
        return step - self._starts[n], self._lengths[n]

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        t_cur, t_i = self.position(step)
        eta = self.eta_min
        c, base = (1 + math.cos(math.pi * t_cur / t_i)) / 2, self.base_lrs
        if len(base) == 1:
            return (eta + (base[0] - eta) * c,)
        return tuple([eta + (b - eta) * c for b in base])


def build_cosine(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``CosineAnnealingLR(T_max, eta_min=0.0)``."""
    f = open_fields(spec, ctx)
    t_max = f.positive_int("T_max")
    eta_min = f.number("eta_min", 0.0)
    f.finish()
    return CosineAnnealingLR(spec, required_lrs(ctx, "CosineAnnealingLR"), t_max, eta_min)


def build_warm_restarts(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``CosineAnnealingWarmRestarts(T_0, T_mult=1, eta_min=0.0)``."""
    f = open_fields(spec, ctx)
    t_0 = f.integer("T_0", low=1, reason="Expected positive integer T_0")
    t_mult = f.integer("T_mult", 1, low=1, reason="Expected integer T_mult >= 1")
    eta_min = f.number("eta_min", 0.0)
    f.finish()
    return CosineAnnealingWarmRestarts(spec, required_lrs(ctx, "CosineAnnealingWarmRestarts"),
                                       t_0, t_mult, eta_min)
