"""`core/frontier.py`: the barrier, lease horizons, the served frontier, the amendment floor."""

from __future__ import annotations

import pytest

from lrcast_service.core import frontier, rounds
from lrcast_service.core.errors import Invalid
from tests.core.records import History, new_record

PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


def test_a_lease_horizon_is_capped_at_the_first_open_round() -> None:
    rec = new_record(PLATEAU, world_size=2)
    assert frontier.barrier(rec) is None
    assert frontier.horizon(100, 1000, frontier.barrier(rec)) == 1100
    rounds.report(rec, History(), [(500, 0, 1.0), (300, 1, 1.0)])  # two rounds open
    assert frontier.barrier(rec) == 300
    assert frontier.horizon(100, 1000, frontier.barrier(rec)) == 300
    assert frontier.horizon(100, 50, frontier.barrier(rec)) == 150


def test_servable_only_below_the_frontier_and_the_barrier() -> None:
    assert frontier.servable(9, 10, None)
    assert not frontier.servable(10, 10, None)
    assert not frontier.servable(5, 10, 5)
    assert frontier.servable(4, 10, 5)


def test_the_frontier_is_reserved_ahead_of_the_furthest_step_and_never_goes_back() -> None:
    rec = new_record(PLATEAU)
    assert frontier.reservation(0, 1, 0) == 1  # one query at step 0 reserves step 0 only
    assert frontier.reservation(10, 11, 100) == 111
    assert frontier.reservation(0, 1000, 256) == 1000  # a lease's horizon first
    change = frontier.extend(rec, 256, {0: 3, 1: 7})
    assert change.run == {"frontier": 256, "progress": {0: 3, 1: 7}} and rec.frontier == 256
    change = frontier.extend(rec, 100, {0: 1, 1: 9})
    assert change.run == {"frontier": 256, "progress": {0: 3, 1: 9}}  # max per rank
    assert not frontier.extend(rec, 200, {1: 2})  # nothing new: nothing to write


def test_the_amendment_floor_is_the_frontier_or_the_latest_round() -> None:
    rec = new_record(PLATEAU, world_size=1)
    assert frontier.min_amendment_step(rec) == 0
    frontier.extend(rec, 40, {})
    assert frontier.min_amendment_step(rec) == 40
    rounds.report(rec, History(), [(90, 0, 1.0)])
    assert frontier.min_amendment_step(rec) == 90  # rounds are never re-attributed


def test_a_rank_outside_the_world_is_invalid() -> None:
    frontier.check_rank(4, 3)
    frontier.check_rank(4, None)
    with pytest.raises(Invalid) as exc:
        frontier.check_rank(4, 4)
    assert exc.value.fields == {"field": "rank"} and "0..3" in exc.value.detail


def test_the_reservation_ahead_is_about_reach_seconds_of_the_pace() -> None:
    seconds = frontier.REACH_SECONDS
    assert frontier.ahead(rate=10.0, walked=10**6, cap=10**6) == int(10 * seconds)
    assert frontier.ahead(rate=0.01, walked=10**6, cap=10**6) == 0  # slow: nothing ahead
    assert frontier.ahead(rate=1e6, walked=10**6, cap=256) == 256  # capped
    # a burst of quick queries: at most as far again as the job walked
    assert frontier.ahead(rate=1e6, walked=100, cap=10**6) == 100
    assert frontier.ahead(rate=1e6, walked=0, cap=10**6) == 0


def test_the_background_extension_is_due_once_half_the_reservation_is_used() -> None:
    assert frontier.extend_at(1000, 200) == 900
    assert frontier.extend_at(1000, 1) == 1000  # nothing ahead: only when reached
    assert frontier.extend_at(1000, 0) == 1000
