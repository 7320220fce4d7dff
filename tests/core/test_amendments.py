"""`core/amendments.py`: the floor, new schedules from a step, compounding scales."""

from __future__ import annotations

import pytest
import torch

from lrcast_service.core import amendments, frontier, rounds
from lrcast_service.core.errors import AmendmentTooEarly, Invalid
from lrcast_service.core.timeline import build_timeline
from tests.core.records import History, new_record

STEP = {"type": "StepLR", "lr": 0.1, "step_size": 10, "gamma": 0.5}


def committed(rec, change):
    """`rec` after `change` (what the store's reload would give for an amendment)."""
    rec.instances.update({i.idx: i for i in change.new_instances})
    rec.segments = [s for s in rec.segments if s[0] < change.replace_segments_from]
    rec.segments += change.segments
    rec.version = change.run["version"]
    return rec


def test_below_the_floor_is_refused_with_min_step() -> None:
    rec = new_record(STEP)
    frontier.extend(rec, 256, {})
    with pytest.raises(AmendmentTooEarly) as exc:
        amendments.amend(rec, 100, None, 0.5)
    assert exc.value.fields == {"min_step": 256, "from_step": 100}
    amendments.amend(rec, 256, None, 0.5)


def test_the_floor_is_the_latest_round_too() -> None:
    rec = new_record({"type": "ReduceLROnPlateau", "lr": 0.1}, world_size=2)
    rounds.report(rec, History(), [(30, 0, 1.0)])
    with pytest.raises(AmendmentTooEarly) as exc:
        amendments.amend(rec, 29, None, 0.5)
    assert exc.value.fields["min_step"] == 30


def test_scales_compound_and_a_new_schedule_starts_at_its_own_step_0() -> None:
    rec = new_record(STEP)
    rec = committed(rec, amendments.amend(rec, 20, None, 0.5))
    rec = committed(rec, amendments.amend(rec, 30, None, 0.5))
    timeline = build_timeline(rec)
    assert timeline.lr(19) == pytest.approx(0.05)
    assert timeline.lr(25) == pytest.approx(0.5 * 0.1 * 0.5 ** 2)
    assert timeline.lr(35) == pytest.approx(0.25 * 0.1 * 0.5 ** 3)
    cosine = {"type": "CosineAnnealingLR", "lr": 0.2, "T_max": 10}
    change = amendments.amend(rec, 40, cosine, None)
    assert change.events[0] == ("amendment", {"from_step": 40, "schedule": cosine,
                                              "scale": None, "scale_in_force": 1.0,
                                              "instance": 1})
    timeline = build_timeline(committed(rec, change))
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for own_step in range(8):
        assert timeline.lr(40 + own_step) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert timeline.lr(39) == pytest.approx(0.25 * 0.1 * 0.5 ** 3)


def test_exactly_one_of_schedule_or_scale_with_the_run_s_groups() -> None:
    with pytest.raises(Invalid) as exc:
        amendments.check_amendment(None, None)
    assert exc.value.fields == {"field": "schedule"}
    with pytest.raises(Invalid) as exc:
        amendments.check_amendment({"type": "StepLR", "lr": 0.1}, None)
    assert exc.value.fields == {"field": "schedule.step_size"}
    with pytest.raises(Invalid) as exc:
        amendments.amend(new_record(STEP), 0, {**STEP, "lr": [0.1, 0.2]}, None)
    assert exc.value.fields == {"field": "schedule.lr"}


def test_a_compounded_scale_must_stay_finite() -> None:
    rec = new_record(STEP)
    for _ in range(51):  # 1e6 ** 51 is still a float
        rec = committed(rec, amendments.amend(rec, 0, None, 1e6))
    with pytest.raises(Invalid) as exc:
        amendments.amend(rec, 0, None, 1e6)
    assert exc.value.fields == {"field": "scale"}
