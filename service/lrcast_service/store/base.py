"""The store's interface: persistence only. Every method is one transaction; a write applies
a rule of ``core/`` and returns the run's record as committed (the caller rebuilds its cache
from it)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from ..core.changes import Change, History
from ..core.record import RunRecord

R = TypeVar("R")
#: a rule as the store runs it: (record, history) -> (the change, the rule's own result)
Rule = Callable[[RunRecord, History], tuple[Change, R]]


class Store(ABC):
    @abstractmethod
    def create_run(self, run_id: str, spec: dict[str, Any], world_size: int, aggregate: str,
                   metadata: dict[str, Any]) -> tuple[RunRecord, bool]:
        """Create the run, or return the identical existing one; (record, created).
        Raises RunConflict if it exists with another definition."""

    @abstractmethod
    def load(self, run_id: str) -> RunRecord | None:
        """The run's record, or None."""

    @abstractmethod
    def delete_run(self, run_id: str) -> bool:
        """Delete the run and everything about it; False if it did not exist."""

    @abstractmethod
    def list_runs(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Run summaries ordered by id, after the given id."""

    @abstractmethod
    def apply(self, run_id: str, rule: Rule[R]) -> tuple[RunRecord, R]:
        """Run ``rule(record, history)`` in one write transaction on the run's freshly locked
        record, commit the `Change` it returns, and return (the record as committed, the
        rule's result). A `DomainError` from the rule rolls everything back; `RunNotFound`
        if there is no such run."""

    @abstractmethod
    def events(self, run_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        """The run's events with id > after, oldest first."""

    @abstractmethod
    def rounds(self, run_id: str, after: int,
               limit: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(run summary, rounds with step > after with their reports, oldest first);
        RunNotFound if there is no such run."""

    @abstractmethod
    def decided_values(self, run_id: str) -> list[tuple[int, float]]:
        """(step, aggregated value) of the decided rounds in step order, up to the first open."""

    @abstractmethod
    def loss_means(self, run_id: str, world_size: int, after: int,
                   limit: int) -> list[tuple[int, float]]:
        """(step, mean loss over ranks) of the steps after `after` that all `world_size`
        ranks sent, in step order."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the database does not answer."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections."""
