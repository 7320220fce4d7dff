"""The top-level ``"interval": "step" | "epoch"`` wrapper.

An epoch-interval schedule advances once per ``steps_per_epoch`` steps: the LR at step k is
the inner schedule's value at epoch ``k // steps_per_epoch``. Only the top level may set it
(a nested ``interval`` is a SpecError naming its path). A plateau part keeps working in
steps: its start becomes ``plateau_start * steps_per_epoch`` and its decisions are looked up
by the raw step, since reports arrive per step.
"""

from __future__ import annotations

from typing import Any

from ._base import LRs, Schedule
from ._context import BuildContext, Builder
from ._errors import SpecError
from ._fields import Fields, check_integer, join_path
from ._plateau import EMPTY_HISTORY, PlateauHistory


class EpochInterval(Schedule):
    """``lrs(k) = inner.lrs(k // steps_per_epoch)`` (plateau part: by the raw step)."""

    def __init__(self, spec: dict[str, Any], inner: Schedule, steps_per_epoch: int) -> None:
        self.spec, self.inner, self.steps_per_epoch = spec, inner, steps_per_epoch
        self.num_groups, self.base_lrs = inner.num_groups, inner.base_lrs
        self.cycles_momentum = inner.cycles_momentum
        if inner.plateau is not None:
            self.plateau = inner.plateau
            self.plateau_start = inner.plateau_start * steps_per_epoch

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        if self.plateau is not None and step >= self.plateau_start:
            return (history or EMPTY_HISTORY).lrs_at(step, self.base_lrs)
        return self.inner.lrs(step // self.steps_per_epoch, history)

    def momentums(self, step: int) -> LRs | None:
        return self.inner.momentums(step // self.steps_per_epoch)


def build_with_interval(spec: dict[str, Any], ctx: BuildContext, builder: Builder) -> Schedule:
    """Build `spec` (which has an ``interval`` key) with `builder`, wrapped for its interval."""
    if ctx.nested:
        raise SpecError(join_path(ctx.path, "interval"), "allowed only at the top level of a "
                        "schedule (the whole schedule advances per step or per epoch)")
    f = Fields(spec, ctx.path)
    interval = f.choice("interval", ("step", "epoch"))
    inner_spec = {k: v for k, v in spec.items() if k != "interval"}
    if spec.get("type") != "OneCycleLR":  # OneCycleLR has its own steps_per_epoch argument
        inner_spec.pop("steps_per_epoch", None)
    if interval == "step":
        schedule = builder(inner_spec, ctx)
        schedule.spec = spec
        return schedule
    steps = check_integer(f.raw("steps_per_epoch"), f.where("steps_per_epoch"), low=1,
                          reason="must be a positive integer")
    return EpochInterval(spec, builder(inner_spec, ctx), steps)
