"""`core/consumption.py` called directly: the promise (no entry below a step a rank reached
beyond), idempotent repeats, conflicts; and the timeline and plateau rounds on a token clock."""

from __future__ import annotations

import math

import pytest

from lrcast_service.core import consumption, rounds
from lrcast_service.core.errors import ConsumptionConflict, Invalid, LRAlreadyServed
from lrcast_service.core.timeline import (
    build_run_schedule,
    build_timeline,
    check_amendment_clock,
    consumption_of,
)
from tests.core.records import History, new_record

TOKEN_COSINE = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 10_000, "clock": "token",
                "batch": {"samples": 4, "tokens": 100}}


def _record(rec, entries, reached=None):
    change, accepted = consumption.record(rec, History(), entries, reached)
    return change, accepted


def test_an_entry_changes_the_lrs_after_its_step_only() -> None:
    rec = new_record(TOKEN_COSINE)
    before = build_timeline(rec)
    change, accepted = _record(rec, [(5, None, 200)])
    assert accepted == 1 and change.consumption == [(5, None, 200)]
    after = build_timeline(rec)
    assert [after.lr(k) for k in range(6)] == [before.lr(k) for k in range(6)]
    for k in range(6, 20):
        tokens = 100 * 5 + 200 * (k - 5)
        assert after.lr(k) == pytest.approx(0.05 * (1 + math.cos(math.pi * tokens / 10_000)))


def test_the_same_entry_again_or_the_amount_in_force_is_a_no_op() -> None:
    rec = new_record(TOKEN_COSINE)
    _record(rec, [(5, None, 200)])
    version = rec.version
    change, accepted = _record(rec, [(5, None, 200), (9, 4, 200), (0, 4, 100)],
                               reached={0: 50})  # past them all: nothing changes, no 409
    assert accepted == 0 and not change and rec.version == version


def test_another_amount_for_a_recorded_step_conflicts() -> None:
    rec = new_record(TOKEN_COSINE)
    _record(rec, [(5, None, 200)])
    with pytest.raises(ConsumptionConflict) as err:
        _record(rec, [(5, None, 300)])
    assert err.value.fields == {"step": 5, "unit": "tokens", "recorded": 200, "given": 300}
    with pytest.raises(ConsumptionConflict):  # the spec's own batch is recorded at step 0
        _record(rec, [(0, None, 50)])


def test_an_entry_below_a_step_a_rank_reached_beyond_is_refused() -> None:
    rec = new_record(TOKEN_COSINE, world_size=2)
    rec.progress = {0: 7}
    _record(rec, [(7, None, 200)])  # rank 0 used LR(7): it does not depend on step 7's batch
    with pytest.raises(LRAlreadyServed) as err:
        _record(rec, [(6, None, 300)], reached={1: 9})
    assert err.value.fields == {"step": 6, "served_step": 9, "rank": 1}
    assert consumption_of(rec).amount("tokens", 6) == 100  # refused whole: nothing written


def test_a_batch_is_accepted_whole_or_not_at_all() -> None:
    rec = new_record(TOKEN_COSINE)
    rec.progress = {0: 10}
    with pytest.raises(LRAlreadyServed):
        _record(rec, [(12, None, 200), (3, None, 400)])
    assert rec.consumption == []


def test_plateau_rounds_fold_from_plateau_start_in_tokens() -> None:
    spec = {"type": "SequentialLR", "lr": 0.1, "milestones": [1000], "clock": "token",
            "batch": {"tokens": 100}, "schedulers": [
                {"type": "LinearLR", "start_factor": 0.1, "total_iters": 1000},
                {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 0}]}
    rec = new_record(spec)
    _record(rec, [(4, None, 300)])  # 400 tokens by step 4, then 300 a step: 1000 at step 6
    history = History()
    change, results = rounds.report(rec, history, [(5, 0, 1.0)])
    assert not change.decided[0].state  # step 5: 700 tokens, the warmup: not folded
    change, results = rounds.report(rec, history, [(6, 0, 1.0), (7, 0, 2.0)])
    assert [d.state is not None for d in change.decided] == [True, True]
    assert build_timeline(rec).lr(7) == pytest.approx(0.05)  # step 7's report: no improvement


def test_a_run_spec_on_a_token_clock_needs_its_batch() -> None:
    with pytest.raises(Invalid) as err:
        build_run_schedule({"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 10,
                            "clock": "token"})
    assert err.value.fields["field"] == "schedule.batch"
    with pytest.raises(Invalid) as err:
        build_run_schedule({"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 10,
                            "clock": "sample", "batch": {"tokens": 5}})
    assert err.value.fields["field"] == "schedule.batch"


def test_an_amendment_declares_no_batch_and_needs_the_runs_log() -> None:
    rec = new_record({"type": "StepLR", "lr": 0.1, "step_size": 5})
    with pytest.raises(Invalid) as err:
        check_amendment_clock(rec, {**TOKEN_COSINE})
    assert err.value.fields["field"] == "schedule.batch"
    amendment = {k: v for k, v in TOKEN_COSINE.items() if k != "batch"}
    with pytest.raises(Invalid) as err:
        check_amendment_clock(rec, amendment)
    assert err.value.fields["field"] == "schedule.clock"
    _record(rec, [(0, None, 100)])
    check_amendment_clock(rec, amendment)  # the run's log now has the tokens from step 0


def test_an_amount_no_schedule_reads_is_taken_late() -> None:
    """The samples of a token clock without batch scaling change no LR: no promise to keep."""
    rec = new_record(TOKEN_COSINE)
    rec.progress = {0: 100}
    _, accepted = _record(rec, [(10, 8, None)])
    assert accepted == 1
    with pytest.raises(LRAlreadyServed):
        _record(rec, [(10, None, 200)])
