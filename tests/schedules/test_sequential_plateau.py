"""ReduceLROnPlateau as the last member of a SequentialLR ("warmup, then plateau").

PyTorch refuses this combination, so the reference is what a user would write by hand:
the warmup scheduler until the milestone, then a fresh ReduceLROnPlateau on an optimizer
holding the initial LRs, stepped with each report just before the LR of that step is read.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest

from lrcast.schedules import parse
from lrcast.schedules._plateau import fold_reports

torch = pytest.importorskip("torch", reason="the reference is PyTorch's ReduceLROnPlateau")
from ._oracle import make_optimizer, run_torch  # noqa: E402

PLATEAU = {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 2, "min_lr": 1e-4}


def reference(warmup: dict[str, Any], lrs: list[float], start: int,
              reports: dict[int, float], steps: int, every: int = 1) -> list[tuple[float, ...]]:
    """The warmup's LRs before `start`, then the plateau's after each report."""
    head = run_torch({**warmup, "lr": lrs}, start // every)
    values = [head.lrs[k // every] for k in range(start)]
    opt = make_optimizer(lrs)
    kwargs = {k: v for k, v in PLATEAU.items() if k != "type"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        for k in range(start, steps):
            if k in reports:
                plateau.step(reports[k])
            values.append(tuple(g["lr"] for g in opt.param_groups))
    return values


@pytest.mark.parametrize("every", [1, 4])
def test_warmup_then_plateau_matches_hand_written_pytorch(every: int) -> None:
    rng = random.Random(7)
    lrs = [0.1, 0.04]
    warmup = {"type": "LinearLR", "start_factor": 0.1, "total_iters": 5}
    spec: dict[str, Any] = {"type": "SequentialLR", "lr": lrs, "milestones": [8],
                            "schedulers": [warmup, PLATEAU]}
    if every > 1:
        spec |= {"interval": "epoch", "steps_per_epoch": every}
    start = 8 * every
    sched = parse(spec)
    assert sched.plateau is not None and sched.plateau_start == start
    # reports only from the plateau's start: a flat, noisy metric triggers reductions
    reports = {k: 1.0 + rng.random() * 0.01 for k in range(start, 200, 3)}
    _, history = fold_reports(sched.plateau, tuple(lrs), sorted(reports.items()))
    assert len(history) >= 2
    expected = reference(warmup, lrs, start, reports, 200, every)
    for k, lr in enumerate(expected):
        assert sched.lrs(k, history) == pytest.approx(lr, rel=1e-12), k
