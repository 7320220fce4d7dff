"""`lrcast.torch.RemoteScheduler` against the real service: equal to PyTorch's own scheduler
in a plain loop, resumable, and accepted by Hugging Face `Trainer` and Lightning."""

from __future__ import annotations

import pickle

import pytest

torch = pytest.importorskip("torch")

import lrcast  # noqa: E402
import lrcast.torch  # noqa: E402

ONECYCLE = {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 300, "pct_start": 0.3}
COSINE = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 50, "eta_min": 0.001}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


def params(n: int = 1) -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(2)) for _ in range(n)]


def trace(opt: torch.optim.Optimizer, sched, steps: int, key: str | None = None) -> list:
    """Per step: [lr (and momentum or beta1) of every group], get_last_lr() after the step."""
    out = []
    for _ in range(steps):
        groups = opt.param_groups
        row = [g["lr"] for g in groups]
        if key == "betas":
            row += [g["betas"][0] for g in groups]
        elif key:
            row += [g[key] for g in groups]
        opt.step()
        sched.step()
        out.append((row, list(sched.get_last_lr())))
    return out


@pytest.mark.parametrize("make_opt,key", [
    (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "momentum"),
    (lambda p: torch.optim.AdamW(p, lr=0.1), "betas"),
])
def test_plain_loop_equals_pytorch_onecycle_with_momentum(make_client, run_id, make_opt, key):
    run = make_client().run(run_id, schedule=ONECYCLE, world_size=1)
    ours_opt = make_opt(params())
    ours = trace(ours_opt, lrcast.torch.RemoteScheduler(ours_opt, run), 300, key)
    ref_opt = make_opt(params())
    ref = trace(ref_opt, torch.optim.lr_scheduler.OneCycleLR(
        ref_opt, max_lr=0.1, total_steps=300, pct_start=0.3), 300, key)
    for k, ((row, last), (ref_row, ref_last)) in enumerate(zip(ours, ref, strict=True)):
        assert row == pytest.approx(ref_row, rel=1e-9), k
        assert last == pytest.approx(ref_last, rel=1e-9), k


CYCLIC = {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 7}


@pytest.mark.parametrize("make_opt,key", [
    (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), "momentum"),
    (lambda p: torch.optim.Adam(p, lr=0.1), "betas"),
    (lambda p: torch.optim.SGD(p, lr=0.1), None),
])
@pytest.mark.parametrize("groups", [1, 3])
def test_short_leases_and_windows_equal_pytorch(make_client, run_id, make_opt, key, groups):
    """Many leases (30 steps each) and windows: every step as PyTorch's CyclicLR, one spec
    LR broadcast to every group, momentum (or beta1) cycled where the optimizer has it."""
    spec = {**CYCLIC, "lr": 0.1, "cycle_momentum": key is not None}
    client = make_client(lease=lrcast.LeasePolicy(steps=30, seconds=None))
    run = client.run(run_id, schedule=spec, world_size=1)
    ours_opt = make_opt([{"params": params()} for _ in range(groups)])
    ours = trace(ours_opt, lrcast.torch.RemoteScheduler(ours_opt, run), 200, key)
    ref_opt = make_opt([{"params": params()} for _ in range(groups)])
    ref = trace(ref_opt, torch.optim.lr_scheduler.CyclicLR(
        ref_opt, base_lr=0.01, max_lr=0.1, step_size_up=7, cycle_momentum=key is not None),
        200, key)
    assert ours == ref
    assert client.requests_sent > 5  # the steps crossed leases


def test_per_group_lrs_and_isinstance(make_client, run_id):
    spec = {**COSINE, "lr": [0.1, 0.01]}
    run = make_client().run(run_id, schedule=spec, world_size=1)
    opt = torch.optim.SGD([{"params": params()}, {"params": params()}], lr=0.5)
    sched = lrcast.torch.RemoteScheduler(opt, run)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    ref_opt = torch.optim.SGD([{"params": params(), "lr": 0.1},
                               {"params": params(), "lr": 0.01}], lr=0.5)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=50, eta_min=0.001)
    ours, theirs = trace(opt, sched, 120), trace(ref_opt, ref, 120)
    flat = [x for row, last in ours for x in row + last]
    assert flat == pytest.approx([x for row, last in theirs for x in row + last], rel=1e-9)


def test_state_dict_resumes_at_the_step_and_rewinds_the_run(make_client, run_id, tmp_path):
    client = make_client()
    run = client.run(run_id, schedule=PLATEAU, world_size=1)
    opt = torch.optim.SGD(params(), lr=0.1)
    sched = lrcast.torch.RemoteScheduler(opt, run)
    for _ in range(20):
        opt.step()
        sched.step()
    run.report(20, 1.0)
    saved = sched.state_dict()
    torch.save(saved, tmp_path / "sched.pt")  # picklable: neither run nor optimizer inside
    pickle.dumps(saved)
    for _ in range(10):
        opt.step()
        sched.step()
    run.report(30, 5.0)  # worse: halved from 30, applied to the current step at once
    assert sched.last_epoch == 30 and opt.param_groups[0]["lr"] == 0.05

    resumed_run = make_client().run(run_id, schedule=PLATEAU, world_size=1)
    opt2 = torch.optim.SGD(params(), lr=0.1)
    sched2 = lrcast.torch.RemoteScheduler(opt2, resumed_run)
    sched2.load_state_dict(torch.load(tmp_path / "sched.pt", weights_only=False))
    assert sched2.last_epoch == 20 and opt2.param_groups[0]["lr"] == 0.1
    for _ in range(10):
        opt2.step()
        sched2.step()
    assert opt2.param_groups[0]["lr"] == 0.1  # the decision at 30 was rewound away
    assert sched2.get_last_lr() == [0.1]


def test_hugging_face_trainer_accepts_it(make_client, run_id, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate", reason="transformers' Trainer needs accelerate")

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)

        def forward(self, x, y):
            return {"loss": torch.nn.functional.mse_loss(self.linear(x), y)}

    seen: list[float] = []

    class Record(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            seen.append(optimizer.param_groups[0]["lr"])

    data = [{"x": torch.randn(4), "y": torch.randn(1)} for _ in range(64)]
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    run = make_client().run(run_id, schedule=COSINE, world_size=1)
    sched = lrcast.torch.RemoteScheduler(opt, run)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=30, per_device_train_batch_size=4, report_to=[],
        use_cpu=True, save_strategy="no", logging_steps=1, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data,
                                   optimizers=(opt, sched), callbacks=[Record()])
    trainer.train()
    oracle = lrcast.schedules.parse(COSINE)
    assert sched.last_epoch == 30
    assert seen == pytest.approx([oracle.lr(k) for k in range(30)], rel=1e-9)
    logged = [e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e]
    every = [oracle.lr(k) for k in range(31)]
    assert logged and all(any(x == pytest.approx(y, rel=1e-9) for y in every) for x in logged)


def test_lightning_configure_optimizers_accepts_it(make_client, run_id, tmp_path):
    pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed")
    run = make_client().run(run_id, schedule=COSINE, world_size=1)
    seen: list[float] = []

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.linear(x), y)

        def on_train_batch_start(self, batch, batch_idx):
            seen.append(self.optimizers().param_groups[0]["lr"])

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return {"optimizer": opt, "lr_scheduler": {
                "scheduler": lrcast.torch.RemoteScheduler(opt, run), "interval": "step"}}

    data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randn(64, 1))
    trainer = pl.Trainer(max_steps=25, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=str(tmp_path))
    trainer.fit(Module(), torch.utils.data.DataLoader(data, batch_size=4))
    oracle = lrcast.schedules.parse(COSINE)
    assert seen == pytest.approx([oracle.lr(k) for k in range(25)], rel=1e-9)


def test_rejects_something_that_is_not_a_run():
    opt = torch.optim.SGD(params(), lr=0.1)
    with pytest.raises(TypeError, match="lrcast.Run"):
        lrcast.torch.RemoteScheduler(opt, object())  # type: ignore[arg-type]
