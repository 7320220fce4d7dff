"""`Change`: what a rule decided to write, in the domain's terms; the store commits it in
the transaction the rule ran in (`store.base.Store.apply`).

A rule adds to a `Change` only what it decided; the store turns each list into its rows in
the order given here (drops first, then inserts, then updates), so a rule never needs to
know a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .record import Instance, RunRecord

__all__ = ["Change", "DecidedRound", "History"]


@dataclass(frozen=True)
class DecidedRound:
    """A round decided: its aggregated value, the instance it was attributed to, and that
    instance's fold state after it (None when the fold was not active)."""

    step: int
    value: float
    instance: int
    state: dict[str, Any] | None


@dataclass
class Change:
    #: rounds, reports and decisions with a step above this are deleted (a rewind)
    drop_after: int | None = None
    #: undecided rounds (and their reports) at these steps are deleted (a membership change)
    drop_rounds: list[int] = field(default_factory=list)
    #: segments from this step on are replaced by `segments` (an amendment)
    replace_segments_from: int | None = None
    segments: list[tuple[int, int, float]] = field(default_factory=list)
    new_instances: list[Instance] = field(default_factory=list)
    #: instance idx -> its fold state (None: its initial state)
    instance_states: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    new_rounds: list[int] = field(default_factory=list)
    #: (step, rank, value)
    new_reports: list[tuple[int, int, float]] = field(default_factory=list)
    decided: list[DecidedRound] = field(default_factory=list)
    #: (instance, step, lrs) for every decision that changed the LRs
    new_decisions: list[tuple[int, int, tuple[float, ...]]] = field(default_factory=list)
    #: (step, rank, loss) sent by the ranks, and announced checkpoints (`core/autopilot.py`)
    new_losses: list[tuple[int, int, float]] = field(default_factory=list)
    new_checkpoints: list[int] = field(default_factory=list)
    #: consumption log entries (from_step, samples, tokens) to store, each replacing any row at
    #: its step (`core/consumption.py`); a rewind's `drop_after` drops those from its step on
    consumption: list[tuple[int, int | None, int | None]] = field(default_factory=list)
    #: the autopilot's {"policy", "state"} to store
    autopilot: dict[str, Any] | None = None
    #: (kind, data) for the run's event log
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: the run's own fields to set: version, frontier, progress, last_rewind, world_size,
    #: generations
    run: dict[str, Any] = field(default_factory=dict)
    #: the record as this change commits it, when the rule kept it in step (the hot paths:
    #: no second read); None: the store reads it back
    record: RunRecord | None = None

    def __bool__(self) -> bool:
        """False when there is nothing to write."""
        return any((self.drop_after is not None, self.replace_segments_from is not None,
                    self.drop_rounds,
                    self.new_instances, self.instance_states, self.new_rounds,
                    self.new_reports, self.decided, self.new_decisions, self.events, self.run,
                    self.new_losses, self.new_checkpoints, self.autopilot is not None,
                    self.consumption))


class History(Protocol):
    """What a rule may read beyond the run's record: older rows the record does not keep.
    The store answers it on the rule's own transaction."""

    def earlier_report(self, step: int, rank: int) -> float | None:
        """The value `rank` reported for the round at `step`, if any."""

    def states_at(self, step: int) -> dict[int, dict[str, Any] | None]:
        """Each instance's fold state after its latest decided round at or before `step`
        (None: its initial state)."""

    def losses(self, low: int, high: int) -> dict[int, dict[int, float]]:
        """step -> rank -> loss, for the steps in ``[low, high]``."""

    def latest_checkpoint(self, before: int) -> int | None:
        """The latest announced checkpoint at a step < `before`, if any."""
