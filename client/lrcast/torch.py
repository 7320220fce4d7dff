"""The PyTorch adapter: `RemoteScheduler`, a real `torch.optim.lr_scheduler.LRScheduler` whose
LRs come from an lrcast run. Imported only when asked for (`import lrcast.torch`).

    sched = lrcast.torch.RemoteScheduler(optimizer, run)
    for epoch in range(epochs):           # a closed-form schedule: step() per batch
        for batch in loader:
            ...; optimizer.step(); sched.step()

On a metric-driven run (ReduceLROnPlateau, alone or inside SequentialLR/ChainedScheduler) the
scheduler *is* a `torch.optim.lr_scheduler.ReduceLROnPlateau` and takes the plateau idiom
unchanged: `sched.step(val_loss)` on every rank, per epoch or every N steps, whatever the loop
does. As in PyTorch, every `step()` or `step(metric)` call is one scheduler step
(`last_epoch` + 1); `step(metric)` also reports the rank's metric for the round at the step it
moves to and blocks until every rank has reported: the decision (on the ranks' aggregate)
applies from that step on. So the LRs are those of torch's `ReduceLROnPlateau` fed the
aggregate, call for call.

It works wherever PyTorch schedulers are accepted (a plain loop, Hugging Face
`Trainer(optimizers=(opt, sched))`, Lightning's `configure_optimizers`, including the
plateau config `{"scheduler": sched, "monitor": "val_loss", "interval": ..., "frequency": N}`:
Lightning passes the metric to schedulers that are `ReduceLROnPlateau`). `step()` evaluates the
rank's lease locally (no HTTP call per step). After a plateau decision that changed the
schedule, the scheduler re-applies the current step's LR.
"""

from __future__ import annotations

import weakref
from typing import Any, SupportsFloat

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from . import errors
from ._lease import Lease
from ._run import Run
from .schedules import StepOutOfRange as _EngineStepOutOfRange

__all__ = ["RemoteScheduler"]

_NOT_STATE = ("optimizer", "run", "resume_id", "_hot")


class RemoteScheduler(LRScheduler):
    """Sets every param group's `lr` (and `momentum` or `betas[0]` where the schedule cycles
    momentum) to the run's value for the current step (`last_epoch`).

    `RemoteScheduler(optimizer, run)` on a metric-driven run is an instance of a subclass
    that is also a torch `ReduceLROnPlateau` (see the module's docstring): `step(metric)`
    reports the metric. A number passed to `step()` on any other run is a `TypeError`, as is
    PyTorch's deprecated `epoch` argument: neither is ever taken as a step.
    """

    def __new__(cls, optimizer: Optimizer, run: Run, *args: Any, **kwargs: Any) -> Any:
        if cls is RemoteScheduler and isinstance(run, Run) and run.metric_driven:
            cls = _PlateauRemoteScheduler
        return super().__new__(cls)

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
        # not super(): on a plateau run the MRO's next class is ReduceLROnPlateau, whose
        # own state (best, patience...) lives on the service here
        LRScheduler.__init__(self, optimizer, last_epoch)
        ref = weakref.ref(self)
        run.on_change(lambda: (s := ref()) is not None and s._apply(s.last_epoch))

    def get_lr(self) -> list[float]:
        """The LRs of the current step (`last_epoch`), as the run holds them."""
        return list(self._hot_for(self.last_epoch).lrs(self.last_epoch))

    def step(self, metrics: SupportsFloat | None = None,  # type: ignore[override]
             epoch: None = None, *, samples: int | None = None,
             tokens: int | None = None) -> None:
        """Advance one step and apply its LRs; `metrics` (on a metric-driven run) is this
        rank's metric, reported for the round at the step advanced to. `samples`/`tokens`:
        what the step just trained consumed (the global batch), for a sample or token clock
        or batch scaling (`Run.record_consumption`); left out, the last amounts continue."""
        if epoch is not None:
            raise TypeError(
                "RemoteScheduler.step() takes no epoch (PyTorch deprecated the argument): "
                "every call is one step; to resume at a step, use load_state_dict")
        if samples is not None or tokens is not None:
            self.run.record_consumption(max(self.last_epoch, 0), samples=samples, tokens=tokens)
        if metrics is not None:
            self._report(self.last_epoch + 1, metrics)
        else:
            self.last_epoch += 1
        self._step_count += 1
        try:
            self._set_lrs(self.last_epoch)
        except errors.Rewind:  # not stepped: the loop reloads the checkpoint it names
            self.last_epoch -= 1
            self._step_count -= 1
            raise

    def _report(self, step: int, metrics: SupportsFloat) -> None:
        """Report `metrics` for the round at `step`, the step this call moves to (a failed
        report moves nothing: the call may be retried)."""
        if not self.run.metric_driven:
            raise TypeError(
                f"run {self.run_id!r} is not metric-driven: step() takes no metric (got "
                f"{metrics!r}), and a number passed to it is never taken as an epoch; a "
                "plateau schedule needs a ReduceLROnPlateau in the run's spec")
        value = float(metrics)
        self.last_epoch = step  # already, for a decision's re-apply (`on_change`)
        try:
            self.run.report(step, value)
        except BaseException:
            self.last_epoch = step - 1
            raise

    def _set_lrs(self, step: int) -> None:
        hot = self._hot
        run = self.run
        # the hot path: inside the lease that `hot` was prepared for, no HTTP, no lookups
        if hot is None or run.lease is not hot.lease or not hot.start <= step < run.local_until:
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
        # the LRs before `step` were used by optimizer steps; those of `step` are set, and a
        # decision may still re-apply them (`on_change`): the rank is at step - 1
        run.current_step = step - 1
        if hot.single:
            groups[0]["lr"] = lr = lrs[0]
            self._last_lr = [lr]
            return
        for group, lr in zip(groups, lrs * hot.broadcast, strict=True):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in groups]

    def _hot_for(self, step: int) -> _Hot:
        """The evaluation prepared for the lease that answers `step` (fetched if need be)."""
        lease = self.run.lease_for(step)
        if self._hot is None or self._hot.lease is not lease:
            self._hot = _Hot(lease, self.optimizer.param_groups, self.run_id)
        return self._hot

    def _apply(self, step: int) -> None:
        """Apply the LRs of `step` without counting a step (after a decision or a resume)."""
        self.last_epoch = step
        self._set_lrs(step)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state (the step and the run id), without the optimizer or run."""
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_STATE}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume at the saved step: rewind the run there (dropping plateau reports after it)
        and re-apply that step's LRs."""
        self.__dict__.update({k: v for k, v in state_dict.items() if k not in _NOT_STATE})
        self.run.rewind(self.last_epoch, resume_id=self.resume_id)
        self._apply(self.last_epoch)


class _PlateauRemoteScheduler(RemoteScheduler, ReduceLROnPlateau):
    """`RemoteScheduler` on a metric-driven run: also a `ReduceLROnPlateau`, so frameworks
    that pass the monitored metric only to those (Lightning, Hugging Face `Trainer`) do."""


class _Hot:
    """What `step()` needs for one lease, worked out once: the schedule to call (the segment
    itself when the timeline has one unscaled segment), how groups map, where momentum goes."""

    __slots__ = ("lease", "start", "broadcast", "single", "cycles", "lrs", "values")

    def __init__(self, lease: Lease, groups: list[dict[str, Any]], run_id: str) -> None:
        self.lease = lease
        self.start = lease.start
        timeline = lease.timeline
        segments = timeline.segments
        if len(segments) == 1 and segments[0].origin == 0 and segments[0].scale == 1.0 \
                and segments[0].clock is None:
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
