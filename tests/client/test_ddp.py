"""Real 4-rank DDP jobs (torchrun, gloo, CPU) against the real service: every rank applies
the same LR at every step, equal to PyTorch's own schedulers; amendments switch all ranks at
one step; a kill -9 of the service mid-run costs nothing on a closed-form schedule."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lrcast
from tests.support.oracles import plateau_scheduler, scheduler_lrs

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ddp_train.py"
NPROC = 4


class Job:
    """One `torchrun --nproc_per_node=4 examples/ddp_train.py` process group."""

    def __init__(self, url: str, run_id: str, out: Path, *args: str) -> None:
        from tests.support import free_port

        torchrun = Path(sys.executable).with_name("torchrun")
        self.out = out
        env = {**os.environ, "LRCAST_URL": url, "OMP_NUM_THREADS": "1"}
        env.pop("LRCAST_TOKEN", None)
        self.proc = subprocess.Popen(
            [str(torchrun), f"--nproc_per_node={NPROC}", "--nnodes=1",
             "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(EXAMPLE),
             "--run-id", run_id, "--out", str(out), *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float = 180.0) -> None:
        try:
            output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            output, _ = self.proc.communicate()
            pytest.fail(f"torchrun did not finish in {timeout}s:\n{output.decode()[-3000:]}")
        assert self.proc.returncode == 0, output.decode()[-3000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)

    def latest_step(self) -> int:
        path = self.out / "rank0.jsonl"
        if not path.exists():
            return -1
        steps = [json.loads(line)["step"] for line in path.read_text().splitlines()
                 if line.endswith("}") and '"step"' in line]
        return steps[-1] if steps else -1

    def wait_for_step(self, step: int, timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (latest := self.latest_step()) >= step:
                return latest
            if self.proc.poll() is not None:
                self.wait()
                pytest.fail("the job ended early")
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"the job did not reach step {step} in {timeout}s")

    def logs(self) -> list[dict[str, list]]:
        """Per rank: `lr` (applied LR per step), `t` (when), `reports` {step: value}."""
        result = []
        for rank in range(NPROC):
            rows = [json.loads(x) for x in (self.out / f"rank{rank}.jsonl").read_text()
                    .splitlines()]
            result.append({"lr": [r["lr"] for r in rows if "step" in r],
                           "t": [r["t"] for r in rows if "step" in r],
                           "reports": {r["report"]: r["value"] for r in rows if "report" in r}})
        return result


@pytest.fixture
def job(tmp_path):
    jobs: list[Job] = []

    def start(url: str, run_id: str, *args: str) -> Job:
        jobs.append(Job(url, run_id, tmp_path / f"out{len(jobs)}", *args))
        return jobs[-1]

    yield start
    for j in jobs:
        j.kill()


def assert_same_on_every_rank(logs: list[dict[str, list]], steps: int) -> list[float]:
    first = logs[0]["lr"]
    assert len(first) == steps
    for rank, log in enumerate(logs):
        assert log["lr"] == first, f"rank {rank} applied other LRs than rank 0"
    return first


def test_warmup_then_plateau_equals_pytorch_fed_the_mean(service, job, run_id):
    steps, every, warmup = 300, 20, 40
    j = job(service.url, run_id, "--steps", str(steps), "--report-every", str(every),
            "--report-from", str(warmup))
    j.wait()
    logs = j.logs()
    applied = assert_same_on_every_rank(logs, steps)
    rounds = sorted(logs[0]["reports"])
    assert rounds == list(range(warmup, steps, every))
    assert all(sorted(log["reports"]) == rounds for log in logs)

    # the oracle: PyTorch's LinearLR for the warmup, then its ReduceLROnPlateau fed the mean
    # of the ranks' values at each round, just before the LR of that step is read
    expected = scheduler_lrs("LinearLR", warmup, 0.05, start_factor=0.1, end_factor=1.0,
                             total_iters=warmup)
    plateau_opt, plateau = plateau_scheduler(0.05, factor=0.5, patience=1, threshold=0.01)
    for k in range(warmup, steps):
        if k in logs[0]["reports"]:
            plateau.step(math.fsum(log["reports"][k] for log in logs) / NPROC)
        expected.append(plateau_opt.param_groups[0]["lr"])
    assert applied == pytest.approx(expected, rel=1e-12)
    assert min(applied[warmup:]) < 0.05, "no plateau decision reduced the LR: a weak test"


def cosine(k: int, lr: float = 0.05, t_max: int = 400) -> float:
    return lr * (1 + math.cos(math.pi * k / t_max)) / 2


COSINE = json.dumps({"type": "CosineAnnealingLR", "lr": 0.05, "T_max": 400})


def test_amendment_mid_run_switches_every_rank_at_the_same_step(service, job, run_id):
    steps = 300
    j = job(service.url, run_id, "--schedule", COSINE, "--steps", str(steps),
            "--lease-steps", "40", "--step-sleep", "0.01")
    at = j.wait_for_step(80)
    with lrcast.Client(service.url) as controller:
        run = controller.run(run_id)
        try:
            run.amend(at + 1, scale=0.5)
            switch = at + 1
        except lrcast.errors.AmendmentTooEarly as exc:  # within a leased horizon
            switch = exc.min_step
            run.amend(switch, scale=0.5)
    assert at < switch < steps - 20
    j.wait()
    applied = assert_same_on_every_rank(j.logs(), steps)
    assert applied == pytest.approx(
        [cosine(k) * (0.5 if k >= switch else 1.0) for k in range(steps)], rel=1e-9)


def test_service_killed_mid_run_ranks_train_on_their_lease(service, job, run_id):
    steps = 300
    j = job(service.url, run_id, "--schedule", COSINE, "--steps", str(steps),
            "--lease-steps", "60", "--step-sleep", "0.01")
    j.wait_for_step(50)
    service.kill()
    killed = time.time()
    time.sleep(2.0)
    restarted = time.time()
    service.start()
    j.wait()
    logs = j.logs()
    applied = assert_same_on_every_rank(logs, steps)
    assert applied == pytest.approx([cosine(k) for k in range(steps)], rel=1e-9)
    during = [t for t in logs[0]["t"] if killed < t < restarted]
    assert len(during) >= 10, "the ranks did not keep training while the service was down"
