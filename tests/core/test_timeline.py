"""`core/timeline.py`: the engine's declared refusals are the user's `StepOutOfRange`; any
other exception is a bug and is not blamed on the step (the API answers it 500)."""

from __future__ import annotations

import pytest
import torch

from lrcast.schedules import Schedule, SpecError, Timeline, parse
from lrcast.schedules import StepOutOfRange as EngineStepOutOfRange
from lrcast_service.core import timeline
from lrcast_service.core.errors import Invalid, StepOutOfRange


class Failing(Schedule):
    """A schedule that raises `error` at every step (stands for a bug in a schedule)."""

    def __init__(self, error: Exception) -> None:
        self.spec, self.num_groups, self.base_lrs, self.error = {}, 1, (0.1,), error

    def lrs(self, step, history=None):
        raise self.error


def test_a_bug_in_a_schedule_propagates_as_itself() -> None:
    bug = ZeroDivisionError("division by zero")
    with pytest.raises(ZeroDivisionError) as exc:
        timeline.evaluate(Timeline.single(Failing(bug)), 5)
    assert exc.value is bug
    with pytest.raises(TypeError):  # e.g. an attribute shadowing a method
        timeline.evaluate(Timeline.single(Failing(TypeError("'list' object is not "
                                                            "callable"))), 5)


@pytest.mark.parametrize("error", [EngineStepOutOfRange(5, "past total_steps"),
                                   SpecError("T_max", "must be positive")])
def test_the_engine_s_declared_errors_are_step_out_of_range(error: Exception) -> None:
    with pytest.raises(StepOutOfRange) as exc:
        timeline.evaluate(Timeline.single(Failing(error)), 5)
    assert exc.value.fields == {"step": 5} and "5" in exc.value.detail


def test_a_value_that_does_not_fit_a_float_is_step_out_of_range() -> None:
    growing = Timeline.single(parse({"type": "ExponentialLR", "lr": 0.1, "gamma": 1.5}))
    with pytest.raises(StepOutOfRange):
        timeline.evaluate(growing, 10_000)  # 1.5 ** 10000 overflows
    huge = Timeline.single(parse({"type": "StepLR", "lr": 1e308, "step_size": 1,
                                  "gamma": 10}))
    with pytest.raises(StepOutOfRange) as exc:
        timeline.evaluate(huge, 1)  # inf
    assert "non-finite" in exc.value.detail


def test_finite_values_whose_sum_overflows_are_answered() -> None:
    """`evaluate` checks a sum first (a non-finite value makes it non-finite); values that
    are each finite but whose sum overflows are still answered, not refused."""
    big = Timeline.single(parse({"type": "StepLR", "lr": [1e308, 1e308], "step_size": 10}))
    assert timeline.evaluate(big, 1) == ([1e308, 1e308], None)
    mixed = Timeline.single(parse({"type": "StepLR", "lr": [1e308, 1e308, 0.1],
                                   "step_size": 1, "gamma": 10}))
    with pytest.raises(StepOutOfRange) as exc:  # inf in two groups, 1.0 in the third
        timeline.evaluate(mixed, 1)
    assert "non-finite" in exc.value.detail


def test_evaluate_range_matches_pytorch() -> None:
    spec = {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 20}
    out = timeline.evaluate_range(Timeline.single(parse(spec)), timeline.step_range(0, 20, 1))
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    for lr, mom in zip(out["lr"], out["momentum"], strict=True):
        assert lr == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        assert mom == pytest.approx(opt.param_groups[0]["momentum"], rel=1e-12)
        opt.step()
        sched.step()
    with pytest.raises(StepOutOfRange):
        timeline.evaluate(Timeline.single(parse(spec)), 21)


def test_a_spec_the_engine_refuses_is_invalid_naming_its_path() -> None:
    with pytest.raises(Invalid) as exc:
        timeline.build_schedule({"type": "StepLR", "lr": 0.1})
    assert exc.value.fields == {"field": "schedule.step_size"}
    with pytest.raises(Invalid) as exc:
        timeline.step_range(5, 5, 1)
    assert exc.value.fields == {"field": "stop"}
