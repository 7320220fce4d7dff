"""How far LRs may be served, and from where the schedule may still change.

- The barrier: the first undecided plateau round. No LR at or beyond it is served until it
  is decided (its decision may change them).
- A lease's horizon: ``step + span``, capped at the barrier. The rank evaluates
  ``[step, horizon)`` itself.
- The served frontier: persisted before any LR below it leaves the service. It is reserved
  *ahead* of the furthest step asked (`ahead`), by an amount sized by the job's observed pace
  so that the amendment reach (from the furthest step served to the first step an amendment
  may take) stays within `REACH_SECONDS` of that job's training, and by the distance the job
  has walked so far (a burst of quick queries reserves at most as much again). The service
  extends it in the background once half of that is used (`extend_at`), so a training loop
  neither waits for nor writes on every step.
- The amendment floor: no amendment may start below the frontier (someone may hold those
  LRs) nor before the latest round (rounds are never re-attributed).
- The promise: each rank's progress is the step it has *reached* (the latest step whose LR
  it used: a ``/lr?rank=`` answer, or the ``at`` a client sends with a lease or a report; a
  lease without ``at`` counts its first step). A leased step is not a reached one: a rank
  that reports at s stops evaluating there until the round is decided. No plateau round
  may take a report at a step some rank has reached (`served_past`): its decision would
  change an LR that rank used.
"""

from __future__ import annotations

from .changes import Change
from .errors import Invalid
from .record import RunRecord

__all__ = ["REACH_SECONDS", "ahead", "barrier", "check_at", "check_rank", "extend", "extend_at",
           "horizon", "merge_progress", "merge_seen", "min_amendment_step", "reservation",
           "servable", "servable_below", "served_past"]

#: the amendment reach, in seconds of the job's training at its observed pace
REACH_SECONDS = 30.0


def barrier(rec: RunRecord) -> int | None:
    """The first undecided round's step, if any."""
    return min(rec.open_rounds) if rec.open_rounds else None


def horizon(step: int, span: int, barrier_step: int | None) -> int:
    """The end (exclusive) of what may be served from `step` for `span` steps."""
    end = step + span
    return end if barrier_step is None else min(end, barrier_step)


def servable_below(frontier: int, barrier_step: int | None) -> int:
    """The end (exclusive) of the steps whose LR may be answered from a view as it is: the
    persisted frontier, or the undecided round before it."""
    return frontier if barrier_step is None else min(frontier, barrier_step)


def servable(step: int, frontier: int, barrier_step: int | None) -> bool:
    """True if `step`'s LR may be answered from a view as it is: below the persisted
    frontier and below any undecided round."""
    return step < servable_below(frontier, barrier_step)


def ahead(rate: float, walked: int, cap: int) -> int:
    """How many steps to reserve beyond the furthest step asked: `REACH_SECONDS` at `rate`
    (steps per second), at most the `walked` steps the job has gone so far (so a start-up
    burst cannot reserve far ahead), at most `cap`."""
    return max(0, min(int(rate * REACH_SECONDS), walked, cap))


def reservation(furthest: int, end: int, steps_ahead: int) -> int:
    """The frontier to persist so that ``[.., end)`` may be served, `steps_ahead` beyond the
    furthest step asked."""
    return max(end, furthest + 1 + steps_ahead)


def extend_at(frontier: int, steps_ahead: int) -> int:
    """The step from which a query should extend the frontier in the background: once half
    of the reservation ahead is used (never, with nothing reserved ahead)."""
    return frontier - steps_ahead // 2 if steps_ahead > 1 else frontier


def min_amendment_step(rec: RunRecord) -> int:
    """The smallest step an amendment may start at: no rank has been served (or leased) an
    LR at or beyond the persisted frontier, and rounds are never re-attributed: an
    amendment may start at the latest round's step (replacing its effect), not before."""
    return max(rec.frontier, rec.last_round_step or 0)


def merge_progress(old: dict[int, int], new: dict[int, int]) -> dict[int, int]:
    """Each rank's latest step, from both."""
    merged = dict(old)
    for rank, step in new.items():
        merged[rank] = max(merged.get(rank, -1), step)
    return merged


def merge_seen(old: dict[int, float], new: dict[int, float]) -> dict[int, float]:
    """Each rank's latest last-seen time, from both."""
    merged = dict(old)
    for rank, when in new.items():
        merged[rank] = max(merged.get(rank, when), when)
    return merged


def served_past(progress: dict[int, int], step: int) -> tuple[int, int] | None:
    """(rank, its step) of the rank furthest at or beyond `step` (the lowest such rank on a
    tie), or None if no rank has reached `step`: a decision at `step` would change LRs that
    rank already used."""
    furthest = max(((s, -r) for r, s in progress.items() if s >= step), default=None)
    return None if furthest is None else (-furthest[1], furthest[0])


def check_at(at: int | None, limit: int, what: str) -> None:
    """`Invalid` for an ``at`` (a rank's own step) at or beyond `limit` (`what` says why)."""
    if at is not None and at >= limit:
        raise Invalid("at", f"must be below {limit} ({what})")


def extend(rec: RunRecord, at_least: int, progress: dict[int, int],
           seen: dict[int, float] | None = None) -> Change:
    """Persist frontier = max(frontier, at_least) and the ranks' progress and last-seen
    times (updates `rec`)."""
    change = Change(record=rec)
    merged = merge_progress(rec.progress, progress)
    frontier = max(rec.frontier, at_least)
    if frontier != rec.frontier or merged != rec.progress:
        change.run.update(frontier=frontier, progress=merged)
        rec.frontier, rec.progress = frontier, merged
    if seen:
        rec.seen = change.run["seen"] = merge_seen(rec.seen, seen)
        change.run.setdefault("progress", rec.progress)  # stored with it (store/sql.py)
    return change


def check_rank(world_size: int, rank: int | None) -> None:
    """`Invalid` for a rank outside ``0..world_size-1``."""
    if rank is not None and rank >= world_size:
        raise Invalid("rank", f"must be in 0..{world_size - 1}")
