"""The store's interface: persistence only. Every method is one transaction; a write applies
a rule of ``core/`` and returns the run's record as committed (the caller rebuilds its cache
from it)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..core.changes import Change, History
from ..core.idempotency import Answer, KeyedRequest
from ..core.record import RunRecord

R = TypeVar("R")
T = TypeVar("T")
#: a rule as the store runs it: (record, history) -> (the change, the rule's own result)
Rule = Callable[[RunRecord, History], tuple[Change, R]]


@dataclass(frozen=True)
class Keyed(Generic[R]):
    """A write's Idempotency-Key: the request it names, and how to answer it from the record
    as committed and the rule's result ((status, body), computed in the write transaction)."""

    request: KeyedRequest
    respond: Callable[[RunRecord, R], tuple[int, bytes]]


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """A keyed write as done: its `answer` as kept, and the rule's `result` if it ran now
    (None when the answer is a replay of an earlier execution)."""

    answer: Answer
    replayed: bool
    result: R | None = None


class Store(ABC):
    @abstractmethod
    def create_run(self, run_id: str, spec: dict[str, Any], world_size: int, aggregate: str,
                   metadata: dict[str, Any], keyed: Keyed[bool] | None = None,
                   epoch: int = 0) -> tuple[RunRecord, Any]:
        """Create the run (its generation 0 under membership `epoch`), or return the
        identical existing one; (record, created), or (record, `Outcome`) with a key. Raises
        RunConflict if it exists with another definition."""

    @abstractmethod
    def load(self, run_id: str) -> RunRecord | None:
        """The run's record, or None."""

    @abstractmethod
    def delete_run(self, run_id: str, keyed: Keyed[bool] | None = None) -> Any:
        """Delete the run and everything about it (its keys too, but for `keyed`'s); whether
        it existed, or with a key its `Outcome` (a run that did not exist keeps no key)."""

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
    def apply_keyed(self, run_id: str, rule: Rule[R],
                    keyed: Keyed[R]) -> tuple[RunRecord, Outcome[R]]:
        """`apply`, once per key: a live key for the same request replays its answer without
        running the rule, one for another request raises `KeyReused`; else the answer is kept
        in the rule's transaction."""

    @abstractmethod
    def apply_each(self, run_id: str, rule: Callable[[list[T]], Rule[list[Any]]],
                   items: Sequence[T], keys: Sequence[Keyed[Any] | None],
                   known: RunRecord | None = None) -> tuple[RunRecord, list[Any]]:
        """A batch of writes in one transaction (group commit): ``rule(items)`` returns one
        result (or `DomainError`) per item. An item with a key is run at most once per key as
        in `apply_keyed`, and its result is its `Outcome` (or the error: `KeyReused`, or the
        rule's, with no key kept). `known`: the run as this process last committed or read it;
        if no write came since (its ``seq``), the rule runs on a copy of it instead of a
        reload (left unchanged)."""

    @abstractmethod
    def answer(self, scope: str, key: str) -> Answer | None:
        """The answer kept for the key, if any (it may have expired)."""

    @abstractmethod
    def keep(self, request: KeyedRequest, status: int, body: bytes) -> Outcome[None]:
        """Keep an answer for a write whose own effect is idempotent (a lease), in a
        transaction of its own; the answer kept first wins (a replay)."""

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
    def census(self) -> tuple[int, list[tuple[str, int]]]:
        """(runs in the store, (run id, step) of every plateau round still open), for the
        service's gauges."""

    @abstractmethod
    def loss_means(self, run_id: str, world_sizes: list[tuple[int, int]], after: int,
                   limit: int) -> list[tuple[int, float]]:
        """(step, mean loss over ranks) of the steps after `after` that all ranks sent, in
        step order: `world_sizes` is ``[(from_step, world_size), ...]`` per membership
        generation (the first from step 0; each later one for the steps after its
        `from_step`, `core/membership.py`)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the database does not answer."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections."""
