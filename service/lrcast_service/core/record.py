"""A run as loaded from the store in one transaction: plain data, no behaviour."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Instance:
    """One schedule spec in force from `origin` on (0: the run's own; then amendments)."""

    idx: int
    origin: int
    spec: dict[str, Any]
    #: the plateau fold state after its latest folded round (None: the initial state)
    state: dict[str, Any] | None = None


@dataclass
class Round:
    """An evaluation round: the reports received so far, and its outcome once decided."""

    step: int
    decided: bool
    reports: dict[int, float] = field(default_factory=dict)
    value: float | None = None


@dataclass
class RunRecord:
    run_id: str
    spec: dict[str, Any]
    world_size: int
    aggregate: str
    metadata: dict[str, Any]
    created_at: float
    version: int
    frontier: int
    #: rank -> the step it has reached: the latest step whose LR it used (core/frontier.py)
    progress: dict[int, int]
    last_rewind: dict[str, Any] | None
    instances: dict[int, Instance]
    #: (from_step, instance idx, scale), sorted by from_step; the first at step 0
    segments: list[tuple[int, int, float]]
    #: instance idx -> [(global step, lrs)] sorted by step
    decisions: dict[int, list[tuple[int, tuple[float, ...]]]]
    #: undecided rounds by step (usually at most one)
    open_rounds: dict[int, Round]
    #: the latest decided round, if any (with its reports, for idempotent retries)
    last_decided: Round | None
    #: the largest step of any round, decided or open
    last_round_step: int | None
    #: the run's change counter as loaded (``runs.seq``; see store/notify.py)
    seq: int = 0
    #: rank -> when the service last heard from it (unix time; `progress` is its step)
    seen: dict[int, float] = field(default_factory=dict)
    #: the autopilot policy given at creation (None: no autopilot), and the detector's and
    #: the directive's state (`core/autopilot.py`)
    autopilot: dict[str, Any] | None = None
    autopilot_state: dict[str, Any] = field(default_factory=dict)
    #: the membership generations in force, (epoch, from_step, world_size) oldest first;
    #: empty: only generation 0, (0, 0, world_size) (`core/membership.py`)
    generations: list[tuple[int, int, int]] = field(default_factory=list)
    #: what the steps consumed, as reported ((from_step, samples, tokens), sorted; None: that
    #: amount continues), on top of what the spec declares (`core/consumption.py`)
    consumption: list[tuple[int, int | None, int | None]] = field(default_factory=list)


def _copy_round(rnd: Round | None) -> Round | None:
    return None if rnd is None else Round(rnd.step, rnd.decided, dict(rnd.reports), rnd.value)


def copy_record(rec: RunRecord) -> RunRecord:
    """A copy of `rec` a rule may update in place: nothing mutable is shared with `rec` (a
    cached view's record, read meanwhile)."""
    return dataclasses.replace(
        rec, spec=copy.deepcopy(rec.spec), metadata=copy.deepcopy(rec.metadata),
        progress=dict(rec.progress), seen=dict(rec.seen),
        last_rewind=copy.deepcopy(rec.last_rewind),
        instances={i: Instance(inst.idx, inst.origin, copy.deepcopy(inst.spec),
                               copy.deepcopy(inst.state)) for i, inst in rec.instances.items()},
        segments=list(rec.segments), decisions={i: list(d) for i, d in rec.decisions.items()},
        open_rounds={step: _copy_round(rnd) for step, rnd in rec.open_rounds.items()},
        last_decided=_copy_round(rec.last_decided), autopilot=copy.deepcopy(rec.autopilot),
        autopilot_state=copy.deepcopy(rec.autopilot_state),
        generations=list(rec.generations), consumption=list(rec.consumption))
