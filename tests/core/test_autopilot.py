"""`core/autopilot.py`'s spike rule: robust z of a step's mean loss vs the median and MAD of
the window before it, `consecutive` high steps in a row."""

from __future__ import annotations

import math
import random

import pytest

from lrcast_service.core.autopilot import DEFAULT_SPIKE, scan


def curve(n: int, noise: float, seed: int, spike_at: int | None = None,
          height: float = 3.0, length: int = 8) -> list[tuple[int, float]]:
    """A decaying loss with Gaussian noise; optionally a spike of `length` steps."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        value = 2.0 + 3.0 * math.exp(-k / 300) + rng.gauss(0, noise)
        if spike_at is not None and spike_at <= k < spike_at + length:
            value += height
        out.append((k, value))
    return out


def judge(means: list[tuple[int, float]], **policy: float) -> tuple[int | None, int]:
    p = {**DEFAULT_SPIKE, **policy}
    return scan(means, 0, int(p["window"]), p["threshold"], int(p["consecutive"]))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("noise", [0.01, 0.1, 0.3])
def test_noise_without_a_spike_raises_nothing(seed: int, noise: float) -> None:
    assert judge(curve(1000, noise, seed))[0] is None


@pytest.mark.parametrize("seed", range(10))
def test_a_spike_is_found_where_it_began(seed: int) -> None:
    begun, resume = judge(curve(1000, 0.1, seed, spike_at=600))
    assert begun == 600
    assert resume == 600 + DEFAULT_SPIKE["consecutive"]  # judged again after the spike


def test_fewer_high_steps_than_consecutive_is_no_spike_but_is_judged_again() -> None:
    means = curve(300, 0.05, 1, spike_at=290, length=2)
    begun, resume = judge(means[:292])
    assert begun is None and resume == 290  # the run of two is re-judged with the next batch
    assert judge(means, consecutive=2)[0] == 290


def test_a_single_outlier_does_not_count() -> None:
    means = curve(400, 0.05, 2)
    means[200] = (200, means[200][1] + 100)
    assert judge(means)[0] is None
    assert judge(means, consecutive=1)[0] == 200


def test_a_flat_curve_does_not_divide_by_zero() -> None:
    flat = [(k, 1.0) for k in range(100)]
    assert judge(flat) == (None, 100)
    assert judge(flat + [(100 + k, 2.0) for k in range(3)])[0] == 100


def test_nothing_is_judged_before_a_full_window() -> None:
    means = [(k, 1.0 if k < 10 else 50.0) for k in range(20)]
    assert judge(means, window=50)[0] is None
