"""Retries, backoff and failover across base URLs, against real loopback HTTP servers."""

import asyncio
import random

import pytest

import lrcast
from lrcast import errors
from lrcast._types import Request

from .scripted_http import ScriptedServer, dead_url

FAST = lrcast.Retries(attempts=3, backoff=0.01, max_backoff=0.02)


def test_fails_over_to_the_next_url_and_sticks_to_it():
    with ScriptedServer([(200, {"ok": 1})]) as live:
        client = lrcast.Client([dead_url(), live.url], retries=FAST)
        assert client.send(Request("GET", "/v1/x")) == {"ok": 1}
        assert client.requests_sent == 2
        assert client.send(Request("GET", "/v1/x")) == {"ok": 1}
        assert client.requests_sent == 3  # straight to the replica that answered
        client.close()


def test_5xx_is_retried_with_backoff_until_success():
    with ScriptedServer([(503, {}), (502, {}), (200, {"ok": 2})]) as srv:
        client = lrcast.Client(srv.url, retries=FAST)
        assert client.send(Request("POST", "/v1/r", json={"a": 1})) == {"ok": 2}
        assert client.requests_sent == 3
        assert [r["json"] for r in srv.requests] == [{"a": 1}] * 3  # same idempotent write
        client.close()


def test_5xx_fails_over_to_a_healthy_replica():
    with ScriptedServer([(500, {})]) as sick, ScriptedServer([(200, {"ok": 3})]) as well:
        client = lrcast.Client(f"{sick.url},{well.url}", retries=FAST)
        assert client.send(Request("GET", "/v1/x")) == {"ok": 3}
        assert (len(sick.requests), len(well.requests)) == (1, 1)
        client.close()


def test_gives_up_with_service_unavailable_after_every_pass():
    with ScriptedServer([(503, {})]) as srv:
        client = lrcast.Client([srv.url, dead_url()], retries=FAST)
        with pytest.raises(errors.ServiceUnavailable, match="3 attempt"):
            client.send(Request("GET", "/v1/x"))
        assert client.requests_sent == 6  # 3 passes x 2 URLs
        assert len(srv.requests) == 3
        client.close()


def test_client_errors_are_mapped_not_retried():
    body = {"detail": "run 'a' exists with another schedule", "code": "run_conflict"}
    with ScriptedServer([(409, body)]) as srv:
        client = lrcast.Client(srv.url, retries=FAST)
        with pytest.raises(errors.RunConflict, match="another schedule"):
            client.run("a", schedule={"type": "constant", "lr": 0.1}, world_size=2)
        assert client.requests_sent == 1
        client.close()


def test_run_puts_the_spec_with_token_and_environment_defaults(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    spec = {"type": "constant", "lr": 0.1}
    with ScriptedServer([(201, {"run_id": "job", "world_size": 4})]) as srv:
        with lrcast.Client(srv.url, token="t0k", retries=FAST) as client:
            run = client.run("job", schedule=spec, metadata={"who": "me"})
        (req,) = srv.requests
        assert (req["method"], req["path"]) == ("PUT", "/v1/runs/job")
        assert req["json"] == {"schedule": spec, "world_size": 4, "aggregate": "mean",
                               "metadata": {"who": "me"}}
        assert req["headers"]["Authorization"] == "Bearer t0k"
        assert (run.rank, run.world_size) == (2, 4)


def test_async_client_fails_over_like_the_sync_one():
    async def main(url: str) -> tuple[object, int]:
        async with lrcast.AsyncClient([dead_url(), url], retries=FAST) as client:
            return await client.send(Request("GET", "/v1/x")), client.requests_sent

    with ScriptedServer([(503, {}), (200, {"ok": 4})]) as srv:
        assert asyncio.run(main(srv.url)) == ({"ok": 4}, 4)


def test_backoff_grows_and_jitter_stays_under_the_ceiling():
    retries = lrcast.Retries(backoff=0.1, max_backoff=0.5, jitter=1.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)]:
        delays = [retries.delay(attempt, rng) for _ in range(200)]
        assert 0.0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # jitter spreads over the whole range
    no_jitter = lrcast.Retries(backoff=0.1, jitter=0.0)
    assert no_jitter.delay(3) == pytest.approx(0.4)


@pytest.mark.parametrize("make,match", [
    (lambda: lrcast.Retries(attempts=0), "attempts must be >= 1"),
    (lambda: lrcast.Retries(backoff=6.0, max_backoff=5.0), "backoff <= max_backoff"),
    (lambda: lrcast.Retries(jitter=1.5), "jitter"),
    (lambda: lrcast.Timeouts(read=0), "Timeouts.read must be > 0"),
    (lambda: lrcast.Timeouts(poll=-1), "Timeouts.poll"),
    (lambda: lrcast.LeasePolicy(renew_at=0), "renew_at"),
])
def test_config_objects_refuse_bad_values_and_are_frozen(make, match):
    with pytest.raises(ValueError, match=match):
        make()
    import dataclasses

    for config in (lrcast.Retries(), lrcast.Timeouts(), lrcast.LeasePolicy()):
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.attempts = 1  # type: ignore[misc]
