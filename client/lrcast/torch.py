"""The PyTorch adapter: `RemoteScheduler`, a real `torch.optim.lr_scheduler.LRScheduler` whose
LRs come from an lrcast run. Imported only when asked for (`import lrcast.torch`).

    sched = lrcast.torch.RemoteScheduler(optimizer, run)
    for step, batch in enumerate(loader):
        ...; optimizer.step(); sched.step()
        if sched.last_epoch % 500 == 0:
            run.report(sched.last_epoch, val_loss)   # the step about to be trained

It works wherever PyTorch schedulers are accepted (a plain loop, Hugging Face
`Trainer(optimizers=(opt, sched))`, Lightning's `configure_optimizers`). `step()` evaluates the
rank's lease locally (no HTTP call per step). After a report whose plateau decision changed
the schedule, the scheduler re-applies the current step's LR, so a report at the step about to
be trained takes effect for that step, on every rank alike.
"""

from __future__ import annotations

import weakref
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from . import errors
from ._run import Run
from .schedules import StepOutOfRange as _EngineStepOutOfRange

__all__ = ["RemoteScheduler"]

_NOT_STATE = ("optimizer", "run", "resume_id", "_lease_seen", "_cycles")


class RemoteScheduler(LRScheduler):
    """Sets every param group's `lr` (and `momentum` or `betas[0]` where the schedule cycles
    momentum) to the run's value for the current step. `step()` takes no metric: reports go
    through `run.report`."""

    def __init__(self, optimizer: Optimizer, run: Run, last_epoch: int = -1, *,
                 resume_id: str | None = None) -> None:
        """`resume_id`, if given, names one resume of the job: every rank passes the same, so
        the service applies the rewind of `load_state_dict` once however late a rank calls it.
        """
        if not isinstance(run, Run):
            raise TypeError("RemoteScheduler needs a lrcast.Run (from lrcast.Client.run); "
                            f"got {type(run).__name__}")
        self.run = run
        self.run_id = run.run_id
        self.resume_id = resume_id
        self._lease_seen: object = None
        self._cycles = False
        super().__init__(optimizer, last_epoch)
        ref = weakref.ref(self)
        run.on_change(lambda: (s := ref()) is not None and s._apply(s.last_epoch))

    def get_lr(self) -> list[float]:
        """The LRs of the current step (`last_epoch`), as the run holds them."""
        return list(self._lrs(self.last_epoch))

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        """Advance one step and apply its LRs (no metric: use `run.report`)."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
        else:
            self.last_epoch = int(epoch)
        self._apply(self.last_epoch)

    def _lrs(self, step: int) -> tuple[float, ...]:
        run = self.run
        book = run._book
        lease = book.lease
        try:
            if lease is not None and lease.start <= step < book.fast_until:
                return lease.timeline.lrs(step)  # the hot path: no HTTP, no allocation
            return run._evaluate(run._lease_for(step), step, "l")
        except _EngineStepOutOfRange as exc:
            raise errors.StepOutOfRange(str(exc), code="step_out_of_range") from exc

    def _apply(self, step: int) -> None:
        lrs = self._lrs(step)
        groups = self.optimizer.param_groups
        if len(lrs) != len(groups):
            if len(lrs) != 1:
                raise ValueError(f"run {self.run_id!r} schedules {len(lrs)} parameter groups; "
                                 f"the optimizer has {len(groups)}")
            lrs = lrs * len(groups)
        for group, lr in zip(groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = list(lrs)
        lease = self.run._book.lease
        if lease is not self._lease_seen:
            self._lease_seen = lease
            self._cycles = lease is not None and any(
                s.schedule.cycles_momentum for s in lease.timeline.segments)
        if self._cycles:
            self._apply_momentum(step, groups)

    def _apply_momentum(self, step: int, groups: list[dict[str, Any]]) -> None:
        momentums = self.run._evaluate(self.run._lease_for(step), step, "m")
        if momentums is None:
            return
        if len(momentums) == 1 and len(groups) > 1:
            momentums = momentums * len(groups)
        for group, m in zip(groups, momentums, strict=True):
            if "betas" in group:
                group["betas"] = (m, *tuple(group["betas"])[1:])
            elif "momentum" in group:
                group["momentum"] = m
            else:
                raise ValueError("the schedule cycles momentum but the optimizer has neither "
                                 "'momentum' nor 'betas'")

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (the step and the run id), without the optimizer or run."""
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_STATE}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume at the saved step: rewind the run there (dropping plateau reports after it)
        and re-apply that step's LRs."""
        self.__dict__.update({k: v for k, v in state_dict.items() if k not in _NOT_STATE})
        self.run.rewind(self.last_epoch, resume_id=self.resume_id)
        self._apply(self.last_epoch)
