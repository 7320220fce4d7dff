"""The JAX/optax adapter: `schedule(run)`, an optax schedule (`count -> lr`) whose values come
from an lrcast run. Imported only when asked for (`import lrcast.optax`); needs `lrcast[jax]`.

    optimizer = optax.adamw(learning_rate=lrcast.optax.schedule(run))
    # or, to see the LR in the optimizer state:
    optimizer = optax.inject_hyperparams(optax.adamw)(learning_rate=lrcast.optax.schedule(run))

Changing a learning rate baked into a jitted update forces a recompile (optax issue #577). Here
the LR is read on the host through `jax.pure_callback`, evaluated on the rank's lease (no HTTP
call per step), so a plateau decision or an amendment changes the LRs the same compiled update
uses. The callback is pure: the LR of a count, once served, never changes.

The callback runs on a JAX runtime thread, and a `Run` is used from one thread at a time: wait
for the update (`jax.block_until_ready`) before `run.report(...)` in the training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._run import Run

__all__ = ["schedule"]


def schedule(run: Run, group: int = 0) -> Callable[[Any], jax.Array]:
    """The run's LR of parameter group `group` for each optax `count` (the step index).

    Usable as any optax optimizer's `learning_rate`, inside `optax.inject_hyperparams` and
    `jax.jit`, and under `jax.vmap` (the counts are looked up one by one on the host). The
    result has JAX's default float dtype (float32 unless x64 is enabled). For several groups,
    give each its own `schedule(run, group=i)` in `optax.multi_transform`.
    """
    if not isinstance(run, Run):
        raise TypeError("lrcast.optax.schedule needs a lrcast.Run (from lrcast.Client.run); "
                        f"got {type(run).__name__}")
    dtype = jnp.result_type(float)

    def host_lrs(count: np.ndarray) -> np.ndarray:
        counts = np.asarray(count)
        # a spec with one `lr` gives every group the same LRs
        values = [_of_group(run.lrs(int(c)), group) for c in counts.flat]
        return np.asarray(values, dtype=dtype).reshape(counts.shape)

    def lr(count: Any) -> jax.Array:
        count = jnp.asarray(count)
        return jax.pure_callback(host_lrs, jax.ShapeDtypeStruct(count.shape, dtype), count,
                                 vmap_method="expand_dims")

    return lr


def _of_group(lrs: list[float], group: int) -> float:
    if len(lrs) == 1:
        return lrs[0]
    if not 0 <= group < len(lrs):
        raise IndexError(f"the run schedules {len(lrs)} parameter groups; group {group} "
                         "does not exist")
    return lrs[group]
