"""Cost of one LR evaluation in the engine beside one ``scheduler.step()`` of PyTorch.

For every registered schedule type (metric-driven ones aside) the engine's
``schedule.lrs(k)`` over STEPS steps is timed against PyTorch's (or transformers',
or torch-lr-finder's) scheduler stepped STEPS times on the same spec, best of
REPEATS. Prints both per-call costs and the ratio engine / PyTorch (goal: <= 0.5),
then the cost of a plateau lookup with 10 and with 10,000 decisions (O(log n)).

Run: ``.venv/bin/python bench/bench_engine.py`` (needs torch; about 20 s).
"""

from __future__ import annotations

import random
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

from lrcast.schedules import PlateauHistory, SpecError, parse, schedule_types

STEPS = 2000
REPEATS = 5
LRS = [0.1, 0.05]
W, T = 200, STEPS

# spec (without lr) -> the same scheduler built on an optimizer, for every known type
Factory = Callable[[torch.optim.Optimizer], Any]
lr_sched = torch.optim.lr_scheduler


def _hf(name: str, **kw: Any) -> tuple[dict[str, Any], Factory]:
    from transformers import get_scheduler

    spec = {"type": name, "num_warmup_steps": W, "num_training_steps": T, **kw}
    return spec, lambda opt: get_scheduler(name, opt, num_warmup_steps=W, num_training_steps=T,
                                           scheduler_specific_kwargs=kw)


def _torch(name: str, **kw: Any) -> tuple[dict[str, Any], Factory]:
    return {"type": name, **kw}, lambda opt: getattr(lr_sched, name)(opt, **kw)


def _range_test() -> tuple[dict[str, Any], Factory]:
    spec = {"type": "LRRangeTest", "end_lr": 10.0, "num_iter": STEPS + 1}
    try:
        from torch_lr_finder.lr_finder import ExponentialLR
    except ImportError:  # the same formula as a LambdaLR
        return spec, lambda opt: lr_sched.LambdaLR(
            opt, [lambda k, b=b: (10.0 / b) ** (k / STEPS) for b in LRS])
    return spec, lambda opt: ExponentialLR(opt, 10.0, STEPS + 1)


def _piecewise() -> tuple[dict[str, Any], Factory]:
    points = [[0, 0.0], [200, 0.1], [1000, 0.05], [1800, 0.001]]

    def factor(k: int) -> float:  # what a user would write as a LambdaLR
        for (s0, v0), (s1, v1) in zip(points, points[1:], strict=False):
            if k < s1:
                return (v0 + (v1 - v0) * (k - s0) / (s1 - s0)) / LRS[0]
        return points[-1][1] / LRS[0]

    return ({"type": "PiecewiseLinear", "points": points},
            lambda opt: lr_sched.LambdaLR(opt, factor))


def _sequential() -> tuple[dict[str, Any], Factory]:
    spec = {"type": "SequentialLR", "milestones": [W],
            "schedulers": [{"type": "LinearLR", "start_factor": 0.1, "total_iters": W},
                           {"type": "CosineAnnealingLR", "T_max": T - W}]}
    return spec, lambda opt: lr_sched.SequentialLR(
        opt, [lr_sched.LinearLR(opt, start_factor=0.1, total_iters=W),
              lr_sched.CosineAnnealingLR(opt, T_max=T - W)], milestones=[W])


def _chained() -> tuple[dict[str, Any], Factory]:
    spec = {"type": "ChainedScheduler",
            "schedulers": [{"type": "ConstantLR", "factor": 0.5, "total_iters": W},
                           {"type": "ExponentialLR", "gamma": 0.999}]}
    return spec, lambda opt: lr_sched.ChainedScheduler(
        [lr_sched.ConstantLR(opt, factor=0.5, total_iters=W),
         lr_sched.ExponentialLR(opt, gamma=0.999)])


CASES: dict[str, Callable[[], tuple[dict[str, Any], Factory]]] = {
    "ConstantLR": lambda: _torch("ConstantLR", factor=0.5, total_iters=1000),
    "LinearLR": lambda: _torch("LinearLR", start_factor=0.1, total_iters=1000),
    "StepLR": lambda: _torch("StepLR", step_size=100, gamma=0.5),
    "MultiStepLR": lambda: _torch("MultiStepLR", milestones=[300, 600, 900], gamma=0.1),
    "ExponentialLR": lambda: _torch("ExponentialLR", gamma=0.999),
    "PolynomialLR": lambda: _torch("PolynomialLR", total_iters=1500, power=2.0),
    "CosineAnnealingLR": lambda: _torch("CosineAnnealingLR", T_max=1000, eta_min=0.001),
    "CosineAnnealingWarmRestarts": lambda: _torch("CosineAnnealingWarmRestarts", T_0=100,
                                                  T_mult=2, eta_min=0.001),
    "CyclicLR": lambda: _torch("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=200),
    "OneCycleLR": lambda: _torch("OneCycleLR", max_lr=0.1, total_steps=STEPS + 10),
    "SequentialLR": _sequential,
    "ChainedScheduler": _chained,
    "constant": lambda: _hf("constant"),
    "constant_with_warmup": lambda: _hf("constant_with_warmup"),
    "linear": lambda: _hf("linear"),
    "cosine": lambda: _hf("cosine"),
    "cosine_with_restarts": lambda: _hf("cosine_with_restarts", num_cycles=3),
    "polynomial": lambda: _hf("polynomial", lr_end=1e-4, power=2.0),
    "inverse_sqrt": lambda: _hf("inverse_sqrt"),
    "cosine_with_min_lr": lambda: _hf("cosine_with_min_lr", min_lr_rate=0.1),
    "cosine_warmup_with_min_lr": lambda: _hf("cosine_warmup_with_min_lr", min_lr=0.001),
    "warmup_stable_decay": lambda: _hf("warmup_stable_decay", num_decay_steps=500),
    "LRRangeTest": _range_test,
    "PiecewiseLinear": _piecewise,
}


def optimizer() -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in LRS]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, LRS, strict=True)],
                           lr=LRS[0], momentum=0.9)


def per_call_engine(schedule: Any) -> float:
    lrs = schedule.lrs
    steps = range(STEPS)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for k in steps:
            lrs(k)
        best = min(best, time.perf_counter() - start)
    return best / STEPS


def per_call_torch(factory: Factory) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        sched = factory(optimizer())
        step = sched.step
        start = time.perf_counter()
        for _ in range(STEPS - 1):
            step()
        best = min(best, time.perf_counter() - start)
    return best / (STEPS - 1)


def bench_types() -> list[float]:
    ratios = []
    print(f"{'type':<28} {'engine us':>10} {'pytorch us':>11} {'ratio':>7}")
    for name in schedule_types():
        make = CASES.get(name)
        if make is None:
            print(f"{name:<28} skipped (metric-driven or no benchmark case)")
            continue
        spec, factory = make()
        try:
            schedule = parse({"lr": LRS, **spec})
        except SpecError as exc:
            print(f"{name:<28} skipped ({exc})")
            continue
        if schedule.metric_driven:
            continue
        engine, pytorch = per_call_engine(schedule), per_call_torch(factory)
        ratios.append(engine / pytorch)
        print(f"{name:<28} {engine * 1e6:>10.3f} {pytorch * 1e6:>11.3f} {engine / pytorch:>7.3f}")
    missing = sorted(set(CASES) - set(schedule_types()))
    if missing:
        print("not registered yet:", ", ".join(missing))
    return ratios


def bench_plateau() -> None:
    schedule = parse({"type": "ReduceLROnPlateau", "lr": LRS})
    rng = random.Random(0)
    for n in (10, 10_000):
        history = PlateauHistory([(i * 7, (0.1 * 0.99**i, 0.05 * 0.99**i)) for i in range(n)])
        steps = [rng.randrange(n * 7 + 100) for _ in range(STEPS)]
        best = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            for k in steps:
                schedule.lrs(k, history)
            best = min(best, time.perf_counter() - start)
        print(f"plateau lookup, {n:>6} decisions: {best / STEPS * 1e6:.3f} us")


def main() -> int:
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    start = time.perf_counter()
    ratios = bench_types()
    bench_plateau()
    worst = max(ratios) if ratios else float("nan")
    print(f"summary: {len(ratios)} types, max ratio engine/pytorch {worst:.3f} "
          f"(goal <= 0.5: {'met' if worst <= 0.5 else 'NOT met'}), "
          f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
