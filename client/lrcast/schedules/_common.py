"""Helpers shared by the PyTorch schedule builders: the spec's ``lr`` and per-group values."""

from __future__ import annotations

from typing import Any

from ._base import LRs
from ._context import BuildContext
from ._errors import SpecError
from ._fields import Fields
from ._types import MAX_GROUPS


def open_fields(spec: dict[str, Any], ctx: BuildContext) -> Fields:
    """`Fields` for a PyTorch scheduler spec; a nested spec may not carry its own ``lr``."""
    f = Fields(spec, ctx.path)
    if ctx.nested:
        if "lr" in spec:
            raise f.error("lr", "a nested schedule has no lr of its own; set lr on the outer "
                                "schedule")
    else:
        f.raw("lr", None)  # parse() already validated it
    return f


def required_lrs(ctx: BuildContext, kind: str) -> LRs:
    """The LRs a scheduler scales: required for every type but CyclicLR/OneCycleLR."""
    if ctx.lrs is None:
        where = f" (at {ctx.path})" if ctx.path else ""
        raise SpecError("lr", f"is required: {kind}{where} scales the optimizer's LR")
    return ctx.lrs


def group_count(ctx: BuildContext, f: Fields, *keys: str) -> int:
    """Number of parameter groups: from ``lr``, else from the first list among `keys`."""
    if ctx.lrs is not None:
        return len(ctx.lrs)
    for key in keys:
        value = f.spec.get(key)
        if isinstance(value, list):
            if len(value) > MAX_GROUPS:
                raise f.error(key, f"at most {MAX_GROUPS} parameter groups, got {len(value)}")
            return len(value)
    return 1
