"""The metric-driven spec types: ``ReduceLROnPlateau`` (PyTorch), ``reduce_lr_on_plateau``
and ``greedy`` (Hugging Face's ``get_scheduler`` names; ``greedy`` is ``GreedyLR``).

All build the same schedule: the LRs are the optimizer's until the first plateau
decision, then whatever the latest decision at or before the step set (a binary
search in the caller's `PlateauHistory`, O(log n)). The decisions come from folding
`PlateauRule.step` (or `GreedyRule.step`) over the reports (see `fold_reports`): a
report at step ``s`` is ``scheduler.step(value)`` called just before the LR of step ``s``
is read.
Validation is PyTorch's (``factor < 1.0``, known ``mode``/``threshold_mode``, one
``min_lr`` per group when a list), plus finite numbers and integer counts; GreedyLR's
(``factor < 1.0``, one ``min_lr``/``max_lr`` per group when a list), plus ``factor > 0``
and ``window_size >= 1`` when smoothing, where GreedyLR would divide by zero.
"""

from __future__ import annotations

from typing import Any

from ._base import LRs, Schedule
from ._context import BuildContext
from ._errors import StepOutOfRange
from ._fields import Fields
from ._huggingface import GET_SCHEDULER_ARGS, start
from ._plateau import GreedyRule, PlateauHistory, PlateauRule


class PlateauSchedule(Schedule):
    """The LRs in force at a step: the plateau decisions' (from `history`), else `base_lrs`."""

    def __init__(self, spec: dict[str, Any], base_lrs: LRs, rule: PlateauRule) -> None:
        self.spec = spec
        self.base_lrs = tuple(base_lrs)
        self.num_groups = len(self.base_lrs)
        self.plateau = rule
        self.plateau_start = 0

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        if step < 0:
            raise StepOutOfRange(step, "steps start at 0")
        if history is None:
            return self.base_lrs
        return history.lrs_at(step, self.base_lrs)


def plateau_rule(f: Fields, num_groups: int) -> PlateauRule:
    """Read ``ReduceLROnPlateau``'s keyword arguments with its defaults and checks."""
    mode = f.choice("mode", ("min", "max"), "min")
    factor = f.number("factor", 0.1, high=1.0, high_open=True)
    patience = f.integer("patience", 10)
    threshold = f.number("threshold", 1e-4)
    threshold_mode = f.choice("threshold_mode", ("rel", "abs"), "rel")
    cooldown = f.integer("cooldown", 0)
    min_lrs = f.number_or_list("min_lr", num_groups, 0.0)
    eps = f.number("eps", 1e-8)
    return PlateauRule(mode=mode, factor=factor, patience=patience, threshold=threshold,
                       threshold_mode=threshold_mode, cooldown=cooldown, min_lrs=tuple(min_lrs),
                       eps=eps)


def build_reduce_lr_on_plateau(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **spec)``."""
    f, lrs = start(spec, ctx)
    rule = plateau_rule(f, len(lrs))
    f.finish()
    return PlateauSchedule(spec, lrs, rule)


def build_hf_reduce_lr_on_plateau(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_scheduler("reduce_lr_on_plateau", ...)``: ReduceLROnPlateau with the
    scheduler-specific kwargs; the get_scheduler step arguments are ignored, as there."""
    f, lrs = start(spec, ctx)
    for key in GET_SCHEDULER_ARGS:
        f.raw(key, None)
    rule = plateau_rule(f, len(lrs))
    f.finish()
    return PlateauSchedule(spec, lrs, rule)


def build_greedy(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``get_scheduler("greedy", ...)``: ``GreedyLR(optimizer, **scheduler_specific_kwargs)``;
    the get_scheduler step arguments are ignored, as there, and so is ``verbose`` (it only
    prints)."""
    f, lrs = start(spec, ctx)
    for key in GET_SCHEDULER_ARGS:
        f.raw(key, None)
    n = len(lrs)
    mode = f.choice("mode", ("min", "max"), "min")
    factor = f.number("factor", 0.95, low=0.0, high=1.0, low_open=True, high_open=True,
                      reason="Factor should be < 1.0 (and > 0: GreedyLR divides by it)")
    patience = f.integer("patience", 10)
    threshold = f.number("threshold", 1e-6)
    threshold_mode = f.choice("threshold_mode", ("rel", "abs"), "abs")
    cooldown = f.integer("cooldown", 0)
    warmup = f.integer("warmup", 0)
    min_lrs = f.number_or_list("min_lr", n, 1e-3)
    max_lrs = f.number_or_list("max_lr", n, 1.0)
    eps = f.number("eps", 1e-8)
    f.boolean("verbose", False)
    smooth = f.boolean("smooth", False)
    window_size = f.integer("window_size", 50)
    if smooth and window_size < 1:
        raise f.error("window_size", "must be >= 1 when smooth is true (GreedyLR divides by "
                                     "the window's length)")
    reset_start = f.integer("reset_start", 500)
    f.finish()
    rule = GreedyRule(mode=mode, factor=factor, patience=patience, threshold=threshold,
                      threshold_mode=threshold_mode, cooldown=cooldown, min_lrs=tuple(min_lrs),
                      eps=eps, max_lrs=tuple(max_lrs), warmup=warmup, smooth=smooth,
                      window_size=window_size, reset_start=reset_start)
    return PlateauSchedule(spec, lrs, rule)
