"""PyTorch as the oracle, for the tests that compare a plateau run's LRs with it."""

from __future__ import annotations

from typing import Any

__all__ = ["linear_warmup_lrs", "plateau_lrs", "plateau_scheduler"]


def plateau_scheduler(lr: float, **kwargs: Any) -> tuple[Any, Any]:
    """A one-group SGD optimizer at `lr` and PyTorch's own `ReduceLROnPlateau` on it
    (`kwargs`: its arguments)."""
    import torch  # here: tests/support is imported by suites and benchmarks without torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    return opt, torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)


def plateau_lrs(values: list[float], *, lr: float = 0.1, factor: float = 0.5,
                patience: int = 0) -> list[float]:
    """PyTorch's LR after each value fed to its own `ReduceLROnPlateau` (one SGD group)."""
    opt, sched = plateau_scheduler(lr, factor=factor, patience=patience)
    out = []
    for value in values:
        sched.step(value)
        out.append(opt.param_groups[0]["lr"])
    return out


def linear_warmup_lrs(lr: float, steps: int, start_factor: float = 0.1) -> list[float]:
    """PyTorch's `LinearLR` from `start_factor` to 1 over `steps`: the LRs of steps
    0..steps-1 (one SGD group at `lr`)."""
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start_factor, end_factor=1.0,
                                             total_iters=steps)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        warm.step()
    return out
