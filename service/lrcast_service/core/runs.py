"""Creating a run: idempotent, so that every rank may create it at start-up."""

from __future__ import annotations

from typing import Any

from .errors import RunConflict
from .record import RunRecord

__all__ = ["check_same"]


def check_same(existing: RunRecord, spec: dict[str, Any], world_size: int,
               aggregate: str) -> None:
    """`RunConflict` naming every field in which `existing` differs from the definition."""
    differs = [name for name, mine, theirs in (
        ("schedule", spec, existing.spec), ("world_size", world_size, existing.world_size),
        ("aggregate", aggregate, existing.aggregate)) if mine != theirs]
    if differs:
        raise RunConflict(existing.run_id, differs)

