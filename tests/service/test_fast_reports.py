"""The fast path of ``POST .../reports`` (`api/fast_reports.py`) answers as the FastAPI route
does: the same status, body and replay header for every success and every error."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from lrcast_service.api.auth import Auth
from lrcast_service.api.fast_reports import FastReports
from lrcast_service.api.idempotency import InFlight
from lrcast_service.api.metrics import Metrics
from lrcast_service.migrations import upgrade
from lrcast_service.runtime.live import LiveRuns
from lrcast_service.runtime.range_tests import RangeTests
from lrcast_service.store.sql import SqlStore
from tests.support import sqlite_url

from ._specs import PLATEAU, STEP, run_body

#: a query the route ignores and the fast path does not take: the request goes to FastAPI
VIA_ROUTE = "?via=route"
JSON = {"content-type": "application/json"}


def _key(name: str) -> dict[str, str]:
    return {**JSON, "Idempotency-Key": name}


#: (body, headers) of each report in order, or ("lr", step, rank) for an LR query between
SCENARIO: list[tuple[Any, ...]] = [
    ({"step": 5, "value": 1.0, "rank": 0}, JSON),
    ({"step": 5, "value": 1.0, "rank": 0}, JSON),  # the same again: a no-op 200
    ({"step": 5, "value": 2.0, "rank": 0}, JSON),  # 409 report_conflict
    ({"step": 5, "value": 1.0, "rank": 3}, JSON),  # 422 rank (the rule's Invalid)
    ('{"step": 5, "value": NaN}', JSON),  # 422 value (validation)
    ('{"step": 5, "value": 1.0, "extra": 1}', JSON),  # 422 (a field the model forbids)
    ('{"step": 5, ', JSON),  # no JSON
    ({"step": 5, "value": 1.0, "rank": 1, "at": 99999}, JSON),  # `at` past the frontier
    ({"step": 5, "value": 1.0, "rank": 1}, {"content-type": "text/plain"}),
    ({"step": 5, "value": 1.0, "rank": 1}, _key("k1")),
    ({"step": 5, "value": 1.0, "rank": 1}, _key("k1")),  # replayed
    ({"step": 5, "value": 1.5, "rank": 2}, _key("k1")),  # 422 idempotency_key_reused
    ({"step": 5, "value": 1.0, "rank": 2}, _key("bad key")),  # 422 naming the header
    ({"step": 5, "value": 0.5, "rank": 2}, _key("k2")),  # decides the round
    ({"step": 5, "value": 0.5, "rank": 2}, _key("k2")),  # replayed after the decision
    ({"step": 3, "value": 1.0, "rank": 0}, JSON),  # 409 round_closed
    ({"step": 3, "value": 1.0, "rank": 0}, _key("k3")),  # refused: no key kept...
    ({"step": 3, "value": 1.0, "rank": 0}, _key("k3")),  # ...so refused again
    ("lr", 20, 1),
    ({"step": 15, "value": 1.0, "rank": 0}, JSON),  # 409 lr_already_served
    ({"step": 15, "value": 1.0, "rank": 0}, _key("k4")),
    ({"step": 30, "value": 2.0, "rank": 0}, _key("k5")),
    ({"step": 30, "value": 2.0, "rank": 1}, JSON),
    ({"step": 30, "value": 3.0, "rank": 2}, JSON),  # worse: the LR is halved
]


def _play(client: httpx.Client, run_id: str, suffix: str,
          scenario: list[tuple[Any, ...]]) -> list[tuple[int, Any, str | None, str | None]]:
    answers = []
    for item in scenario:
        if item[0] == "lr":
            r = client.get(f"/v1/runs/{run_id}/lr", params={"step": item[1], "rank": item[2]})
            assert r.status_code == 200, r.text
            continue
        body, headers = item
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        r = client.post(f"/v1/runs/{run_id}/reports{suffix}", content=data, headers=headers)
        text = r.text.replace(run_id, "RUN").replace(VIA_ROUTE, "")  # a key's error says both
        answers.append((r.status_code, json.loads(text),
                        r.headers.get("idempotent-replayed"), r.headers.get("content-type")))
    return answers


def test_fast_path_answers_as_the_route(client: httpx.Client) -> None:
    fast, route = (f"t-{uuid.uuid4().hex[:12]}" for _ in range(2))
    for run_id in (fast, route):
        client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=3)).raise_for_status()
    got = _play(client, fast, "", SCENARIO)
    assert got == _play(client, route, VIA_ROUTE, SCENARIO)
    assert [status for status, *_ in got] == [200, 200, 409, 422, 422, 422, 422, 422, 422, 200,
                                              200, 422, 422, 200, 200, 409, 409, 409, 409, 409,
                                              200, 200, 200], got
    assert [replayed for *_, replayed, _ in got].count("true") == 2
    assert got[-1][1]["decided"] and got[-1][1]["lr"] == PLATEAU["lr"] * PLATEAU["factor"]


def test_fast_path_refuses_as_the_route(client: httpx.Client) -> None:
    closed_form = [({"step": 1, "value": 1.0}, JSON), ({"step": 1, "value": 1.0}, _key("a"))]
    fast, route = (f"t-{uuid.uuid4().hex[:12]}" for _ in range(2))
    for run_id in (fast, route):
        client.put(f"/v1/runs/{run_id}", json=run_body(STEP)).raise_for_status()
    got = _play(client, fast, "", closed_form)
    assert got == _play(client, route, VIA_ROUTE, closed_form)
    assert {a[1]["code"] for a in got} == {"not_metric_driven"}
    missing = _play(client, "no-such-run", "", closed_form[:1])  # not cached: the route's 404
    assert missing[0][0] == 404 and missing[0][1]["code"] == "run_not_found"


def test_fast_path_takes_the_reports_of_a_cached_run(tmp_path: Path) -> None:
    """The scenario above compares answers; this says the fast path is the one giving them."""
    url = sqlite_url(tmp_path / "lrcast.db")
    upgrade(url)
    store = SqlStore(url)
    live = LiveRuns(store, reserve_chunk=256, max_wait=5)
    fast = FastReports(live, Auth([]), Metrics(), RangeTests(live), InFlight())
    asyncio.run(live.create("cached", PLATEAU, 2, "mean", {}))

    def scope(run_id: str, query: bytes = b"", **headers: str) -> dict[str, Any]:
        return {"type": "http", "method": "POST", "path": f"/v1/runs/{run_id}/reports",
                "query_string": query, "headers": [(k.lower().replace("_", "-").encode(),
                                                    v.encode()) for k, v in headers.items()]}

    def taken(s: dict[str, Any]) -> bool:
        return fast.takes(s) and fast._request(s, dict(s["headers"])) is not None

    assert taken(scope("cached", content_length="40", content_type="application/json"))
    assert taken(scope("cached", content_length="40", content_type="application/json",
                       idempotency_key="k"))
    assert not taken(scope("cached", b"via=route", content_length="40",
                           content_type="application/json"))
    assert not taken(scope("other", content_length="40", content_type="application/json"))
    assert not taken(scope("cached", content_length="40", content_type="text/plain"))
    assert not taken(scope("cached", content_type="application/json"))  # chunked
    small = FastReports(live, Auth([]), Metrics(), RangeTests(live), InFlight(), max_body=32)
    assert small._request(scope("cached", content_length="40", content_type="application/json"),
                          {b"content-length": b"40", b"content-type": b"application/json"}) \
        is None  # over the app's limit: the route's 413
    store.close()
