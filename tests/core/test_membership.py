"""`core/membership.py` called directly: the generations, the rule for open and decided
rounds at a change, fencing by epoch, idempotence; decisions compared with PyTorch's
ReduceLROnPlateau fed each generation's aggregated values."""

from __future__ import annotations

import math
from typing import Any

import pytest

from lrcast_service.core import membership, rounds
from lrcast_service.core.changes import Change
from lrcast_service.core.errors import (
    Invalid,
    MembershipConflict,
    MembershipPending,
    RoundClosed,
    StaleMembership,
)
from lrcast_service.core.membership import Generation
from lrcast_service.core.record import Round, RunRecord
from tests.core.records import History, new_record
from tests.support.oracles import plateau_lrs

PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


class Memory:
    """A run and its history in memory, each change committed as the store would."""

    def __init__(self, world_size: int) -> None:
        self.rec: RunRecord = new_record(PLATEAU, world_size=world_size)
        self.history = History()
        self.decided: dict[int, Round] = {}

    def report(self, items: list[tuple[Any, ...]]) -> list[Any]:
        change, results = rounds.report(self.rec, self.history, items)
        for step, rank, value in change.new_reports:
            self.history.reports[(step, rank)] = value
        for d in change.decided:
            self.decided[d.step] = self.rec.last_decided  # type: ignore[assignment]
            if d.state is not None:
                self.history.states[d.step] = {d.instance: d.state}
        return results

    def change(self, epoch: int, world_size: int, from_step: int) -> tuple[Change, Any]:
        change, result = membership.change(self.rec, self.history, epoch, world_size, from_step)
        if change.record is None:
            self.commit(change)
        return change, result

    def commit(self, change: Change) -> None:
        rec, cut = self.rec, change.drop_after
        assert cut is not None
        rec.open_rounds = {s: r for s, r in rec.open_rounds.items()
                           if s <= cut and s not in change.drop_rounds}
        self.decided = {s: r for s, r in self.decided.items() if s <= cut}
        self.history.reports = {k: v for k, v in self.history.reports.items()
                                if k[0] <= cut and k[0] not in change.drop_rounds}
        self.history.states = {s: v for s, v in self.history.states.items() if s <= cut}
        rec.last_decided = self.decided[max(self.decided)] if self.decided else None
        rec.decisions = {i: [(s, lrs) for s, lrs in d if s <= cut]
                         for i, d in rec.decisions.items()}
        for idx, state in change.instance_states.items():
            rec.instances[idx].state = state
        steps = [*rec.open_rounds, *self.decided]
        rec.last_round_step = max(steps) if steps else None
        for name, value in change.run.items():
            setattr(rec, name, value)


def test_a_round_expects_the_world_size_of_the_generation_in_force_at_its_step() -> None:
    gens = [Generation(0, 0, 8), Generation(1, 40, 4), Generation(3, 90, 2)]
    assert [membership.world_size_at(gens, s) for s in (0, 40, 41, 90, 91, 10**6)] == \
        [8, 8, 4, 4, 2, 2]
    assert membership.world_size_at(gens[:1], 5) == 8
    # a generation from an earlier step supersedes those after it (their rounds were dropped)
    assert membership.superseded(gens, Generation(4, 40, 3)) == \
        [Generation(0, 0, 8), Generation(4, 40, 3)]


def test_an_open_round_is_discarded_and_recorded_with_its_partial_reports() -> None:
    mem = Memory(world_size=4)
    mem.report([(10, r, 1.0) for r in range(4)])
    mem.report([(20, r, 2.0 + r) for r in range(3)])  # rank 3 was preempted
    assert 20 in mem.rec.open_rounds
    change, result = mem.change(epoch=1, world_size=2, from_step=10)
    assert result.applied and result.generation == Generation(1, 10, 2)
    kind, event = change.events[-1]
    assert kind == "membership" and len(change.events) == 1
    assert event["discarded_rounds"] == [{"step": 20, "reports": {0: 2.0, 1: 3.0, 2: 4.0}}]
    assert event["previous"] == {"epoch": 0, "from_step": 0, "world_size": 4}
    assert not mem.rec.open_rounds and mem.rec.world_size == 2
    # the new generation re-reports that round: two ranks decide it
    results = mem.report([(20, 0, 5.0, 1), (20, 1, 7.0, 1)])
    assert results[1][0][0].value == 6.0


def test_an_open_round_at_the_resume_step_is_discarded_too() -> None:
    mem = Memory(world_size=4)
    mem.report([(10, r, 1.0) for r in range(2)])
    change, _ = mem.change(epoch=1, world_size=2, from_step=10)
    assert change.drop_rounds == [10] and not mem.rec.open_rounds


def test_decisions_after_the_resume_step_are_dropped_and_the_state_restored() -> None:
    mem = Memory(world_size=4)
    values = {10: 1.0, 20: 2.0, 30: 3.0}  # two stalls: two reductions
    for step, value in values.items():
        mem.report([(step, r, value) for r in range(4)])
    assert [s for s, _ in mem.rec.decisions[0]] == [20, 30]
    state_at_20 = mem.history.states[20]
    mem.rec.progress, mem.rec.frontier = {0: 35, 1: 35, 2: 35, 3: 35}, 300
    change, _ = mem.change(epoch=1, world_size=2, from_step=25)
    assert change.drop_after == 25
    assert change.instance_states == state_at_20
    assert change.run["frontier"] == 25 and change.run["version"] > 1
    assert mem.rec.progress == {0: 25, 1: 25}  # ranks past the new world size are gone
    assert change.events[-1][1]["last_decided_step_before"] == 30


def test_reports_of_another_epoch_are_fenced() -> None:
    mem = Memory(world_size=4)
    mem.change(epoch=2, world_size=2, from_step=0)
    stale, newer, unfenced, same = mem.report(
        [(10, 0, 1.0, 1), (10, 0, 1.0, 3), (10, 0, 1.0, None), (10, 1, 1.0, 2)])
    assert isinstance(stale, StaleMembership)
    assert stale.fields == {"epoch": 2, "sent_epoch": 1}
    assert isinstance(newer, MembershipPending)
    assert unfenced == ([], True)
    assert same[1] and same[0][0].step == 10  # the two ranks of generation 2 decided it
    with pytest.raises(StaleMembership):
        membership.check_epoch(mem.rec, 0, newer_ok=True)
    membership.check_epoch(mem.rec, 3, newer_ok=True)  # a lease: an observer


def test_a_read_of_a_newer_epoch_is_an_observer_s_and_an_older_one_is_fenced() -> None:
    mem = Memory(world_size=4)
    mem.change(epoch=2, world_size=2, from_step=0)
    assert [membership.observer(mem.rec, e) for e in (None, 2, 3)] == [False, False, True]
    with pytest.raises(StaleMembership) as stale:
        membership.observer(mem.rec, 1)
    assert stale.value.fields == {"epoch": 2, "sent_epoch": 1}


def test_the_same_generation_again_is_a_no_op_and_another_one_under_its_epoch_conflicts(
        ) -> None:
    mem = Memory(world_size=4)
    mem.change(epoch=1, world_size=2, from_step=40)
    version = mem.rec.version
    change, result = mem.change(epoch=1, world_size=2, from_step=40)
    assert not change and not result.applied and mem.rec.version == version
    assert result.generation == Generation(1, 40, 2)
    with pytest.raises(MembershipConflict) as conflict:
        mem.change(epoch=1, world_size=3, from_step=30)
    assert conflict.value.fields == {"fields": ["world_size", "from_step"], "epoch": 1,
                                     "world_size": 2, "from_step": 40}
    with pytest.raises(MembershipConflict) as older:
        mem.change(epoch=0, world_size=4, from_step=0)
    assert older.value.fields["fields"] == ["epoch"]
    # generation 0 is the creating PUT's: epoch 0 with its values is a no-op there
    fresh = Memory(world_size=4)
    assert not fresh.change(epoch=0, world_size=4, from_step=0)[1].applied


def test_rounds_after_the_change_are_decided_with_the_new_count_as_pytorch_would() -> None:
    """Generation 0 (4 ranks) decides rounds 10..30, the job resumes from 20 with 2 ranks:
    PyTorch fed generation 0's means up to 20, then generation 1's."""
    mem = Memory(world_size=4)
    gen0 = {10: [1.0, 1.2, 0.8, 1.0], 20: [0.9, 0.9, 0.9, 0.9], 30: [2.0, 2.0, 2.0, 2.0]}
    for step, values in gen0.items():
        mem.report([(step, r, v, 0) for r, v in enumerate(values)])
    mem.change(epoch=1, world_size=2, from_step=20)
    gen1 = {30: [0.85, 0.75], 40: [0.9, 0.9], 50: [0.5, 0.3]}
    for step, values in gen1.items():
        assert isinstance(mem.report([(step, 2, 1.0, 1)])[0], Invalid)  # rank 2 is gone
        first, second = mem.report([(step, r, v, 1) for r, v in enumerate(values)])
        assert first == ([], True) and second[0][0].step == step
    means = [math.fsum(v) / len(v) for v in (gen0[10], gen0[20], *gen1.values())]
    expected = plateau_lrs(means)
    lrs = {s: lrs[0] for s, lrs in mem.rec.decisions[0]}
    got = []
    for step in (10, 20, 30, 40, 50):
        earlier = [s for s in lrs if s <= step]
        got.append(lrs[max(earlier)] if earlier else 0.1)
    assert got == expected


def test_a_report_at_or_before_the_resume_step_is_closed_unless_a_retry() -> None:
    mem = Memory(world_size=2)
    mem.report([(10, r, 1.0) for r in range(2)])
    mem.change(epoch=1, world_size=2, from_step=15)
    assert mem.report([(10, 0, 1.0, 1)]) == [([], False)]  # a retry of a counted report
    closed = mem.report([(12, 0, 1.0, 1)])[0]
    assert isinstance(closed, RoundClosed)
    assert closed.fields == {"step": 12, "last_decided_step": 15, "epoch": 1}
    assert mem.report([(16, 0, 1.0, 1)]) == [([], True)]
