"""Membership: which ranks make up the run, generation after generation (elastic jobs).

A run's membership is a list of *generations* ``(epoch, from_step, world_size)``. Generation
0 is the creating PUT's (its epoch, default 0; from step 0). An elastic restart, a spot
preemption or a SLURM requeue starts a new generation: the job resumes from a checkpoint at
`from_step` (as for a rewind's ``to_step``: saved after that step's round, if any, was
decided) with another `world_size`, under a greater `epoch`.

The rule for rounds: a change at `from_step` F is the rewind the restart implies
(`core/rewind.py`: rounds, reports and decisions after F are dropped, each plateau state is
restored to F's, the served frontier goes back to F, the promise's exemption for rewinds
holds as it is), and every undecided round (at F or before it) is discarded too, its partial
reports recorded in the ``membership`` event. A generation covers the rounds after its
`from_step` (the first generation: from step 0): they expect its world size and are reported
by its ranks; a report at or before the current generation's `from_step` that is not a retry
of a counted one is `RoundClosed`, so no round is decided twice or with a stale count.

Fencing: a report, a lease or a rank's LR query may carry the sender's epoch; an epoch older
than the run's is `StaleMembership` (a straggler of an old generation counts in no round of
the new one, and reads no LR as a rank of the run), a newer one is `MembershipPending` for a
report (the change must be made first) and an observer's read for a lease or LR query.

Idempotent per epoch: the current generation again is a no-op; its epoch with another
`world_size` or `from_step`, or an older epoch, is `MembershipConflict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .changes import Change, History
from .errors import MembershipConflict, MembershipPending, StaleMembership
from .record import RunRecord
from .rewind import rewind_to

__all__ = ["Generation", "MembershipResult", "change", "check_epoch", "current",
           "generations", "in_force", "observer", "superseded", "world_size_at"]


@dataclass(frozen=True)
class Generation:
    epoch: int
    from_step: int
    world_size: int

    def to_json(self) -> dict[str, int]:
        return {"epoch": self.epoch, "from_step": self.from_step, "world_size": self.world_size}


@dataclass(frozen=True)
class MembershipResult:
    """What a change did: the generation now in force, and whether it is new (False: the
    same generation again, a no-op)."""

    generation: Generation
    applied: bool


def generations(rec: RunRecord) -> list[Generation]:
    """The run's generations in force, oldest first (a generation a later one superseded,
    from a step at or before its own, is no longer listed: its rounds were dropped)."""
    if not rec.generations:
        return [Generation(0, 0, rec.world_size)]
    return [Generation(*g) for g in rec.generations]


def current(rec: RunRecord) -> Generation:
    """The generation in force now (the latest)."""
    return generations(rec)[-1]


def in_force(gens: list[Generation], step: int) -> Generation:
    """The generation whose rounds include the round at `step`: the latest one that starts
    before `step` (a generation covers the rounds after its `from_step`), else the first."""
    found = gens[0]
    for gen in gens[1:]:
        if gen.from_step < step:
            found = gen
    return found


def world_size_at(gens: list[Generation], step: int) -> int:
    """How many ranks the round at `step` expects."""
    return in_force(gens, step).world_size


def check_epoch(rec: RunRecord, epoch: int | None, *, newer_ok: bool = False) -> None:
    """`StaleMembership` for an epoch older than the run's; `MembershipPending` for a newer
    one unless `newer_ok` (a lease: answered as to an observer). None: not fenced."""
    if epoch is None:
        return
    now = current(rec).epoch
    if epoch < now:
        raise StaleMembership(epoch, now)
    if epoch > now and not newer_ok:
        raise MembershipPending(epoch, now)


def observer(rec: RunRecord, epoch: int | None) -> bool:
    """Whether a rank's read (a lease, an LR query) under `epoch` is answered as to an
    observer (no rank, no progress): its generation is newer than the run's, whose
    membership change is not made yet. `StaleMembership` for an older one."""
    check_epoch(rec, epoch, newer_ok=True)
    return epoch is not None and epoch > current(rec).epoch


def superseded(gens: list[Generation], new: Generation) -> list[Generation]:
    """The generations in force once `new` starts: those starting before it, then it."""
    return [gens[0], *(g for g in gens[1:] if g.from_step < new.from_step), new]


def change(rec: RunRecord, history: History, epoch: int, world_size: int,
           from_step: int) -> tuple[Change, MembershipResult]:
    """The change that starts generation `epoch` with `world_size` ranks from `from_step`
    (see the module's docstring), or nothing for a repeat of the current generation."""
    now = current(rec)
    new = Generation(epoch, from_step, world_size)
    if epoch == now.epoch:
        differs = [name for name, mine, theirs in (
            ("world_size", world_size, now.world_size),
            ("from_step", from_step, now.from_step)) if mine != theirs]
        if differs:
            raise MembershipConflict(epoch, now, differs)
        return Change(record=rec), MembershipResult(now, False)
    if epoch < now.epoch:
        raise MembershipConflict(epoch, now, ["epoch"])
    change = rewind_to(rec, history, from_step, None)
    change.events.clear()  # one event says it all (its rewind included)
    change.drop_rounds = sorted(s for s in rec.open_rounds if s <= from_step)
    gens = superseded(generations(rec), new)
    change.run.update(
        world_size=world_size, generations=[(g.epoch, g.from_step, g.world_size) for g in gens],
        progress={r: s for r, s in change.run["progress"].items() if r < world_size})
    change.events.append(("membership", _event(rec, now, new)))
    return change, MembershipResult(new, True)


def _event(rec: RunRecord, old: Generation, new: Generation) -> dict[str, Any]:
    """What the change resolved: the generations, the rounds discarded (with their partial
    reports), the decided round rewound past, the frontier before."""
    last = rec.last_decided
    return {
        **new.to_json(), "previous": old.to_json(),
        "discarded_rounds": [{"step": s, "reports": dict(sorted(r.reports.items()))}
                             for s, r in sorted(rec.open_rounds.items())],
        "last_decided_step_before": last.step if last else None,
        "served_frontier_before": rec.frontier,
    }
