"""Every PyTorch scheduler beside the real ``torch.optim.lr_scheduler`` class, step by step.

The engine must match PyTorch's ``param_groups[i]["lr"]`` (and cycled momentum) after every
``step()`` to a relative 1e-9. PyTorch's recursive forms and our closed forms round
differently, so where a value is ~0 the comparison uses an absolute floor of
``1e-12 * max |lr|`` over the run.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcast.schedules import StepOutOfRange, parse

pytest.importorskip("torch", reason="PyTorch conformance tests need torch")
from ._oracle import run_torch  # noqa: E402

REL = 1e-9
#: examples per property; set LRCAST_CONFORMANCE_EXAMPLES for a longer, randomized soak
EXAMPLES = int(os.environ.get("LRCAST_CONFORMANCE_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    derandomize="LRCAST_CONFORMANCE_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def assert_matches(spec: dict[str, Any], steps: int, optimizer: str = "sgd") -> None:
    """Engine == PyTorch at every step 0..steps (LRs, and momenta where cycled)."""
    run = run_torch(spec, steps, optimizer)
    sched = parse(spec)
    floor = 1e-12 * max(max(abs(x) for x in lrs) for lrs in run.lrs)
    for k, expected in enumerate(run.lrs):
        got = sched.lrs(k)
        assert len(got) == len(expected)
        for g, (a, b) in enumerate(zip(got, expected, strict=True)):
            if not math.isclose(a, b, rel_tol=REL, abs_tol=floor):
                pytest.fail(f"step {k} group {g}: engine {a!r} != torch {b!r} for {spec}")
    if sched.cycles_momentum:
        mfloor = 1e-12 * max(max(abs(x) for x in m) for m in run.momentums)
        for k, expected in enumerate(run.momentums):
            got = sched.momentums(k)
            assert got is not None
            for a, b in zip(got, expected, strict=True):
                if not math.isclose(a, b, rel_tol=REL, abs_tol=mfloor):
                    pytest.fail(f"step {k} momentum: engine {a!r} != torch {b!r} for {spec}")
    if run.error is not None:
        with pytest.raises(StepOutOfRange):
            sched.lrs(len(run.lrs))


# strategies ---------------------------------------------------------------------------
def lrs() -> st.SearchStrategy[Any]:
    lr = st.floats(1e-4, 1.0)
    return st.one_of(lr, st.lists(lr, min_size=1, max_size=3))


gammas = st.floats(0.5, 1.0)
unit = st.floats(0.0, 1.0)

LEAVES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "ConstantLR": st.fixed_dictionaries(
        {"factor": st.floats(0.01, 1.0), "total_iters": st.integers(0, 300)}),
    "LinearLR": st.fixed_dictionaries(
        {"start_factor": st.floats(0.01, 1.0), "end_factor": unit,
         "total_iters": st.integers(1, 400)}),
    "StepLR": st.fixed_dictionaries({"step_size": st.integers(1, 300), "gamma": gammas}),
    "MultiStepLR": st.fixed_dictionaries(
        {"milestones": st.lists(st.sampled_from([0, 1, 7, 50, 120, 121, 400, 999]), max_size=6),
         "gamma": gammas}),
    "ExponentialLR": st.fixed_dictionaries({"gamma": st.floats(0.99, 1.0)}),
    "PolynomialLR": st.fixed_dictionaries(
        {"total_iters": st.integers(1, 1500), "power": st.floats(0.0, 3.0)}),
    "CosineAnnealingLR": st.fixed_dictionaries(
        {"T_max": st.integers(1, 500), "eta_min": st.sampled_from([0.0, 1e-5, 1e-3])}),
    "CosineAnnealingWarmRestarts": st.fixed_dictionaries(
        {"T_0": st.integers(1, 120), "T_mult": st.integers(1, 3),
         "eta_min": st.sampled_from([0.0, 1e-5])}),
}


def with_type(kind: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, **kwargs}


@st.composite
def cyclic(draw: st.DrawFn, n: int | None = None) -> dict[str, Any]:
    n = n or draw(st.integers(1, 3))
    def per_group(s: st.SearchStrategy[float]) -> Any:
        return draw(st.one_of(s, st.lists(s, min_size=n, max_size=n)))
    spec = {"type": "CyclicLR", "base_lr": per_group(st.floats(1e-4, 1e-2)),
            "max_lr": per_group(st.floats(0.02, 1.0)), "step_size_up": draw(st.integers(1, 200)),
            "mode": draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
            "gamma": draw(st.floats(0.99, 1.0)),
            "scale_mode": draw(st.sampled_from(["cycle", "iterations"])),
            "cycle_momentum": draw(st.booleans())}
    if draw(st.booleans()):
        spec["step_size_down"] = draw(st.integers(0, 200))
    if spec["cycle_momentum"]:
        spec["base_momentum"] = per_group(st.floats(0.5, 0.85))
        spec["max_momentum"] = per_group(st.floats(0.86, 0.99))
    return spec


@st.composite
def one_cycle(draw: st.DrawFn, n: int | None = None, min_total: int = 1) -> dict[str, Any]:
    n = n or draw(st.integers(1, 3))
    def per_group(s: st.SearchStrategy[float]) -> Any:
        return draw(st.one_of(s, st.lists(s, min_size=n, max_size=n)))
    spec: dict[str, Any] = {
        "type": "OneCycleLR", "max_lr": per_group(st.floats(0.01, 1.0)),
        "pct_start": draw(st.floats(0.05, 0.95)),
        "anneal_strategy": draw(st.sampled_from(["cos", "linear"])),
        "three_phase": draw(st.booleans()), "div_factor": draw(st.floats(2.0, 100.0)),
        "final_div_factor": draw(st.floats(10.0, 1e5)), "cycle_momentum": draw(st.booleans())}
    if draw(st.booleans()):
        spec["total_steps"] = draw(st.integers(max(min_total, 20), max(min_total, 1500)))
    else:
        spec["epochs"] = draw(st.integers(1, 30))
        low = -(-min_total // spec["epochs"])
        spec["steps_per_epoch"] = draw(st.integers(max(1, low), max(low, 60)))
    if spec["cycle_momentum"]:
        spec["base_momentum"] = per_group(st.floats(0.5, 0.85))
        spec["max_momentum"] = per_group(st.floats(0.86, 0.99))
    return spec


def one_phase_ok(spec: dict[str, Any]) -> bool:
    """PyTorch divides by zero for a phase of length 0; that case has its own test."""
    total = spec.get("total_steps") or spec["epochs"] * spec["steps_per_epoch"]
    p = float(spec["pct_start"])
    ends = [p * total - 1, total - 1] if not spec["three_phase"] else [
        p * total - 1, 2 * p * total - 2, total - 1]
    starts = [0.0, *ends[:-1]]
    return all(e != s for e, s in zip(ends, starts, strict=True))


# single schedulers ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(LEAVES))
def test_each_scheduler_matches_torch(kind: str) -> None:
    @SETTINGS
    @given(lr=lrs(), kwargs=LEAVES[kind])
    def check(lr: Any, kwargs: dict[str, Any]) -> None:
        assert_matches({"type": kind, "lr": lr, **kwargs}, 1500)

    check()


@SETTINGS
@given(spec=cyclic(), optimizer=st.sampled_from(["sgd", "adam"]), lr=st.none() | lrs())
def test_cyclic_lr_all_modes_and_momentum(spec: dict[str, Any], optimizer: str,
                                          lr: Any) -> None:
    n = next((len(v) for v in spec.values() if isinstance(v, list)), None)
    if lr is not None and (n is None or (isinstance(lr, list) and len(lr) == n)):
        spec = {**spec, "lr": lr}  # ignored by CyclicLR, which sets the LR itself
    assert_matches(spec, 2000, optimizer)


@SETTINGS
@given(spec=one_cycle(), optimizer=st.sampled_from(["sgd", "adam"]))
def test_one_cycle_lr_phases_and_momentum(spec: dict[str, Any], optimizer: str) -> None:
    if not one_phase_ok(spec):
        return
    total = spec.get("total_steps") or spec["epochs"] * spec["steps_per_epoch"]
    assert_matches(spec, total + 3, optimizer)  # past total_steps PyTorch raises


def test_one_cycle_past_total_steps_raises_like_torch() -> None:
    spec = {"type": "OneCycleLR", "max_lr": 0.1, "epochs": 3, "steps_per_epoch": 4,
            "three_phase": True}
    run = run_torch(spec, 20)
    assert len(run.lrs) == 13 and "Tried to step 13 times" in str(run.error)
    with pytest.raises(StepOutOfRange, match="Tried to step 13 times. The specified number of "
                                             "total steps is 12"):
        parse(spec).lrs(13)
    assert_matches(spec, 20)


def test_warm_restarts_with_t_mult_crosses_many_cycles() -> None:
    for t_0, t_mult in [(1, 2), (3, 3), (10, 2), (7, 1)]:
        assert_matches({"type": "CosineAnnealingWarmRestarts", "lr": [0.1, 0.5], "T_0": t_0,
                        "T_mult": t_mult, "eta_min": 1e-4}, 5000)


def test_multistep_duplicate_milestones_multiply_twice() -> None:
    spec = {"type": "MultiStepLR", "lr": 1.0, "milestones": [0, 3, 3, 3, 10, 2], "gamma": 0.5}
    assert_matches(spec, 50)
    assert parse(spec).lr(3) == pytest.approx(0.5 ** 5)


# composites -----------------------------------------------------------------------------
ABSOLUTE = ("CosineAnnealingWarmRestarts",)
member_kinds = st.sampled_from(sorted(LEAVES))


@st.composite
def member(draw: st.DrawFn, n: int, allow_one_cycle: bool, min_total: int) -> dict[str, Any]:
    kind = draw(st.sampled_from([*sorted(LEAVES), "CyclicLR", "OneCycleLR"]
                                if allow_one_cycle else [*sorted(LEAVES), "CyclicLR"]))
    if kind == "CyclicLR":
        return draw(cyclic(n))
    if kind == "OneCycleLR":
        spec = draw(one_cycle(n, min_total=min_total).filter(one_phase_ok))
        return spec
    return with_type(kind, draw(LEAVES[kind]))


@st.composite
def sequential(draw: st.DrawFn) -> dict[str, Any]:
    lr = draw(lrs())
    n = len(lr) if isinstance(lr, list) else 1
    count = draw(st.integers(1, 4))
    milestones = sorted(draw(st.lists(st.sampled_from([0, 1, 5, 40, 40, 300, 700]),
                                      min_size=count - 1, max_size=count - 1)))
    members, one_cycles = [], 0
    for _ in range(count):
        m = draw(member(n, one_cycles == 0, draw(st.sampled_from([0, 1300]))))
        if one_cycles and m["type"] == "CyclicLR":  # rejected: see test_spec_errors_pytorch
            m = {k: v for k, v in m.items() if "momentum" not in k} | {"cycle_momentum": False}
        one_cycles += m["type"] == "OneCycleLR"
        members.append(m)
    return {"type": "SequentialLR", "lr": lr, "milestones": milestones, "schedulers": members}


@settings(SETTINGS, max_examples=EXAMPLES * 3)
@given(spec=sequential(), optimizer=st.sampled_from(["sgd", "adam"]))
def test_sequential_lr_matches_torch(spec: dict[str, Any], optimizer: str) -> None:
    assert_matches(spec, 1200, optimizer)


def test_sequential_duplicate_milestones_and_resets() -> None:
    spec = {"type": "SequentialLR", "lr": [0.1, 0.3], "milestones": [4, 4, 9, 9, 9],
            "schedulers": [{"type": "LinearLR", "start_factor": 0.1, "total_iters": 4},
                           {"type": "ExponentialLR", "gamma": 0.5},
                           {"type": "StepLR", "step_size": 2, "gamma": 0.5},
                           {"type": "ConstantLR", "factor": 0.5, "total_iters": 0},
                           {"type": "PolynomialLR", "total_iters": 3},
                           {"type": "CosineAnnealingLR", "T_max": 5, "eta_min": 0.01}]}
    assert_matches(spec, 60)


def test_sequential_one_cycle_later_overrides_initial_lr() -> None:
    spec = {"type": "SequentialLR", "lr": 0.5, "milestones": [30],
            "schedulers": [{"type": "CosineAnnealingLR", "T_max": 20, "eta_min": 1e-3},
                           {"type": "OneCycleLR", "max_lr": 2.0, "total_steps": 100}]}
    assert_matches(spec, 140)


@st.composite
def chained(draw: st.DrawFn, cosine: bool, one_group: bool = False) -> dict[str, Any]:
    lr = draw(st.floats(1e-4, 1.0) if one_group else lrs())
    n = len(lr) if isinstance(lr, list) else 1
    mult = sorted(k for k in LEAVES if k not in ("CosineAnnealingLR", *ABSOLUTE))
    members = [with_type(k, draw(LEAVES[k]))
               for k in draw(st.lists(st.sampled_from(mult), min_size=1, max_size=4))]
    if cosine:
        t_max = draw(st.integers(1, 300))
        members.insert(draw(st.integers(0, len(members))),
                       {"type": "CosineAnnealingLR", "T_max": t_max})
    else:
        absolute = draw(st.sampled_from([None, "cyclic", "warm", "onecycle"]))
        at = draw(st.integers(0, len(members)))
        if absolute == "cyclic":
            members.insert(at, draw(cyclic(n)))
        elif absolute == "warm":
            members.insert(at, with_type("CosineAnnealingWarmRestarts",
                                         draw(LEAVES["CosineAnnealingWarmRestarts"])))
        elif absolute == "onecycle":
            members.insert(at, draw(one_cycle(n, min_total=1600).filter(one_phase_ok)))
    return {"type": "ChainedScheduler", "lr": lr, "schedulers": members}


@SETTINGS
@given(spec=chained(cosine=False), optimizer=st.sampled_from(["sgd", "adam"]))
def test_chained_scheduler_products_and_absolute_members(spec: dict[str, Any],
                                                         optimizer: str) -> None:
    assert_matches(spec, 1500, optimizer)


@SETTINGS
@given(spec=chained(cosine=True))
def test_chained_scheduler_with_cosine_eta_min_zero(spec: dict[str, Any]) -> None:
    assert_matches(spec, 1500)


@SETTINGS
@given(first=chained(cosine=False, one_group=True),
       rest=st.lists(member(1, False, 0), min_size=1, max_size=2),
       milestone=st.integers(1, 400))
def test_chained_scheduler_first_in_sequential(first: dict[str, Any], rest: list[Any],
                                               milestone: int) -> None:
    lr = first.pop("lr")
    if any(m["type"] == "OneCycleLR" for m in first["schedulers"]):  # see _check_one_cycle
        rest = [{k: v for k, v in m.items() if "momentum" not in k} | {"cycle_momentum": False}
                if m["type"] == "CyclicLR" else m for m in rest]
    milestones = [milestone + 100 * i for i in range(len(rest))]
    assert_matches({"type": "SequentialLR", "lr": lr, "milestones": milestones,
                    "schedulers": [first, *rest]}, 1000)


@st.composite
def nested_sequential(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    """A SequentialLR whose member 0 is a SequentialLR, `depth` levels deep."""
    count = draw(st.integers(1, 3))
    kinds = sorted(k for k in LEAVES if k != "CosineAnnealingLR")
    if depth > 0:
        first = draw(nested_sequential(depth - 1))
    else:
        kind = draw(st.sampled_from(kinds))
        first = with_type(kind, draw(LEAVES[kind]))
    rest = []
    for _ in range(count - 1):
        # a cosine that runs first in a nested SequentialLR is refused (see the error tests)
        m = draw(member(1, False, 0).filter(lambda m: m["type"] != "CosineAnnealingLR"))
        if m["type"] == "CyclicLR":
            m = {k: v for k, v in m.items() if "momentum" not in k} | {"cycle_momentum": False}
        rest.append(m)
    milestones = sorted(draw(st.lists(st.sampled_from([0, 1, 2, 3, 30, 200]),
                                      min_size=count - 1, max_size=count - 1)))
    return {"type": "SequentialLR", "milestones": milestones, "schedulers": [first, *rest]}


@SETTINGS
@given(spec=nested_sequential(2), lr=lrs())
def test_sequential_nested_in_sequential_runs_ahead(spec: dict[str, Any], lr: Any) -> None:
    assert_matches({**spec, "lr": lr if not isinstance(lr, list) else lr[0]}, 600)


def test_nested_chained_schedulers_flatten() -> None:
    spec = {"type": "ChainedScheduler", "lr": 0.2, "schedulers": [
        {"type": "ChainedScheduler", "schedulers": [
            {"type": "ExponentialLR", "gamma": 0.99},
            {"type": "ConstantLR", "factor": 0.5, "total_iters": 10}]},
        {"type": "StepLR", "step_size": 7, "gamma": 0.5}]}
    assert_matches(spec, 300)


# the interval wrapper ------------------------------------------------------------------
@SETTINGS
@given(kind=member_kinds, data=st.data(), spe=st.integers(1, 9))
def test_epoch_interval_steps_once_per_epoch(kind: str, data: st.DataObject, spe: int) -> None:
    spec = {"type": kind, "lr": data.draw(lrs()), "interval": "epoch", "steps_per_epoch": spe,
            **data.draw(LEAVES[kind])}
    assert_matches(spec, 1500)
    assert parse({**spec, "interval": "step", "steps_per_epoch": None}).lrs(7) == \
        parse({k: v for k, v in spec.items() if k not in ("interval", "steps_per_epoch")}).lrs(7)


def test_epoch_interval_sequential() -> None:
    spec = {"type": "SequentialLR", "lr": 0.1, "interval": "epoch", "steps_per_epoch": 5,
            "milestones": [3], "schedulers": [{"type": "LinearLR", "total_iters": 3},
                                              {"type": "CosineAnnealingLR", "T_max": 20}]}
    assert_matches(spec, 200)



def test_hugging_face_members_compose_as_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hugging Face type is a LambdaLR: in a composite it resets the LR (absolute)."""
    transformers = pytest.importorskip("transformers", reason="needs transformers")
    from . import _oracle

    def hf(opt: Any, kw: dict[str, Any], member: Any) -> Any:
        return transformers.get_scheduler(kw.pop("name"), opt, **kw)

    monkeypatch.setitem(_oracle.BUILDERS, "hf", hf)
    cosine = {"num_warmup_steps": 5, "num_training_steps": 100}
    step = {"type": "StepLR", "step_size": 7, "gamma": 0.5}
    warmup = {"type": "LinearLR", "total_iters": 10}
    cases = [
        lambda m: {"type": "SequentialLR", "lr": [0.1, 0.2], "milestones": [10],
                   "schedulers": [warmup, m]},
        lambda m: {"type": "ChainedScheduler", "lr": 0.1, "schedulers": [step, m, step]},
    ]
    for case in cases:
        run = run_torch(case({"type": "hf", "name": "cosine", **cosine}), 120)
        engine = parse(case({"type": "cosine", **cosine}))
        for k, expected in enumerate(run.lrs):
            assert engine.lrs(k) == pytest.approx(expected, rel=REL, abs=1e-15), k
