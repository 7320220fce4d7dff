"""CyclicLR and OneCycleLR: absolute schedules that set the LR (and momentum) themselves.

Both ignore the incoming LR: in a ChainedScheduler they reset it every step, in a
SequentialLR they restart from their own values. Momentum is SGD's ``momentum`` or, for
Adam-style optimizers, ``betas[0]`` (PyTorch writes whichever the optimizer has).
"""

from __future__ import annotations

import math
from typing import Any

from ._base import LRs, Schedule
from ._common import group_count, open_fields
from ._context import BuildContext
from ._errors import StepOutOfRange
from ._fields import Fields
from ._plateau import PlateauHistory


class CyclicLR(Schedule):
    """Smith's cyclical LR, as ``torch.optim.lr_scheduler.CyclicLR.get_lr``::

        cycle = floor(1 + step / total_size);  x = 1 + step / total_size - cycle
        s = x / step_ratio if x <= step_ratio else (x - 1) / (step_ratio - 1)
        lr = base_lr + (max_lr - base_lr) * s * scale(cycle or step)
        momentum = max_momentum - (max_momentum - base_momentum) * s * scale(...)

    with scale 1 (triangular), ``1 / 2 ** (cycle - 1)`` (triangular2) or ``gamma ** step``
    (exp_range). PyTorch quirk: `scale_mode` is overridden by the mode ("cycle" for the
    triangular modes, "iterations" for exp_range) unless a custom ``scale_fn`` is given, which
    a spec cannot carry; we accept the argument and ignore it the same way.
    """

    cycles_momentum = False

    def __init__(self, spec: dict[str, Any], base_lrs: LRs, max_lrs: LRs, up: int, down: int,
                 mode: str, gamma: float, momenta: tuple[LRs, LRs] | None) -> None:
        self.spec, self.base_lrs, self.num_groups = spec, base_lrs, len(base_lrs)
        self.max_lrs, self.mode, self.gamma = max_lrs, mode, gamma
        self.total_size = float(up) + float(down)
        self.step_ratio = float(up) / self.total_size
        self.momenta = momenta
        self.cycles_momentum = momenta is not None
        # per group (base_lr, max_lr) and (base_momentum, max_momentum), zipped once
        self._lr_pairs = tuple(zip(base_lrs, max_lrs, strict=True))
        self._momentum_pairs = None if momenta is None else tuple(zip(*momenta, strict=True))

    def _shape(self, step: int) -> tuple[float, float]:
        total, ratio = self.total_size, self.step_ratio
        cycle = math.floor(1 + step / total)
        x = 1.0 + step / total - cycle
        s = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if self.mode == "triangular":
            return s, 1.0
        try:
            if self.mode == "triangular2":
                return s, 1 / (2.0 ** (cycle - 1))
            return s, self.gamma ** step
        except OverflowError:  # PyTorch raises it too (after ~1024 triangular2 cycles)
            raise StepOutOfRange(step, f"PyTorch's {self.mode} scale overflows a float "
                                       "here") from None

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        return self._lrs_at(*self._shape(step))

    def momentums(self, step: int) -> LRs | None:
        if self._momentum_pairs is None:
            return None
        return self._momentums_at(*self._shape(step))

    def _lrs_at(self, s: float, scale: float) -> LRs:
        pairs = self._lr_pairs
        if len(pairs) == 1:
            ((b, m),) = pairs
            return (b + (m - b) * s * scale,)
        return tuple([b + (m - b) * s * scale for b, m in pairs])

    def _momentums_at(self, s: float, scale: float) -> LRs:
        pairs = self._momentum_pairs
        if len(pairs) == 1:
            ((lo, hi),) = pairs
            return (hi - (hi - lo) * s * scale,)
        return tuple([hi - (hi - lo) * s * scale for lo, hi in pairs])

    def values(self, step: int, history: PlateauHistory | None = None) -> tuple[LRs, LRs | None]:
        s, scale = self._shape(step)
        if self._momentum_pairs is None:
            return self._lrs_at(s, scale), None
        return self._lrs_at(s, scale), self._momentums_at(s, scale)

class OneCycleLR(Schedule):
    """The 1cycle policy, as ``OneCycleLR.get_lr``: phases ending at
    ``pct_start * total_steps - 1`` (and ``2 * pct_start * total_steps - 2`` with
    `three_phase`) and ``total_steps - 1``, each annealing (cos or linear) between
    ``initial_lr = max_lr / div_factor``, `max_lr` and
    ``min_lr = initial_lr / final_div_factor``; momentum anneals the opposite way.

    PyTorch accepts steps 0..total_steps (the last one extrapolates the final phase) and
    raises past that ("Tried to step X times..."): so does `lrs`. Since the phase length
    can be 0 (e.g. ``pct_start * total_steps == 1``), PyTorch then divides by zero; that
    also raises `StepOutOfRange` (or `SpecError` when it happens at construction).
    """

    #: OneCycleLR overwrites group["initial_lr"] (every other type only sets it if absent)
    sets_initial_lr = True

    def __init__(self, spec: dict[str, Any], max_lrs: LRs, total_steps: int, pct_start: float,
                 anneal: str, div_factor: float, final_div_factor: float, three_phase: bool,
                 momenta: tuple[LRs, LRs] | None) -> None:
        self.spec, self.num_groups = spec, len(max_lrs)
        self.max_lrs = max_lrs
        self.base_lrs = tuple([m / div_factor for m in max_lrs])  # group["initial_lr"]
        self.min_lrs = tuple([b / final_div_factor for b in self.base_lrs])
        self.total_steps = total_steps
        self.cos = anneal == "cos"
        self.momenta = momenta
        self.cycles_momentum = momenta is not None
        # (end_step, start, end) with 0 = initial_lr, 1 = max_lr, 2 = min_lr; momentum
        # ends with 0 = max_momentum, 1 = base_momentum
        if three_phase:
            self.phases = ((float(pct_start * total_steps) - 1, 0, 1, 0, 1),
                           (float(2 * pct_start * total_steps) - 2, 1, 0, 1, 0),
                           (total_steps - 1, 0, 2, 0, 0))
        else:
            self.phases = ((float(pct_start * total_steps) - 1, 0, 1, 0, 1),
                           (total_steps - 1, 1, 2, 1, 0))
        # (start, end) of every phase but the last, and (index, start, end) of the last one
        bounds = [0.0, *(phase[0] for phase in self.phases)]
        spans = list(zip(bounds, bounds[1:], strict=False))
        self._spans = tuple(spans[:-1])
        self._last_span = (len(spans) - 1, *spans[-1])

        # per phase, per group: the anneal's (end, start - end) for cos or (start, end - start)
        # for linear, computed once; PyTorch computes the same differences every step, so
        # the values are bit-identical
        lr_table = (self.base_lrs, self.max_lrs, self.min_lrs)
        self._lr_coeffs = tuple(self._coeffs(lr_table[p[1]], lr_table[p[2]])
                                for p in self.phases)
        self._momentum_coeffs = None
        if momenta is not None:
            base, top = momenta
            m_table = (top, base)
            self._momentum_coeffs = tuple(self._coeffs(m_table[p[3]], m_table[p[4]])
                                          for p in self.phases)

    def _coeffs(self, starts: LRs, ends: LRs) -> tuple[tuple[float, float], ...]:
        if self.cos:
            return tuple((b, a - b) for a, b in zip(starts, ends, strict=True))
        return tuple((a, b - a) for a, b in zip(starts, ends, strict=True))

    def _phase(self, step: int) -> tuple[float, int]:
        """(fraction of the phase done, phase index) at `step`."""
        if step > self.total_steps:
            raise StepOutOfRange(step, f"Tried to step {step} times. The specified number of "
                                       f"total steps is {self.total_steps}")
        i = 0
        for start, end in self._spans:  # noqa: B007 - `start` is read after the break
            if step <= end:
                break
            i += 1
        else:  # the last phase extrapolates (step total_steps)
            i, start, end = self._last_span
        if end == start:
            raise StepOutOfRange(step, "OneCycleLR divides by zero here: a phase of "
                                       "length 0 (pct_start * total_steps is 1 or 0.5 "
                                       "with three_phase, or pct_start is 1)")
        return (step - start) / (end - start), i

    def _weight(self, pct: float) -> float:
        # PyTorch: cos: end + (start - end) / 2.0 * (cos(pi * pct) + 1); halving is exact, so
        # (start - end) * ((cos + 1) / 2) rounds the same. linear: (end - start) * pct + start
        return (math.cos(math.pi * pct) + 1) / 2.0 if self.cos else pct

    @staticmethod
    def _anneal(coeffs: tuple[tuple[float, float], ...], w: float) -> LRs:
        if len(coeffs) == 1:
            ((a, d),) = coeffs
            return (a + d * w,)
        return tuple([a + d * w for a, d in coeffs])

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        pct, i = self._phase(step)
        return self._anneal(self._lr_coeffs[i], self._weight(pct))

    def momentums(self, step: int) -> LRs | None:
        if self._momentum_coeffs is None:
            return None
        pct, i = self._phase(step)
        return self._anneal(self._momentum_coeffs[i], self._weight(pct))

    def values(self, step: int, history: PlateauHistory | None = None) -> tuple[LRs, LRs | None]:
        pct, i = self._phase(step)
        w = self._weight(pct)
        anneal = self._anneal
        lrs = anneal(self._lr_coeffs[i], w)
        if self._momentum_coeffs is None:
            return lrs, None
        return lrs, anneal(self._momentum_coeffs[i], w)


def _momenta(f: Fields, n: int, base_default: float, max_default: float) -> tuple[LRs, LRs]:
    base = f.number_or_list("base_momentum", n, base_default)
    top = f.number_or_list("max_momentum", n, max_default)
    return tuple(base), tuple(top)

def build_cyclic(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``CyclicLR(base_lr, max_lr, step_size_up=2000, step_size_down=None, mode='triangular',
    gamma=1.0, scale_mode='cycle', cycle_momentum=True, base_momentum=0.8, max_momentum=0.9)``.
    """
    f = open_fields(spec, ctx)
    n = group_count(ctx, f, "base_lr", "max_lr", "base_momentum", "max_momentum")
    base = tuple(f.number_or_list("base_lr", n))
    top = tuple(f.number_or_list("max_lr", n))
    up = f.positive_int("step_size_up", 2000)
    down = f.non_negative_int("step_size_down", up)
    mode = f.choice("mode", ("triangular", "triangular2", "exp_range"), "triangular")
    gamma = f.number("gamma", 1.0)
    f.choice("scale_mode", ("cycle", "iterations"), "cycle")
    momenta = _momenta(f, n, 0.8, 0.9) if f.boolean("cycle_momentum", True) else None
    f.finish()
    return CyclicLR(spec, base, top, up, down, mode, gamma, momenta)

def build_one_cycle(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``OneCycleLR(max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
    pct_start=0.3, anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85,
    max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False)``.
    """
    f = open_fields(spec, ctx)
    n = group_count(ctx, f, "max_lr", "base_momentum", "max_momentum")
    if f.raw("total_steps", None) is not None:
        total = f.integer("total_steps", low=1, reason="Expected positive integer total_steps")
        f.raw("epochs", None), f.raw("steps_per_epoch", None)
    elif f.raw("epochs", None) is not None and f.raw("steps_per_epoch", None) is not None:
        total = (f.integer("epochs", low=1, reason="Expected positive integer epochs")
                 * f.integer("steps_per_epoch", low=1,
                             reason="Expected positive integer steps_per_epoch"))
    else:
        raise f.error("total_steps", "You must define either total_steps OR (epochs AND "
                                     "steps_per_epoch)")
    pct_start = f.number("pct_start", 0.3, low=0.0, high=1.0,
                         reason="Expected float between 0 and 1 pct_start")
    anneal = f.choice("anneal_strategy", ("cos", "linear"), "cos")
    max_lrs = tuple(f.number_or_list("max_lr", n))
    div_factor = f.number("div_factor", 25.0, low=0.0, low_open=True)
    final_div_factor = f.number("final_div_factor", 1e4, low=0.0, low_open=True)
    three_phase = f.boolean("three_phase", False)
    momenta = _momenta(f, n, 0.85, 0.95) if f.boolean("cycle_momentum", True) else None
    f.finish()
    schedule = OneCycleLR(spec, max_lrs, total, pct_start, anneal, div_factor,
                          final_div_factor, three_phase, momenta)
    try:
        schedule.lrs(0)  # PyTorch's constructor takes step 0
    except StepOutOfRange as exc:
        raise f.error("pct_start", exc.reason) from None
    return schedule
