"""Membership changes over HTTP on a real server, on SQLite and PostgreSQL: the route, the PUT
with a greater epoch, fencing, idempotency keys, the event, and the client's automatic
change; plateau decisions checked against PyTorch fed each generation's means."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import lrcast
from tests.support.oracles import plateau_lrs

PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


def _put(client: httpx.Client, run_id: str, world_size: int, **extra: object) -> httpx.Response:
    return client.put(f"/v1/runs/{run_id}",
                      json={"schedule": PLATEAU, "world_size": world_size, **extra})


def _report(client: httpx.Client, run_id: str, step: int, rank: int, value: float,
            **extra: object) -> httpx.Response:
    return client.post(f"/v1/runs/{run_id}/reports",
                       json={"step": step, "rank": rank, "value": value, **extra})


def _lr(client: httpx.Client, run_id: str, **params: object) -> httpx.Response:
    return client.get(f"/v1/runs/{run_id}/lr", params=params)


def _stale(answer: httpx.Response, epoch: int, sent_epoch: int) -> bool:
    return answer.status_code == 409 and answer.json()["code"] == "stale_membership" and \
        (answer.json()["epoch"], answer.json()["sent_epoch"]) == (epoch, sent_epoch)


def test_a_change_drops_what_followed_discards_open_rounds_and_fences(client, run_id) -> None:
    assert _put(client, run_id, 4).status_code == 201
    gen0 = {10: [1.0, 1.2, 0.8, 1.0], 20: [0.9] * 4, 30: [2.0] * 4}
    for step, values in gen0.items():
        for rank, value in enumerate(values):
            assert _report(client, run_id, step, rank, value, epoch=0).status_code == 200
    for rank in range(3):  # rank 3 is preempted before it reports at 40
        assert _report(client, run_id, 40, rank, 0.1, epoch=0).status_code == 200

    body = {"world_size": 2, "from_step": 20, "epoch": 1}
    first = client.post(f"/v1/runs/{run_id}/membership", json=body)
    assert first.status_code == 200, first.text
    assert first.json() == {"run_id": run_id, "epoch": 1, "world_size": 2, "from_step": 20,
                            "generations": [{"epoch": 0, "from_step": 0, "world_size": 4},
                                            {"epoch": 1, "from_step": 20, "world_size": 2}]}
    again = client.post(f"/v1/runs/{run_id}/membership", json=body)
    assert again.status_code == 200 and again.json() == first.json()

    run = client.get(f"/v1/runs/{run_id}").json()
    assert (run["world_size"], run["epoch"], run["pending_rounds"]) == (2, 1, [])
    assert run["last_decided_step"] == 20 and run["served_frontier"] == 20
    events = client.get(f"/v1/runs/{run_id}/events").json()["events"]
    changes = [e["data"] for e in events if e["kind"] == "membership"]
    assert len(changes) == 1
    assert changes[0]["discarded_rounds"] == [{"step": 40, "reports":
                                               {"0": 0.1, "1": 0.1, "2": 0.1}}]
    assert changes[0]["previous"] == {"epoch": 0, "from_step": 0, "world_size": 4}

    for sent, code in ((0, "stale_membership"), (2, "membership_pending")):
        refused = _report(client, run_id, 30, 0, 0.85, epoch=sent)
        assert (refused.status_code, refused.json()["code"]) == (409, code)
        assert refused.json()["epoch"] == 1 and refused.json()["sent_epoch"] == sent
    stale_lease = client.post(f"/v1/runs/{run_id}/leases", json={"rank": 0, "step": 21,
                                                                 "epoch": 0})
    assert (stale_lease.status_code, stale_lease.json()["code"]) == (409, "stale_membership")
    assert _report(client, run_id, 30, 2, 1.0, epoch=1).status_code == 422  # rank 2 is gone
    closed = _report(client, run_id, 15, 0, 1.0, epoch=1)
    assert (closed.status_code, closed.json()["code"]) == (409, "round_closed")

    gen1 = {30: [0.85, 0.75], 40: [0.9, 0.9], 50: [0.5, 0.3]}
    for step, values in gen1.items():
        answers = [_report(client, run_id, step, r, v, epoch=1) for r, v in enumerate(values)]
        assert answers[-1].json()["decided"] and answers[-1].json()["expected"] == 2
    means = [math.fsum(v) / len(v) for v in (gen0[10], gen0[20], *gen1.values())]
    lrs = [client.get(f"/v1/runs/{run_id}/lr", params={"step": s}).json()["lr"]
           for s in (10, 20, 30, 40, 50)]
    assert lrs == plateau_lrs(means)

    conflict = client.post(f"/v1/runs/{run_id}/membership",
                           json={"world_size": 3, "from_step": 20, "epoch": 1})
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "membership_conflict"
    assert conflict.json()["fields"] == ["world_size"]
    older = client.post(f"/v1/runs/{run_id}/membership",
                        json={"world_size": 4, "from_step": 0, "epoch": 0})
    assert (older.status_code, older.json()["fields"]) == (409, ["epoch"])


def test_a_put_with_a_greater_epoch_changes_the_membership(client, run_id) -> None:
    assert _put(client, run_id, 4).status_code == 201
    for rank in range(4):
        _report(client, run_id, 10, rank, 1.0)
    assert client.post(f"/v1/runs/{run_id}/checkpoints", json={"step": 10}).status_code == 200
    refused = _put(client, run_id, 2)  # no epoch: another world size is the conflict it was
    assert refused.status_code == 409 and refused.json()["fields"] == ["world_size"]
    assert _put(client, run_id, 2, epoch=0).status_code == 409  # not a greater epoch
    changed = _put(client, run_id, 2, epoch=1)  # from the latest checkpoint: step 10
    assert changed.status_code == 200, changed.text
    assert changed.json()["generations"][-1] == {"epoch": 1, "from_step": 10, "world_size": 2}
    assert _put(client, run_id, 2, epoch=1).status_code == 200  # every rank: the same
    assert _put(client, run_id, 2).status_code == 200
    explicit = _put(client, run_id, 3, epoch=2, from_step=5)
    assert explicit.json()["generations"] == [
        {"epoch": 0, "from_step": 0, "world_size": 4},
        {"epoch": 2, "from_step": 5, "world_size": 3}]  # superseded generation 1
    other = client.put(f"/v1/runs/{run_id}", json={"schedule": {**PLATEAU, "factor": 0.3},
                                                   "world_size": 1, "epoch": 3})
    assert other.status_code == 409 and other.json()["fields"] == ["schedule"]
    bad = _put(client, run_id, 3, from_step=5)
    assert bad.status_code == 422 and bad.json()["field"] == "from_step"
    created = _put(client, f"{run_id}-e", 2, epoch=7)
    assert created.status_code == 201 and created.json()["epoch"] == 7


def test_an_idempotency_key_replays_the_change(client, run_id) -> None:
    assert _put(client, run_id, 4).status_code == 201
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"world_size": 2, "from_step": 0, "epoch": 1}
    first = client.post(f"/v1/runs/{run_id}/membership", json=body, headers=key)
    replay = client.post(f"/v1/runs/{run_id}/membership", json=body, headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    reused = client.post(f"/v1/runs/{run_id}/membership", json={**body, "epoch": 2},
                         headers=key)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    assert client.get(f"/v1/runs/{run_id}").json()["epoch"] == 1
    missing = client.post("/v1/runs/no-such-run/membership", json=body)
    assert missing.status_code == 404


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_client_changes_the_membership_when_its_generation_resumes(
        server, run_id, flavour) -> None:
    """Generation 0: 4 ranks; generation 1 (epoch 1): 2 ranks resuming from step 20. Each
    rank of generation 1 opens the run (the PUT's world-size conflict is its own restart),
    rewinds to its checkpoint (which makes the change once: idempotent), and reports."""
    with lrcast.Client(server.url) as sync:
        gen0 = [sync.run(run_id, schedule=PLATEAU, world_size=4, rank=r, epoch=0)
                for r in range(4)]
        for run in gen0:
            assert run.epoch == 0 and run.membership_epoch == 0
            run.lr(0)
        with server.client() as http:
            for step, value in ((10, 1.0), (20, 0.9), (30, 2.0)):
                for rank in range(4):
                    _report(http, run_id, step, rank, value)
    if flavour == "sync":
        client = lrcast.Client(server.url)
        runs = [client.run(run_id, schedule=PLATEAU, world_size=2, rank=r, epoch=1)
                for r in range(2)]
        for run in runs:
            run.rewind(20)
        assert runs[0].lr(21) == 0.1  # the decision at 30 was dropped
        client.close()
    else:
        async def resume() -> None:
            client = lrcast.AsyncClient(server.url)
            runs = [await client.run(run_id, schedule=PLATEAU, world_size=2, rank=r, epoch=1)
                    for r in range(2)]
            for run in runs:
                await run.rewind(20)
            assert await runs[0].lr(21) == 0.1
            await client.aclose()
        asyncio.run(resume())
    with server.client() as http:
        run = http.get(f"/v1/runs/{run_id}").json()
        assert run["generations"][-1] == {"epoch": 1, "from_step": 20, "world_size": 2}
        events = http.get(f"/v1/runs/{run_id}/events").json()["events"]
        assert sum(e["kind"] == "membership" for e in events) == 1
    with lrcast.Client(server.url) as late, pytest.raises(lrcast.errors.StaleMembership):
        late.run(run_id, schedule=PLATEAU, world_size=2, rank=0, epoch=0)


def test_a_stale_rank_cannot_report_or_read_through_the_client(server, run_id) -> None:
    with lrcast.Client(server.url) as client:
        old = client.run(run_id, schedule=PLATEAU, world_size=1, rank=0, epoch=0)
        old.lr(0)
        new = client.run(run_id, schedule=PLATEAU, world_size=1, rank=0, epoch=1)
        new.membership(1, 0, 1)
        with pytest.raises(lrcast.errors.StaleMembership):
            old.report(5, 1.0)
        assert old.lease is not None
        with pytest.raises(lrcast.errors.StaleMembership) as refused:  # its next lease
            old.lr(old.lease.horizon)
        assert refused.value.body["epoch"] == 1 and refused.value.body["sent_epoch"] == 0
        assert new.report(5, 1.0).decided


def test_a_rank_s_lr_query_is_fenced_by_its_epoch(server, run_id) -> None:
    """GET .../lr with `epoch`: older than the run's is 409 stale_membership on the fast path
    (a cached view), on the route, and on a cache miss; the run's own epoch is answered as
    without it, byte for byte; a newer one as to an observer. Neither moves any progress."""
    with server.client() as client:
        assert _put(client, run_id, 2).status_code == 201
        changed = client.post(f"/v1/runs/{run_id}/membership",
                              json={"world_size": 2, "from_step": 0, "epoch": 1})
        assert changed.status_code == 200, changed.text
        assert _lr(client, run_id, step=40).status_code == 200  # cached, frontier past 40
        plain = _lr(client, run_id, step=12, rank=0)
        assert plain.status_code == 200
        assert _lr(client, run_id, step=12, rank=0, epoch=1).content == plain.content
        # the fast path declines a stale epoch; `via`, a key it does not take: the route
        assert _stale(_lr(client, run_id, step=20, rank=1, epoch=0), 1, 0)
        assert _stale(_lr(client, run_id, step=20, rank=1, epoch=0, via="route"), 1, 0)
        observer = _lr(client, run_id, step=20, rank=5, epoch=2)  # a generation not made yet
        assert observer.status_code == 200 and observer.content == \
            _lr(client, run_id, step=20).content
        assert _lr(client, run_id, step=20, rank=5, epoch=1).status_code == 422  # no rank 5
        for bad in ("-1", "x", "1.5", str(2**53)):
            invalid = client.get(f"/v1/runs/{run_id}/lr?step=3&rank=0&epoch={bad}")
            assert invalid.status_code == 422 and invalid.json()["field"] == "epoch"
        progress = client.get(f"/v1/runs/{run_id}").json()["progress"]
        assert {p["rank"]: p["step"] for p in progress} == {0: 12}
    server.kill()
    server.start()  # a cold cache: the first query loads the run on the route
    with server.client() as client:
        assert _stale(_lr(client, run_id, step=20, rank=1, epoch=0), 1, 0)
        assert _lr(client, run_id, step=12, rank=0, epoch=1).content == plain.content


def test_a_stale_rank_s_long_poll_is_refused_not_held(server, run_id) -> None:
    """At a barrier, a stale epoch's long-poll is 409 stale_membership at once (on the
    long-poll path and the route); one held when a change makes its epoch stale is too."""
    with server.client() as client:
        assert _put(client, run_id, 2).status_code == 201
        client.post(f"/v1/runs/{run_id}/membership",
                    json={"world_size": 2, "from_step": 0, "epoch": 1}).raise_for_status()
        assert _report(client, run_id, 10, 0, 1.0, epoch=1).status_code == 200  # 10 waits
        started = time.monotonic()
        assert _stale(_lr(client, run_id, step=12, rank=1, epoch=0, wait=20), 1, 0)
        assert _stale(_lr(client, run_id, step=12, rank=1, epoch=0, wait=20, via="route"),
                      1, 0)
        assert time.monotonic() - started < 10
        pending = _lr(client, run_id, step=12, rank=1, epoch=1, wait=0.2)
        assert (pending.status_code, pending.json()["code"]) == (409, "round_pending")
        def poll() -> httpx.Response:
            with server.client() as other:
                return _lr(other, run_id, step=12, rank=1, epoch=1, wait=20)
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(poll)
            time.sleep(0.3)
            assert not held.done()
            client.post(f"/v1/runs/{run_id}/membership",  # discards the round at 10
                        json={"world_size": 2, "from_step": 0, "epoch": 2}).raise_for_status()
            assert _stale(held.result(timeout=10), 2, 1)


def test_the_loss_curve_counts_each_generation_s_ranks(client, run_id) -> None:
    assert _put(client, run_id, 4).status_code == 201
    for rank in range(4):
        points = [[s, float(s + rank)] for s in range(1, 6)]
        assert client.post(f"/v1/runs/{run_id}/losses",
                           json={"rank": rank, "points": points}).status_code == 200
    client.post(f"/v1/runs/{run_id}/membership",
                json={"world_size": 2, "from_step": 3, "epoch": 1})
    for rank in range(2):
        points = [[s, float(10 * s + rank)] for s in range(4, 7)]
        client.post(f"/v1/runs/{run_id}/losses", json={"rank": rank, "points": points})
    curve = client.get(f"/v1/runs/{run_id}/losses").json()
    assert curve["steps"] == [1, 2, 3, 4, 5, 6]  # steps after 3 from generation 1 only
    assert curve["mean"] == pytest.approx([s + 1.5 for s in (1, 2, 3)] +
                                          [10 * s + 0.5 for s in (4, 5, 6)])


def test_a_growing_generation_reads_as_an_observer_until_its_change(server, run_id) -> None:
    """Ranks beyond the run's world size: their leases before the change are an observer's
    (no 422, no progress), and after it they are ranks of the run."""
    with lrcast.Client(server.url) as client:
        client.run(run_id, schedule=PLATEAU, world_size=1, rank=0, epoch=0).lr(0)
        runs = [client.run(run_id, schedule=PLATEAU, world_size=3, rank=r, epoch=1)
                for r in range(3)]
        assert runs[2].lr(0) == 0.1  # before the change: as an observer
        with server.client() as http:
            assert http.get(f"/v1/runs/{run_id}").json()["world_size"] == 1
        for run in runs:
            run.rewind(0)
        with server.client() as http:
            run = http.get(f"/v1/runs/{run_id}").json()
            assert (run["world_size"], run["epoch"]) == (3, 1)
            answers = [_report(http, run_id, 5, r, 1.0, epoch=1) for r in range(3)]
        assert [a.json()["decided"] for a in answers] == [False, False, True]
