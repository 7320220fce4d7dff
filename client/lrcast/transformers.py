"""The Hugging Face adapter: `LRCastCallback`, a `transformers.TrainerCallback` that takes the
Trainer's schedule from an lrcast run. Imported only when asked for
(`import lrcast.transformers`); needs `lrcast[transformers]`.

    trainer = Trainer(model, args, ..., callbacks=[
        lrcast.transformers.LRCastCallback("http://lr-service:8000", "job-42")])

The run's spec is what the Trainer itself builds with `get_scheduler` from `TrainingArguments`
(`lr_scheduler_type`, `learning_rate` or the optimizer's groups, `get_warmup_steps`,
`max_steps` as the Trainer computed it, `lr_scheduler_kwargs`), so the training is the same as
without the callback, with every rank sharing one schedule. Before each optimizer step the
callback sets every group's LR to the run's for that step, and makes the Trainer's scheduler
report it (`get_last_lr()`, which the Trainer logs as `learning_rate`). For
`reduce_lr_on_plateau`, every rank reports `metric_for_best_model` at each evaluation of the
training loop, for the step about to be trained, as the Trainer steps `ReduceLROnPlateau`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import SchedulerType

from ._client import Client
from ._run import Run

__all__ = ["LRCastCallback", "schedule_from_args"]

#: types `get_scheduler` builds without `lr_scheduler_kwargs` (it drops them)
_NO_KWARGS = (SchedulerType.CONSTANT, SchedulerType.CONSTANT_WITH_WARMUP)


def schedule_from_args(args: TrainingArguments, num_training_steps: int,
                       groups: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The lrcast spec of the scheduler `Trainer.create_scheduler` builds: `get_scheduler(
    args.lr_scheduler_type, optimizer, args.get_warmup_steps(n), n, args.lr_scheduler_kwargs)`
    over an optimizer with these param groups."""
    name = SchedulerType(args.lr_scheduler_type)
    lrs = [float(g.get("initial_lr", g["lr"])) for g in groups]
    spec: dict[str, Any] = {
        "type": name.value,
        "lr": lrs[0] if len(set(lrs)) == 1 else lrs,
        "num_warmup_steps": args.get_warmup_steps(num_training_steps),
        "num_training_steps": num_training_steps,
    }
    if name not in _NO_KWARGS:
        spec.update(args.lr_scheduler_kwargs or {})
    return spec


class LRCastCallback(TrainerCallback):
    """Drive a `Trainer`'s LR from the lrcast run `run_id`, created from its
    `TrainingArguments` at `on_train_begin` (every rank does it: the PUT is idempotent).

    `url_or_client` is a base URL (or several, comma-separated or a list), a `lrcast.Client`,
    or None for `LRCAST_URL`. `run_options` go to `Client.run` (`aggregate`, `metadata`, ...);
    `rank` and `world_size` default to the Trainer's `process_index` and `world_size`.
    `resume_id` is passed to the rewind a resumed training does (see `Run.rewind`).
    """

    def __init__(self, url_or_client: str | Sequence[str] | Client | None, run_id: str, *,
                 resume_id: str | None = None, **run_options: Any) -> None:
        if "schedule" in run_options:
            raise TypeError("LRCastCallback takes the schedule from TrainingArguments "
                            "(lr_scheduler_type, learning_rate, warmup, lr_scheduler_kwargs); "
                            "do not pass schedule=")
        self._target = url_or_client
        self.run_id = run_id
        self.resume_id = resume_id
        self.run_options = run_options
        #: the run, once training began
        self.run: Run | None = None
        self._client: Client | None = None
        self._owns_client = False
        self._metric: str | None = None
        self._training = False

    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, optimizer: Any = None, **kwargs: Any) -> None:
        if optimizer is None:
            raise RuntimeError("LRCastCallback needs the Trainer's optimizer at on_train_begin")
        if isinstance(self._target, Client):
            self._client = self._target
        elif self._client is None:
            self._client, self._owns_client = Client(self._target), True
        options = {"rank": args.process_index, "world_size": args.world_size,
                   **self.run_options}
        # the LRs the scheduler started from: torch keeps them as `initial_lr` (set here for
        # ReduceLROnPlateau, which does not), and they survive a checkpoint's resume
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        spec = schedule_from_args(args, state.max_steps, optimizer.param_groups)
        self.run = self._client.run(self.run_id, schedule=spec, **options)
        if state.global_step > 0:  # resumed from a checkpoint: drop reports made after it
            self.run.rewind(state.global_step, resume_id=self.resume_id)
        self._metric = None
        if spec["type"] == SchedulerType.REDUCE_ON_PLATEAU.value:
            metric = args.metric_for_best_model  # "loss" by default for this type
            self._metric = metric if metric.startswith("eval_") else f"eval_{metric}"
        # `eval_on_start` evaluates before the first step without stepping the scheduler
        self._training = False
        self._apply(state.global_step, optimizer, kwargs.get("lr_scheduler"))

    def on_step_begin(self, args: TrainingArguments, state: TrainerState,
                      control: TrainerControl, optimizer: Any = None, **kwargs: Any) -> None:
        self._training = True
        self._apply(state.global_step, optimizer, kwargs.get("lr_scheduler"))

    def on_evaluate(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, metrics: dict[str, float] | None = None,
                    **kwargs: Any) -> None:
        # only the training loop's evaluations step the Trainer's ReduceLROnPlateau
        if self._metric is None or not self._training or self.run is None:
            return
        metrics = metrics or {}
        if self._metric not in metrics:
            raise KeyError(f"metric_for_best_model is {self._metric!r}, which the evaluation "
                           f"did not return; it returned {sorted(metrics)}")
        self.run.report(state.global_step, metrics[self._metric])

    def on_train_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        self._training = False
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client, self._owns_client = None, False

    def _apply(self, step: int, optimizer: Any, scheduler: Any) -> None:
        """The run's LRs of `step` into the optimizer, and into the scheduler's last LRs:
        the Trainer logs `get_last_lr()[0]`, which torch keeps as `_last_lr`."""
        assert self.run is not None
        lrs = self.run.lrs(step)
        groups = optimizer.param_groups
        if len(lrs) == 1:
            lrs = lrs * len(groups)
        for group, lr in zip(groups, lrs, strict=True):
            group["lr"] = lr
        if scheduler is not None and hasattr(scheduler, "_last_lr"):
            scheduler._last_lr = [g["lr"] for g in groups]
