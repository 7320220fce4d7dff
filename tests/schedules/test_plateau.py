"""PlateauRule / PlateauHistory / the plateau spec types beside PyTorch's ReduceLROnPlateau."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcast.schedules import PlateauHistory, PlateauState, fold_reports, parse

torch = pytest.importorskip("torch", reason="conformance needs torch")
transformers = pytest.importorskip("transformers", reason="conformance needs transformers")
from transformers import get_scheduler  # noqa: E402


def torch_plateau(lrs: list[float], kwargs: dict[str, Any], hf: bool = False) -> Any:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)],
                          lr=lrs[0])
    if hf:
        return get_scheduler("reduce_lr_on_plateau", opt, scheduler_specific_kwargs=kwargs)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)


def group_lrs(sched: Any) -> tuple[float, ...]:
    return tuple(g["lr"] for g in sched.optimizer.param_groups)


@st.composite
def plateau_args(draw: st.DrawFn, groups: int) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "mode": draw(st.sampled_from(["min", "max"])),
        "factor": draw(st.sampled_from([0.1, 0.5, 0.9, 0.0])),
        "patience": draw(st.integers(0, 4)),
        "threshold": draw(st.sampled_from([0.0, 1e-4, 0.05, 0.3])),
        "threshold_mode": draw(st.sampled_from(["rel", "abs"])),
        "cooldown": draw(st.integers(0, 3)),
        "eps": draw(st.sampled_from([1e-8, 1e-3, 0.0, 0.9, 0.45])),
    }
    if draw(st.booleans()):
        kw["min_lr"] = draw(st.lists(st.sampled_from([0.0, 1e-4, 1e-3, 0.02]), min_size=groups,
                                     max_size=groups))
    else:
        kw["min_lr"] = draw(st.sampled_from([0.0, 1e-3]))
    return kw


# metrics from a small alphabet (plus a few specials) make plateaus and ties likely
metrics = st.lists(st.one_of(st.sampled_from([1.0, 0.9, 0.95, 1.05, 2.0, -1.0, 0.0]),
                             st.floats(-3, 3)), min_size=1, max_size=150)
lr_lists = st.lists(st.sampled_from([0.1, 0.5, 1.0, 0.003]), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), lrs=lr_lists, values=metrics)
def test_fold_matches_torch_every_report(data: st.DataObject, lrs: list[float],
                                         values: list[float]) -> None:
    kw = data.draw(plateau_args(len(lrs)))
    sched = torch_plateau(lrs, kw)
    rule = parse({"type": "ReduceLROnPlateau", "lr": lrs, **kw}).plateau
    state = rule.initial(tuple(lrs))
    for v in values:
        sched.step(v)
        state = rule.step(state, v)
        assert state.lrs == group_lrs(sched)
        assert (state.best, state.num_bad_epochs, state.cooldown_counter, state.last_epoch) == (
            sched.best, sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch)
        assert PlateauState.from_json(state.to_json()) == state


@settings(max_examples=100, deadline=None)
@given(data=st.data(), lrs=lr_lists, hf=st.booleans(),
       reports=st.lists(st.tuples(st.integers(0, 400), st.sampled_from([1.0, 0.9, 1.1, 0.5])),
                        max_size=120))
def test_history_reproduces_lr_at_every_step(data: st.DataObject, lrs: list[float], hf: bool,
                                             reports: list[tuple[int, float]]) -> None:
    """A report at step s is ``sched.step(value)`` just before reading the LR of step s."""
    kw = data.draw(plateau_args(len(lrs)))
    reports = sorted(reports, key=lambda r: r[0])
    name = "reduce_lr_on_plateau" if hf else "ReduceLROnPlateau"
    schedule = parse({"type": name, "lr": lrs, **kw})
    assert schedule.metric_driven and schedule.plateau_start == 0
    _, history = fold_reports(schedule.plateau, schedule.base_lrs, reports)
    sched = torch_plateau(lrs, kw, hf=hf)
    pending = list(reports)
    for step in range(420):
        while pending and pending[0][0] == step:
            sched.step(pending.pop(0)[1])
        assert schedule.lrs(step, history) == group_lrs(sched), step


def test_history_lookup_is_latest_decision_at_or_before() -> None:
    base = (1.0, 2.0)
    history = PlateauHistory([(30, (0.01, 0.02)), (10, (0.1, 0.2))])
    got = [history.lrs_at(s, base) for s in (0, 9, 10, 29, 30, 10**9)]
    assert got == [base, base, (0.1, 0.2), (0.1, 0.2), (0.01, 0.02), (0.01, 0.02)]


def test_schedule_without_history_holds_base_lrs() -> None:
    schedule = parse({"type": "ReduceLROnPlateau", "lr": [0.1, 0.2], "patience": 0})
    assert schedule.lrs(12345) == (0.1, 0.2)
    assert schedule.lrs(5, PlateauHistory()) == (0.1, 0.2)


def test_nan_metric_counts_as_bad_epoch_like_torch() -> None:
    kw = {"patience": 1}
    sched = torch_plateau([0.1], kw)
    rule = parse({"type": "ReduceLROnPlateau", "lr": 0.1, **kw}).plateau
    state = rule.initial((0.1,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for v in (1.0, math.nan, math.nan, math.nan):
            sched.step(v)
            state = rule.step(state, v)
            assert state.lrs == group_lrs(sched)
    assert state.lrs[0] < 0.1


def test_bad_specs_fail_like_torch() -> None:
    from lrcast.schedules import SpecError

    for spec, field in [({"factor": 1.0}, "factor"), ({"mode": "avg"}, "mode"),
                        ({"threshold_mode": "x"}, "threshold_mode"),
                        ({"min_lr": [0.0]}, "min_lr")]:
        with pytest.raises(ValueError):
            torch_plateau([0.1, 0.2], spec)
        with pytest.raises(SpecError) as err:
            parse({"type": "ReduceLROnPlateau", "lr": [0.1, 0.2], **spec})
        assert err.value.path == field


@pytest.mark.parametrize(("lr", "factor", "eps"), [(1.0, 0.1, 0.9), (0.5, 0.1, 0.45),
                                                   (1.0, 0.1, 0.8999), (1.0, 0.5, 0.0)])
def test_reduction_of_exactly_eps_is_ignored_like_torch(lr: float, factor: float,
                                                        eps: float) -> None:
    kw = {"factor": factor, "eps": eps, "patience": 0}
    sched = torch_plateau([lr], kw)
    rule = parse({"type": "ReduceLROnPlateau", "lr": lr, **kw}).plateau
    state = rule.initial((lr,))
    for v in (1.0, 2.0, 3.0):
        sched.step(v)
        state = rule.step(state, v)
        assert state.lrs == group_lrs(sched)
