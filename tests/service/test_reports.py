"""Plateau reports and rounds: idempotent retries, conflicts, order, and the barrier."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.support import LRCastServer

from ._specs import PLATEAU, STEP, WARMUP_PLATEAU, run_body


def report(client: httpx.Client, run_id: str, step: int, value: float,
           rank: int = 0) -> httpx.Response:
    return client.post(f"/v1/runs/{run_id}/reports",
                       json={"step": step, "value": value, "rank": rank})


def test_round_is_decided_when_every_rank_reported(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=3, aggregate="max"))
    assert report(client, run_id, 10, 1.0, 0).json() == {
        "step": 10, "received": 1, "expected": 3, "decided": False, "lr": None, "version": 1}
    assert report(client, run_id, 10, 2.0, 2).json()["received"] == 2
    done = report(client, run_id, 10, 3.0, 1).json()
    assert done == {"step": 10, "received": 3, "expected": 3, "decided": True, "lr": 0.1,
                    "version": 2}
    # max aggregation: 3.0 is the best so far; a worse round (patience 0) halves the LR
    for rank, value in enumerate((2.0, 5.0, 1.0)):
        last = report(client, run_id, 20, value, rank).json()
    assert last["decided"] and last["lr"] == 0.05
    events = client.get(f"/v1/runs/{run_id}/events").json()["events"]
    decisions = [e["data"] for e in events if e["kind"] == "decision"]
    assert [(d["step"], d["value"], d["reduced"]) for d in decisions] == [
        (10, 3.0, False), (20, 5.0, True)]
    assert decisions[1]["old_lrs"] == [0.1] and decisions[1]["new_lrs"] == [0.05]


def test_same_report_twice_counts_once(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=2))
    first = report(client, run_id, 5, 1.0, 0).json()
    again = report(client, run_id, 5, 1.0, 0).json()
    assert first == again and again["received"] == 1
    report(client, run_id, 5, 1.0, 1)
    retry = report(client, run_id, 5, 1.0, 0)  # a retry after the round was decided
    assert retry.status_code == 200 and retry.json()["decided"]
    conflict = report(client, run_id, 5, 2.0, 0)
    assert conflict.status_code == 409 and conflict.json()["code"] == "report_conflict"


def test_reports_to_a_closed_round_are_409(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU))
    report(client, run_id, 10, 1.0)
    report(client, run_id, 20, 1.0)
    r = report(client, run_id, 15, 1.0)
    assert r.status_code == 409 and r.json()["code"] == "round_closed"
    assert r.json()["last_decided_step"] == 20
    assert report(client, run_id, 10, 1.0).status_code == 200  # an old retry: still a no-op


def test_report_to_closed_form_schedule_is_409(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(STEP))
    r = report(client, run_id, 1, 1.0)
    assert r.status_code == 409 and r.json()["code"] == "not_metric_driven"


@pytest.mark.parametrize("body,field", [
    ('{"step": 1, "value": NaN}', "value"), ('{"step": 1, "value": 1e309}', "value"),
    ('{"step": 1, "value": 1.0, "rank": 2}', "rank"), ('{"step": -1, "value": 1.0}', "step"),
    ('{"step": 1, "value": 1.0, "rank": -1}', "rank"), ('{"value": 1.0}', "step"),
    ('{"step": 1, "value": "x"}', "value"), ('[1, 2]', "body")])
def test_invalid_report_is_422(client: httpx.Client, run_id: str, body: str,
                               field: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=2))
    r = client.post(f"/v1/runs/{run_id}/reports", content=body.encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(field)


def test_rounds_before_the_plateau_part_change_nothing(client: httpx.Client,
                                                       run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(WARMUP_PLATEAU))
    lr_25 = client.get(f"/v1/runs/{run_id}/lr?step=25").json()["lr"]
    for step, value in ((5, 1.0), (10, 9.0), (15, 9.0)):  # during warmup: recorded, no fold
        assert report(client, run_id, step, value).json()["decided"]
    run = client.get(f"/v1/runs/{run_id}").json()
    assert run["plateau"][0]["state"]["last_epoch"] == 0
    assert client.get(f"/v1/runs/{run_id}/lr?step=25").json()["lr"] == lr_25
    for step, value in ((20, 1.0), (30, 2.0), (40, 2.0)):  # patience 1: reduce at 40
        report(client, run_id, step, value)
    lrs = client.get(f"/v1/runs/{run_id}/lrs?start=39&stop=41").json()["lr"]
    assert lrs[1] == pytest.approx(lrs[0] * 0.5)


def test_barrier_answers_a_long_poll_when_the_last_rank_reports(
        server: LRCastServer, client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=2))
    report(client, run_id, 10, 1.0, 0)
    report(client, run_id, 20, 2.0, 0)

    async def scenario() -> tuple[httpx.Response, float]:
        async with server.async_client() as ac:
            start = time.monotonic()
            poll = asyncio.create_task(ac.get(f"/v1/runs/{run_id}/lr",
                                              params={"step": 25, "wait": 20}))
            await asyncio.sleep(0.5)
            assert not poll.done()
            await ac.post(f"/v1/runs/{run_id}/reports",
                          json={"step": 10, "value": 1.0, "rank": 1})
            await asyncio.sleep(0.3)
            assert not poll.done()  # round 20 still waits
            await ac.post(f"/v1/runs/{run_id}/reports",
                          json={"step": 20, "value": 2.0, "rank": 1})
            return await poll, time.monotonic() - start

    answer, elapsed = asyncio.run(scenario())
    assert answer.status_code == 200 and answer.json()["lr"] == 0.05
    assert elapsed < 5


def test_barrier_times_out_with_missing_ranks(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=4))
    report(client, run_id, 10, 1.0, 2)
    assert client.get(f"/v1/runs/{run_id}/lr?step=9").status_code == 200
    for path in ("/lr?step=10&wait=0.3", "/lrs?start=0&stop=11", "/timeline",
                 "/timeline?step=12"):
        r = client.get(f"/v1/runs/{run_id}{path}")
        assert r.status_code == 409, path
        assert r.json()["code"] == "round_pending"
        assert r.json()["step"] == 10 and r.json()["missing_ranks"] == [0, 1, 3]


def test_concurrent_duplicate_reports_never_double_count(server: LRCastServer,
                                                         client: httpx.Client,
                                                         run_id: str) -> None:
    world = 8
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=world))

    async def flood() -> list[httpx.Response]:
        # one round's flood after the other: concurrent requests arrive in any order, and a
        # round complete before the one below it has any report is decided first (then that
        # one is closed)
        answers: list[httpx.Response] = []
        async with server.async_client() as ac:
            for step in (10, 20):
                answers += await asyncio.gather(*(
                    ac.post(f"/v1/runs/{run_id}/reports",
                            json={"step": step, "value": 1.0 + step, "rank": rank})
                    for rank in range(world) for _ in range(3)))
        return answers

    answers = asyncio.run(flood())
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers
                                                        if r.status_code != 200]
    decisions = [e for e in client.get(f"/v1/runs/{run_id}/events").json()["events"]
                 if e["kind"] == "decision"]
    assert [e["data"]["step"] for e in decisions] == [10, 20]
    run = client.get(f"/v1/runs/{run_id}").json()
    assert run["plateau"][0]["state"]["last_epoch"] == 2 and run["pending_rounds"] == []
