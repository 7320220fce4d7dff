"""`core/lr_finder.py`: the suggestion, and the stop at divergence."""

from __future__ import annotations

import pytest

from lrcast.schedules import Timeline, parse
from lrcast_service.core import lr_finder
from lrcast_service.core.errors import RangeTestStopped

SPEC = {"type": "LRRangeTest", "start_lr": 1e-5, "end_lr": 1.0, "num_iter": 100}


def losses(diverge_at: int) -> list[tuple[int, float]]:
    """A loss that falls, then explodes from `diverge_at` on."""
    return [(s, 2.0 - s / 100 if s < diverge_at else 50.0 * (s - diverge_at + 1))
            for s in range(100)]


def test_reports_past_the_divergence_are_refused() -> None:
    timeline = Timeline.single(parse(SPEC))
    analysis = lr_finder.analyse("rt", timeline, losses(60))
    assert analysis["diverged"] and analysis["stopped_at"] is not None
    stopped = analysis["stopped_at"]
    assert 60 <= stopped < 70
    lr_finder.check_not_stopped(analysis, stopped)  # the step it stopped at still counts
    with pytest.raises(RangeTestStopped) as exc:
        lr_finder.check_not_stopped(analysis, stopped + 1)
    assert exc.value.fields == {"step": stopped + 1, "stopped_at": stopped,
                                "suggested_lr": analysis["suggested_lr"]}


def test_a_falling_loss_never_stops_and_suggests_an_lr_of_the_sweep() -> None:
    timeline = Timeline.single(parse(SPEC))
    analysis = lr_finder.analyse("rt", timeline, losses(1000))
    assert not analysis["diverged"] and analysis["stopped_at"] is None and analysis["done"]
    assert analysis["suggested_lr"] in analysis["lrs"]
    lr_finder.check_not_stopped(analysis, 10**6)


def test_only_lr_range_test_specs_are_range_tests() -> None:
    assert lr_finder.is_range_test(SPEC)
    assert not lr_finder.is_range_test({"type": "StepLR", "lr": 0.1, "step_size": 1})
