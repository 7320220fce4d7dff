"""``ReduceLROnPlateau`` (PyTorch) and ``reduce_lr_on_plateau`` (Hugging Face) spec types.

Both build the same schedule: the LRs are the optimizer's until the first plateau
decision, then whatever the latest decision at or before the step set (a binary
search in the caller's `PlateauHistory`, O(log n)). The decisions come from folding
`PlateauRule.step` over the reports (see `fold_reports`): a report at step ``s`` is
``scheduler.step(value)`` called just before the LR of step ``s`` is read.
Validation is PyTorch's (``factor < 1.0``, known ``mode``/``threshold_mode``, one
``min_lr`` per group when a list), plus finite numbers and integer counts.
"""

from __future__ import annotations

from typing import Any

from ._base import LRs, Schedule
from ._context import BuildContext
from ._errors import StepOutOfRange
from ._fields import Fields
from ._huggingface import GET_SCHEDULER_ARGS, start
from ._plateau import PlateauHistory, PlateauRule


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
