"""`Schedule.values` (LRs and momenta in one call) agrees with `lrs` and `momentums`."""

import pytest

from lrcast.schedules import Timeline, parse

SPECS = [
    {"type": "OneCycleLR", "max_lr": [0.1, 0.2], "total_steps": 300, "three_phase": True},
    {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 300, "cycle_momentum": False},
    {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 7,
     "mode": "exp_range", "gamma": 0.99},
    {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 7,
     "cycle_momentum": False},
    {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 50},
    {"type": "OneCycleLR", "max_lr": 0.1, "epochs": 3, "steps_per_epoch": 10,
     "interval": "epoch"},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["type"])
def test_values_equal_lrs_and_momentums(spec):
    schedule = parse(spec)
    steps = range(0, 30 if spec.get("interval") == "epoch" else 300)
    for step in steps:
        assert schedule.values(step) == (schedule.lrs(step), schedule.momentums(step))


def test_timeline_values_apply_the_scale_to_lrs_only():
    timeline = Timeline.from_json([
        {"from_step": 0, "origin": 0, "scale": 1.0,
         "schedule": {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 100}},
        {"from_step": 40, "origin": 0, "scale": 0.5,
         "schedule": {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 100}},
    ])
    schedule = parse({"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 100})
    for step in range(100):
        lrs, momentums = timeline.values(step)
        factor = 0.5 if step >= 40 else 1.0
        assert lrs == tuple(lr * factor for lr in schedule.lrs(step))
        assert momentums == schedule.momentums(step)
