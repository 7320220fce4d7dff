"""A real elastic restart in one torchrun job: two torchrun agents (2 workers each, c10d
rendezvous, ``--nnodes=1:2``) train 4 ranks; one agent is killed (a preempted node), the
other's workers fail their next collective and torchrun restarts them as 2 ranks, with
``TORCHELASTIC_RESTART_COUNT=1``: the membership epoch the client takes by itself. They
resume from the checkpoint at step 60; the LRs are PyTorch's, per generation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.elastic.test_torchrun_restart import (
    CHECKPOINT,
    JOB,
    ROOT,
    STOP0,
    STOP1,
    generations_match_pytorch,
)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow


def agent(url: str, port: int, rdzv_id: str, out: Path, ckpt: Path, run_id: str,
          log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LRCAST_URL": url, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for name in ("LRCAST_TOKEN", "LRCAST_EPOCH"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=1:2", "--nproc_per_node=2",
         "--max-restarts=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}",
         f"--rdzv-id={rdzv_id}", "--rdzv-conf=is_host=false,last_call_timeout=5,join_timeout=60",
         "--monitor-interval=0.2", str(JOB), "--elastic", "--hold-at", str(STOP0),
         "--run-id", run_id, "--checkpoint", str(ckpt), "--checkpoint-at", str(CHECKPOINT),
         "--stop", str(STOP1), "--out", str(out)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def children(pid: int) -> list[int]:
    """The processes `pid` started (torchrun starts each worker in a session of its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill(proc: subprocess.Popen[bytes]) -> None:
    """The agent and its workers, at once (a lost node)."""
    for pid in [*children(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def held(out: Path) -> bool:
    """Every rank of the first generation has logged step 99 (and waits at step 100)."""
    files = [out / "restart0" / f"rank{r}.jsonl" for r in range(4)]
    return all(f.exists() and f'"step": {STOP0 - 1},' in f.read_text() for f in files)


def test_a_node_lost_mid_run_restarts_the_workers_as_a_new_generation(service, run_id,
                                                                      tmp_path):
    from tests.support import free_port

    out, ckpt, port = tmp_path / "out", tmp_path / "ckpt.pt", free_port()
    # the rendezvous store lives here, so the lost node takes none of it along; both agents
    # join the first round within its last call (5 s)
    store = torch.distributed.TCPStore("127.0.0.1", port, is_master=True, multi_tenant=True)
    survivor = agent(service.url, port, run_id, out, ckpt, run_id, tmp_path / "a.log")
    lost = agent(service.url, port, run_id, out, ckpt, run_id, tmp_path / "b.log")
    try:
        deadline = time.monotonic() + 60
        while not held(out):
            assert time.monotonic() < deadline and survivor.poll() is None, \
                (tmp_path / "a.log").read_text()[-3000:]
            time.sleep(0.1)
        kill(lost)  # a preempted node
        survivor.wait(timeout=90)
        assert survivor.returncode == 0, (tmp_path / "a.log").read_text()[-4000:]
    finally:
        kill(lost)
        kill(survivor)
        del store

    generations_match_pytorch(out / "restart0", out / "restart1")
    with httpx.Client(base_url=service.url) as http:
        run = http.get(f"/v1/runs/{run_id}").json()
    assert run["generations"] == [{"epoch": 0, "from_step": 0, "world_size": 4},
                                  {"epoch": 1, "from_step": CHECKPOINT, "world_size": 2}]
