"""`lrcast.keras.LRCastCallback` in a real Keras 3 `model.fit` (torch backend, set in this
directory's conftest): the LR per batch is Keras' own schedule's, or its ReduceLROnPlateau's."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

# Keras' torch backend converts its variables with np.array(x), which numpy 2 flags
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

import lrcast  # noqa: E402
import lrcast.keras  # noqa: E402

LR, BATCH, EPOCHS = 0.05, 8, 8
STEPS = EPOCHS * 64 // BATCH


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32") + 0.3 * rng.normal(size=(n, 1))
    return x, y.astype("float32")


TRAIN, VALIDATION = data(64, seed=1), data(16, seed=2)


class Record(keras.callbacks.Callback):
    """The LR each batch trains with (after the callbacks before it set it)."""

    def __init__(self) -> None:
        super().__init__()
        self.lrs: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.lrs.append(float(self.model.optimizer.learning_rate))


def fit(learning_rate, callbacks: list) -> tuple[list[float], keras.callbacks.History, list]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    record = Record()
    history = model.fit(*TRAIN, validation_data=VALIDATION, batch_size=BATCH, epochs=EPOCHS,
                        shuffle=False, verbose=0, callbacks=[*callbacks, record])
    return record.lrs, history, model.get_weights()


def test_lr_per_batch_is_keras_cosine_decay_and_the_engine(lrcast_client, run_id):
    spec = {"type": "CosineAnnealingLR", "lr": LR, "T_max": STEPS, "eta_min": LR * 0.1}
    run = lrcast_client.run(run_id, schedule=spec, world_size=1)
    ours, _, our_weights = fit(LR, [lrcast.keras.LRCastCallback(run)])
    schedule = keras.optimizers.schedules.CosineDecay(LR, decay_steps=STEPS, alpha=0.1)
    theirs, _, their_weights = fit(schedule, [])

    engine = lrcast.schedules.parse(spec)
    assert len(ours) == STEPS
    assert ours == [float(np.float32(engine.lr(k))) for k in range(STEPS)]
    assert ours == pytest.approx(theirs, rel=1e-5)
    for a, b in zip(our_weights, their_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_plateau_is_keras_reduce_lr_on_plateau(lrcast_client, run_id):
    # Keras counts `patience` bad epochs inclusively and `min_delta` absolutely: torch's
    # patience - 1 and threshold_mode "abs"
    delta = 0.3
    spec = {"type": "ReduceLROnPlateau", "lr": LR, "factor": 0.5, "patience": 0,
            "threshold_mode": "abs", "threshold": delta}
    run = lrcast_client.run(run_id, schedule=spec, world_size=1)
    ours, our_history, _ = fit(LR, [lrcast.keras.LRCastCallback(run, monitor="val_loss")])
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1,
                                                min_delta=delta)
    theirs, their_history, _ = fit(LR, [plateau])

    assert ours == theirs
    assert len(set(ours)) >= 3  # the plateau logic reduced the LR at least twice
    assert our_history.history["val_loss"] == their_history.history["val_loss"]
    assert our_history.history["learning_rate"] == their_history.history["learning_rate"]


def test_a_metric_the_logs_lack_is_a_clear_error(lrcast_client, run_id):
    spec = {"type": "ReduceLROnPlateau", "lr": LR}
    run = lrcast_client.run(run_id, schedule=spec, world_size=1)
    with pytest.raises(KeyError, match="val_accuracy"):
        fit(LR, [lrcast.keras.LRCastCallback(run, monitor="val_accuracy")])


def test_rejects_something_that_is_not_a_run():
    with pytest.raises(TypeError, match="lrcast.Run"):
        lrcast.keras.LRCastCallback(object())  # type: ignore[arg-type]
