"""The issue's test: a real torchrun job with 4 ranks (warmup, then plateau, rank-local
metrics) checkpoints at step 60 and stops after step 100; it is restarted with 2 ranks from
that checkpoint (a second torchrun, membership epoch 1). Every rank of each generation gets
identical LRs, equal to PyTorch's schedulers fed the mean over that generation's ranks
(generation 1 replaying from the checkpointed scheduler state)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

torch = pytest.importorskip("torch")

from tests.elastic.elastic_job import EVERY, LR, WARMUP, metric  # noqa: E402
from tests.support.oracles import plateau_scheduler, scheduler_lrs  # noqa: E402

pytestmark = pytest.mark.slow

JOB = Path(__file__).with_name("elastic_job.py")
ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT, STOP0, STOP1 = 60, 100, 160


def torchrun(url: str, nproc: int, out: Path, *args: str, epoch: int | None = None,
             job: Path = JOB) -> None:
    from tests.support import free_port

    env = {**os.environ, "LRCAST_URL": url, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("LRCAST_TOKEN", None)
    env.pop("LRCAST_EPOCH", None)
    if epoch is not None:
        env["LRCAST_EPOCH"] = str(epoch)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
         "--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(job),
         "--out", str(out), *args],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


def logs(out: Path, nproc: int) -> list[dict[str, Any]]:
    result = []
    for rank in range(nproc):
        rows = [json.loads(x) for x in (out / f"rank{rank}.jsonl").read_text().splitlines()]
        result.append({"lr": {r["step"]: r["lr"] for r in rows if "step" in r},
                       "reports": {r["report"]: r["value"] for r in rows if "report" in r},
                       "info": json.loads(info.read_text()) if (
                           info := out / f"info{rank}.json").exists() else None})
    return result


def identical_on_every_rank(ranks: list[dict[str, Any]], steps: range) -> list[float]:
    first = ranks[0]["lr"]
    assert sorted(first) == list(steps)
    for rank, log in enumerate(ranks):
        assert log["lr"] == first, f"rank {rank} used other LRs than rank 0"
    return [first[k] for k in steps]


def mean(ranks: int, step: int) -> float:
    return math.fsum(metric(r, step) for r in range(ranks)) / ranks


def pytorch_generations() -> tuple[list[float], list[float]]:
    """LinearLR for the warmup, then ReduceLROnPlateau fed generation 0's means up to step
    100; generation 1 from its state at the checkpoint, fed generation 1's means."""
    gen0 = scheduler_lrs("LinearLR", WARMUP, LR, start_factor=0.1, end_factor=1.0,
                         total_iters=WARMUP)

    def plateau() -> tuple[Any, Any]:
        return plateau_scheduler(LR, factor=0.5, patience=1, threshold=0.01)

    opt0, sched0 = plateau()
    saved = None
    for k in range(WARMUP, STOP0):
        if k % EVERY == 0:
            sched0.step(mean(4, k))
        gen0.append(opt0.param_groups[0]["lr"])
        if k == CHECKPOINT:
            saved = (opt0.state_dict(), sched0.state_dict())
    opt1, sched1 = plateau()
    opt1.load_state_dict(saved[0])
    sched1.load_state_dict(saved[1])
    gen1 = []
    for k in range(CHECKPOINT, STOP1):
        if k > CHECKPOINT and k % EVERY == 0:
            sched1.step(mean(2, k))
        gen1.append(opt1.param_groups[0]["lr"])
    return gen0, gen1


def generations_match_pytorch(gen0_out: Path, gen1_out: Path) -> tuple[list[float],
                                                                     list[float]]:
    """Every rank of each generation (4 ranks, then 2 from the checkpoint, under epoch 1)
    used the same LRs, equal to PyTorch's fed that generation's means; those LRs."""
    gen0_logs, gen1_logs = logs(gen0_out, 4), logs(gen1_out, 2)
    gen0 = identical_on_every_rank(gen0_logs, range(STOP0))
    gen1 = identical_on_every_rank(gen1_logs, range(CHECKPOINT, STOP1))
    expected0, expected1 = pytorch_generations()
    assert gen0 == pytest.approx(expected0, rel=1e-12)
    assert gen1 == pytest.approx(expected1, rel=1e-12)
    assert [log["info"]["epoch"] for log in gen1_logs] == [1, 1]
    return gen0, gen1


def test_four_ranks_stopped_then_two_resume_from_the_checkpoint(service, run_id, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    common = ["--run-id", run_id, "--checkpoint", str(ckpt)]
    torchrun(service.url, 4, tmp_path / "gen0", *common, "--stop", str(STOP0),
             "--checkpoint-at", str(CHECKPOINT))
    assert ckpt.exists()
    torchrun(service.url, 2, tmp_path / "gen1", *common, "--stop", str(STOP1), "--resume",
             epoch=1)

    gen0, gen1 = generations_match_pytorch(tmp_path / "gen0", tmp_path / "gen1")
    # a test that can fail: generation 0's decisions after the checkpoint were not kept, and
    # the plateau rule reduced the LR in both generations
    assert gen1[:STOP0 - CHECKPOINT] != gen0[CHECKPOINT:], "the generations decided alike"
    assert min(gen0[WARMUP:]) < LR and min(gen1) < gen1[0]

    with httpx.Client(base_url=service.url) as http:
        events = http.get(f"/v1/runs/{run_id}/events").json()["events"]
    changes = [e["data"] for e in events if e["kind"] == "membership"]
    assert len(changes) == 1  # both ranks of generation 1 sent it: applied once
    assert {k: changes[0][k] for k in ("epoch", "from_step", "world_size")} == \
        {"epoch": 1, "from_step": CHECKPOINT, "world_size": 2}
