"""Rewind: the job resumed from a checkpoint saved at `to_step` (after that step's round, if
any, was decided).

Reports, rounds and decisions after `to_step` are dropped, each instance's plateau state
goes back to what it was after its latest round at or before `to_step`, amendments stay,
ranks' progress and the served frontier go back to `to_step` (so the job may amend from the
checkpoint on). Idempotent: the same (to_step, resume_id) as the latest applied rewind is a
no-op; with a resume_id that holds until another rewind, without one only while nothing was
reported since (`rounds.report` clears it).
"""

from __future__ import annotations

from .changes import Change, History
from .record import RunRecord

__all__ = ["rewind", "rewind_to"]


def rewind(rec: RunRecord, history: History, to_step: int,
           resume_id: str | None) -> tuple[Change, bool]:
    """(the change, applied); applied is False for a repeat of the latest rewind."""
    if rec.last_rewind == {"to_step": to_step, "resume_id": resume_id}:
        return Change(record=rec), False
    return rewind_to(rec, history, to_step, resume_id), True


def rewind_to(rec: RunRecord, history: History, to_step: int, resume_id: str | None) -> Change:
    """The rewind's change, applied even if it repeats the latest (a membership change's)."""
    last = {"to_step": to_step, "resume_id": resume_id}
    change = Change(drop_after=to_step)
    states = history.states_at(to_step)
    change.instance_states = {idx: states.get(idx) for idx in rec.instances}
    change.events.append(("rewind", {"to_step": to_step, "resume_id": resume_id,
                                     "served_frontier_before": rec.frontier}))
    change.run.update(version=rec.version + 1, frontier=to_step, last_rewind=last,
                      progress={rank: min(step, to_step) for rank, step in rec.progress.items()})
    return change
