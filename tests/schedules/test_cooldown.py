"""``Cooldown`` (what a cooldown amendment puts in force) against transformers: the decay
phase of ``get_wsd_schedule`` from a given LR, for every decay type and min_lr_ratio."""

from __future__ import annotations

import pytest

from lrcast.schedules import SpecError, parse

from ._oracle import run_torch

DECAYS = ("linear", "cosine", "1-sqrt")
RATIOS = (0.0, 0.1, 0.5, 1.0)


@pytest.mark.parametrize("decay_type", DECAYS)
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("steps", [1, 7, 100])
def test_cooldown_is_transformers_wsd_decay_phase(decay_type: str, ratio: float,
                                                  steps: int) -> None:
    spec = {"type": "Cooldown", "lr": [0.003, 1.7e-4], "num_decay_steps": steps,
            "decay_type": decay_type, "min_lr_ratio": ratio}
    ref = run_torch(spec, steps + 20)  # LambdaLR over get_wsd_schedule(0 warmup, 0 stable)
    schedule = parse(spec)
    for k, lrs in enumerate(ref.lrs):
        assert schedule.lrs(k) == lrs, k  # bit for bit: the same expression on the same floats
    assert schedule.lrs(steps) == pytest.approx((0.003 * ratio, 1.7e-4 * ratio), abs=0)
    assert schedule.lrs(10**12) == schedule.lrs(steps)


def test_cooldown_defaults_linear_to_zero() -> None:
    schedule = parse({"type": "Cooldown", "lr": 0.2, "num_decay_steps": 4})
    assert [schedule.lr(k) for k in range(6)] == [0.2, 0.2 * 0.75, 0.2 * 0.5, 0.2 * 0.25, 0, 0]


@pytest.mark.parametrize(("spec", "path"), [
    ({"type": "Cooldown", "lr": 0.1}, "num_decay_steps"),
    ({"type": "Cooldown", "lr": 0.1, "num_decay_steps": 0}, "num_decay_steps"),
    ({"type": "Cooldown", "lr": 0.1, "num_decay_steps": 5, "decay_type": "exp"}, "decay_type"),
    ({"type": "Cooldown", "lr": 0.1, "num_decay_steps": 5, "min_lr_ratio": 1.5},
     "min_lr_ratio"),
    ({"type": "Cooldown", "lr": 0.1, "num_decay_steps": 5, "steps": 5}, "steps"),
])
def test_cooldown_spec_errors_name_the_field(spec: dict, path: str) -> None:
    with pytest.raises(SpecError) as err:
        parse(spec)
    assert err.value.path == path
