"""The table of spec types (type name -> builder), and `parse`, the one entry point from JSON
to a `Schedule`.

`BUILDERS` is the only list of what the engine accepts: adding a type is one line here.
Composites build their members through the `BuildContext` this module hands them, so no
family module imports this one (no import cycle).
"""

from __future__ import annotations

from typing import Any

from . import (
    _compose,
    _cooldown,
    _cosine,
    _cyclic,
    _decay,
    _huggingface,
    _plateau_types,
    _range_test,
)
from ._base import Schedule
from ._clock import CLOCK_KEYS, build_with_clock
from ._context import BuildContext, Builder
from ._errors import SpecError
from ._fields import check_number, closest, join_path
from ._interval import build_with_interval
from ._types import MAX_GROUPS, LRs

BUILDERS: dict[str, Builder] = {
    # torch.optim.lr_scheduler
    "ConstantLR": _decay.build_constant,
    "LinearLR": _decay.build_linear,
    "StepLR": _decay.build_step,
    "MultiStepLR": _decay.build_multistep,
    "ExponentialLR": _decay.build_exponential,
    "PolynomialLR": _decay.build_polynomial,
    "CosineAnnealingLR": _cosine.build_cosine,
    "CosineAnnealingWarmRestarts": _cosine.build_warm_restarts,
    "CyclicLR": _cyclic.build_cyclic,
    "OneCycleLR": _cyclic.build_one_cycle,
    "SequentialLR": _compose.build_sequential,
    "ChainedScheduler": _compose.build_chained,
    "ReduceLROnPlateau": _plateau_types.build_reduce_lr_on_plateau,
    # transformers' SchedulerType names (get_scheduler)
    "constant": _huggingface.build_constant,
    "constant_with_warmup": _huggingface.build_constant_with_warmup,
    "linear": _huggingface.build_linear,
    "cosine": _huggingface.build_cosine,
    "cosine_with_restarts": _huggingface.build_cosine_with_restarts,
    "polynomial": _huggingface.build_polynomial,
    "inverse_sqrt": _huggingface.build_inverse_sqrt,
    "cosine_with_min_lr": _huggingface.build_cosine_with_min_lr,
    "cosine_warmup_with_min_lr": _huggingface.build_cosine_warmup_with_min_lr,
    "warmup_stable_decay": _huggingface.build_warmup_stable_decay,
    "reduce_lr_on_plateau": _plateau_types.build_hf_reduce_lr_on_plateau,
    "greedy": _plateau_types.build_greedy,
    # lrcast's own
    "LRRangeTest": _range_test.build_lr_range_test,
    "PiecewiseLinear": _range_test.build_piecewise_linear,
    "Cooldown": _cooldown.build_cooldown,
}

#: types a spec cannot express (they take code), with the closest spec types to suggest
REJECTED = {
    "LambdaLR": "LambdaLR takes a Python function, which a spec cannot carry; use a closed-form "
                "type instead: LinearLR, PolynomialLR, CosineAnnealingLR, 'linear', 'cosine', "
                "'polynomial', 'inverse_sqrt', 'warmup_stable_decay' or 'PiecewiseLinear'",
    "MultiplicativeLR": "MultiplicativeLR takes a Python function, which a spec cannot carry; a "
                        "constant factor per step is ExponentialLR(gamma=factor); a factor every "
                        "N steps is StepLR; otherwise use 'PiecewiseLinear'",
}


def schedule_types() -> list[str]:
    """Every spec type name the engine accepts."""
    return sorted(BUILDERS)


def parse_lrs(value: Any, path: str) -> LRs:
    """The spec's ``lr``: a positive number or a non-empty list of them (one per group)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpecError(path, "must be a number or a non-empty list of numbers")
    if len(values) > MAX_GROUPS:
        raise SpecError(path, f"at most {MAX_GROUPS} parameter groups, got {len(values)}")
    where = (lambda i: join_path(path, i)) if isinstance(value, list) else (lambda i: path)
    return tuple(check_number(v, where(i), low=0.0) for i, v in enumerate(values))


def build(spec: Any, ctx: BuildContext) -> Schedule:
    """Build one (possibly nested) spec in the given context."""
    if not isinstance(spec, dict):
        raise SpecError(ctx.path, "must be an object with a 'type'")
    kind = spec.get("type")
    where = join_path(ctx.path, "type")
    if not isinstance(kind, str):
        raise SpecError(where, "is required (a PyTorch scheduler class or a Hugging Face "
                               "scheduler type)")
    if kind in REJECTED:
        raise SpecError(where, REJECTED[kind])
    builder = BUILDERS.get(kind)
    if builder is None:
        guess = closest(kind, [*BUILDERS, *REJECTED])
        hint = f"did you mean {guess!r}? " if guess else ""
        raise SpecError(where, f"unknown schedule type {kind!r}; {hint}known types: "
                               + ", ".join(sorted(BUILDERS)))
    if any(key in spec for key in CLOCK_KEYS):  # the clock wrapper (top level only)
        return build_with_clock(spec, ctx, build)
    if "interval" in spec:  # the step/epoch wrapper, for every type (top level only)
        return build_with_interval(spec, ctx, builder)
    return builder(spec, ctx)


def parse(spec: Any) -> Schedule:
    """Validate a top-level spec (with its ``lr``) and build its `Schedule`."""
    if not isinstance(spec, dict):
        raise SpecError("", "a schedule must be a JSON object with a 'type'")
    lrs = parse_lrs(spec["lr"], "lr") if spec.get("lr") is not None else None
    return build(spec, BuildContext(build=build, lrs=lrs))
