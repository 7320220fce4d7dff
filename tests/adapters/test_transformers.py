"""`lrcast.transformers.LRCastCallback` in a real `transformers.Trainer` (tiny torch model, CPU,
deterministic) against a real service: the same training as the Trainer's own scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate", reason="transformers' Trainer needs accelerate")

import lrcast  # noqa: E402
import lrcast.transformers  # noqa: E402


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.linear(x), labels)}


def examples(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.3 * torch.randn(n, 1, generator=g)
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


TRAIN, EVAL = examples(48, seed=1), examples(16, seed=2)


class Record(transformers.TrainerCallback):
    """The LR each optimizer step really uses."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.lrs.append(optimizer.param_groups[0]["lr"])


def train(tmp_path: Path, callbacks: list[Any], **arguments: Any) -> tuple[Any, Record]:
    torch.manual_seed(0)
    record = Record()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, report_to=[], use_cpu=True,
        save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, **arguments)
    trainer = transformers.Trainer(model=Tiny(), args=args, train_dataset=TRAIN,
                                   eval_dataset=EVAL, callbacks=[*callbacks, record])
    trainer.train()
    return trainer, record


def logged(trainer: Any, key: str = "learning_rate") -> list[tuple[int, float]]:
    return [(e["step"], e[key]) for e in trainer.state.log_history if key in e]


COSINE = {"lr_scheduler_type": "cosine", "learning_rate": 0.05, "warmup_steps": 0.2,
          "num_train_epochs": 3}
PLATEAU = {"lr_scheduler_type": "reduce_lr_on_plateau", "learning_rate": 0.05,
           "max_steps": 36, "eval_strategy": "steps", "eval_steps": 4,
           # a coarse threshold, so the plateau logic reduces the LR several times
           "lr_scheduler_kwargs": {"factor": 0.5, "patience": 0, "threshold": 0.2}}


@pytest.mark.parametrize("arguments", [COSINE, PLATEAU], ids=["cosine", "plateau"])
def test_logged_lrs_are_the_trainers_own(arguments, lrcast_client, run_id, tmp_path):
    own, own_record = train(tmp_path / "own", [], **arguments)
    callback = lrcast.transformers.LRCastCallback(lrcast_client, run_id)
    ours, our_record = train(tmp_path / "ours", [callback], **arguments)

    assert logged(ours) == logged(own)
    assert our_record.lrs == own_record.lrs
    assert logged(ours, "eval_loss") == logged(own, "eval_loss")
    assert len(set(own_record.lrs)) >= 4  # the schedule moved: warmup and decay, or decisions
    # the run holds what the Trainer trained with, step by step
    run = lrcast_client.run(run_id)
    assert [run.lr(k) for k in range(len(our_record.lrs))] == our_record.lrs


def test_the_spec_is_what_get_scheduler_builds(lrcast_client, run_id, tmp_path):
    train(tmp_path, [lrcast.transformers.LRCastCallback(lrcast_client, run_id)],
          lr_scheduler_type="cosine_with_restarts", learning_rate=0.02, warmup_steps=5,
          max_steps=20, lr_scheduler_kwargs={"num_cycles": 2})
    assert lrcast_client.run(run_id).info["schedule"] == {
        "type": "cosine_with_restarts", "lr": 0.02, "num_warmup_steps": 5,
        "num_training_steps": 20, "num_cycles": 2}


def test_plateau_reports_every_evaluation_of_the_training_loop(service, lrcast_client, run_id,
                                                               tmp_path):
    callback = lrcast.transformers.LRCastCallback(lrcast_client, run_id)
    trainer, _ = train(tmp_path, [callback], eval_on_start=True, **PLATEAU)
    trainer.evaluate()  # after training: the Trainer steps no scheduler, nothing reported
    rounds = httpx.get(f"{service.url}/v1/runs/{run_id}/rounds").raise_for_status().json()
    steps = [r["step"] for r in rounds["rounds"]]
    assert steps == list(range(4, 37, 4))
    evals = dict(logged(trainer, "eval_loss"))
    assert [r["value"] for r in rounds["rounds"]] == pytest.approx([evals[s] for s in steps])


def test_the_optimizer_follows_an_amended_run(lrcast_client, run_id, tmp_path):
    spec = {"type": "cosine", "lr": 0.05, "num_warmup_steps": 4, "num_training_steps": 20}
    run = lrcast_client.run(run_id, schedule=spec, world_size=1)
    run.amend(10, scale=0.5)  # before training: nothing was served yet
    own, own_record = train(tmp_path / "own", [], lr_scheduler_type="cosine",
                            learning_rate=0.05, warmup_steps=4, max_steps=20)
    ours, our_record = train(tmp_path / "ours",
                             [lrcast.transformers.LRCastCallback(lrcast_client, run_id)],
                             lr_scheduler_type="cosine", learning_rate=0.05, warmup_steps=4,
                             max_steps=20)
    assert our_record.lrs[:10] == own_record.lrs[:10]
    assert our_record.lrs[10:] == [lr * 0.5 for lr in own_record.lrs[10:]]
    assert [lr for _, lr in logged(ours)] == our_record.lrs


def test_schedule_passed_explicitly_is_refused():
    with pytest.raises(TypeError, match="TrainingArguments"):
        lrcast.transformers.LRCastCallback("http://127.0.0.1:9", "r", schedule={})
