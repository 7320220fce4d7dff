"""Hugging Face ``transformers`` schedules (``SchedulerType`` names), as pure functions.

Every closed-form Hugging Face schedule is a ``LambdaLR``: the LR of group ``i`` at
step ``k`` is ``base_lr_i * lambda(k)``. The lambdas below are transcribed from
``transformers/optimization.py`` (5.23) expression for expression, so the floats
match bit for bit. The spec keys are the keyword arguments of the transformers
function; ``num_warmup_steps`` and ``num_training_steps`` (the two arguments of
``transformers.get_scheduler``) are accepted by every type and, like
``get_scheduler``, ignored by the types that do not take them (``constant``
ignores both, ``constant_with_warmup`` and ``inverse_sqrt`` ignore
``num_training_steps``). Where transformers reads ``optimizer.defaults["lr"]``
(``polynomial``'s ``lr_init``, ``min_lr`` of the ``*_min_lr`` types) the engine
uses group 0's ``lr``, i.e. the optimizer is ``SGD(groups, lr=lr[0])``.
``reduce_lr_on_plateau`` and ``greedy`` (``GreedyLR``), which are metric-driven, live in
`_plateau_types`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

from ._base import LRs, Schedule
from ._context import BuildContext
from ._errors import SpecError, StepOutOfRange
from ._fields import Fields, join_path

Factor = Callable[[int], float]

#: the get_scheduler arguments every Hugging Face type accepts (ignored where unused)
GET_SCHEDULER_ARGS = ("num_warmup_steps", "num_training_steps")


class LambdaSchedule(Schedule):
    """``LambdaLR(optimizer, factor)``: LR of group i at step k is ``base_lrs[i] * factor(k)``."""

    def __init__(self, spec: dict[str, Any], base_lrs: LRs, factor: Factor, path: str) -> None:
        self.spec = spec
        self.base_lrs = tuple(base_lrs)
        self.num_groups = len(self.base_lrs)
        self._factor = factor
        try:  # LambdaLR evaluates step 0 in its constructor: fail at build where it fails
            factor(0)
        except (ZeroDivisionError, ValueError, OverflowError) as exc:
            raise SpecError(path, f"transformers fails at step 0 with these arguments ({exc})"
                            ) from None

    def lrs(self, step: int, history: Any = None) -> LRs:
        if step < 0:
            raise StepOutOfRange(step, "steps start at 0")
        try:
            f = self._factor(step)
        except (ZeroDivisionError, ValueError, OverflowError) as exc:
            raise StepOutOfRange(step, f"transformers fails at this step ({exc})") from None
        base = self.base_lrs
        return (base[0] * f,) if len(base) == 1 else tuple([b * f for b in base])


def open_fields(spec: dict[str, Any], ctx: BuildContext) -> Fields:
    """`Fields` of a spec; a nested spec (a SequentialLR member) has no ``lr`` of its own."""
    fields = Fields(spec, ctx.path, allowed=("type",) if ctx.nested else ("type", "lr"))
    if ctx.nested and "lr" in spec:
        raise fields.error("lr", "a nested schedule has no lr of its own; set lr on the outer "
                                 "schedule")
    return fields


def start(spec: dict[str, Any], ctx: BuildContext) -> tuple[Fields, LRs]:
    """Fields of `spec` and the optimizer's LR per group (the spec's or the parent's ``lr``)."""
    fields = open_fields(spec, ctx)
    if ctx.lrs is None:
        raise SpecError(join_path(ctx.path, "lr"), "is required (the optimizer's initial LR)")
    return fields, ctx.lrs


def _warmup_steps(f: Fields) -> int:
    if f.raw("num_warmup_steps", None) is None:
        raise f.missing("num_warmup_steps", f"is required: {f.spec['type']} requires "
                                            "`num_warmup_steps`")
    return f.non_negative_int("num_warmup_steps")


def _training_steps(f: Fields) -> int:
    if f.raw("num_training_steps", None) is None:
        raise f.missing("num_training_steps", f"is required: {f.spec['type']} requires "
                                              "`num_training_steps`")
    return f.non_negative_int("num_training_steps")


def _min_lr_rate(f: Fields, lr_init: float) -> float:
    """transformers' ``min_lr`` / ``min_lr_rate`` rule (exactly one of them)."""
    min_lr = f.raw("min_lr", None)
    min_lr_rate = f.raw("min_lr_rate", None)
    if min_lr is not None and min_lr_rate is not None:
        raise f.error("min_lr", "only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        min_lr = f.number("min_lr")
        if lr_init == 0:
            raise f.error("min_lr", "cannot be converted to a rate when lr is 0")
        return min_lr / lr_init
    if min_lr_rate is None:
        raise f.error("min_lr_rate", "one of min_lr or min_lr_rate should be set")
    return f.number("min_lr_rate")


# The lambdas, transcribed from transformers/optimization.py -------------------------------

def _constant(_: int) -> float:
    return 1


def _constant_with_warmup(k: int, *, num_warmup_steps: int) -> float:
    if k < num_warmup_steps:
        return float(k) / float(max(1.0, num_warmup_steps))
    return 1.0


def _linear(k: int, *, num_warmup_steps: int, num_training_steps: int) -> float:
    if k < num_warmup_steps:
        return float(k) / float(max(1, num_warmup_steps))
    return max(0.0, float(num_training_steps - k) / float(max(1, num_training_steps
                                                               - num_warmup_steps)))


def _cosine(k: int, *, num_warmup_steps: int, num_training_steps: int,
            num_cycles: float) -> float:
    if k < num_warmup_steps:
        return float(k) / float(max(1, num_warmup_steps))
    progress = float(k - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))


def _cosine_with_restarts(k: int, *, num_warmup_steps: int, num_training_steps: int,
                          num_cycles: float) -> float:
    if k < num_warmup_steps:
        return float(k) / float(max(1, num_warmup_steps))
    progress = float(k - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))


def _polynomial(k: int, *, num_warmup_steps: int, num_training_steps: int, lr_end: float,
                power: float, lr_init: float) -> float:
    if k < num_warmup_steps:
        return float(k) / float(max(1, num_warmup_steps))
    if k > num_training_steps:
        return lr_end / lr_init
    lr_range = lr_init - lr_end
    decay_steps = num_training_steps - num_warmup_steps
    pct_remaining = 1 - (k - num_warmup_steps) / decay_steps
    decay = lr_range * pct_remaining**power + lr_end
    return decay / lr_init


def _inverse_sqrt(k: int, *, num_warmup_steps: int, timescale: int) -> float:
    if k < num_warmup_steps:
        return float(k) / float(max(1, num_warmup_steps))
    shift = timescale - num_warmup_steps
    return 1.0 / math.sqrt((k + shift) / timescale)


def _cosine_with_min_lr(k: int, *, num_warmup_steps: int, num_training_steps: int,
                        num_cycles: float, min_lr_rate: float) -> float:
    if k < num_warmup_steps:
        return float(k) / float(max(1, num_warmup_steps))
    progress = float(k - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return max(0, factor)


def _cosine_warmup_with_min_lr(k: int, *, num_warmup_steps: int, num_training_steps: int,
                               num_cycles: float, min_lr_rate: float,
                               warmup_lr_rate: float | None) -> float:
    current = float(k)
    warmup = float(num_warmup_steps)
    training = float(num_training_steps)
    if current < warmup:
        if warmup_lr_rate is None:
            return (current + 1.0) / max(1.0, warmup)
        return warmup_lr_rate + (1.0 - warmup_lr_rate) * current / (max(1, warmup - 1))
    progress = (current - warmup + 1.0) / (max(1.0, training - warmup))
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return max(0, factor)


def wsd_factor(k: int, *, num_warmup_steps: int, num_stable_steps: int, num_decay_steps: int,
               warmup_type: str, decay_type: str, min_lr_ratio: float, num_cycles: float) -> float:
    if k < num_warmup_steps:
        progress = float(k) / float(max(1, num_warmup_steps))
        if warmup_type == "linear":
            factor = progress
        elif warmup_type == "cosine":
            factor = 0.5 * (1.0 - math.cos(math.pi * progress))
        else:  # "1-sqrt"
            factor = 1.0 - math.sqrt(1.0 - progress)
        factor = factor * (1.0 - min_lr_ratio) + min_lr_ratio
        return max(0.0, factor)
    if k < num_warmup_steps + num_stable_steps:
        return 1.0
    if k < num_warmup_steps + num_stable_steps + num_decay_steps:
        progress = float(k - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
        if decay_type == "linear":
            factor = 1.0 - progress
        elif decay_type == "cosine":
            factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
        else:  # "1-sqrt"
            factor = 1.0 - math.sqrt(progress)
        factor = factor * (1.0 - min_lr_ratio) + min_lr_ratio
        return max(0.0, factor)
    return min_lr_ratio


# Builders ---------------------------------------------------------------------------------

def _finish(f: Fields, lrs: LRs, factor: Factor) -> Schedule:
    f.finish()
    return LambdaSchedule(f.spec, lrs, factor, f.path)


def build_constant(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_constant_schedule``: factor 1 (get_scheduler ignores its step arguments)."""
    f, lrs = start(spec, ctx)
    for key in GET_SCHEDULER_ARGS:
        f.raw(key, None)
    return _finish(f, lrs, _constant)


def build_constant_with_warmup(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_constant_schedule_with_warmup``: ``k / max(1, W)`` for ``k < W``, then 1."""
    f, lrs = start(spec, ctx)
    w = _warmup_steps(f)
    f.raw("num_training_steps", None)
    return _finish(f, lrs, partial(_constant_with_warmup, num_warmup_steps=w))


def build_linear(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_linear_schedule_with_warmup``: warmup, then ``max(0, (T - k) / max(1, T - W))``."""
    f, lrs = start(spec, ctx)
    w, t = _warmup_steps(f), _training_steps(f)
    return _finish(f, lrs, partial(_linear, num_warmup_steps=w, num_training_steps=t))


def build_cosine(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_cosine_schedule_with_warmup``: ``max(0, (1 + cos(2 pi c p)) / 2)``, p the progress."""
    f, lrs = start(spec, ctx)
    w, t = _warmup_steps(f), _training_steps(f)
    c = f.number("num_cycles", 0.5)
    return _finish(f, lrs, partial(_cosine, num_warmup_steps=w, num_training_steps=t,
                                   num_cycles=c))


def build_cosine_with_restarts(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_cosine_with_hard_restarts_schedule_with_warmup``: ``(1 + cos(pi ((c p) % 1))) / 2``,
    0 once ``p >= 1``."""
    f, lrs = start(spec, ctx)
    w, t = _warmup_steps(f), _training_steps(f)
    c = f.number("num_cycles", 1)
    return _finish(f, lrs, partial(_cosine_with_restarts, num_warmup_steps=w,
                                   num_training_steps=t, num_cycles=c))


def build_polynomial(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_polynomial_decay_schedule_with_warmup``: from ``lr_init`` (group 0's lr) to
    ``lr_end`` as ``(lr_init - lr_end) (1 - p)**power + lr_end``; every group gets that
    divided by ``lr_init`` times its own lr, as in transformers.

    Quirk kept: with ``num_training_steps == num_warmup_steps`` (or ``power < 0``) transformers
    divides by zero at step ``num_training_steps``; the engine raises StepOutOfRange there.
    """
    f, lrs = start(spec, ctx)
    w, t = _warmup_steps(f), _training_steps(f)
    lr_end = f.number("lr_end", 1e-7)
    power = f.number("power", 1.0)
    lr_init = lrs[0]
    if not (lr_init > lr_end):
        raise f.error("lr_end", f"lr_end ({lr_end}) must be smaller than initial lr ({lr_init})")
    if w == t == 0:
        raise f.error("num_training_steps", "must be > 0 when num_warmup_steps is 0 "
                                            "(transformers divides by zero at step 0)")
    return _finish(f, lrs, partial(_polynomial, num_warmup_steps=w, num_training_steps=t,
                                   lr_end=lr_end, power=power, lr_init=lr_init))


def build_inverse_sqrt(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_inverse_sqrt_schedule``: warmup, then ``1 / sqrt((k + timescale - W) / timescale)``;
    ``timescale`` defaults to ``num_warmup_steps or 10_000``."""
    f, lrs = start(spec, ctx)
    w = _warmup_steps(f)
    f.raw("num_training_steps", None)
    timescale = f.raw("timescale", None)
    timescale = (w or 10_000) if timescale is None else f.positive_int("timescale")
    return _finish(f, lrs, partial(_inverse_sqrt, num_warmup_steps=w, timescale=timescale))


def build_cosine_with_min_lr(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_cosine_with_min_lr_schedule_with_warmup``: the cosine factor rescaled to
    ``[min_lr_rate, 1]`` (``min_lr_rate = min_lr / lr[0]`` when ``min_lr`` is given)."""
    f, lrs = start(spec, ctx)
    w, t = _warmup_steps(f), _training_steps(f)
    c = f.number("num_cycles", 0.5)
    rate = _min_lr_rate(f, lrs[0])
    return _finish(f, lrs, partial(_cosine_with_min_lr, num_warmup_steps=w, num_training_steps=t,
                                   num_cycles=c, min_lr_rate=rate))


def build_cosine_warmup_with_min_lr(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_cosine_with_min_lr_schedule_with_warmup_lr_rate``: warmup ``(k + 1) / W`` (or from
    ``warmup_lr_rate``), then the min-lr cosine shifted by one step, as in transformers."""
    f, lrs = start(spec, ctx)
    w, t = _warmup_steps(f), _training_steps(f)
    c = f.number("num_cycles", 0.5)
    rate = _min_lr_rate(f, lrs[0])
    warmup_lr_rate = f.raw("warmup_lr_rate", None)
    if warmup_lr_rate is not None:
        warmup_lr_rate = f.number("warmup_lr_rate")
    return _finish(f, lrs, partial(_cosine_warmup_with_min_lr, num_warmup_steps=w,
                                   num_training_steps=t, num_cycles=c, min_lr_rate=rate,
                                   warmup_lr_rate=warmup_lr_rate))


def build_warmup_stable_decay(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_wsd_schedule``: warmup from ``min_lr_ratio`` to 1, stable at 1, decay to
    ``min_lr_ratio`` (linear, cosine or 1-sqrt), then ``min_lr_ratio``. ``num_stable_steps``
    wins over ``num_training_steps`` (transformers warns); without it the stable phase is
    ``num_training_steps - num_warmup_steps - num_decay_steps`` (possibly negative, as there)."""
    f, lrs = start(spec, ctx)
    w = _warmup_steps(f)
    d = f.non_negative_int("num_decay_steps")
    t = f.raw("num_training_steps", None)
    s = f.raw("num_stable_steps", None)
    if t is None and s is None:
        raise f.error("num_stable_steps", "either num_training_steps or num_stable_steps must "
                                          "be specified")
    if s is not None:
        s = f.non_negative_int("num_stable_steps")
        if t is not None:
            f.non_negative_int("num_training_steps")
    else:
        s = f.non_negative_int("num_training_steps") - w - d
    phases = ("linear", "cosine", "1-sqrt")
    warmup_type = f.choice("warmup_type", phases, "linear")
    decay_type = f.choice("decay_type", phases, "cosine")
    min_lr_ratio = f.number("min_lr_ratio", 0)
    c = f.number("num_cycles", 0.5)
    return _finish(f, lrs, partial(wsd_factor, num_warmup_steps=w, num_stable_steps=s,
                                   num_decay_steps=d, warmup_type=warmup_type,
                                   decay_type=decay_type, min_lr_ratio=min_lr_ratio,
                                   num_cycles=c))
