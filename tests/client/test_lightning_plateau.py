"""Lightning's plateau config — `{"scheduler": ..., "monitor": "val_loss", "interval",
"frequency"}` — with a `RemoteScheduler` on a metric-driven run in place of torch's
`ReduceLROnPlateau` gives the same LRs in the same module (real Lightning, CPU, real
service), per epoch and every N steps."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed")

import lrcast  # noqa: E402
import lrcast.torch  # noqa: E402

KNOBS = {"factor": 0.5, "patience": 0, "threshold": 0.05, "min_lr": 0.001}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.2, **KNOBS}


class Module(pl.LightningModule):
    """A tiny regression model; records the LR of every training batch as applied."""

    def __init__(self, make_scheduler, interval: str, frequency: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 1)
        self.make_scheduler = make_scheduler
        self.interval, self.frequency = interval, frequency
        self.applied: list[float] = []
        self.val_losses: list[float] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.linear(x), y)

    def on_train_batch_start(self, batch, batch_idx):
        self.applied.append(self.optimizers().param_groups[0]["lr"])

    def validation_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.linear(x), y)
        self.log("val_loss", loss)
        self.val_losses.append(loss.item())

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.2)
        return {"optimizer": opt, "lr_scheduler": {
            "scheduler": self.make_scheduler(opt), "monitor": "val_loss",
            "interval": self.interval, "frequency": self.frequency}}


def fit(make_scheduler, interval: str, frequency: int, tmp_path, **trainer_args) -> Module:
    gen = torch.Generator().manual_seed(7)
    w = torch.tensor([[1.0], [-2.0], [0.5], [0.0]])
    x, xv = torch.randn(96, 4, generator=gen), torch.randn(32, 4, generator=gen)
    y = x @ w + 0.5 * torch.randn(96, 1, generator=gen)
    yv = xv @ w + 0.5 * torch.randn(32, 1, generator=gen)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xv, yv), batch_size=32)
    module = Module(make_scheduler, interval, frequency)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, deterministic=True,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         default_root_dir=str(tmp_path), **trainer_args)
    trainer.fit(module, train, val)
    return module


@pytest.mark.parametrize("interval,frequency,trainer_args", [
    ("epoch", 1, {"max_epochs": 8}),
    ("epoch", 2, {"max_epochs": 10}),
    ("step", 4, {"max_epochs": 4, "val_check_interval": 4}),
], ids=["epoch", "every-2-epochs", "every-4-steps"])
def test_lightning_plateau_config_equals_torch(make_client, run_id, tmp_path, interval,
                                                frequency, trainer_args):
    run = make_client().run(run_id, schedule=PLATEAU, world_size=1)
    ours = fit(lambda opt: lrcast.torch.RemoteScheduler(opt, run), interval, frequency,
               tmp_path, **trainer_args)
    ref = fit(lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **KNOBS),
              interval, frequency, tmp_path, **trainer_args)
    assert ours.applied == ref.applied  # every training batch, to the bit
    assert ours.val_losses == ref.val_losses
    assert len(set(ref.applied)) >= 3, "the plateau reduced the LR less than twice: weak test"
