"""PiecewiseLinear: interpolation through the points, constant after, groups keep their ratios."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcast.schedules import SpecError, StepOutOfRange, parse

np = pytest.importorskip("numpy", reason="numpy.interp is the oracle")


@st.composite
def point_lists(draw: st.DrawFn) -> list[list[Any]]:
    gaps = draw(st.lists(st.integers(1, 500), max_size=8))
    steps = [0]
    for gap in gaps:
        steps.append(steps[-1] + gap)
    return [[s, draw(st.floats(0.0, 10.0))] for s in steps]


@settings(max_examples=100, deadline=None)
@given(points=point_lists(), lrs=st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=3))
def test_matches_numpy_interp_and_keeps_group_ratios(points: list[list[Any]],
                                                     lrs: list[float]) -> None:
    schedule = parse({"type": "PiecewiseLinear", "lr": lrs, "points": points})
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    steps = sorted(set(range(0, xs[-1] + 50, 7)) | set(xs) | {x - 1 for x in xs if x}
                   | {x + 1 for x in xs})
    want = np.interp(steps, xs, ys)  # constant past the last point, like the schedule
    for k, w in zip(steps, want, strict=True):
        got = schedule.lrs(k)
        assert got[0] == pytest.approx(w, rel=1e-12, abs=1e-15), k
        for i, lr in enumerate(lrs):
            assert got[i] == pytest.approx(w * lr / lrs[0], rel=1e-12, abs=1e-15), (k, i)


def test_points_are_hit_exactly_and_the_last_value_holds() -> None:
    schedule = parse({"type": "PiecewiseLinear", "lr": 0.1,
                      "points": [[0, 0.0], [10, 0.1], [110, 0.001]]})
    assert [schedule.lr(k) for k in (0, 5, 10, 60, 110, 10**12)] == [
        0.0, 0.05, 0.1, pytest.approx(0.0505), 0.001, 0.001]
    with pytest.raises(StepOutOfRange):
        schedule.lrs(-1)


def test_lr_is_optional_for_one_group() -> None:
    schedule = parse({"type": "PiecewiseLinear", "points": [[0, 0.3]]})
    assert schedule.num_groups == 1 and schedule.lrs(7) == (0.3,)


@pytest.mark.parametrize(("points", "path", "reason"), [
    ([], "points", "non-empty"),
    ("0,1", "points", "non-empty"),
    ([[1, 0.1]], "points[0][0]", "step 0"),
    ([[0, 0.1], [5, 0.2], [5, 0.3]], "points[2][0]", "strictly increasing"),
    ([[0, 0.1], [3, -1.0]], "points[1][1]", ">= 0"),
    ([[0, 0.1], [3, float("inf")]], "points[1][1]", "finite"),
    ([[0, 0.1], [2.5, 0.2]], "points[1][0]", "integer"),
    ([[0, 0.1, 3]], "points[0]", "pair"),
])
def test_bad_points_name_the_field(points: Any, path: str, reason: str) -> None:
    with pytest.raises(SpecError, match=reason) as err:
        parse({"type": "PiecewiseLinear", "lr": 0.1, "points": points})
    assert err.value.path == path


def test_zero_group0_lr_cannot_carry_ratios() -> None:
    with pytest.raises(SpecError) as err:
        parse({"type": "PiecewiseLinear", "lr": [0.0, 0.1], "points": [[0, 0.1]]})
    assert err.value.path == "lr[0]"
