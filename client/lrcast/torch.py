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

#: steps whose LRs `step()` works out at once, up to the lease's renewal point (`_Window`)
CHUNK = 256
#: past the renewal point (a renewal in flight) a window is this short, so a renewal that came
#: back is installed within this many steps
RECHECK = 16

#: the window of steps the hot path answers from (never saved: a lease's, not the job's)
_WINDOW = ("_window_start", "_window_end", "_window_lrs", "_window_momentums", "_window_single",
           "_window_kind")
#: `_window_kind`, how `step()` sets a window's values: one group without momentum, one group
#: with SGD's `momentum` at every step; several groups without momentum, with SGD's at every
#: step; anything else (momentum into `betas`, or not at every step)
_PLAIN, _SGD, _GROUPS, _SGD_GROUPS, _ANY = range(5)
_NOT_STATE = ("optimizer", "run", "resume_id", "_hot", *_WINDOW)


class RemoteScheduler(LRScheduler):
    """Sets every param group's `lr` (and `momentum` or `betas[0]` where the schedule cycles
    momentum) to the run's value for the current step (`last_epoch`).

    `RemoteScheduler(optimizer, run)` on a metric-driven run is an instance of a subclass
    that is also a torch `ReduceLROnPlateau` (see the module's docstring): `step(metric)`
    reports the metric. A number passed to `step()` on any other run is a `TypeError`, as is
    PyTorch's deprecated `epoch` argument: neither is ever taken as a step.

    The hot path: `step()` answers from a window, the LRs of up to `CHUNK` steps of the
    current lease worked out at once (and before its renewal point, so renewals still start
    on time); the window is dropped whenever the run's lease or its local range changes.
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
        self._window_start = self._window_end = 0  # empty: the first step works it out
        self._window_lrs: list[Any] = []
        self._window_momentums: list[tuple[float, ...] | None] | None = None
        self._window_single, self._window_kind = True, _PLAIN
        ref = weakref.ref(self)
        run.on_lease_change(lambda: (s := ref()) is not None and s._drop_window())
        # not super(): on a plateau run the MRO's next class is ReduceLROnPlateau, whose
        # own state (best, patience...) lives on the service here
        LRScheduler.__init__(self, optimizer, last_epoch)
        run.on_change(lambda: (s := ref()) is not None and s._apply(s.last_epoch))

    def get_lr(self) -> list[float]:
        """The LRs of the current step (`last_epoch`), as the run holds them."""
        return list(self._hot_for(self.last_epoch).lease.timeline.lrs(self.last_epoch))

    def step(self, metrics: SupportsFloat | None = None,  # type: ignore[override]
             epoch: None = None, *, samples: int | None = None,
             tokens: int | None = None) -> None:
        """Advance one step and apply its LRs; `metrics` (on a metric-driven run) is this
        rank's metric, reported for the round at the step advanced to. `samples`/`tokens`:
        what the step just trained consumed (the global batch), for a sample or token clock
        or batch scaling (`Run.record_consumption`); left out, the last amounts continue."""
        if epoch is None:
            if samples is not None or tokens is not None:  # a change drops the window
                self.run.record_consumption(max(self.last_epoch, 0), samples=samples,
                                            tokens=tokens)
            step = self.last_epoch + 1
            if metrics is None and self._window_start <= step < self._window_end:
                # the hot path: no lookups
                self.last_epoch = step
                self._step_count += 1
                self.run.current_step = step - 1  # as `_set_lrs`
                index = step - self._window_start
                kind = self._window_kind
                if kind > _SGD:
                    self._put(index)
                    return
                # one group: `_put`, inlined
                group = self.optimizer.param_groups[0]
                if kind == _SGD:
                    group["momentum"] = self._window_momentums[index]
                group["lr"] = lr = self._window_lrs[index]
                self._last_lr = [lr]
                return
        self._step_slow(metrics, epoch)

    def _step_slow(self, metrics: SupportsFloat | None, epoch: None) -> None:
        """`step` outside the window: a metric to report, or a window to work out first."""
        if epoch is not None:
            raise TypeError(
                "RemoteScheduler.step() takes no epoch (PyTorch deprecated the argument): "
                "every call is one step; to resume at a step, use load_state_dict")
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
        """Apply the LRs of `step` and work out the window from it: the steps the lease
        answers without a second look (the lease renewed or fetched first if due)."""
        self._window_end = -1  # nothing answers from the old window any more
        hot = self._hot_for(step)
        lease = hot.lease
        until = self.run.local_until
        # up to the renewal point; past it (a renewal in flight) RECHECK steps at a time
        end = min(until, step + CHUNK) if step < until else min(lease.horizon, step + RECHECK)
        try:
            lrs, momentums = hot.window(step, end)
        except _EngineStepOutOfRange as exc:
            raise errors.StepOutOfRange(str(exc), code="step_out_of_range") from exc
        # the LRs before `step` were used by optimizer steps; those of `step` are set, and a
        # decision may still re-apply them (`on_change`): the rank is at step - 1
        self.run.current_step = step - 1
        self._window_start, self._window_lrs = step, lrs
        self._window_momentums, self._window_single = momentums, hot.single
        self._window_kind = _window_kind(self.optimizer.param_groups, momentums)
        self._put(0)
        if lease is self.run.lease:  # still the run's lease: the window answers from now on
            self._window_end = step + len(lrs)

    def _put(self, index: int) -> None:
        """Set the LRs (and momenta, if cycled) of the window's step `index`."""
        groups = self.optimizer.param_groups  # not cached: Optimizer.load_state_dict replaces them
        lrs = self._window_lrs[index]
        momentums = self._window_momentums
        kind = self._window_kind
        if kind == _GROUPS:
            for group, lr in zip(groups, lrs, strict=True):
                group["lr"] = lr
            self._last_lr = list(lrs)
            return
        if kind == _SGD_GROUPS:
            for group, lr, m in zip(groups, lrs, momentums[index], strict=True):  # type: ignore[index]
                group["momentum"] = m
                group["lr"] = lr
            self._last_lr = list(lrs)
            return
        if momentums is not None and momentums[index] is not None:
            for group, m in zip(groups, self._per_group(momentums[index]), strict=True):
                _set_momentum(group, m)
        for group, lr in zip(groups, self._per_group(lrs), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def _per_group(self, values: Any) -> tuple[Any, ...]:
        return (values,) if self._window_single else values

    def _drop_window(self) -> None:
        """The run's lease or its local range changed: the next step works the window out."""
        self._window_end = -1

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
    """What `step()` needs for one lease, worked out once: the function to evaluate (the
    segment's schedule itself when the timeline has one unscaled segment), how groups map,
    whether momentum is cycled."""

    __slots__ = ("lease", "groups", "single", "cycles", "evaluate", "history")

    def __init__(self, lease: Lease, groups: list[dict[str, Any]], run_id: str) -> None:
        self.lease = lease
        timeline = lease.timeline
        segments = timeline.segments
        self.cycles = any(s.schedule.cycles_momentum for s in segments)
        #: `evaluate(step, history)` if `history` is not `_NONE`, else `evaluate(step)`
        self.history: Any = _NONE
        if len(segments) == 1 and segments[0].origin == 0 and segments[0].scale == 1.0 \
                and segments[0].clock is None:
            schedule, self.history = segments[0].schedule, segments[0].history
            self.evaluate: Any = schedule.values if self.cycles else schedule.lrs
        else:
            self.evaluate = timeline.values if self.cycles else timeline.lrs
        num = timeline.num_groups
        if num != len(groups) and num != 1:
            raise ValueError(f"run {run_id!r} schedules {num} parameter groups; the "
                             f"optimizer has {len(groups)}")
        self.groups = len(groups)
        self.single = len(groups) == 1

    def window(self, start: int, end: int) -> tuple[list[Any], list[Any] | None]:
        """The LRs of the steps [start, end), or of as many of them as the schedule has (at
        least `start`'s, else `StepOutOfRange`): per step a float with one group, else a
        tuple of one per group. And, if the schedule cycles momentum anywhere, the momenta
        per step likewise (None at a step where it does not), else None."""
        try:
            rows = self._rows(range(start, end))
        except _EngineStepOutOfRange:
            rows = []
            for step in range(start, end):
                try:
                    rows.extend(self._rows(range(step, step + 1)))
                except _EngineStepOutOfRange:
                    if not rows:
                        raise
                    break
        if not self.cycles:
            return self._spread(rows), None
        return self._spread([lrs for lrs, _ in rows]), self._spread([m for _, m in rows])

    def _rows(self, steps: range) -> list[Any]:
        evaluate, history = self.evaluate, self.history
        if history is _NONE:
            return [evaluate(step) for step in steps]
        return [evaluate(step, history) for step in steps]

    def _spread(self, rows: list[tuple[float, ...] | None]) -> list[Any]:
        """Per step values (a tuple, one per group or one for all; or None) as `_put` sets
        them: a float with one group, else a tuple of one per group."""
        if self.single:
            return [None if values is None else values[0] for values in rows]
        n = self.groups
        return [values * n if values is not None and len(values) == 1 else values
                for values in rows]


def _window_kind(groups: list[dict[str, Any]], momentums: list[Any] | None) -> int:
    """`_PLAIN`, `_SGD`, `_GROUPS`, `_SGD_GROUPS` or `_ANY` (see `_PLAIN`)."""
    single = len(groups) == 1
    if momentums is None:
        return _PLAIN if single else _GROUPS
    if None in momentums or not all("momentum" in g and "betas" not in g for g in groups):
        return _ANY
    return _SGD if single else _SGD_GROUPS


#: "no argument" (a timeline's own functions take the step alone)
_NONE = object()


def _set_momentum(group: dict[str, Any], momentum: float | None) -> None:
    """Momentum into `momentum`, or `betas[0]` for Adam-style optimizers."""
    if momentum is None:
        return
    if "betas" in group:
        group["betas"] = (momentum, *tuple(group["betas"])[1:])
    elif "momentum" in group:
        group["momentum"] = momentum
    else:
        raise ValueError("the schedule cycles momentum but the optimizer has neither "
                         "'momentum' nor 'betas'")
