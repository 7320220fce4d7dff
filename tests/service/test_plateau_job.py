"""A 64-rank plateau job against the real service: every rank reports in every round
(concurrently), every rank gets the same LRs, equal to PyTorch's ReduceLROnPlateau fed the
aggregated values; then kill -9 and a restart lose nothing acknowledged."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support import LRCastServer

from ._specs import run_body

torch = pytest.importorskip("torch")

WORLD = 64
ROUNDS = 24
EVERY = 10
SPEC = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 2,
        "threshold": 0.01, "cooldown": 1, "min_lr": 1e-4}


def loss(round_: int, rank: int) -> float:
    """Improves for 8 rounds, then plateaus with bumps; rank offsets are exact binary
    fractions, so the mean is the same whatever the order of summation."""
    base = 2.0 - 0.125 * min(round_, 8) + (0.0625 if round_ % 5 == 0 else 0.0)
    return base + (rank - WORLD / 2) / 1024


def pytorch_lrs() -> list[float]:
    """PyTorch's LR after each round, fed the mean of the ranks' values."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=1e-4)
    out = []
    for k in range(ROUNDS):
        sched.step(sum(loss(k, r) for r in range(WORLD)) / WORLD)
        out.append(opt.param_groups[0]["lr"])
    return out


async def rank_job(server: LRCastServer, run_id: str, rank: int) -> list[float]:
    """One rank (its own connection): report at every round, then read the LR there."""
    async with server.async_client(timeout=60) as ac:
        return await _rank_loop(ac, run_id, rank)


async def _rank_loop(ac: httpx.AsyncClient, run_id: str, rank: int) -> list[float]:
    seen = []
    for k in range(ROUNDS):
        step = (k + 1) * EVERY
        r = await ac.post(f"/v1/runs/{run_id}/reports",
                          json={"step": step, "value": loss(k, rank), "rank": rank})
        assert r.status_code == 200, r.text
        answer = await ac.get(f"/v1/runs/{run_id}/lr",
                              params={"step": step, "rank": rank, "wait": 30})
        assert answer.status_code == 200, answer.text
        seen.append(answer.json()["lr"])
    return seen


def test_64_ranks_get_pytorchs_lrs_and_survive_kill_9(database_url: str,
                                                      tmp_path_factory: pytest.TempPathFactory
                                                      ) -> None:
    run_id = "plateau-64"
    with LRCastServer(database_url) as server:
        with server.client() as client:
            assert client.put(f"/v1/runs/{run_id}",
                              json=run_body(SPEC, world_size=WORLD)).status_code == 201

        async def job() -> list[list[float]]:
            return await asyncio.gather(*(rank_job(server, run_id, r) for r in range(WORLD)))

        per_rank = asyncio.run(job())
        expected = pytorch_lrs()
        assert len({tuple(s) for s in per_rank}) == 1  # every rank, the same LRs
        assert per_rank[0] == expected
        assert len(set(expected)) > 2  # the job did reduce, more than once

        with server.client() as client:
            before = client.get(f"/v1/runs/{run_id}/lrs",
                                params={"start": 0, "stop": ROUNDS * EVERY + 50}).json()
            events = client.get(f"/v1/runs/{run_id}/events").json()["events"]
            assert [e["data"]["step"] for e in events if e["kind"] == "decision"] == [
                (k + 1) * EVERY for k in range(ROUNDS)]
            # an acknowledged half-round, then kill -9
            for rank in range(WORLD // 2):
                client.post(f"/v1/runs/{run_id}/reports",
                            json={"step": 1000, "value": 9.0, "rank": rank})
            server.kill()
            server.start()
            assert client.get(f"/v1/runs/{run_id}/lrs", params={
                "start": 0, "stop": ROUNDS * EVERY + 50}).json() == before
            run = client.get(f"/v1/runs/{run_id}").json()
            assert run["pending_rounds"][0]["missing_ranks"] == list(range(WORLD // 2, WORLD))
            for rank in range(WORLD):  # retries of the acknowledged ones count once
                r = client.post(f"/v1/runs/{run_id}/reports",
                                json={"step": 1000, "value": 9.0, "rank": rank})
                assert r.status_code == 200
            assert r.json()["decided"] and r.json()["received"] == WORLD
            assert client.get(f"/v1/runs/{run_id}/events").json()["events"][-1]["data"][
                "step"] == 1000
