"""GreedyLR (Hugging Face ``greedy``) as a fold, beside the real
``transformers.optimization.GreedyLR`` fed the same values step by step."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcast.schedules import PlateauState, Timeline, fold_reports, parse

torch = pytest.importorskip("torch", reason="conformance needs torch")
pytest.importorskip("transformers", reason="conformance needs transformers")
from transformers import get_scheduler  # noqa: E402
from transformers.optimization import GreedyLR  # noqa: E402


def hf_greedy(lrs: list[float], kwargs: dict[str, Any]) -> GreedyLR:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)],
                          lr=lrs[0])
    sched = get_scheduler("greedy", opt, scheduler_specific_kwargs=kwargs)
    assert isinstance(sched, GreedyLR)
    return sched


@st.composite
def greedy_args(draw: st.DrawFn, groups: int) -> dict[str, Any]:
    """Small patience/cooldown/warmup/reset_start, so increases, reductions and resets
    happen within a few dozen values."""
    def per_group(values: list[float]) -> Any:
        return draw(st.one_of(st.sampled_from(values),
                              st.lists(st.sampled_from(values), min_size=groups,
                                       max_size=groups)))

    kw: dict[str, Any] = {
        "mode": draw(st.sampled_from(["min", "max"])),
        "factor": draw(st.sampled_from([0.1, 0.5, 0.5, 0.9, 0.95])),
        "patience": draw(st.integers(0, 3)),
        "threshold": draw(st.sampled_from([0.0, 1e-6, 0.05, 0.3])),
        "threshold_mode": draw(st.sampled_from(["rel", "abs"])),
        "cooldown": draw(st.integers(0, 2)),
        "warmup": draw(st.integers(0, 2)),
        "min_lr": per_group([0.0, 1e-3, 0.02, 0.05]),
        "max_lr": per_group([0.2, 1.0, 5.0]),
        "eps": draw(st.sampled_from([1e-8, 0.0, 1e-3])),
        "smooth": draw(st.booleans()),
        "window_size": draw(st.integers(1, 6)),
        "reset_start": draw(st.integers(0, 4)),
    }
    return {k: v for k, v in kw.items() if draw(st.booleans())}  # defaults for the rest


#: plateaus (repeated values), simple floats, and floats whose sums round (for the smoothing)
metrics = st.lists(st.one_of(st.sampled_from([0.0, 1.0, 0.5, 0.25]),
                             st.floats(-10, 10, allow_nan=False),
                             st.integers(1, 10**6).map(lambda i: i / 997.0)),
                   min_size=1, max_size=80)


@given(data=st.data(), groups=st.integers(1, 3), values=metrics)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_fold_is_greedy_lr_step_by_step(data: st.DataObject, groups: int,
                                            values: list[float]) -> None:
    lrs = data.draw(st.lists(st.sampled_from([0.1, 0.01, 0.5, 1e-3]), min_size=groups,
                             max_size=groups))
    kwargs = data.draw(greedy_args(groups))
    ref = hf_greedy(lrs, kwargs)
    rule = parse({"type": "greedy", "lr": lrs, **kwargs}).plateau
    state = rule.initial(tuple(lrs))
    for value in values:
        ref.step(value)
        # the service persists the state as JSON between rounds: the fold must survive it
        stored = PlateauState.from_json(json.loads(json.dumps(state.to_json())))
        assert stored == state
        state = rule.step(stored, value)
        assert state.lrs == tuple(g["lr"] for g in ref.optimizer.param_groups)
        assert state.best == ref.best
        assert (state.num_bad_epochs, state.num_good_epochs) == (ref.num_bad_epochs,
                                                                 ref.num_good_epochs)
        assert (state.cooldown_counter, state.warmup_counter) == (ref.cooldown_counter,
                                                                  ref.warmup_counter)
        assert state.reset_countdown == ref.reset_start


@given(values=metrics, patience=st.integers(0, 2), reset_start=st.integers(0, 3))
@settings(max_examples=100, deadline=None)
def test_the_schedule_reads_the_decisions_like_greedy_lr(values: list[float], patience: int,
                                                         reset_start: int) -> None:
    """A report at step s is ``step(value)`` just before the LR of step s is read; between
    reports the LR stays."""
    kwargs = {"factor": 0.5, "patience": patience, "min_lr": 0.01, "max_lr": 0.4,
              "reset_start": reset_start}
    spec = {"type": "greedy", "lr": 0.1, **kwargs}
    schedule = parse(spec)
    reports = [(3 * k + 1, v) for k, v in enumerate(values)]
    _, history = fold_reports(schedule.plateau, schedule.base_lrs, reports)
    timeline = Timeline.single(schedule, history)
    ref = hf_greedy([0.1], kwargs)
    expected = {0: 0.1}
    for step, value in reports:
        ref.step(value)
        expected[step] = ref.optimizer.param_groups[0]["lr"]
    last = 0.1
    for step in range(reports[-1][0] + 5):
        last = expected.get(step, last)
        assert timeline.lr(step) == last


def test_greedy_raises_and_resets_the_lr() -> None:
    """Improvements raise the LR up to max_lr; a long stay at min_lr resets it; as there."""
    kwargs = {"factor": 0.5, "patience": 0, "min_lr": 0.05, "max_lr": 0.3, "reset_start": 2}
    schedule = parse({"type": "greedy", "lr": 0.1, **kwargs})
    ref = hf_greedy([0.1], kwargs)
    state = schedule.plateau.initial(schedule.base_lrs)
    seen, expected = [], []
    for value in [3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        state = schedule.plateau.step(state, value)
        ref.step(value)
        seen.append(state.lrs[0])
        expected.append(ref.optimizer.param_groups[0]["lr"])
    assert seen == expected
    assert max(seen) == 0.3 and 0.05 in seen and seen[-1] == 0.1  # raised, floored, reset
    assert math.isinf(state.best)


def test_greedy_as_the_last_member_of_a_sequential_lr() -> None:
    spec = {"type": "SequentialLR", "lr": 0.1, "milestones": [4], "schedulers": [
        {"type": "LinearLR", "start_factor": 0.5, "total_iters": 4},
        {"type": "greedy", "factor": 0.5, "patience": 0, "min_lr": 0.0}]}
    schedule = parse(spec)
    assert schedule.plateau is not None and schedule.plateau_start == 4
    _, history = fold_reports(schedule.plateau, schedule.base_lrs, [(2, 1.0), (5, 1.0),
                                                                    (6, 2.0)],
                              start=schedule.plateau_start)
    timeline = Timeline.single(schedule, history)
    # LinearLR's warmup, then GreedyLR on 0.1: the report at 2 is before it starts, the one
    # at 5 improves (x2), the one at 6 does not (x0.5)
    assert [timeline.lr(k) for k in range(8)] == pytest.approx(
        [0.05, 0.0625, 0.075, 0.0875, 0.1, 0.2, 0.1, 0.1], rel=1e-12)
