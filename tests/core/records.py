"""Run records as the store loads them, and the older rows a rule may read, in memory: the
core rules are called directly on these (no server, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lrcast_service.core.record import Instance, RunRecord


def new_record(spec: dict[str, Any], world_size: int = 1, aggregate: str = "mean",
               run_id: str = "run") -> RunRecord:
    """A run just created (as `Store.create_run` returns it)."""
    return RunRecord(run_id=run_id, spec=spec, world_size=world_size, aggregate=aggregate,
                     metadata={}, created_at=0.0, version=1, frontier=0, progress={},
                     last_rewind=None, instances={0: Instance(0, 0, spec)},
                     segments=[(0, 0, 1.0)], decisions={}, open_rounds={}, last_decided=None,
                     last_round_step=None)


@dataclass
class History:
    """`core.changes.History` over plain dicts."""

    reports: dict[tuple[int, int], float] = field(default_factory=dict)
    states: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)

    def earlier_report(self, step: int, rank: int) -> float | None:
        return self.reports.get((step, rank))

    def states_at(self, step: int) -> dict[int, dict[str, Any] | None]:
        """`states` is {round step: {instance: state}}; the latest at or before `step`."""
        out: dict[int, dict[str, Any] | None] = {}
        for at in sorted(s for s in self.states if s <= step):
            out.update(self.states[at])
        return out
