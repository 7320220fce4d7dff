"""LR queries (the fast path and the FastAPI route), ranges, the timeline and leases."""

from __future__ import annotations

import socket

import httpx
import pytest

from lrcast.schedules import Timeline
from tests.support import LRCastServer
from tests.support.oracles import scheduler_lrs

from ._specs import PLATEAU, run_body


def test_lr_equals_pytorch(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    expected = scheduler_lrs("StepLR", 35, step_size=10, gamma=0.5)
    for step in (0, 9, 10, 19, 20, 34):
        body = client.get(f"/v1/runs/{run_id}/lr", params={"step": step}).json()
        assert body == {"run_id": run_id, "step": step, "lr": expected[step],
                        "lrs": [expected[step]], "momentum": None, "momentums": None,
                        "version": 1}


def test_fast_path_and_route_give_identical_bytes(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    first = client.get(f"/v1/runs/{run_id}/lr?step=12")  # route: extends the frontier
    fast = client.get(f"/v1/runs/{run_id}/lr?step=12&rank=0")  # cached: the fast path
    # an unknown parameter is ignored by the route but makes the fast path hand over
    route = client.get(f"/v1/runs/{run_id}/lr?step=12&rank=0&other=1")
    assert first.status_code == fast.status_code == route.status_code == 200
    assert first.content == fast.content == route.content
    assert fast.headers["content-type"] == route.headers["content-type"] == "application/json"


def test_lr_per_group_and_momentum(client: httpx.Client, run_id: str) -> None:
    spec = {"type": "OneCycleLR", "max_lr": [0.1, 0.2], "total_steps": 100}
    client.put(f"/v1/runs/{run_id}", json=run_body(spec))
    body = client.get(f"/v1/runs/{run_id}/lr", params={"step": 10}).json()
    assert len(body["lrs"]) == 2 and body["lr"] == body["lrs"][0]
    assert body["momentum"] is not None and len(body["momentums"]) == 2


@pytest.mark.parametrize("query,field", [
    ("", "step"), ("step=-1", "step"), ("step=abc", "step"), (f"step={2**53}", "step"),
    ("step=1&rank=-1", "rank"), ("step=1&rank=4", "rank"), ("step=1&wait=-2", "wait"),
    ("step=1&wait=nan", "wait"), ("step=1.5", "step")])
def test_lr_invalid_query_is_422(client: httpx.Client, run_id: str, query: str,
                                 field: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(world_size=4))
    client.get(f"/v1/runs/{run_id}/lr?step=1")  # cached, so the fast path sees these too
    r = client.get(f"/v1/runs/{run_id}/lr?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(field)


def test_step_out_of_range_is_422(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(
        {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 10}))
    r = client.get(f"/v1/runs/{run_id}/lr", params={"step": 50})
    assert r.status_code == 422 and r.json()["code"] == "step_out_of_range"
    r = client.get(f"/v1/runs/{run_id}/lrs", params={"start": 0, "stop": 50})
    assert r.status_code == 422 and r.json()["code"] == "step_out_of_range"


@pytest.mark.parametrize("spec,step", [
    ({"type": "ExponentialLR", "lr": 0.1, "gamma": 1.5}, 10_000),  # 1.5 ** 10000 overflows
    ({"type": "StepLR", "lr": 1e308, "step_size": 1, "gamma": 10}, 3),  # inf
    ({"type": "ExponentialLR", "lr": 0.1, "gamma": 1.5}, 2**52),
])
def test_a_value_past_a_float_is_422_on_every_path(client: httpx.Client, run_id: str,
                                                   spec: dict, step: int) -> None:
    """The schedule's own limit, never the 500 of a bug: /lr (both paths), /lrs, preview."""
    client.put(f"/v1/runs/{run_id}", json=run_body(spec))
    for _ in range(2):  # the FastAPI route first, then the fast path on the cached view
        r = client.get(f"/v1/runs/{run_id}/lr", params={"step": step})
        assert r.status_code == 422 and r.json() == {**r.json(), "code": "step_out_of_range",
                                                     "step": step}
    r = client.get(f"/v1/runs/{run_id}/lrs", params={"start": step, "stop": step + 1})
    assert r.status_code == 422 and r.json()["code"] == "step_out_of_range"
    r = client.post("/v1/preview", json={"schedule": spec, "start": step, "stop": step + 1})
    assert r.status_code == 422 and r.json()["code"] == "step_out_of_range"


def test_lrs_range(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    expected = scheduler_lrs("StepLR", 40, step_size=10, gamma=0.5)
    body = client.get(f"/v1/runs/{run_id}/lrs", params={"start": 5, "stop": 40,
                                                        "stride": 7}).json()
    assert body["steps"] == list(range(5, 40, 7))
    assert body["lr"] == [expected[s] for s in body["steps"]]
    assert body["lrs"] == [[x] for x in body["lr"]] and body["momentum"] is None
    for params in ({"start": 0, "stop": 100_001}, {"start": 5, "stop": 5}):
        r = client.get(f"/v1/runs/{run_id}/lrs", params=params)
        assert r.status_code == 422 and r.json()["detail"].startswith("stop")
    big = client.get(f"/v1/runs/{run_id}/lrs", params={"start": 0, "stop": 100_000})
    assert len(big.json()["steps"]) == 100_000


def test_timeline_is_what_the_client_evaluates(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    client.post(f"/v1/runs/{run_id}/amendments", json={"from_step": 30, "scale": 0.5})
    body = client.get(f"/v1/runs/{run_id}/timeline").json()
    timeline = Timeline.from_json(body["timeline"])
    for step in (0, 10, 29, 30, 45):
        assert timeline.lr(step) == client.get(f"/v1/runs/{run_id}/lr",
                                               params={"step": step}).json()["lr"]
    assert body["version"] == 2 and body["metric_driven"] is False


def test_lease_reserves_its_horizon(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(world_size=2))
    lease = client.post(f"/v1/runs/{run_id}/leases", json={"rank": 1, "step": 100,
                                                           "steps": 5000}).json()
    assert lease["start"] == 100 and lease["horizon"] == 5100 and lease["world_size"] == 2
    timeline = Timeline.from_json(lease["timeline"])
    assert timeline.lr(4000) == client.get(f"/v1/runs/{run_id}/lr?step=4000").json()["lr"]
    r = client.post(f"/v1/runs/{run_id}/amendments", json={"from_step": 5099, "scale": 0.5})
    assert r.status_code == 409 and r.json()["min_step"] >= 5100
    default = client.post(f"/v1/runs/{run_id}/leases", json={"step": 0}).json()
    assert default["horizon"] == 1000
    for body in ({"step": 0, "steps": 100_001}, {"step": 0, "steps": 0},
                 {"step": 0, "rank": 2}, {"step": -1}):
        r = client.post(f"/v1/runs/{run_id}/leases", json=body)
        assert r.status_code == 422, body


def test_lease_stops_at_a_pending_round(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=2))
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 50, "value": 1.0, "rank": 0})
    lease = client.post(f"/v1/runs/{run_id}/leases", json={"step": 10}).json()
    assert lease["horizon"] == 50 and lease["metric_driven"]
    r = client.post(f"/v1/runs/{run_id}/leases", json={"step": 50})
    assert r.status_code == 409 and r.json()["code"] == "round_pending"
    assert r.json()["missing_ranks"] == [1]


def _raw(server_url: str, data: bytes, answers: int) -> list[tuple[bytes, bytes]]:
    """Send `data` on one connection; the (head, body) of the first `answers` answers."""
    host, port = server_url.removeprefix("http://").split(":")
    out: list[tuple[bytes, bytes]] = []
    buf = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        while len(out) < answers:
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                if len(rest) >= length:
                    out.append((head, rest[:length]))
                    buf = rest[length:]
                    continue
            chunk = sock.recv(65536)
            assert chunk, f"closed after {len(out)} answers"
            buf += chunk
    return out


def test_pipelined_queries_are_answered_in_order_on_every_path(
        client: httpx.Client, server: LRCastServer, run_id: str) -> None:
    """The fast path answers as soon as a request's headers are parsed: requests pipelined
    on one connection, some of them for the FastAPI route (past the frontier, a body, an
    unknown run), are still answered each once, in order, with the route's bytes; so is a
    GET that says ``content-length: 0`` (answered on the fast path: it has no body)."""
    client.put(f"/v1/runs/{run_id}", json=run_body())
    client.get(f"/v1/runs/{run_id}/lr?step=3")  # cached, frontier past step 3
    expected = {step: client.get(f"/v1/runs/{run_id}/lr?step={step}&x=1").content
                for step in (1, 2, 3, 500)}  # the route's own bytes (an unknown parameter)
    get = "GET /v1/runs/{}/lr?step={} HTTP/1.1\r\nHost: x\r\n{}\r\n"
    data = "".join([get.format(run_id, 1, ""), get.format(run_id, 500, ""),
                    get.format(run_id, 2, "content-length: 2\r\n") + "{}",
                    get.format("no-such-run", 1, ""), get.format(run_id, 3, ""),
                    get.format(run_id, 1, "content-length: 0\r\n"),
                    get.format(run_id, 2, "")]).encode()
    answers = _raw(server.url, data, 7)
    assert [head.split(b"\r\n")[0] for head, _ in answers] == \
        [b"HTTP/1.1 200 OK"] * 3 + [b"HTTP/1.1 404 Not Found"] + [b"HTTP/1.1 200 OK"] * 3
    assert [body for _, body in answers[:3]] + [body for _, body in answers[4:]] == \
        [expected[1], expected[500], expected[2], expected[3], expected[1], expected[2]]
    assert all(b"content-type: application/json" in head.lower() for head, _ in answers)


def test_an_http_1_0_query_is_answered_and_closed(client: httpx.Client, server: LRCastServer,
                                                  run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    route = client.get(f"/v1/runs/{run_id}/lr?step=4&x=1").content
    data = f"GET /v1/runs/{run_id}/lr?step=4 HTTP/1.0\r\n\r\n".encode()
    [(head, body)] = _raw(server.url, data, 1)
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
    assert body == route
