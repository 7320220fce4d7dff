"""`core/rounds.py` called directly: 64 ranks reporting in shuffled batches, with duplicates,
conflicts and out-of-order steps; every decision compared with PyTorch's ReduceLROnPlateau
fed the same aggregated values."""

from __future__ import annotations

import math
import random

import pytest

from lrcast_service.core import rounds
from lrcast_service.core.errors import (
    Invalid,
    NotMetricDriven,
    ReportConflict,
    RoundClosed,
)
from lrcast_service.core.timeline import build_timeline
from tests.core.records import History, new_record
from tests.support.oracles import plateau_lrs

WORLD = 64
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 1}


def value(round_index: int, rank: int) -> float:
    """Improves for two rounds, then stalls (so the rule reduces), different per rank."""
    return 1.0 / (1 + min(round_index, 2)) + 0.001 * (rank - WORLD / 2)


def apply(rec, history: History, items):
    """One batch, as the store would commit it (its reports become history)."""
    change, results = rounds.report(rec, history, items)
    for step, rank, val in change.new_reports:
        history.reports[(step, rank)] = val
    return change, results


def test_64_ranks_with_duplicates_conflicts_and_out_of_order_steps() -> None:
    rec = new_record(PLATEAU, world_size=WORLD)
    history = History()
    rng = random.Random(7)
    steps = [10, 20, 30, 40, 50]
    pending = [(s, r, value(i, r)) for i, s in enumerate(steps) for r in range(WORLD)]
    rng.shuffle(pending)  # ranks race ahead: reports of later rounds arrive early
    decided_steps: list[int] = []
    counted = 0
    while pending:
        batch = pending[:rng.randint(1, 40)]
        pending = pending[len(batch):]
        duplicate = rng.choice(batch)  # a retry inside the same group commit
        conflict = (duplicate[0], duplicate[1], duplicate[2] + 1.0)
        version = rec.version
        change, results = apply(rec, history, [*batch, duplicate, conflict])
        assert all(r == ([], False) or not isinstance(r, Exception)
                   for r in results[:len(batch)])
        assert results[len(batch)] == ([], False)  # the same report again counts nothing
        assert isinstance(results[-1], ReportConflict)
        assert results[-1].fields == {"step": duplicate[0], "rank": duplicate[1],
                                      "value": duplicate[2]}
        counted += sum(1 for r in results if not isinstance(r, Exception) and r[1])
        assert len(change.new_reports) == sum(
            1 for r in results if not isinstance(r, Exception) and r[1])
        decided_steps += [d.step for d in change.decided]
        assert rec.version == version + (1 if change.decided else 0)
        # a round is decided only after every round before it
        assert not rec.open_rounds or all(s > max(decided_steps, default=-1)
                                          for s in rec.open_rounds)
    assert counted == WORLD * len(steps)
    assert decided_steps == steps  # each exactly once, in step order
    aggregates = [math.fsum(value(i, r) for r in range(WORLD)) / WORLD
                  for i in range(len(steps))]
    timeline = build_timeline(rec)
    expected = plateau_lrs(aggregates, patience=1)
    for step, lr in zip(steps, expected, strict=True):
        assert timeline.lr(step) == pytest.approx(lr, rel=1e-12)
        assert timeline.lr(step - 1) == pytest.approx(
            ([0.1, *expected])[steps.index(step)], rel=1e-12)


def test_a_report_before_the_latest_decided_round_is_closed_unless_a_retry() -> None:
    rec = new_record(PLATEAU, world_size=2)
    history = History()
    apply(rec, history, [(10, 0, 1.0), (10, 1, 1.0), (20, 0, 2.0), (20, 1, 2.0)])
    assert rec.last_decided.step == 20
    _, [retry, closed, conflict] = apply(rec, history, [(10, 1, 1.0), (5, 0, 1.0),
                                                         (10, 0, 3.0)])
    assert retry == ([], False)
    assert isinstance(closed, RoundClosed)
    assert closed.fields == {"step": 5, "last_decided_step": 20}
    assert isinstance(conflict, ReportConflict)


def test_the_fold_runs_once_per_round_and_events_say_so() -> None:
    rec = new_record(PLATEAU, world_size=3, aggregate="max")
    change, results = apply(rec, History(), [(0, 0, 1.0), (0, 1, 3.0), (0, 2, 2.0)])
    [out] = results[-1][0]
    assert out.value == 3.0 and out.folded and not out.changed
    assert [kind for kind, _ in change.events] == ["decision"]
    assert change.instance_states[0]["best"] == 3.0
    assert change.decided[0].state == change.instance_states[0]


def test_a_refused_report_changes_nothing() -> None:
    rec = new_record({"type": "StepLR", "lr": 0.1, "step_size": 10}, world_size=2)
    change, [not_metric, bad_rank] = rounds.report(rec, History(), [(0, 0, 1.0), (0, 5, 1.0)])
    assert isinstance(not_metric, NotMetricDriven) and not_metric.fields == {"step": 0}
    assert isinstance(bad_rank, Invalid) and bad_rank.fields == {"field": "rank"}
    assert not change.new_reports and not change.new_rounds and "version" not in change.run


def test_aggregate_is_order_independent() -> None:
    values = [0.1] * 10 + [1e16, -1e16]
    assert rounds.aggregate(values, "mean") == rounds.aggregate(values[::-1], "mean") == 1 / 12


def test_the_batch_deciding_a_round_reserves_the_frontier_its_waiters_need() -> None:
    rec = new_record(PLATEAU, world_size=2)
    history = History()
    change, _ = rounds.report(rec, history, [(10, 0, 1.0)], reserve=11)
    assert "frontier" not in change.run and rec.frontier == 0  # nothing decided: no reserve
    change, _ = rounds.report(rec, history, [(10, 1, 1.0)], reserve=11)
    assert change.run["frontier"] == rec.frontier == 11
    change, _ = rounds.report(rec, history, [(20, 0, 1.0), (20, 1, 1.0)], reserve=5)
    assert "frontier" not in change.run and rec.frontier == 11  # never moved back
    change, _ = rounds.report(rec, history, [(40, 0, 1.0), (30, 0, 1.0), (30, 1, 1.0)],
                              reserve=10**6)
    assert change.run["frontier"] == rec.frontier == 40  # not past the round still open
