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
from ._lease import Lease
from ._run import Run
from .schedules import StepOutOfRange as _EngineStepOutOfRange

__all__ = ["RemoteScheduler"]

_NOT_STATE = ("optimizer", "run", "resume_id", "_hot")


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
        self._hot: _Hot | None = None
        super().__init__(optimizer, last_epoch)
        ref = weakref.ref(self)
        run.on_change(lambda: (s := ref()) is not None and s._apply(s.last_epoch))

    def get_lr(self) -> list[float]:
        """The LRs of the current step (`last_epoch`), as the run holds them."""
        return list(self._hot_for(self.last_epoch).lrs(self.last_epoch))

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        """Advance one step and apply its LRs (no metric: use `run.report`)."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
        else:
            self.last_epoch = int(epoch)
        step = self.last_epoch
        hot = self._hot
        book = self.run._book
        # the hot path: inside the lease that `hot` was prepared for, no HTTP, no lookups
        if hot is None or book.lease is not hot.lease or not hot.start <= step < book.fast_until:
            hot = self._hot_for(step)
        # not cached: Optimizer.load_state_dict (e.g. by accelerate) replaces the groups
        groups = self.optimizer.param_groups
        try:
            if hot.cycles:
                lrs, momentums = hot.values(step)
                hot.set_momentums(groups, momentums)
            else:
                lrs = hot.lrs(step)
        except _EngineStepOutOfRange as exc:
            raise errors.StepOutOfRange(str(exc), code="step_out_of_range") from exc
        if hot.single:
            groups[0]["lr"] = lr = lrs[0]
            self._last_lr = [lr]
            return
        for group, lr in zip(groups, lrs * hot.broadcast, strict=True):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in groups]

    def _hot_for(self, step: int) -> _Hot:
        """The evaluation prepared for the lease that answers `step` (fetched if need be)."""
        lease = self.run._lease_for(step)
        if self._hot is None or self._hot.lease is not lease:
            self._hot = _Hot(lease, self.optimizer.param_groups, self.run_id)
        return self._hot

    def _apply(self, step: int) -> None:
        """Apply the LRs of `step` without advancing (after a decision or a resume)."""
        self._step_count -= 1
        self.last_epoch = step - 1
        self.step()

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (the step and the run id), without the optimizer or run."""
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_STATE}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume at the saved step: rewind the run there (dropping plateau reports after it)
        and re-apply that step's LRs."""
        self.__dict__.update({k: v for k, v in state_dict.items() if k not in _NOT_STATE})
        self.run.rewind(self.last_epoch, resume_id=self.resume_id)
        self._apply(self.last_epoch)


class _Hot:
    """What `step()` needs for one lease, worked out once: the schedule to call (the segment
    itself when the timeline has one unscaled segment), how groups map, where momentum goes."""

    __slots__ = ("lease", "start", "broadcast", "single", "cycles", "lrs", "values")

    def __init__(self, lease: Lease, groups: list[dict[str, Any]], run_id: str) -> None:
        self.lease = lease
        self.start = lease.start
        timeline = lease.timeline
        segments = timeline.segments
        if len(segments) == 1 and segments[0].origin == 0 and segments[0].scale == 1.0:
            schedule, history = segments[0].schedule, segments[0].history
            self.lrs = lambda step: schedule.lrs(step, history)
            self.values = lambda step: schedule.values(step, history)
        else:
            self.lrs = timeline.lrs
            self.values = timeline.values
        num = timeline.num_groups
        if num != len(groups) and num != 1:
            raise ValueError(f"run {run_id!r} schedules {num} parameter groups; the "
                             f"optimizer has {len(groups)}")
        self.broadcast = len(groups) if num == 1 else 1
        self.single = len(groups) == 1
        self.cycles = any(s.schedule.cycles_momentum for s in segments)

    @staticmethod
    def set_momentums(groups: list[dict[str, Any]], momentums: tuple[float, ...] | None) -> None:
        """Momentum into `momentum`, or `betas[0]` for Adam-style optimizers."""
        if momentums is None:
            return
        if len(momentums) == 1:
            momentums = momentums * len(groups)
        for group, m in zip(groups, momentums, strict=True):
            if "betas" in group:
                group["betas"] = (m, *tuple(group["betas"])[1:])
            elif "momentum" in group:
                group["momentum"] = m
            else:
                raise ValueError("the schedule cycles momentum but the optimizer has neither "
                                 "'momentum' nor 'betas'")
