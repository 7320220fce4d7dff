"""Timeline: segments by step, origin and scale, shared plateau history, JSON round trip."""

from __future__ import annotations

import json

import pytest

from lrcast.schedules import (
    PlateauHistory,
    Segment,
    StepOutOfRange,
    Timeline,
    fold_reports,
    parse,
)

PLATEAU = {"type": "ReduceLROnPlateau", "lr": [0.1, 0.2], "patience": 0, "factor": 0.5}
RAMP = {"type": "PiecewiseLinear", "lr": [0.1, 0.2], "points": [[0, 0.0], [10, 0.1]]}


def amended_timeline() -> Timeline:
    """Plateau from 0; at 50 the LR is scaled by 3 (same schedule and history); at 200 a new
    ramp restarts its own step count (origin 200)."""
    plateau = parse(PLATEAU)
    # reports at global steps; the schedule's origin is 0, so local == global here
    _, history = fold_reports(plateau.plateau, plateau.base_lrs,
                              [(10, 1.0), (20, 2.0), (60, 3.0), (60, 4.0)])
    ramp = parse(RAMP)
    return Timeline([Segment(0, plateau, 0, 1.0, history), Segment(50, plateau, 0, 3.0, history),
                     Segment(200, ramp, 200)])


def test_plateau_decisions_and_scale_apply_by_segment() -> None:
    t = amended_timeline()
    assert t.lrs(0) == t.lrs(19) == (0.1, 0.2)
    assert t.lrs(20) == t.lrs(49) == (0.05, 0.1)  # report 2.0 at 20 is worse: halved
    assert t.lrs(50) == pytest.approx((0.15, 0.3))  # scale amendment from 50
    # two worse reports at 60: halved twice, under the scale
    assert t.lrs(60) == t.lrs(199) == pytest.approx((0.0375, 0.075))


def test_lookups_at_segment_boundaries() -> None:
    t = amended_timeline()
    assert t.segment_at(49).from_step == 0
    assert t.segment_at(50).from_step == 50
    assert t.segment_at(199).from_step == 50
    assert t.segment_at(200).from_step == 200
    # the ramp counts from its origin: global 200 is its step 0, 205 its step 5
    assert t.lrs(200) == (0.0, 0.0)
    assert t.lrs(205) == pytest.approx((0.05, 0.1))
    assert t.lrs(10**9) == pytest.approx((0.1, 0.2))
    with pytest.raises(StepOutOfRange):
        t.lrs(-1)


def test_json_round_trip_keeps_every_lr_and_shares_the_history() -> None:
    t = amended_timeline()
    data = json.loads(json.dumps(t.to_json()))
    back = Timeline.from_json(data)
    assert back.to_json() == t.to_json()
    for step in range(0, 260):
        assert back.lrs(step) == t.lrs(step), step
    # the scale segment shares the plateau segment's schedule and history
    assert back.segments[1].schedule is back.segments[0].schedule
    assert back.segments[1].history is back.segments[0].history
    assert back.num_groups == 2


def test_decisions_are_stored_with_global_steps() -> None:
    """A schedule whose origin is 100: its local step 5 is global step 105."""
    plateau = parse(PLATEAU)
    history = PlateauHistory([(5, (0.01, 0.02))])
    t = Timeline([Segment(0, parse(RAMP)), Segment(100, plateau, 100, 1.0, history)])
    data = t.to_json()
    assert data[1]["decisions"] == [{"step": 105, "lrs": [0.01, 0.02]}]
    back = Timeline.from_json(json.loads(json.dumps(data)))
    assert back.lrs(104) == (0.1, 0.2)
    assert back.lrs(105) == (0.01, 0.02)


def test_timeline_starts_at_zero() -> None:
    with pytest.raises(ValueError):
        Timeline([Segment(5, parse(RAMP))])
