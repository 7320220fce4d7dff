"""Consumption: what each step of a run consumed (samples, tokens), for sample and token clocks
and batch scaling (the engine's `lrcast.schedules._clock`).

The run's log is what its spec declares (``batch``, ``batch_schedule``) plus the entries the
client reports, run-length: ``(from_step, samples, tokens)``, each amount in force until the
next entry naming it. The LR of step s depends only on what the steps before s consumed (the
clock position ``C(s)`` sums them; batch scaling reads step ``s - 1``), so:

- An entry at step t that changes an amount the run's schedules read (the tokens of a token
  clock, the samples of a sample clock or of batch scaling) is accepted only if no rank has
  reached a step beyond t (`core/frontier.py`'s progress: the ranks' steps as persisted and
  as seen by this process); else `LRAlreadyServed` (409 ``lr_already_served``): the LRs
  that rank used would change. An amount no schedule of the run reads changes no LR.
- An entry that changes nothing (the amounts already in force at its step, or recorded
  there) is a no-op, so every rank may send the same entries, and again after a retry.
- An amount for a step where another amount is recorded (by the spec or a report) is
  `ConsumptionConflict` (409 ``consumption_conflict``).

A batch is accepted whole or refused whole.
"""

from __future__ import annotations

from lrcast.schedules._clock import UNITS, Consumption, Entry, entry_json

from .changes import Change, History
from .errors import ConsumptionConflict, consumption_served
from .frontier import merge_progress, served_past
from .record import RunRecord
from .timeline import consumption_of, schedule_of

__all__ = ["Accepted", "changes", "consumption_of", "record"]

#: what `record` did: the number of entries that changed the log
Accepted = int


def changes(log: Consumption, entries: list[Entry]) -> bool:
    """Whether `entries` would change `log` (or conflict with it): False for repeats and the
    amounts already in force, which `record` accepts as no-ops."""
    return any(amount is not None and log.amount(unit, entry[0]) != amount
               for entry in entries for unit, amount in zip(UNITS, entry[1:], strict=True))


def record(rec: RunRecord, history: History, entries: list[Entry],
           reached: dict[int, int] | None = None) -> tuple[Change, Accepted]:
    """The change that adds `entries` to the run's log (updates `rec`), and how many of them
    changed it. `reached`: the ranks' steps known beyond `rec.progress` (checked by the
    promise, not persisted here)."""
    del history
    log = consumption_of(rec)
    reported = Consumption(rec.consumption)
    progress = merge_progress(rec.progress, reached or {})
    read = {unit for inst in rec.instances.values()
            for unit in getattr(schedule_of(inst.spec), "units", ())}
    added: list[Entry] = []
    for entry in sorted(entries, key=lambda e: e[0]):
        step = entry[0]
        change: list[int | None] = [None, None]
        for i, unit in enumerate(UNITS):
            amount = entry[1 + i]
            if amount is None:
                continue
            recorded = log.recorded(unit, step)
            if recorded is not None and recorded != amount:
                raise ConsumptionConflict(step, unit, recorded, amount)
            if log.amount(unit, step) != amount:
                change[i] = amount
        if change == [None, None]:
            continue  # nothing new: the amounts in force there already
        reads = any(a is not None and unit in read
                    for unit, a in zip(UNITS, change, strict=True))
        passed = served_past(progress, step + 1) if reads else None
        if passed is not None:
            raise consumption_served(step, served_step=passed[1], rank=passed[0])
        new: Entry = (step, change[0], change[1])
        log, reported = log.merged([new]), reported.merged([new])
        added.append(new)
    out = Change(record=rec)
    if not added:
        return out, 0
    steps = {e[0] for e in added}
    out.consumption = [e for e in reported.entries if e[0] in steps]
    rec.consumption = list(reported.entries)
    out.events.append(("consumption", {"entries": [entry_json(e) for e in added]}))
    out.run["version"] = rec.version = rec.version + 1
    return out, len(added)
