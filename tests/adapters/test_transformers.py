"""`lrcast.transformers.LRCastCallback` in a real `transformers.Trainer` (tiny torch model, CPU,
deterministic) against a real service: the same training as the Trainer's own scheduler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate", reason="transformers' Trainer needs accelerate")

import lrcast  # noqa: E402
import lrcast.transformers  # noqa: E402
from tests.adapters.tiny_hf import COMMON, EVAL, PLATEAU, TRAIN, Tiny  # noqa: E402


class Record(transformers.TrainerCallback):
    """The LR each optimizer step really uses."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.lrs.append(optimizer.param_groups[0]["lr"])


def train(tmp_path: Path, callbacks: list[Any], resume: str | None = None,
          eval_dataset: list = EVAL, **arguments: Any) -> tuple[Any, Record]:
    torch.manual_seed(0)
    record = Record()
    args = transformers.TrainingArguments(output_dir=str(tmp_path), **{**COMMON, **arguments})
    trainer = transformers.Trainer(model=Tiny(), args=args, train_dataset=TRAIN,
                                   eval_dataset=eval_dataset, callbacks=[*callbacks, record])
    trainer.train(resume_from_checkpoint=resume)
    return trainer, record


def logged(trainer: Any, key: str = "learning_rate") -> list[tuple[int, float]]:
    history = trainer if isinstance(trainer, list) else trainer.state.log_history
    return [(e["step"], e[key]) for e in history if key in e]


COSINE = {"lr_scheduler_type": "cosine", "learning_rate": 0.05, "warmup_steps": 0.2,
          "num_train_epochs": 3}


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


@pytest.mark.slow
def test_every_rank_reports_and_follows_the_decisions(service, run_id, tmp_path):
    """Two DDP ranks (torchrun, gloo): each reports every evaluation, both train with the same
    LRs, and those are the run's."""
    from tests.support import free_port

    torchrun = Path(sys.executable).with_name("torchrun")
    job = Path(__file__).with_name("hf_ddp_job.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("LRCAST_TOKEN", None)
    done = subprocess.run(
        [str(torchrun), "--nproc_per_node=2", "--nnodes=1", "--master_addr=127.0.0.1",
         f"--master_port={free_port()}", str(job), service.url, run_id, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    histories = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    lrs = [logged(h) for h in histories]
    assert lrs[0] == lrs[1] and len(lrs[0]) == 36
    assert len({lr for _, lr in lrs[0]}) >= 3  # decided reductions, applied on both ranks
    rounds = httpx.get(f"{service.url}/v1/runs/{run_id}/rounds").raise_for_status().json()
    assert [(r["step"], r["received"], sorted(r["reports"])) for r in rounds["rounds"]] == [
        (step, 2, ["0", "1"]) for step in range(4, 37, 4)]
    with lrcast.Client(service.url) as client:
        run = client.run(run_id)
        assert [lr for _, lr in lrs[0]] == [run.lr(step - 1) for step, _ in lrs[0]]


def test_a_resumed_training_rewinds_the_run(lrcast_client, run_id, tmp_path):
    saving = {**PLATEAU, "save_strategy": "steps", "save_steps": 16}
    _, first = train(tmp_path / "first", [lrcast.transformers.LRCastCallback(lrcast_client,
                                                                             run_id)], **saving)
    # the job starts again from its checkpoint at step 16, and evaluates differently this
    # time: the reports after step 16 are replaced, as the Trainer's own plateau state is
    checkpoint = str(tmp_path / "first" / "checkpoint-16")
    other = [{"x": e["x"] / 10, "labels": e["labels"] / 10} for e in EVAL]  # a lower loss
    _, ours = train(tmp_path / "ours", [lrcast.transformers.LRCastCallback(lrcast_client,
                                                                           run_id)],
                    resume=checkpoint, eval_dataset=other, **saving)
    _, own = train(tmp_path / "own", [], resume=checkpoint, eval_dataset=other, **saving)
    assert ours.lrs == own.lrs
    assert ours.lrs != first.lrs[16:]  # other decisions than the first attempt's
