"""PyTorch as the oracle, for the tests that compare a run's LRs with its own schedulers'."""

from __future__ import annotations

from typing import Any

__all__ = ["plateau_lrs", "plateau_scheduler", "scheduler_lrs"]


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


def scheduler_lrs(name: str, steps: int, lr: float = 0.1, **kwargs: Any) -> list[float]:
    """The LRs PyTorch's own scheduler `name` (in ``torch.optim.lr_scheduler``, with
    `kwargs`) gives steps 0..steps-1, on one SGD group at `lr`."""
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = getattr(torch.optim.lr_scheduler, name)(opt, **kwargs)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out
