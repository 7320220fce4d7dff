"""Every write carries an `Idempotency-Key`: a fresh one per logical write, the same on every
retry of it; reads carry none. Through a real proxy that loses the first answer to each
write, in front of the real service."""

from __future__ import annotations

import asyncio
import uuid

import lrcast

from .scripted_http import LossyProxy

PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}
RETRIES = lrcast.Retries(attempts=3, backoff=0.01, max_backoff=0.02)


def keys_by_write(requests: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """Idempotency-Key -> the (method, path) of every attempt that carried it."""
    by_key: dict[str, list[tuple[str, str]]] = {}
    for r in requests:
        key = r["headers"].get("Idempotency-Key")
        if key is not None:
            by_key.setdefault(key, []).append((r["method"], r["path"].split("?")[0]))
    return by_key


def assert_each_write_retried_with_its_key(requests: list[dict], writes: int) -> None:
    by_key = keys_by_write(requests)
    assert len(by_key) == writes  # one key per logical write
    for key, attempts in by_key.items():
        assert uuid.UUID(key).version == 4
        assert len(attempts) == 2 and attempts[0] == attempts[1]  # lost, then retried as is
    reads = [r for r in requests if r["method"] == "GET"]
    assert reads and all("Idempotency-Key" not in r["headers"] for r in reads)


def test_sync_writes_keep_their_key_across_retries(service, run_id):
    with LossyProxy(service.url) as proxy, lrcast.Client(proxy.url, retries=RETRIES) as client:
        run = client.run(run_id, schedule=PLATEAU, world_size=1)  # PUT
        assert run.lr(5) == 0.1  # POST .../leases
        run.report(10, 1.0)  # POST .../reports
        result = run.report(20, 2.0)
        run.rewind(15)  # POST .../rewind
        run.timeline()  # GET
        requests = list(proxy.requests)
    assert result.decided and result.lr == 0.05  # each retried write counted once
    # the PUT, one lease, two reports, the rewind
    assert_each_write_retried_with_its_key(requests, writes=5)
    methods = {m for attempts in keys_by_write(requests).values() for m, _ in attempts}
    assert methods == {"PUT", "POST"}
    paths = {p.rsplit("/", 1)[-1] for a in keys_by_write(requests).values() for _, p in a}
    assert {run_id, "leases", "reports", "rewind"} <= paths


def test_async_writes_keep_their_key_across_retries(service, run_id):
    async def main(url: str) -> None:
        async with lrcast.AsyncClient(url, retries=RETRIES) as client:
            run = await client.run(run_id, schedule=PLATEAU, world_size=1)
            await run.report(10, 1.0)
            await run.timeline()

    with LossyProxy(service.url) as proxy:
        asyncio.run(main(proxy.url))
        requests = list(proxy.requests)
    assert_each_write_retried_with_its_key(requests, writes=2)  # the PUT, the report
