"""The store's interface: every method is one transaction; a write returns the run's
record as committed (the caller rebuilds its cache from it, with no second read)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..domain.record import RunRecord


class Store(ABC):
    @abstractmethod
    def create_run(self, run_id: str, spec: dict[str, Any], world_size: int, aggregate: str,
                   metadata: dict[str, Any]) -> tuple[RunRecord, bool]:
        """Create the run, or return the identical existing one; (record, created).
        Raises ApiError 409 run_conflict if it exists with another definition."""

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
    def extend_frontier(self, run_id: str, at_least: int,
                        progress: dict[int, int]) -> RunRecord:
        """Persist served_frontier = max(frontier, at_least) and merge `progress`."""

    @abstractmethod
    def report(self, run_id: str, step: int, rank: int,
               value: float) -> tuple[RunRecord, list[Any], bool]:
        """Record one rank's report; decide every round it completes, in step order.
        Returns the record, the decided rounds' outcomes, and False for a repeated report."""

    @abstractmethod
    def report_many(self, run_id: str, items: list[tuple[int, int, float]]
                    ) -> tuple[RunRecord, list[Any]]:
        """Several reports in one transaction; a result per item: (outcomes, counted) or
        the ApiError that refused that item alone."""

    @abstractmethod
    def amend(self, run_id: str, from_step: int, spec: dict[str, Any] | None,
              scale: float | None) -> RunRecord:
        """A new schedule (or a scale) from `from_step` on."""

    @abstractmethod
    def rewind(self, run_id: str, to_step: int, resume_id: str | None) -> tuple[RunRecord, bool]:
        """Drop what happened after `to_step`; (record, applied)."""

    @abstractmethod
    def events(self, run_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        """The run's events with id > after, oldest first."""

    @abstractmethod
    def rounds(self, run_id: str, after: int,
               limit: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(run summary, rounds with step > after with their reports, oldest first); 404 if none."""

    @abstractmethod
    def decided_values(self, run_id: str) -> list[tuple[int, float]]:
        """(step, aggregated value) of the decided rounds in step order, up to the first open."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the database does not answer."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections."""
