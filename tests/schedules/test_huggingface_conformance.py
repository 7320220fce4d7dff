"""Every Hugging Face SchedulerType beside the real ``transformers.get_scheduler``, step by step."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcast.schedules import SpecError, StepOutOfRange, parse

torch = pytest.importorskip("torch", reason="conformance needs torch")
transformers = pytest.importorskip("transformers", reason="conformance needs transformers")
from transformers import get_scheduler  # noqa: E402
from transformers.trainer_utils import SchedulerType  # noqa: E402

MAX_STEPS = 2500
REL = 1e-9

closed_form = [t.value for t in SchedulerType if t.value not in ("reduce_lr_on_plateau", "greedy")]


def hf_lrs(name: str, lrs: list[float], kwargs: dict[str, Any], steps: int) -> list[Any]:
    """LRs of every group after construction and after each of `steps` - 1 ``step()`` calls;
    an exception where transformers raises (the rest of the list is cut there)."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)],
                          lr=lrs[0])
    kwargs = dict(kwargs)
    warmup = kwargs.pop("num_warmup_steps", None)
    training = kwargs.pop("num_training_steps", None)
    out: list[Any] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sched = get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=training,
                                  scheduler_specific_kwargs=kwargs)
        except (ValueError, ZeroDivisionError) as exc:
            return [exc]
        for k in range(steps):
            if k:
                try:
                    sched.step()
                except (ValueError, ZeroDivisionError) as exc:
                    out.append(exc)
                    return out
            out.append(tuple(g["lr"] for g in opt.param_groups))
    return out


def engine_lrs(spec: dict[str, Any], steps: int) -> list[Any]:
    try:
        sched = parse(spec)
    except SpecError as exc:
        return [exc]
    out: list[Any] = []
    for k in range(steps):
        try:
            out.append(sched.lrs(k))
        except StepOutOfRange as exc:
            out.append(exc)
            return out
    return out


def assert_same(expected: list[Any], got: list[Any], spec: dict[str, Any]) -> None:
    assert len(got) == len(expected), (spec, expected[-1], got[-1])
    for k, (want, have) in enumerate(zip(expected, got, strict=True)):
        if isinstance(want, Exception):
            kind = SpecError if k == 0 else StepOutOfRange
            assert isinstance(have, kind), (spec, k, want, have)
            continue
        assert not isinstance(have, Exception), (spec, k, have)
        for a, b in zip(have, want, strict=True):
            assert math.isclose(a, b, rel_tol=REL, abs_tol=1e-300), (spec, k, have, want)


lr_lists = st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=3)
warmup = st.integers(0, 300)
training = st.integers(0, 2000)


@st.composite
def hf_kwargs(draw: st.DrawFn, name: str, lr0: float) -> dict[str, Any]:
    """Arguments of the transformers function for `name`, random but valid for get_scheduler."""
    kw: dict[str, Any] = {}
    if name == "constant":
        if draw(st.booleans()):  # get_scheduler ignores these for constant
            kw.update(num_warmup_steps=draw(warmup), num_training_steps=draw(training))
        return kw
    kw["num_warmup_steps"] = draw(warmup)
    if name in ("constant_with_warmup", "inverse_sqrt"):
        if name == "inverse_sqrt" and draw(st.booleans()):
            kw["timescale"] = draw(st.integers(1, 5000))
        return kw
    if name == "warmup_stable_decay":
        kw["num_decay_steps"] = draw(st.integers(0, 800))
        which = draw(st.sampled_from(["training", "stable", "both"]))
        if which in ("training", "both"):
            kw["num_training_steps"] = draw(training)
        if which in ("stable", "both"):
            kw["num_stable_steps"] = draw(st.integers(0, 800))
        kw["warmup_type"] = draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
        kw["decay_type"] = draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
        kw["min_lr_ratio"] = draw(st.floats(0, 0.9))
        kw["num_cycles"] = draw(st.floats(0.1, 2.0))
        return kw
    kw["num_training_steps"] = draw(training)
    if name == "cosine":
        kw["num_cycles"] = draw(st.floats(0.0, 3.0))
    elif name == "cosine_with_restarts":
        kw["num_cycles"] = draw(st.integers(1, 6))
    elif name == "polynomial":
        if draw(st.booleans()):
            kw["num_training_steps"] = kw["num_warmup_steps"] + draw(st.integers(0, 3))
        kw["lr_end"] = draw(st.floats(0.0, lr0 * 0.99))
        kw["power"] = draw(st.floats(0.1, 3.0))
    elif name in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        kw["num_cycles"] = draw(st.floats(0.1, 2.0))
        if draw(st.booleans()):
            kw["min_lr"] = draw(st.floats(0.0, lr0))
        else:
            kw["min_lr_rate"] = draw(st.floats(0.0, 1.0))
        if name == "cosine_warmup_with_min_lr" and draw(st.booleans()):
            kw["warmup_lr_rate"] = draw(st.floats(0.0, 1.0))
    return kw


def horizon(kw: dict[str, Any]) -> int:
    ends = [kw.get(k, 0) for k in ("num_warmup_steps", "num_training_steps")]
    ends.append(sum(kw.get(k, 0) for k in ("num_warmup_steps", "num_stable_steps",
                                           "num_decay_steps")))
    return min(max(ends) + 200, MAX_STEPS)


def test_every_scheduler_type_is_covered() -> None:
    """The engine handles every SchedulerType: closed form here, the metric-driven ones
    (reduce_lr_on_plateau, greedy) in test_plateau / test_greedy."""
    for name in closed_form + ["reduce_lr_on_plateau", "greedy"]:
        assert parse({"type": name, "lr": 0.1, "num_warmup_steps": 1, "num_training_steps": 10,
                      **({"num_decay_steps": 1} if name == "warmup_stable_decay" else {}),
                      **({"min_lr_rate": 0.1} if "min_lr" in name else {})})


@pytest.mark.parametrize("name", closed_form)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), lrs=lr_lists, scalar=st.booleans())
def test_matches_transformers(name: str, data: st.DataObject, lrs: list[float],
                              scalar: bool) -> None:
    if scalar:
        lrs = lrs[:1]
    kw = data.draw(hf_kwargs(name, lrs[0]))
    steps = horizon(kw)
    spec = {"type": name, "lr": lrs[0] if scalar else lrs, **kw}
    assert_same(hf_lrs(name, lrs, kw, steps), engine_lrs(spec, steps), spec)


def test_polynomial_fails_at_the_step_transformers_fails() -> None:
    """num_training_steps == num_warmup_steps divides by zero at that step in transformers."""
    kw = {"num_warmup_steps": 5, "num_training_steps": 5, "lr_end": 0.0}
    spec = {"type": "polynomial", "lr": 0.1, **kw}
    expected = hf_lrs("polynomial", [0.1], kw, 10)
    assert isinstance(expected[5], ZeroDivisionError)
    got = engine_lrs(spec, 10)
    assert_same(expected, got, spec)
    assert got[5].step == 5


def test_polynomial_reads_group_zero_lr_as_lr_init() -> None:
    """transformers divides by optimizer.defaults['lr']: the engine by lr[0]."""
    lrs, kw = [0.2, 0.05], {"num_warmup_steps": 2, "num_training_steps": 20, "lr_end": 0.01,
                           "power": 2.0}
    spec = {"type": "polynomial", "lr": lrs, **kw}
    assert_same(hf_lrs("polynomial", lrs, kw, 40), engine_lrs(spec, 40), spec)
    # group 1 ends at lr_end * lr[1] / lr[0], as in transformers
    assert parse(spec).lrs(30)[1] == pytest.approx(0.01 * 0.05 / 0.2, rel=1e-12)


@pytest.mark.parametrize("outer", ["SequentialLR", "ChainedScheduler"])
@pytest.mark.parametrize("name", closed_form)
@settings(max_examples=8, deadline=None)
@given(data=st.data(), lrs=lr_lists)
def test_members_of_sequential_and_chained_match_pytorch(outer: str, name: str,
                                                         data: st.DataObject,
                                                         lrs: list[float]) -> None:
    """A Hugging Face LambdaLR as a member, on the same optimizer, as PyTorch composes it."""
    from ._oracle import run_torch

    kw = data.draw(hf_kwargs(name, lrs[0]))
    if name == "polynomial" and kw["num_training_steps"] == kw["num_warmup_steps"]:
        kw["num_training_steps"] += 1  # that division by zero is tested above
    member = {"type": name, **kw}
    first = {"type": "ExponentialLR", "gamma": data.draw(st.floats(0.9, 1.0))}
    if outer == "SequentialLR":
        spec = {"type": outer, "lr": lrs, "schedulers": [first, member],
                "milestones": [data.draw(st.integers(1, 300))]}
    else:
        spec = {"type": outer, "lr": lrs, "schedulers": [member, first]}
    try:
        schedule = parse(spec)
    except SpecError as exc:
        if "unknown schedule type" in str(exc):
            pytest.skip(f"{outer} is not registered yet")
        raise
    run = run_torch(spec, 800)
    assert run.error is None
    assert_same(run.lrs, [schedule.lrs(k) for k in range(len(run.lrs))], spec)
