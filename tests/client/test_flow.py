"""The retry/backoff/failover policy as the I/O-free flow both twins drive: stepped here by
hand, command by command, with real httpx responses and errors as the outcomes."""

from __future__ import annotations

import httpx
import pytest

import lrcast
from lrcast import errors
from lrcast._flow import Attempt, Exchange, Sleep, advance
from lrcast._types import Request

TIMEOUT = httpx.Timeout(1.0)
RETRIES = lrcast.Retries(attempts=3, backoff=0.1, max_backoff=1.0, jitter=0.0)


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("refused")


def test_a_write_keeps_one_key_across_failover_backoff_and_retry():
    exchange = Exchange(("http://a", "http://b"), RETRIES, preferred=1)
    flow = exchange.flow(Request("POST", "/v1/runs/r/reports", json={"step": 1}), TIMEOUT)
    done, command = advance(flow, None)
    seen = [command]
    for outcome in (refused(), httpx.Response(503), None):  # b refused, a 503, then back off
        done, command = advance(flow, outcome)
        seen.append(command)
    assert [type(c) for c in seen] == [Attempt, Attempt, Sleep, Attempt]
    first, second, pause, third = seen
    assert [first.url, second.url, third.url] == ["http://b/v1/runs/r/reports",
                                                  "http://a/v1/runs/r/reports",
                                                  "http://b/v1/runs/r/reports"]
    assert pause.seconds == pytest.approx(0.1)  # no jitter: the first backoff itself
    keys = {c.headers["Idempotency-Key"] for c in (first, second, third)}
    assert len(keys) == 1
    done, result = advance(flow, httpx.Response(200, json={"decided": True}))
    assert (done, result) == (True, {"decided": True})
    assert (exchange.sent, exchange.preferred) == (3, 1)


def test_each_write_gets_its_own_key_and_reads_none():
    exchange = Exchange(("http://a",), RETRIES, preferred=0)
    keys = []
    for method in ("PUT", "POST", "DELETE"):
        _, attempt = advance(exchange.flow(Request(method, "/x"), TIMEOUT), None)
        keys.append(attempt.headers["Idempotency-Key"])
    assert len(set(keys)) == 3
    _, read = advance(exchange.flow(Request("GET", "/x"), TIMEOUT), None)
    assert read.headers is None


def test_an_error_answer_is_mapped_at_once_and_exhaustion_is_unavailable():
    exchange = Exchange(("http://a",), RETRIES, preferred=0)
    flow = exchange.flow(Request("PUT", "/v1/runs/r"), TIMEOUT)
    advance(flow, None)
    with pytest.raises(errors.RunConflict, match="differs"):
        advance(flow, httpx.Response(409, json={"detail": "differs", "code": "run_conflict"}))
    flow = exchange.flow(Request("GET", "/v1/runs/r"), TIMEOUT, passes=2)
    advance(flow, None)
    advance(flow, refused())  # -> Sleep
    advance(flow, None)  # -> the second pass
    with pytest.raises(errors.ServiceUnavailable, match="after 2 attempt"):
        advance(flow, httpx.Response(500))
