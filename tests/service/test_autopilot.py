"""The autopilot end to end: a 4-rank job (processes, a real service) whose loss spikes gets
one rewind directive, every rank at the same step; it resumes and its LRs after `to_step`
are the scaled ones. Noise without a spike gets none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch

import lrcast
import lrcast.torch
from lrcast.schedules import parse
from tests.support import LRCastServer

from .autopilot_job import SCHEDULE

JOB = Path(__file__).with_name("autopilot_job.py")
WORLD = 4


@pytest.fixture(scope="module")
def pilot(database_url: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[LRCastServer]:
    """A service that reserves LRs in small chunks, so the directive lands soon (on each
    store: the autopilot's state is written with the reports that trigger it)."""
    path = tmp_path_factory.mktemp("autopilot")
    with LRCastServer(database_url, env={"LRCAST_RESERVE_CHUNK": "16"},
                      log_path=path / "server.log") as srv:
        yield srv


def run_job(url: str, run_id: str, spike: int, tmp: Path) -> list[dict]:
    outs = [tmp / f"rank{r}.json" for r in range(WORLD)]
    procs = [subprocess.Popen([sys.executable, str(JOB), url, run_id, str(r), str(WORLD),
                               str(spike), str(outs[r])]) for r in range(WORLD)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    return [json.loads(out.read_text()) for out in outs]


def test_every_rank_rewinds_at_the_same_step_with_scaled_lrs(pilot: LRCastServer,
                                                             tmp_path: Path) -> None:
    run_id = f"spike-{uuid.uuid4().hex[:8]}"
    ranks = run_job(pilot.url, run_id, 400, tmp_path)
    rewinds = [r["rewinds"] for r in ranks]
    assert all(len(r) == 1 for r in rewinds), rewinds
    first = rewinds[0][0]
    assert all(r[0] == first for r in rewinds)  # same directive, same step, for every rank
    assert first["to_step"] == 300  # the latest checkpoint before the spike began
    assert first["skip"] == 7 and first["scale"] == 0.5
    assert first["at"] > 400
    schedule = parse(SCHEDULE)
    for seen in ranks:
        lrs = {int(k): v for k, v in seen["lrs"].items()}
        assert all(lrs[k] == schedule.lr(k) for k in range(0, 301))
        assert all(lrs[k] == pytest.approx(schedule.lr(k) * 0.5, rel=1e-12)
                   for k in range(301, 1500))
    events = httpx.get(f"{pilot.url}/v1/runs/{run_id}/events",
                       params={"limit": 1000}).json()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds.count("spike") == 1 and kinds.count("directive") == 1
    spike = next(e for e in events if e["kind"] == "spike")["data"]
    assert 400 <= spike["step"] <= 402 and spike["directive_id"] == first["id"]
    acked = sorted(r for e in events if e["kind"] == "acknowledgement"
                   for r in e["data"]["ranks"])
    assert acked == list(range(WORLD))
    recovery = [e["data"] for e in events if e["kind"] == "recovery"]
    assert recovery == [{"directive_id": first["id"], "recovered": True,
                         "step": recovery[0]["step"]}]
    curve = httpx.get(f"{pilot.url}/v1/runs/{run_id}/losses").json()
    assert curve["steps"] == list(range(1500))  # the replayed trajectory, every rank's mean
    metrics = httpx.get(f"{pilot.url}/metrics").text
    assert 'lrcast_autopilot_spikes_total{mode="act"} 1.0' in metrics


def test_noise_without_a_spike_gets_no_directive(pilot: LRCastServer, tmp_path: Path) -> None:
    run_id = f"calm-{uuid.uuid4().hex[:8]}"
    ranks = run_job(pilot.url, run_id, -1, tmp_path)
    assert all(r["rewinds"] == [] for r in ranks)
    kinds = [e["kind"] for e in httpx.get(f"{pilot.url}/v1/runs/{run_id}/events",
                                          params={"limit": 1000}).json()["events"]]
    assert "spike" not in kinds and "directive" not in kinds
    assert httpx.get(f"{pilot.url}/v1/runs/{run_id}/losses").json()["steps"] == list(
        range(1500))


def test_remote_scheduler_step_raises_the_rewind(pilot: LRCastServer) -> None:
    run_id = f"torch-{uuid.uuid4().hex[:8]}"
    policy = {"mode": "act", "spike": {"window": 10, "consecutive": 2, "lr_scale": 0.25,
                                       "skip_batches": 3}}
    lease = lrcast.LeasePolicy(steps=5, seconds=None, min_steps=5)
    with lrcast.Client(pilot.url, lease=lease) as client:
        run = client.run(run_id, schedule=SCHEDULE, autopilot=policy)
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = lrcast.torch.RemoteScheduler(opt, run)
        run.checkpoint(0)
        run.checkpoint(10)
        for _ in range(1, 20):
            opt.step()
            sched.step()
        points = [[k, 1.0 + 0.01 * (k % 3)] for k in range(20)] + [[20, 9.0], [21, 9.0]]
        httpx.post(f"{pilot.url}/v1/runs/{run_id}/losses", json={"rank": 0, "points": points})
        with pytest.raises(lrcast.errors.Rewind) as caught:
            for _ in range(100):
                opt.step()
                sched.step()
        directive = caught.value
        assert directive.to_step == 10 and directive.skip_batches == 3
        assert directive.lr_scale == 0.25 and sched.last_epoch == directive.step - 1
        run.rewind(directive.to_step, resume_id=directive.directive_id)
        state = {**sched.state_dict(), "last_epoch": directive.to_step}
        sched.load_state_dict(state)
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(parse(SCHEDULE).lr(11) * 0.25)


def test_the_example_loop_recovers_from_a_corrupt_shard(pilot: LRCastServer,
                                                        tmp_path: Path) -> None:
    """``examples/autopilot_train.py`` as its docstring runs it (2 ranks, RANK/WORLD_SIZE):
    with corrupt batches both ranks rewind once, to the same checkpoint, and finish. (The
    directive lands past every step leased when the spike is seen, a few hundred to a
    thousand steps of this toy job: hence its length.)"""
    run_id = f"example-{uuid.uuid4().hex[:8]}"
    example = Path(__file__).resolve().parents[2] / "examples" / "autopilot_train.py"
    env = {**os.environ, "LRCAST_URL": pilot.url, "RUN_ID": run_id, "WORLD_SIZE": "2",
           "STEPS": "4000", "SPIKE_AT": "350", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(example)], env={**env, "RANK": str(rank)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in range(2)]
    outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    rewound = [[line for line in out.splitlines() if "rewound to step" in line]
               for out in outputs]
    assert rewound == [[f"rank {rank}: loss spike; rewound to step 300, skipping 50 "
                        f"batches, LR x0.5"] for rank in range(2)], outputs
    events = httpx.get(f"{pilot.url}/v1/runs/{run_id}/events",
                       params={"limit": 1000}).json()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds.count("directive") == 1 and "recovery" in kinds, kinds
    assert httpx.get(f"{pilot.url}/v1/runs/{run_id}/losses").json()["steps"] == list(
        range(4000))
