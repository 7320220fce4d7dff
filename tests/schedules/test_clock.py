"""Sample and token clocks and batch scaling in the engine (`lrcast.schedules._clock`), against
PyTorch's and transformers' own formulas evaluated at the amount consumed so far."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from transformers import get_cosine_schedule_with_warmup

from lrcast.schedules import Consumption, SpecError, StepOutOfRange, Timeline, parse
from lrcast.schedules._clock import check_covered, spec_consumption

#: tokens per step: 1024, doubling to 2048 at step 40, then 4096 at step 90
BATCHES = [(0, 8, 1024), (40, 16, 2048), (90, 32, 4096)]


def consumed(step: int, batches: list[tuple[int, int, int]], unit: int) -> int:
    """sum over t < step of b(t), by walking every step (the reference for the prefix sums)."""
    total = 0
    for t in range(step):
        total += [b for b in batches if b[0] <= t][-1][unit]
    return total


def torch_cosine_at(position: int, lr: float, t_max: int, eta_min: float) -> float:
    """torch's CosineAnnealingLR at epoch `position`, by its own closed form."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    sched.last_epoch = position
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(sched._get_closed_form_lr()[0])


def _spec(**extra):
    return {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 200_000, "eta_min": 0.001,
            "clock": "token", "batch": {"samples": 8, "tokens": 1024}, **extra}


def test_positions_are_the_sums_of_the_steps_before() -> None:
    log = Consumption(BATCHES)
    for step in [0, 1, 2, 39, 40, 41, 89, 90, 91, 500]:
        assert log.position("tokens", step) == consumed(step, BATCHES, 2), step
        assert log.position("samples", step) == consumed(step, BATCHES, 1), step


def test_an_entry_naming_one_amount_keeps_the_other() -> None:
    log = Consumption([(0, 8, 1024), (10, None, 2048)])
    assert log.amount("samples", 20) == 8 and log.amount("tokens", 20) == 2048
    assert log.position("samples", 20) == 160
    assert log.position("tokens", 20) == 10 * 1024 + 10 * 2048


def test_token_cosine_when_the_batch_doubles_is_torch_at_the_tokens_consumed() -> None:
    spec = _spec()
    timeline = Timeline.single(parse(spec), consumption=Consumption(BATCHES))
    for step in range(0, 200):
        tokens = consumed(step, BATCHES, 2)
        assert timeline.lr(step) == pytest.approx(
            torch_cosine_at(tokens, 0.1, 200_000, 0.001), rel=1e-12), step


def test_hf_cosine_in_tokens_is_transformers_lambda_at_the_tokens_consumed() -> None:
    spec = {"type": "cosine", "lr": 3e-4, "num_warmup_steps": 20_000,
            "num_training_steps": 300_000, "clock": "token", "batch": {"tokens": 1024}}
    timeline = Timeline.single(parse(spec), consumption=Consumption(BATCHES))
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=3e-4)
    hf = get_cosine_schedule_with_warmup(opt, 20_000, 300_000)
    for step in range(0, 200):
        tokens = consumed(step, BATCHES, 2)
        assert timeline.lr(step) == pytest.approx(3e-4 * hf.lr_lambdas[0](tokens),
                                                  rel=1e-12), step


def test_the_spec_batch_schedule_is_the_log_by_default() -> None:
    spec = _spec(batch_schedule=[{"from_step": 40, "samples": 16, "tokens": 2048},
                                 {"from_step": 90, "samples": 32, "tokens": 4096}])
    declared = Timeline.single(parse(spec))
    reported = Timeline.single(parse(_spec()), consumption=Consumption(BATCHES))
    assert [declared.lr(k) for k in range(150)] == [reported.lr(k) for k in range(150)]


@pytest.mark.parametrize("scaling", ["linear", "sqrt"])
def test_batch_scaling_uses_the_batch_of_the_step_before(scaling: str) -> None:
    spec = {"type": "linear", "lr": 0.001, "num_warmup_steps": 10, "num_training_steps": 100,
            "batch_scaling": scaling, "reference_batch_size": 256, "batch": {"samples": 256}}
    log = Consumption([(0, 256, None), (50, 1024, None), (70, 128, None)])
    timeline = Timeline.single(parse(spec), consumption=log)
    plain = parse({k: v for k, v in spec.items()
                   if k not in ("batch_scaling", "reference_batch_size", "batch")})
    for step in range(0, 110):
        batch = log.amount("samples", max(step - 1, 0))
        factor = batch / 256 if scaling == "linear" else math.sqrt(batch / 256)
        assert timeline.lr(step) == pytest.approx(plain.lr(step) * factor, rel=1e-15), step
    assert timeline.lr(50) == pytest.approx(plain.lr(50))  # step 49's batch: still 256
    assert timeline.lr(51) == pytest.approx(plain.lr(51) * (4 if scaling == "linear" else 2))


def test_a_clock_amendment_counts_from_its_origin() -> None:
    """An amendment from step o is evaluated at C(s) - C(o) (its own step 0 at o)."""
    spec = _spec()
    log = Consumption(BATCHES)
    from lrcast.schedules import Segment
    timeline = Timeline([Segment(0, parse(spec), 0), Segment(60, parse(spec), 60)], log)
    for step in range(60, 120):
        own = consumed(step, BATCHES, 2) - consumed(60, BATCHES, 2)
        assert timeline.lr(step) == pytest.approx(torch_cosine_at(own, 0.1, 200_000, 0.001),
                                                  rel=1e-12)


def test_plateau_start_is_in_the_clock_unit() -> None:
    spec = {"type": "SequentialLR", "lr": 0.1, "milestones": [160], "clock": "sample",
            "batch": {"samples": 8}, "batch_schedule": [{"from_step": 10, "samples": 16}],
            "schedulers": [{"type": "LinearLR", "start_factor": 0.1, "total_iters": 160},
                           {"type": "ReduceLROnPlateau", "factor": 0.5}]}
    segment = Timeline.single(parse(spec)).segments[0]
    # 10 steps of 8 samples, then 16 a step: 160 samples at step 15
    assert [segment.folds_at(s) for s in (0, 14, 15, 16)] == [False, False, True, True]


def test_the_timeline_json_round_trip_keeps_the_log() -> None:
    timeline = Timeline.single(parse(_spec()), consumption=Consumption(BATCHES))
    again = Timeline.from_json(timeline.to_json(), timeline.consumption.to_json())
    assert [again.lr(k) for k in range(120)] == [timeline.lr(k) for k in range(120)]


def test_a_step_clock_spec_without_batch_is_the_plain_schedule() -> None:
    spec = {"type": "StepLR", "lr": 0.1, "step_size": 3, "gamma": 0.5, "clock": "step"}
    assert [parse(spec).lr(k) for k in range(10)] == \
        [parse({k: v for k, v in spec.items() if k != "clock"}).lr(k) for k in range(10)]


def test_a_clock_without_its_amount_has_no_lr_past_step_0() -> None:
    schedule = parse({"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 10, "clock": "token"})
    timeline = Timeline.single(schedule)
    assert timeline.lr(0) == 0.1
    with pytest.raises(StepOutOfRange, match="tokens"):
        timeline.lr(1)
    with pytest.raises(SpecError) as err:
        check_covered(schedule, spec_consumption(schedule))
    assert err.value.path == "batch"


@pytest.mark.parametrize(("extra", "path", "words"), [
    ({"clock": "minute"}, "clock", "'step', 'sample', 'token'"),
    ({"clock": "token", "batch_scaling": "sqrt"}, "reference_batch_size", "required"),
    ({"batch_scaling": "cubic"}, "batch_scaling", "'none', 'linear', 'sqrt'"),
    ({"batch_scaling": "linear", "reference_batch_size": 0}, "reference_batch_size", "positive"),
    ({"batch": {"tokens": -5}}, "batch.tokens", "positive integer"),
    ({"batch": {"tokens": 1.5}}, "batch.tokens", "positive integer"),
    ({"batch": {}}, "batch", "samples and/or tokens"),
    ({"batch": {"tokens": 4, "from_step": 3}}, "batch", "from step 0"),
    ({"batch_schedule": [{"from_step": 5, "tokens": 4}, {"from_step": 5, "tokens": 8}]},
     "batch_schedule[1].from_step", "greater"),
    ({"batch_schedule": [{"from_step": 5, "tokns": 4}]}, "batch_schedule[0].tokns",
     "not a field"),
    ({"clock": "token", "interval": "epoch", "steps_per_epoch": 3}, "interval", "epoch"),
])
def test_invalid_clock_fields_name_the_field(extra: dict, path: str, words: str) -> None:
    spec = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 10, **extra}
    with pytest.raises(SpecError) as err:
        parse(spec)
    assert err.value.path == path and words in err.value.reason


def test_a_nested_clock_is_refused() -> None:
    spec = {"type": "SequentialLR", "lr": 0.1, "milestones": [5], "schedulers": [
        {"type": "ConstantLR", "factor": 0.5, "total_iters": 5},
        {"type": "CosineAnnealingLR", "T_max": 10, "clock": "token"}]}
    with pytest.raises(SpecError) as err:
        parse(spec)
    assert err.value.path == "schedulers[1].clock"
