"""Spec type name -> builder, and `parse`, the one entry point from JSON to a `Schedule`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ._base import LRs, Schedule
from ._errors import SpecError
from ._fields import check_number, join_path


@dataclass(frozen=True)
class BuildContext:
    """What a builder knows besides its own spec."""

    #: field path of this spec, for error messages ("" at the top level)
    path: str = ""
    #: the optimizer's LR per group ("lr" of the top-level spec); None where the spec
    #: gave none (allowed only for CyclicLR/OneCycleLR, which set it themselves)
    lrs: LRs | None = None
    #: True for members of SequentialLR / ChainedScheduler
    nested: bool = False

    def child(self, key: str | int, **changes: Any) -> BuildContext:
        return replace(self, path=join_path(self.path, key), **changes)


Builder = Callable[[dict[str, Any], BuildContext], Schedule]
_BUILDERS: dict[str, Builder] = {}

#: types a spec cannot express (they take code), with the closest spec types to suggest
REJECTED = {
    "LambdaLR": "LambdaLR takes a Python function, which a spec cannot carry; use a closed-form "
                "type instead: LinearLR, PolynomialLR, CosineAnnealingLR, 'linear', 'cosine', "
                "'polynomial', 'inverse_sqrt', 'warmup_stable_decay' or 'PiecewiseLinear'",
    "MultiplicativeLR": "MultiplicativeLR takes a Python function, which a spec cannot carry; a "
                        "constant factor per step is ExponentialLR(gamma=factor); a factor every "
                        "N steps is StepLR; otherwise use 'PiecewiseLinear'",
}


def register(*names: str) -> Callable[[Builder], Builder]:
    """Register a builder under one or more spec type names."""

    def decorate(builder: Builder) -> Builder:
        for name in names:
            if name in _BUILDERS:
                raise RuntimeError(f"schedule type {name!r} registered twice")
            _BUILDERS[name] = builder
        return builder

    return decorate


def schedule_types() -> list[str]:
    """Every spec type name the engine accepts."""
    _load_builtin_types()
    return sorted(_BUILDERS)


def parse_lrs(value: Any, path: str) -> LRs:
    """The spec's ``lr``: a positive number or a non-empty list of them (one per group)."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpecError(path, "must be a number or a non-empty list of numbers")
    where = (lambda i: join_path(path, i)) if isinstance(value, list) else (lambda i: path)
    return tuple(check_number(v, where(i), low=0.0) for i, v in enumerate(values))


def build(spec: Any, ctx: BuildContext) -> Schedule:
    """Build one (possibly nested) spec in the given context."""
    _load_builtin_types()
    if not isinstance(spec, dict):
        raise SpecError(ctx.path, "must be an object with a 'type'")
    kind = spec.get("type")
    where = join_path(ctx.path, "type")
    if not isinstance(kind, str):
        raise SpecError(where, "is required (a PyTorch scheduler class or a Hugging Face "
                               "scheduler type)")
    if kind in REJECTED:
        raise SpecError(where, REJECTED[kind])
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise SpecError(where, f"unknown schedule type {kind!r}; known types: "
                               + ", ".join(sorted(_BUILDERS)))
    if "interval" in spec:  # the step/epoch wrapper, for every type (top level only)
        from ._interval import build_with_interval

        return build_with_interval(spec, ctx, builder)
    return builder(spec, ctx)


def parse(spec: Any) -> Schedule:
    """Validate a top-level spec (with its ``lr``) and build its `Schedule`."""
    if not isinstance(spec, dict):
        raise SpecError("", "a schedule must be a JSON object with a 'type'")
    lrs = parse_lrs(spec["lr"], "lr") if spec.get("lr") is not None else None
    return build(spec, BuildContext(lrs=lrs))


_loaded = False
# Ranks parse specs from several threads at once: a thread must not see `_loaded` before the
# catalog is imported, or it finds a partial registry ("unknown schedule type"). Reentrant,
# since importing the catalog may build schedules in the same thread.
_load_lock = threading.RLock()


def _load_builtin_types() -> None:
    """Import the modules that register the built-in types (once, lazily: no import cycle)."""
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        from . import _catalog  # noqa: F401

        _loaded = True
