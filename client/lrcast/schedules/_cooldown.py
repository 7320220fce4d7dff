"""``Cooldown``: the decay phase of Hugging Face's ``warmup_stable_decay``, started from a
given LR. It is what a cooldown amendment puts in force at its ``from_step``: ``lr`` is the
LR each group had there, and the spec carries it, so a lease evaluates the cooldown with
this same engine.

The LR of group i at the cooldown's own step k is ``lr[i] * f(k)`` with ``f`` transformers'
``_get_wsd_scheduler_lambda`` with no warmup and no stable phase (the function itself, as
`_huggingface` transcribes it, so the floats match bit for bit): ``(1 - r) * value + r`` with
``value`` = ``1 - p``, ``0.5 * (1 + cos(pi * p))`` or ``1 - sqrt(p)``, ``p = k / N``, and
``r`` from step N on.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ._base import Schedule
from ._context import BuildContext
from ._huggingface import LambdaSchedule, start, wsd_factor

#: the decay shapes of transformers' warmup_stable_decay
DECAY_TYPES = ("linear", "cosine", "1-sqrt")


def build_cooldown(spec: dict[str, Any], ctx: BuildContext) -> Schedule:
    """``{"type": "Cooldown", "lr", "num_decay_steps", "decay_type": "linear",
    "min_lr_ratio": 0}``: from ``lr`` down to ``lr * min_lr_ratio`` in ``num_decay_steps``."""
    f, lrs = start(spec, ctx)
    steps = f.positive_int("num_decay_steps")
    decay_type = f.choice("decay_type", DECAY_TYPES, "linear")
    ratio = f.number("min_lr_ratio", 0, low=0.0, high=1.0)
    f.finish()
    factor = partial(wsd_factor, num_warmup_steps=0, num_stable_steps=0, num_decay_steps=steps,
                     warmup_type="linear", decay_type=decay_type, min_lr_ratio=ratio,
                     num_cycles=0.5)
    return LambdaSchedule(spec, lrs, factor, f.path)
