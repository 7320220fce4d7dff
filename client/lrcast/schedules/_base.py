"""The schedule contract: a validated spec turned into a pure function of the step.

A `Schedule` holds no mutable state. `lrs(step)` is what every parameter group's
``lr`` holds after the PyTorch scheduler was constructed and ``step()`` called
`step` times; `momentums(step)` likewise for cycled momentum (``None`` where the
schedule does not cycle it). Metric-driven parts read their decisions from a
`PlateauHistory` passed in by the caller (the fold over reports lives in
`_plateau.py`), so evaluation stays pure and O(1) in the step (O(log n) in the
number of plateau decisions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._plateau import PlateauHistory, PlateauRule
from ._types import LRs


class Schedule:
    """Base class of every built schedule.

    Subclasses set the attributes below in ``__init__`` and implement `lrs`
    (and `momentums` where they cycle momentum).
    """

    #: the spec this schedule was built from, as given (JSON-compatible)
    spec: dict[str, Any]
    #: number of parameter groups
    num_groups: int
    #: the optimizer's ``initial_lr`` per group once the scheduler is constructed
    base_lrs: LRs
    #: True where `momentums` returns values (CyclicLR / OneCycleLR with cycle_momentum)
    cycles_momentum: bool = False
    #: the metric-driven part, if any (ReduceLROnPlateau alone or last in a SequentialLR)
    plateau: PlateauRule | None = None
    #: first step of the schedule's own numbering at which the plateau part is active
    plateau_start: int = 0

    def lrs(self, step: int, history: PlateauHistory | None = None) -> LRs:
        """The LR of every parameter group at `step` (>= 0)."""
        raise NotImplementedError

    def lr(self, step: int, history: PlateauHistory | None = None) -> float:
        """Group 0's LR at `step`."""
        return self.lrs(step, history)[0]

    def momentums(self, step: int) -> LRs | None:
        """Momentum (or ``betas[0]``) per group at `step`, or None if not cycled."""
        return None

    def values(self, step: int, history: PlateauHistory | None = None) -> tuple[LRs, LRs | None]:
        """`lrs` and `momentums` of one step together; momentum-cycling schedules override it
        to locate the step in their cycle once instead of twice."""
        return self.lrs(step, history), self.momentums(step)

    @property
    def metric_driven(self) -> bool:
        return self.plateau is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


def per_group(value: Any, num_groups: int) -> list[Any]:
    """Broadcast a scalar to every group, as PyTorch does for max_lr, min_lr, momenta."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value] * num_groups
