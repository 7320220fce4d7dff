"""The promise as pure rules (no server): `frontier.served_past` and the report rule's
refusal of a report at a step some rank has reached, where the plateau rule is active."""

from __future__ import annotations

import pytest

from lrcast_service.core import frontier, rounds, timeline
from lrcast_service.core.errors import Invalid, LRAlreadyServed

from .records import History, new_record

PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}
WARMUP_PLATEAU = {"type": "SequentialLR", "lr": 0.1, "milestones": [20], "schedulers": [
    {"type": "LinearLR", "start_factor": 0.1, "total_iters": 20},
    {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 0}]}


def _lr(rec: object, step: int) -> float:
    return timeline.evaluate(timeline.build_timeline(rec), step)[0][0]


def test_served_past_names_the_furthest_rank_at_or_beyond_the_step() -> None:
    assert frontier.served_past({}, 0) is None
    assert frontier.served_past({0: 14, 1: 9}, 15) is None
    assert frontier.served_past({0: 15, 1: 9}, 15) == (0, 15)
    assert frontier.served_past({0: 20, 1: 30, 2: 30}, 15) == (1, 30)  # lowest rank on a tie


def test_check_at_bounds_a_ranks_own_step() -> None:
    frontier.check_at(None, 0, "why")
    frontier.check_at(9, 10, "why")
    with pytest.raises(Invalid) as refused:
        frontier.check_at(10, 10, "why")
    assert refused.value.fields == {"field": "at"}


def test_a_report_below_a_reached_step_is_refused_and_changes_nothing() -> None:
    """Issue 10's example: report 10, rank 0 served 20, report 15 (5.0)."""
    rec = new_record(PLATEAU)
    rounds.report(rec, History(), [(10, 0, 1.0)], reached={0: 9})
    change, [refused] = rounds.report(rec, History(), [(15, 0, 5.0)], reached={0: 20})
    assert isinstance(refused, LRAlreadyServed)
    assert refused.fields == {"step": 15, "served_step": 20, "rank": 0}
    assert not change.new_reports and not change.new_rounds and not change.decided
    assert rec.open_rounds == {} and _lr(rec, 20) == 0.1
    assert change.run["progress"] == {0: 20}  # the rank's step is kept all the same


def test_a_rank_that_reports_ahead_of_its_step_is_counted() -> None:
    """A lease reaching past 15 is not a use of it: only the reached step counts."""
    rec = new_record(PLATEAU)
    rounds.report(rec, History(), [(10, 0, 1.0)], reached={0: 9})
    _, [(outcomes, counted)] = rounds.report(rec, History(), [(15, 0, 5.0)], reached={0: 14})
    assert counted and outcomes[0].changed and _lr(rec, 15) == 0.05


def test_any_ranks_step_refuses_the_round_and_the_batch_order_does_not_matter() -> None:
    rec = new_record(PLATEAU, world_size=2)
    _, results = rounds.report(rec, History(), [(15, 0, 5.0), (15, 1, 5.0)],
                               reached={0: 14, 1: 16})
    assert [r.fields["rank"] for r in results] == [1, 1]
    assert rec.open_rounds == {}


def test_a_retry_is_still_a_no_op_once_the_rank_has_moved_on() -> None:
    rec = new_record(PLATEAU)
    history = History()
    rounds.report(rec, history, [(10, 0, 1.0)])
    history.reports[(10, 0)] = 1.0
    _, [result] = rounds.report(rec, history, [(10, 0, 1.0)], reached={0: 50})
    assert result == ([], False)


def test_no_refusal_where_the_plateau_rule_is_not_active_yet() -> None:
    """During the warmup a round folds nothing: it cannot change a used LR."""
    rec = new_record(WARMUP_PLATEAU)
    _, [(_, counted)] = rounds.report(rec, History(), [(10, 0, 5.0)], reached={0: 18})
    assert counted
    _, [refused] = rounds.report(rec, History(), [(20, 0, 5.0)], reached={0: 25})
    assert isinstance(refused, LRAlreadyServed) and refused.fields["served_step"] == 25


def test_reports_keep_the_ranks_last_seen_times() -> None:
    rec = new_record(PLATEAU, world_size=2)
    rounds.report(rec, History(), [(5, 0, 1.0)], reached={0: 4},
                  seen={0: 100.0, 1: 50.0})
    rec.seen = {0: 120.0}
    change, _ = rounds.report(rec, History(), [(5, 1, 1.0)], seen={0: 110.0, 1: 130.0})
    assert change.run["seen"] == {0: 120.0, 1: 130.0}  # the latest of each
    assert change.run["progress"] == {0: 4}
