"""PyTorch as the oracle, for the tests that compare a plateau run's LRs with it."""

from __future__ import annotations

__all__ = ["plateau_lrs"]


def plateau_lrs(values: list[float], *, lr: float = 0.1, factor: float = 0.5,
                patience: int = 0) -> list[float]:
    """PyTorch's LR after each value fed to its own `ReduceLROnPlateau` (one SGD group)."""
    import torch  # here: tests/support is imported by suites and benchmarks without torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=factor, patience=patience)
    out = []
    for value in values:
        sched.step(value)
        out.append(opt.param_groups[0]["lr"])
    return out
