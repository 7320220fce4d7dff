"""Idempotency-Key on every write, against a real server (SQLite, and PostgreSQL when set): a
retry with the same key and request is answered from the kept answer and executed once, the
same key on another request is refused, and the key survives kill -9 with its write."""

from __future__ import annotations

import asyncio
import threading
import uuid

import httpx
import pytest

import lrcast
from tests.client.scripted_http import LossyProxy
from tests.support import LRCastServer

from ._specs import PLATEAU, run_body

CONSTANT = {"type": "ConstantLR", "lr": 0.1, "factor": 1.0, "total_iters": 0}
REPLAYED = "Idempotent-Replayed"


def keyed(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or str(uuid.uuid4())}


def lr(client: httpx.Client, run_id: str, step: int) -> float:
    r = client.get(f"/v1/runs/{run_id}/lr", params={"step": step})
    assert r.status_code == 200, r.text
    return r.json()["lr"]


def kinds(client: httpx.Client, run_id: str) -> list[str]:
    return [e["kind"] for e in client.get(f"/v1/runs/{run_id}/events").json()["events"]]


def test_a_scale_amendment_sent_twice_is_applied_once(client: httpx.Client,
                                                      run_id: str) -> None:
    """The bug of issue 10: 0.05 stays 0.05, not 0.025."""
    client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT))
    headers = keyed()
    first = client.post(f"/v1/runs/{run_id}/amendments", headers=headers,
                        json={"from_step": 50, "scale": 0.5})
    again = client.post(f"/v1/runs/{run_id}/amendments", headers=headers,
                        json={"from_step": 50, "scale": 0.5})
    assert first.status_code == again.status_code == 200
    assert REPLAYED not in first.headers and again.headers[REPLAYED] == "true"
    assert again.content == first.content and first.json()["version"] == 2
    assert lr(client, run_id, 60) == pytest.approx(0.05) and lr(client, run_id, 49) == 0.1
    assert kinds(client, run_id).count("amendment") == 1
    # with a fresh key the same change is a new write: scales compound
    frontier = client.get(f"/v1/runs/{run_id}").json()["served_frontier"]
    assert client.post(f"/v1/runs/{run_id}/amendments", headers=keyed(),
                       json={"from_step": frontier, "scale": 0.5}).json()["version"] == 3
    assert lr(client, run_id, frontier) == pytest.approx(0.025)


@pytest.mark.parametrize("other", [
    {"json": {"from_step": 50, "scale": 0.25}},  # another body
    {"json": {"from_step": 50, "scale": 0.5}, "path": "rewind"},  # another route
])
def test_the_same_key_on_another_request_is_refused(client: httpx.Client, run_id: str,
                                                    other: dict) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT))
    headers = keyed()
    assert client.post(f"/v1/runs/{run_id}/amendments", headers=headers,
                       json={"from_step": 50, "scale": 0.5}).status_code == 200
    r = client.post(f"/v1/runs/{run_id}/{other.get('path', 'amendments')}", headers=headers,
                    json=other["json"])
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "idempotency_key_reused"
    assert r.json()["key"] == headers["Idempotency-Key"]
    assert "Idempotency-Key" in r.json()["detail"]
    assert client.get(f"/v1/runs/{run_id}").json()["version"] == 2  # nothing else applied


@pytest.mark.parametrize("key", ["", "k" * 256, "two words"])
def test_a_malformed_key_is_422_naming_the_header(client: httpx.Client, run_id: str,
                                                  key: str) -> None:
    r = client.put(f"/v1/runs/{run_id}", json=run_body(), headers={"Idempotency-Key": key})
    assert r.status_code == 422 and r.json()["field"] == "Idempotency-Key", r.text
    assert client.get(f"/v1/runs/{run_id}").status_code == 404  # nothing written


def test_run_creation_is_replayed(client: httpx.Client, run_id: str) -> None:
    headers = keyed()
    created = client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT), headers=headers)
    assert created.status_code == 201
    # an identical PUT without the key is a 200; the retry with it replays the 201
    assert client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT)).status_code == 200
    again = client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT), headers=headers)
    assert again.status_code == 201 and again.headers[REPLAYED] == "true"
    assert again.content == created.content
    # a refused write keeps no key: the key is free for the corrected request
    refusing = keyed()
    conflict = client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU), headers=refusing)
    assert conflict.status_code == 409 and conflict.json()["code"] == "run_conflict"
    assert client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT),
                      headers=refusing).status_code == 200


def test_post_runs_with_a_key_creates_one_run(client: httpx.Client) -> None:
    headers = keyed()
    body = run_body(CONSTANT, metadata={"test": headers["Idempotency-Key"]})
    first = client.post("/v1/runs", json=body, headers=headers)
    again = client.post("/v1/runs", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.headers[REPLAYED] == "true"
    other = client.post("/v1/runs", json=body, headers=keyed())
    assert other.json()["run_id"] != first.json()["run_id"]
    mine = [r for r in client.get("/v1/runs", params={"limit": 1000}).json()["runs"]
            if r["metadata"] == body["metadata"]]
    assert len(mine) == 2


def test_delete_is_replayed_not_404(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    headers = keyed()
    assert client.delete(f"/v1/runs/{run_id}", headers=headers).status_code == 204
    again = client.delete(f"/v1/runs/{run_id}", headers=headers)
    assert again.status_code == 204 and again.headers[REPLAYED] == "true"
    assert client.delete(f"/v1/runs/{run_id}").status_code == 404  # without the key: gone
    missing = client.delete(f"/v1/runs/{run_id}-none", headers=keyed())
    assert missing.status_code == 404


def test_a_report_replayed_after_a_rewind_is_not_counted_again(client: httpx.Client,
                                                               run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU))
    k10, k20 = keyed(), keyed()
    reports = f"/v1/runs/{run_id}/reports"
    first = client.post(reports, json={"step": 10, "value": 1.0, "rank": 0}, headers=k10)
    second = client.post(reports, json={"step": 20, "value": 2.0, "rank": 0}, headers=k20)
    assert second.json()["lr"] == 0.05
    rewind_key = keyed()
    rewound = client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 10}, headers=rewind_key)
    assert rewound.json()["applied"] is True
    # a late retry of the step-20 report: replayed as answered, the dropped round stays dropped
    late = client.post(reports, json={"step": 20, "value": 2.0, "rank": 0}, headers=k20)
    assert late.content == second.content and late.headers[REPLAYED] == "true"
    assert [r["step"] for r in client.get(f"/v1/runs/{run_id}/rounds").json()["rounds"]] == [10]
    assert lr(client, run_id, 25) == 0.1
    again = client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 10}, headers=rewind_key)
    assert again.content == rewound.content and again.headers[REPLAYED] == "true"
    assert client.post(reports, json={"step": 10, "value": 1.0, "rank": 0},
                       headers=k10).content == first.content
    assert kinds(client, run_id).count("rewind") == 1


def test_a_lease_is_replayed(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT))
    headers = keyed()
    body = {"rank": 0, "step": 0, "steps": 100}
    first = client.post(f"/v1/runs/{run_id}/leases", json=body, headers=headers)
    client.post(f"/v1/runs/{run_id}/amendments", json={"from_step": 500, "scale": 0.5})
    again = client.post(f"/v1/runs/{run_id}/leases", json=body, headers=headers)
    assert first.status_code == 200 and again.headers[REPLAYED] == "true"
    assert again.content == first.content  # the lease as handed out (version 1)
    assert client.post(f"/v1/runs/{run_id}/leases", json=body).json()["version"] == 2


def test_a_retry_while_the_first_is_in_flight_gets_its_answer(server: LRCastServer,
                                                              run_id: str) -> None:
    """The first lease long-polls a pending round; the retry with its key waits for it and
    gets the same answer, whichever finished first."""
    with server.client() as client:
        client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=2))
        client.post(f"/v1/runs/{run_id}/reports", json={"step": 10, "value": 1.0, "rank": 0})
    headers = keyed()

    async def main() -> list[httpx.Response]:
        async with server.async_client() as ac:
            lease = {"rank": 0, "step": 10, "steps": 50}
            calls = [asyncio.ensure_future(ac.post(f"/v1/runs/{run_id}/leases", json=lease,
                                                   params={"wait": 20}, headers=headers))]
            await asyncio.sleep(0.3)
            calls.append(asyncio.ensure_future(ac.post(
                f"/v1/runs/{run_id}/leases", json=lease, params={"wait": 20}, headers=headers)))
            await asyncio.sleep(0.3)
            assert not any(c.done() for c in calls)  # both wait for the round
            await ac.post(f"/v1/runs/{run_id}/reports",
                          json={"step": 10, "value": 1.0, "rank": 1})
            return list(await asyncio.wait_for(asyncio.gather(*calls), 20))

    first, second = asyncio.run(main())
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert [REPLAYED in r.headers for r in (first, second)] == [False, True]


def test_concurrent_retries_of_one_amendment_apply_it_once(server: LRCastServer,
                                                           run_id: str) -> None:
    with server.client() as client:
        client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT))
    headers = keyed()
    answers: list[httpx.Response] = []

    def send() -> None:
        with server.client() as c:
            answers.append(c.post(f"/v1/runs/{run_id}/amendments", headers=headers,
                                  json={"from_step": 50, "scale": 0.5}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(answers) == 8 and {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1
    assert sum(REPLAYED not in r.headers for r in answers) == 1
    with server.client() as client:
        assert lr(client, run_id, 50) == pytest.approx(0.05)
        assert client.get(f"/v1/runs/{run_id}").json()["version"] == 2


def test_group_committed_reports_keep_their_keys(server: LRCastServer, run_id: str) -> None:
    """16 ranks report at once, each twice with its key: the round is decided once, and each
    retry is answered as its first attempt (in the batch's transaction)."""
    ranks = 16
    with server.client() as client:
        client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=ranks))
    keys = [keyed() for _ in range(ranks)]

    def report(rank: int) -> dict:
        return {"step": 10, "value": 1.0 + rank, "rank": rank}

    async def main() -> list[httpx.Response]:
        async with server.async_client() as ac:
            return list(await asyncio.gather(*(
                ac.post(f"/v1/runs/{run_id}/reports", headers=keys[i % ranks],
                        json=report(i % ranks)) for i in range(2 * ranks))))

    answers = asyncio.run(main())
    assert [r.status_code for r in answers] == [200] * (2 * ranks)
    for rank in range(ranks):
        first, retry = answers[rank], answers[rank + ranks]
        assert first.content == retry.content
        assert sorted(REPLAYED in r.headers for r in (first, retry)) == [False, True]
    assert sum(r.json()["decided"] for r in answers[:ranks]) >= 1
    with server.client() as client:
        rounds = client.get(f"/v1/runs/{run_id}/rounds").json()["rounds"]
        assert [(r["step"], r["received"], r["decided"]) for r in rounds] == [(10, ranks, True)]
        assert rounds[0]["value"] == pytest.approx(sum(1.0 + r for r in range(ranks)) / ranks)
        assert kinds(client, run_id).count("decision") == 1
        assert client.get(f"/v1/runs/{run_id}").json()["version"] == 2  # one decision
        for rank in range(ranks):  # every later retry replays its first answer
            r = client.post(f"/v1/runs/{run_id}/reports", headers=keys[rank], json=report(rank))
            assert r.headers[REPLAYED] == "true" and r.content == answers[rank].content


def test_the_client_retrying_through_a_lossy_proxy_amends_once(server: LRCastServer,
                                                               run_id: str) -> None:
    """The real client; the proxy loses the first answer to every write, so each write is
    sent twice with one key."""
    retries = lrcast.Retries(attempts=3, backoff=0.01, max_backoff=0.02)
    with LossyProxy(server.url) as proxy, lrcast.Client(proxy.url, retries=retries) as lc:
        run = lc.run(run_id, schedule=CONSTANT, world_size=1)
        run.amend(50, scale=0.5)
        sent = [r for r in proxy.requests if r["path"].endswith("/amendments")]
    assert len(sent) == 2  # lost, then retried with the same key
    assert sent[0]["headers"]["Idempotency-Key"] == sent[1]["headers"]["Idempotency-Key"]
    with server.client() as client:
        assert lr(client, run_id, 60) == pytest.approx(0.05)
        assert kinds(client, run_id).count("amendment") == 1


def test_kill_9_keeps_the_write_and_its_key_together(database_url: str) -> None:
    with LRCastServer(database_url) as server, server.client() as client:
        run_id = f"t-{uuid.uuid4().hex[:12]}"
        client.put(f"/v1/runs/{run_id}", json=run_body(CONSTANT))
        headers = keyed()
        first = client.post(f"/v1/runs/{run_id}/amendments", headers=headers,
                            json={"from_step": 50, "scale": 0.5})
        assert first.status_code == 200

        server.kill()
        server.start()

        again = client.post(f"/v1/runs/{run_id}/amendments", headers=headers,
                            json={"from_step": 50, "scale": 0.5})
        assert again.status_code == 200 and again.headers[REPLAYED] == "true"
        assert again.content == first.content
        assert lr(client, run_id, 60) == pytest.approx(0.05)
        assert kinds(client, run_id).count("amendment") == 1


def test_keys_are_dropped_lazily_past_their_ttl_and_the_newest_n(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store on the suite's database: a keyed write drops its scope's expired keys, and
    (every `_TRIM_EVERY` rows) all but the newest `KEEP`."""
    import sqlalchemy as sa

    from lrcast_service.core import idempotency
    from lrcast_service.migrations import upgrade
    from lrcast_service.store import schema, sql

    monkeypatch.setattr(idempotency, "KEEP", 3)
    monkeypatch.setattr(sql, "_TRIM_EVERY", 1)
    upgrade(database_url)
    store = sql.SqlStore(database_url, pool_size=1)
    scope = f"t-{uuid.uuid4().hex[:12]}"

    def request(key: str) -> idempotency.KeyedRequest:
        return idempotency.KeyedRequest(scope, key, "POST", "/p", idempotency.fingerprint(
            "POST", "/p", key.encode()))

    try:
        for i in range(5):
            assert not store.keep(request(f"k{i}"), 200, b"{}").replayed
        assert [store.answer(scope, f"k{i}") is not None for i in range(5)] == \
            [False, False, True, True, True]
        assert store.keep(request("k4"), 200, b"{}").replayed
        keys = schema.idempotency_keys
        with store.engine.begin() as conn:  # k2 is now a day old
            conn.execute(sa.update(keys).where(keys.c.scope == scope, keys.c.key == "k2")
                         .values(created_at=keys.c.created_at - idempotency.TTL))
        assert not store.keep(request("k5"), 201, b"[]").replayed
        assert store.answer(scope, "k2") is None  # dropped by the next keyed write
        assert store.answer(scope, "k5") == idempotency.Answer(
            request("k5").fingerprint, 201, b"[]", store.answer(scope, "k5").created_at)
    finally:
        store.close()


def test_every_write_route_takes_the_key(client: httpx.Client) -> None:
    """Each PUT/POST/DELETE of the API documents the header (POST /v1/preview stores nothing)."""
    writes = {(method, path): op for path, ops in client.get("/openapi.json").json()["paths"]
              .items() for method, op in ops.items()
              if method in ("put", "post", "delete") and path != "/v1/preview"}
    assert len(writes) >= 7
    for (method, path), op in writes.items():
        headers = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
        assert headers == ["Idempotency-Key"], (method, path)
