"""The Keras 3 adapter (any backend): `LRCastCallback`, a `keras.callbacks.Callback` that sets
the optimizer's learning rate from an lrcast run. Imported only when asked for
(`import lrcast.keras`); needs `lrcast[keras]`.

    model.fit(x, y, validation_data=..., callbacks=[lrcast.keras.LRCastCallback(run)])

Before each batch the optimizer's `learning_rate` is set to the run's LR for the global batch
index (`optimizer.iterations`: the updates applied so far, across epochs and `fit` calls),
evaluated on the rank's lease. For a metric-driven run (`ReduceLROnPlateau`), every rank
reports `monitor` at each epoch end, for the step about to be trained, as Keras'
`ReduceLROnPlateau` callback changes the LR for the next epoch. The optimizer needs a float
`learning_rate` (a `LearningRateSchedule` cannot be set); with `steps_per_execution=N` Keras
calls batch hooks once per N batches, so the LR changes once per N batches.
"""

from __future__ import annotations

from typing import Any

import keras

from ._run import Run

__all__ = ["LRCastCallback"]


class LRCastCallback(keras.callbacks.Callback):
    """The run's LR (parameter group 0) into `model.optimizer` before every batch; reports
    `monitor` (from the epoch's logs, e.g. `"val_loss"`) at epoch end on metric-driven runs."""

    def __init__(self, run: Run, monitor: str = "val_loss") -> None:
        if not isinstance(run, Run):
            raise TypeError("LRCastCallback needs a lrcast.Run (from lrcast.Client.run); "
                            f"got {type(run).__name__}")
        super().__init__()
        self.run = run
        self.monitor = monitor

    def _step(self) -> int:
        return int(self.model.optimizer.iterations)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.optimizer.learning_rate = self.run.lr(self._step())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        lease = self.run.lease
        if lease is not None and lease.metric_driven:
            if self.monitor not in logs:
                raise KeyError(f"LRCastCallback reports {self.monitor!r} for the run's plateau "
                               f"rounds, but the epoch's logs have only {sorted(logs)}")
            step = self._step()
            self.run.report(step, float(logs[self.monitor]))
        # as Keras' ReduceLROnPlateau does, so History records the LR per epoch
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
