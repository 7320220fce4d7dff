"""Progress per rank from where ranks really are (issue 15): `GET /v1/runs/{id}` shows each
rank's step (the latest step whose LR it used, as `at` in its leases and reports tells) and
when the service last heard from it; a short job that closes its run ends at its last step."""

from __future__ import annotations

import time

import httpx
import pytest

import lrcast
from tests.support import LRCastServer

from ._specs import PLATEAU

torch = pytest.importorskip("torch")
import lrcast.torch  # noqa: E402

COSINE = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 50}


def _progress(client: httpx.Client, run_id: str) -> dict[int, dict]:
    run = client.get(f"/v1/runs/{run_id}").json()
    return {p["rank"]: p for p in run["progress"]}


def _train(server: LRCastServer, run_id: str, spec: dict, steps: int,
           plateau_every: int | None = None) -> list[float]:
    """A real training loop (a linear model, SGD) driven by RemoteScheduler: the LRs used."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    used = []
    with lrcast.Client(server.url, token=(server.tokens or [None])[0]) as client, \
            client.run(run_id, schedule=spec, world_size=1) as run:
        sched = lrcast.torch.RemoteScheduler(opt, run)
        for step in range(steps):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            used.append(opt.param_groups[0]["lr"])
            opt.step()
            if plateau_every and (step + 1) % plateau_every == 0:
                sched.step(float(loss))
            else:
                sched.step()
    return used


def test_a_finished_50_step_job_shows_its_last_step(server: LRCastServer,
                                                    client: httpx.Client, run_id: str) -> None:
    """Steps 0..49 were trained: rank 0 is at step 49 (its last used LR), not at 0."""
    before = time.time()
    used = _train(server, run_id, COSINE, 50)
    ref_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=50)
    expected = []
    for _ in range(50):
        expected.append(ref_opt.param_groups[0]["lr"])
        ref_opt.step()
        ref.step()
    assert used == pytest.approx(expected, rel=1e-12)
    rank0 = _progress(client, run_id)[0]
    assert rank0["step"] == 49
    assert before <= rank0["updated_at"] <= time.time()
    run = client.get(f"/v1/runs/{run_id}").json()
    assert run["served_frontier"] > 49  # the lease reached further than the rank went


def test_plateau_job_progress_follows_the_reports(server: LRCastServer,
                                                  client: httpx.Client, run_id: str) -> None:
    """The normal plateau flow (a report every 10 steps) is accepted throughout, and the
    progress is the rank's real step, far below its lease's horizon."""
    _train(server, run_id, PLATEAU, 35, plateau_every=10)
    run = client.get(f"/v1/runs/{run_id}").json()
    assert {p["rank"]: p["step"] for p in run["progress"]} == {0: 34}
    assert [r["step"] for r in client.get(f"/v1/runs/{run_id}/rounds").json()["rounds"]] == [
        10, 20, 30]


def test_leases_and_reports_carry_the_step_and_the_time(client: httpx.Client,
                                                        run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json={"schedule": PLATEAU, "world_size": 2})
    client.post(f"/v1/runs/{run_id}/leases", json={"rank": 0, "step": 0, "steps": 500, "at": 0})
    client.post(f"/v1/runs/{run_id}/leases", json={"rank": 1, "step": 0, "steps": 500})
    first = _progress(client, run_id)
    assert {r: p["step"] for r, p in first.items()} == {0: 0, 1: 0}
    time.sleep(0.05)
    client.post(f"/v1/runs/{run_id}/reports",
                json={"step": 100, "value": 1.0, "rank": 1, "at": 99})
    later = _progress(client, run_id)
    assert later[1]["step"] == 99 and later[0]["step"] == 0
    assert later[1]["updated_at"] > first[1]["updated_at"]
    assert later[0]["updated_at"] == first[0]["updated_at"]  # not heard from since
    # a renewal below the pending round at 100 moves rank 0 too
    r = client.post(f"/v1/runs/{run_id}/leases", json={"rank": 0, "step": 99, "steps": 1,
                                                       "at": 99})
    assert r.status_code == 200 and _progress(client, run_id)[0]["step"] == 99


def test_progress_survives_a_restart(tmp_path) -> None:  # noqa: ANN001
    with LRCastServer(tmp_path / "p.db", log_path=tmp_path / "log") as server:
        _train(server, "restart", COSINE, 20)
        server.restart()
        with server.client() as http:
            rank0 = _progress(http, "restart")[0]
    assert rank0["step"] == 19 and rank0["updated_at"] is not None
