"""LRRangeTest and suggest_lr beside torch-lr-finder itself."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcast.schedules import SpecError, StepOutOfRange, parse, suggest_lr


def lr_finder() -> Any:
    """torch_lr_finder.lr_finder, or skip (the pure tests below run without it)."""
    pytest.importorskip("torch", reason="conformance needs torch")
    return pytest.importorskip("torch_lr_finder.lr_finder",
                               reason="conformance needs torch-lr-finder")


def optimizer(lrs: list[float]) -> Any:
    import torch

    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)],
                           lr=lrs[0])


@settings(max_examples=60, deadline=None)
@given(lrs=st.lists(st.floats(1e-7, 1.0), min_size=1, max_size=3),
       end_lr=st.floats(1e-3, 100.0), num_iter=st.integers(2, 1500),
       step_mode=st.sampled_from(["exp", "linear", "EXP"]), via_start_lr=st.booleans())
def test_matches_torch_lr_finder_schedulers(lrs: list[float], end_lr: float, num_iter: int,
                                            step_mode: str, via_start_lr: bool) -> None:
    finder = lr_finder()
    opt = optimizer(lrs)
    cls = finder.ExponentialLR if step_mode.lower() == "exp" else finder.LinearLR
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = cls(opt, end_lr, num_iter)
        expected = []
        for k in range(num_iter):
            if k:
                sched.step()
            expected.append(tuple(g["lr"] for g in opt.param_groups))
    spec: dict[str, Any] = {"type": "LRRangeTest", "end_lr": end_lr, "num_iter": num_iter,
                            "step_mode": step_mode}
    if via_start_lr:  # range_test(start_lr=...) sets the groups' LRs first
        spec.update(lr=[1.0] * len(lrs), start_lr=lrs)
    else:
        spec["lr"] = lrs
    schedule = parse(spec)
    for k, want in enumerate(expected):
        for a, b in zip(schedule.lrs(k), want, strict=True):
            assert math.isclose(a, b, rel_tol=1e-9), (k, a, b)
    with pytest.raises(StepOutOfRange):
        schedule.lrs(num_iter)


def test_defaults_are_torch_lr_finders() -> None:
    schedule = parse({"type": "LRRangeTest", "lr": 1e-5})
    assert schedule.lrs(0) == (1e-5,)
    assert schedule.lrs(99) == pytest.approx((10.0,), rel=1e-12)
    with pytest.raises(StepOutOfRange, match="steps 0 to 99"):
        schedule.lrs(100)


def test_start_lr_alone_defines_the_groups() -> None:
    schedule = parse({"type": "LRRangeTest", "start_lr": [1e-4, 1e-3], "end_lr": 1.0,
                      "num_iter": 3, "step_mode": "linear"})
    assert schedule.num_groups == 2
    assert schedule.lrs(2) == (1.0, 1.0)


@pytest.mark.parametrize(("spec", "path"), [
    ({"num_iter": 1}, "num_iter"), ({"step_mode": "cos"}, "step_mode"),
    ({"end_lr": 0}, "end_lr"), ({"start_lr": 0}, "start_lr"), ({"start_lr": [1e-3]}, "start_lr"),
    ({"end_lr": "1"}, "end_lr"), ({"gamma": 2}, "gamma"),
])
def test_bad_specs_name_the_field(spec: dict[str, Any], path: str) -> None:
    with pytest.raises(SpecError) as err:
        parse({"type": "LRRangeTest", "lr": [1e-3, 1e-2], **spec})
    assert err.value.path == path


def run_lr_finder(losses: list[float], smooth_f: float, diverge_th: float, skip_start: int,
                  skip_end: int) -> tuple[Any, float | None]:
    """torch-lr-finder's range_test + plot(suggest_lr=True) on scripted losses."""
    module = lr_finder()
    import matplotlib
    import torch

    class Scripted(torch.nn.Module):
        """A criterion that returns the given losses, one per training batch."""

        def forward(self, outputs: Any, labels: Any) -> Any:
            return outputs.sum() * 0.0 + scripted.pop(0)

    scripted = list(losses)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = torch.nn.Linear(1, 1).double()  # float64 losses: nothing rounded on the way
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    data = torch.utils.data.TensorDataset(torch.zeros(4, 1, dtype=torch.float64),
                                          torch.zeros(4, 1, dtype=torch.float64))
    loader = torch.utils.data.DataLoader(data, batch_size=1)
    finder = module.LRFinder(model, opt, Scripted(), device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finder.range_test(loader, end_lr=10, num_iter=len(losses), smooth_f=smooth_f,
                          diverge_th=diverge_th)
        fig, ax = plt.subplots()
        try:
            result = finder.plot(skip_start=skip_start, skip_end=skip_end, ax=ax)
        except RuntimeError:  # 0.2.2: "Need at least N iterations"; later: no suggestion
            result = None
        finally:
            plt.close(fig)
    suggestion = result[1] if isinstance(result, tuple) else None
    return finder.history, suggestion


@settings(max_examples=60, deadline=None)
@given(losses=st.lists(st.one_of(st.floats(0.01, 10.0), st.sampled_from([1.0, 2.0, 50.0])),
                       min_size=2, max_size=80),
       smooth_f=st.sampled_from([0.05, 0.0, 0.3]), diverge_th=st.sampled_from([5, 2, 1.5]),
       skip_start=st.integers(0, 12), skip_end=st.integers(0, 6))
def test_suggestion_matches_torch_lr_finder(losses: list[float], smooth_f: float,
                                            diverge_th: float, skip_start: int,
                                            skip_end: int) -> None:
    history, suggestion = run_lr_finder(losses, smooth_f, diverge_th, skip_start, skip_end)
    lrs = [1e-4 * (10 / 1e-4) ** (k / (len(losses) - 1)) for k in range(len(losses))]
    got = suggest_lr(lrs, losses, smooth_f=smooth_f, diverge_th=diverge_th,
                     skip_start=skip_start, skip_end=skip_end)
    assert len(got.lrs) == len(history["lr"])
    assert got.lrs == pytest.approx(history["lr"], rel=1e-9)
    assert got.losses == pytest.approx(history["loss"], rel=1e-9)
    assert got.diverged == (len(history["loss"]) < len(losses)
                            or history["loss"][-1] > diverge_th * got.best_loss)
    if suggestion is None:
        assert got.lr is None
    else:
        assert got.lr == pytest.approx(suggestion, rel=1e-9)
        assert got.lr == lrs[got.index]


def test_suggestion_is_the_steepest_descent() -> None:
    # a loss that falls fastest around index 30 and then blows up
    losses = [3.0 - 2.0 * math.tanh((k - 30) / 5) for k in range(60)] + [1e3] * 5
    lrs = [1e-5 * 1.2**k for k in range(len(losses))]
    got = suggest_lr(lrs, losses)
    assert got.diverged
    assert 30 <= got.index <= 40
    assert got.lr == lrs[got.index]


def test_suggestion_needs_two_points() -> None:
    assert suggest_lr([1e-3] * 12, [1.0] * 12).lr is None
    with pytest.raises(ValueError, match="lrs but"):
        suggest_lr([1e-3], [1.0, 2.0])
