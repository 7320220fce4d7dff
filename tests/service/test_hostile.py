"""Hostile input against a real ``lrcast serve`` (SQLite, and PostgreSQL when configured):
each kind of input that once answered 500, poisoned a later read, cost unbounded memory or
CPU, or left the API's error shape, answered with its documented status instead.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from lrcast.schedules import MAX_DEPTH, MAX_GROUPS
from lrcast_service.api.models import MAX_JSON_DEPTH, METADATA_MAX_DEPTH
from lrcast_service.core.timeline import MAX_VALUES
from lrcast_service.http_protocol import HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT
from tests.support import TEST_TOKEN, LRCastServer

STEP = {"type": "StepLR", "lr": 0.1, "step_size": 10}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "patience": 0}


def _refused(answer: httpx.Response, status: int, field: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) >= {"detail", "code"}, body
    if field is not None:
        assert body["field"].startswith(field), body
    return body


def _raw_put(client: httpx.Client, run_id: str, body_text: str) -> httpx.Response:
    """A body sent as written (json.dumps would escape or refuse what the test sends)."""
    return client.put(f"/v1/runs/{run_id}", content=body_text.encode("utf-8", "surrogatepass"),
                      headers={"content-type": "application/json"})


def _nested(depth: int) -> dict:
    spec: dict = {"type": "StepLR", "step_size": 3}
    for _ in range(depth):
        spec = {"type": "SequentialLR", "schedulers": [spec], "milestones": []}
    return {**spec, "lr": 0.1}


def test_integer_and_string_parameters_are_bounded(client: httpx.Client, run_id: str) -> None:
    assert client.put(f"/v1/runs/{run_id}", json={"schedule": STEP}).status_code == 201
    for path in ("events", "rounds"):
        _refused(client.get(f"/v1/runs/{run_id}/{path}?after={2**63}"), 422, "after")
    _refused(client.get("/v1/runs?after=%00"), 422, "after")
    _refused(client.get(f"/v1/runs/{run_id}/lr?step={2**64}"), 422, "step")
    assert client.get("/v1/runs").status_code == 200


@pytest.mark.parametrize("body, field", [
    ('{"schedule": {"type": "StepLR", "lr": 0.1, "step_size": 3}, "metadata": {"a": "\\ud800"}}',
     "metadata.a"),
    ('{"schedule": {"type": "StepLR", "lr": 0.1, "step_size": 3}, "metadata": {"\\udfff": 1}}',
     "metadata"),
    ('{"schedule": {"type": "StepLR", "lr": 0.1, "step_size": 3, "\\ud800": 1}}', "schedule"),
])
def test_lone_surrogates_are_refused_and_never_stored(client: httpx.Client, run_id: str,
                                                       body: str, field: str) -> None:
    _refused(_raw_put(client, run_id, body), 422, field)
    assert client.get(f"/v1/runs/{run_id}").status_code == 404
    assert client.get("/v1/runs").status_code == 200


def test_metadata_nesting_and_size_are_bounded(client: httpx.Client, run_id: str) -> None:
    deep: dict = {}
    for _ in range(300):
        deep = {"a": deep}
    _refused(client.put(f"/v1/runs/{run_id}", json={"schedule": STEP, "metadata": deep}), 422,
             "metadata.a")
    ok: dict = {}
    for _ in range(METADATA_MAX_DEPTH - 1):
        ok = {"a": ok}
    assert client.put(f"/v1/runs/{run_id}", json={"schedule": STEP, "metadata": ok}
                      ).status_code == 201
    big = {"x": "y" * 70_000}
    _refused(client.put(f"/v1/runs/{run_id}-big", json={"schedule": STEP, "metadata": big}),
             422, "metadata")
    assert client.get("/v1/runs").status_code == 200


def test_composites_nest_at_most_the_documented_depth(client: httpx.Client, run_id: str) -> None:
    body = _refused(client.put(f"/v1/runs/{run_id}", json={"schedule": _nested(127)}), 422,
                    "schedule.schedulers[0]")
    assert f"nests deeper than {MAX_JSON_DEPTH} levels" in body["detail"]  # the JSON's limit
    body = _refused(client.put(f"/v1/runs/{run_id}", json={"schedule": _nested(MAX_DEPTH + 1)}),
                    422, "schedule.schedulers[0]")
    assert f"at most {MAX_DEPTH} levels" in body["detail"]  # the engine's
    assert client.get(f"/v1/runs/{run_id}").status_code == 404
    assert client.put(f"/v1/runs/{run_id}", json={"schedule": _nested(MAX_DEPTH)}
                      ).status_code == 201
    for path in ("", "/timeline", "/events", "/lr?step=0"):
        assert client.get(f"/v1/runs/{run_id}{path}").status_code == 200, path
    assert client.post(f"/v1/runs/{run_id}/leases", json={"step": 0}).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"schedule": STEP, "world_size": True}, "world_size"),
    ({"schedule": STEP, "world_size": "2"}, "world_size"),
    ({"schedule": {}}, "schedule.type"),
])
def test_bodies_are_strict(client: httpx.Client, run_id: str, body: dict, field: str) -> None:
    _refused(client.put(f"/v1/runs/{run_id}", json=body), 422, field)


def test_reports_are_strict_but_integral_numbers_are_integers(client: httpx.Client,
                                                              run_id: str) -> None:
    assert client.put(f"/v1/runs/{run_id}", json={"schedule": PLATEAU}).status_code == 201
    url = f"/v1/runs/{run_id}/reports"
    _refused(client.post(url, json={"step": 0, "value": 1.0, "rank": False}), 422, "rank")
    _refused(client.post(url, json={"step": "0", "value": 1.0}), 422, "step")
    _refused(client.post(url, json={"step": 0.5, "value": 1.0}), 422, "step")
    assert client.post(url, json={"step": 0.0, "value": 1.0}).json()["decided"] is True


def test_the_schema_says_what_a_spec_and_every_status_are(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    create = spec["components"]["schemas"]["RunCreate"]["properties"]["schedule"]
    assert create["required"] == ["type"] and "StepLR" in create["properties"]["type"]["enum"]
    for path, operations in spec["paths"].items():
        if path.startswith("/v1/"):
            for method, op in operations.items():
                assert {"400", "401", "413", "422"} <= set(op["responses"]), (method, path)
    reports = spec["paths"]["/v1/runs/{run_id}/reports"]["post"]["responses"]
    assert "report_conflict" in reports["409"]["description"]


def test_groups_are_bounded_and_so_are_ranges(client: httpx.Client, run_id: str) -> None:
    many = {"type": "StepLR", "lr": [0.1] * (MAX_GROUPS + 1), "step_size": 3}
    _refused(client.put(f"/v1/runs/{run_id}", json={"schedule": many}), 422, "schedule.lr")
    most = {**many, "lr": [0.1] * MAX_GROUPS}
    assert client.put(f"/v1/runs/{run_id}", json={"schedule": most}).status_code == 201
    points = MAX_VALUES // MAX_GROUPS
    _refused(client.get(f"/v1/runs/{run_id}/lrs?start=0&stop={points + 1}"), 422, "stop")
    _refused(client.post("/v1/preview", json={"schedule": most, "steps": points + 1}), 422,
             "stop")
    answer = client.get(f"/v1/runs/{run_id}/lrs?start=0&stop={points}")
    assert answer.status_code == 200 and len(answer.json()["lrs"][0]) == MAX_GROUPS


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_stays_bounded_on_max_group_runs(server: LRCastServer, client: httpx.Client,
                                                run_id: str) -> None:
    """The issue's 100,000-group run kept 1.3 GB; at the group limit, distinct /lr and /lrs
    queries on a few such runs keep the server under a few hundred MiB."""
    assert server.process is not None
    for i in range(3):
        spec = {"type": "StepLR", "lr": [0.1 + i * 1e-3] * MAX_GROUPS, "step_size": 7}
        assert client.put(f"/v1/runs/{run_id}-{i}", json={"schedule": spec}).status_code == 201
    start = _rss_mib(server.process.pid)
    points = MAX_VALUES // MAX_GROUPS
    for i in range(3):
        for k in range(10):
            lrs = f"/v1/runs/{run_id}-{i}/lrs?start={k * points}&stop={(k + 1) * points}"
            assert client.get(lrs).status_code == 200
        for step in range(0, 20_000, 100):
            assert client.get(f"/v1/runs/{run_id}-{i}/lr?step={step}").status_code == 200
    grown = _rss_mib(server.process.pid) - start
    assert grown < 400, f"RSS grew {grown:.0f} MiB"


def test_a_long_preview_does_not_delay_a_report(client: httpx.Client, server: LRCastServer,
                                                run_id: str) -> None:
    assert client.put(f"/v1/runs/{run_id}", json={"schedule": PLATEAU}).status_code == 201
    heavy = {"schedule": {"type": "SequentialLR", "lr": [0.1] * 10, "milestones": [50_000],
                          "schedulers": [{"type": "CosineAnnealingWarmRestarts", "T_0": 7},
                                         {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1,
                                          "cycle_momentum": False}]},
             "steps": 100_000}
    statuses: list[int] = []

    def preview() -> None:
        with server.client(timeout=120) as http:
            statuses.append(http.post("/v1/preview", json=heavy).status_code)

    threads = [threading.Thread(target=preview) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the previews are running or queued
    started = time.monotonic()
    answer = client.post(f"/v1/runs/{run_id}/reports", json={"step": 0, "value": 1.0})
    took = time.monotonic() - started
    for thread in threads:
        thread.join(120)
    assert answer.status_code == 200 and answer.json()["decided"]
    assert took < 2.0, f"the report waited {took:.1f} s behind previews"
    assert 200 in statuses and set(statuses) <= {200, 503}, statuses


def test_chunked_bodies_over_the_limit_are_413(client: httpx.Client, run_id: str) -> None:
    def chunks():
        for _ in range(20):
            yield b" " * 100_000
    answer = client.put(f"/v1/runs/{run_id}", content=chunks(),
                        headers={"content-type": "application/json"})
    assert _refused(answer, 413)["code"] == "too_large"


def _exchange(server: LRCastServer, data: bytes) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_malformed_http_gets_the_json_shape(server: LRCastServer) -> None:
    out = _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert json.loads(body)["code"] == "bad_request"


def test_unknown_dashboard_files_get_the_json_shape(client: httpx.Client) -> None:
    answer = client.get("/dashboard/no-such-file.js")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"


def test_silent_connections_are_closed(server: LRCastServer, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the protocol does not depend on the store")
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=HEADER_TIMEOUT + 10) as silent, \
            socket.create_connection((host, int(port)), timeout=HEADER_TIMEOUT + 10) as slow:
        started = time.monotonic()
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        assert silent.recv(1) == b""  # closed by the server
        assert slow.recv(1) == b""
        assert time.monotonic() - started < HEADER_TIMEOUT + 5


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the next answer on a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the connection was closed before the answer"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection was closed inside the answer"
        body += chunk
    return int(head.split()[1]), body


def _ask(sock: socket.socket, path: str) -> tuple[int, bytes]:
    """One GET on a kept-alive connection: its status and body."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return _answer(sock)


def test_idle_connections_are_closed_after_the_keep_alive_timeout_and_busy_ones_are_not(
        server: LRCastServer, client: httpx.Client, run_id: str, database_url: str) -> None:
    """The one keep-alive timer a connection has: an idle connection is closed once it has
    been idle for KEEP_ALIVE_TIMEOUT (not earlier, wherever its last answer came from: the
    fast path or the app); one that keeps asking, or waits on a long-poll longer than the
    timeout, stays open."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the protocol does not depend on the store")
    client.put(f"/v1/runs/{run_id}", json={"schedule": STEP}).raise_for_status()
    client.put(f"/v1/runs/{run_id}-p", json={"schedule": PLATEAU, "world_size": 2}
               ).raise_for_status()
    client.post(f"/v1/runs/{run_id}-p/reports",
                json={"step": 1, "value": 1.0, "rank": 0}).raise_for_status()
    lr = f"/v1/runs/{run_id}/lr?step=3"
    host, port = server.url.removeprefix("http://").split(":")
    timeout = KEEP_ALIVE_TIMEOUT + 10
    with socket.create_connection((host, int(port)), timeout=timeout) as idle_fast, \
            socket.create_connection((host, int(port)), timeout=timeout) as idle_app, \
            socket.create_connection((host, int(port)), timeout=timeout) as busy, \
            socket.create_connection((host, int(port)), timeout=timeout) as waiting:
        assert _ask(waiting, "/healthz")[0] == 200  # its timer is armed, then it waits
        started = time.monotonic()
        waiting.sendall(f"GET /v1/runs/{run_id}-p/lr?step=2&wait={KEEP_ALIVE_TIMEOUT + 2} "
                        f"HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert _ask(idle_fast, lr) == (200, client.get(lr).content)
        assert _ask(idle_app, "/healthz")[0] == 200
        for _ in range(int(KEEP_ALIVE_TIMEOUT) + 2):  # a request a second, past the timeout
            assert _ask(busy, lr)[0] == 200 and _ask(busy, "/healthz")[0] == 200
            time.sleep(1.0)
        assert time.monotonic() - started > KEEP_ALIVE_TIMEOUT + 1
        for closed in (idle_fast, idle_app):
            assert closed.recv(1) == b""  # closed by the server
        assert time.monotonic() - started < KEEP_ALIVE_TIMEOUT + 5
        status, body = _answer(waiting)  # the long-poll's answer, the round still open
        assert status == 409 and json.loads(body)["code"] == "round_pending", body
        assert time.monotonic() - started >= KEEP_ALIVE_TIMEOUT + 1.5
        assert _ask(busy, lr)[0] == 200


def test_the_token_comes_before_the_body(auth_service: LRCastServer) -> None:
    for body in (b"{not json", b"x" * 2_000_000):
        answer = httpx.put(auth_service.url + "/v1/runs/r1", content=body, timeout=10)
        assert _refused(answer, 401)["code"] == "unauthorized"
    ok = httpx.put(auth_service.url + "/v1/runs/r1", content=b"{not json", timeout=10,
                   headers={"authorization": f"Bearer {TEST_TOKEN}"})
    assert ok.status_code in (400, 422)


def test_a_stored_row_an_older_version_accepted_does_not_break_reads(
        client: httpx.Client, server: LRCastServer, run_id: str) -> None:
    """A run stored with a spec past today's depth limit and unsendable metadata (as older
    versions accepted): the list still answers, and the run's reads say 409 run_unreadable."""
    if not server.database.startswith("sqlite"):
        pytest.skip("written with sqlite3 directly")
    assert client.put(f"/v1/runs/{run_id}", json={"schedule": STEP}).status_code == 201
    path = server.database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        spec = json.dumps(_nested(MAX_DEPTH + 4))
        db.execute("UPDATE runs SET spec = ?, metadata = ? WHERE id = ?",
                   (spec, '{"a": "\\ud800"}', run_id))
        db.execute("UPDATE instances SET spec = ? WHERE run_id = ?", (spec, run_id))
    # another process's write: this server's cached view is gone after a restart
    server.stop()
    server.start()
    with server.client() as http:
        listed = {r["run_id"]: r for r in http.get("/v1/runs?limit=1000").json()["runs"]}
        assert listed[run_id]["error"] and listed[run_id]["metadata"] == {}
        for url in ("", "/timeline", "/lr?step=0"):
            assert _refused(http.get(f"/v1/runs/{run_id}{url}"), 409)["code"] == "run_unreadable"
        assert http.delete(f"/v1/runs/{run_id}").status_code == 204


def test_two_authorization_headers_are_read_as_the_gate_reads_them(
        auth_service: LRCastServer) -> None:
    """The first Authorization header is the one checked, on the LR fast paths as at the
    gate: a good token second does not let a bad first one through (nor the reverse)."""
    good, bad = f"Bearer {TEST_TOKEN}", "Bearer not-the-token"
    url = auth_service.url + "/v1/runs/two-headers"
    assert httpx.put(url, json={"schedule": STEP}, headers={"authorization": good},
                     timeout=10).status_code in (200, 201)
    for path in ("/lr?step=0", "/lr?step=0", "/lr?step=0&rank=0", "/lrs?start=0&stop=2"):
        # asked twice: the second is answered from the view's memo, on the fastest path
        refused = httpx.get(url + path, headers=[("authorization", bad), ("authorization", good)],
                            timeout=10)
        assert _refused(refused, 401)["code"] == "unauthorized", path
        allowed = httpx.get(url + path, headers=[("authorization", good), ("authorization", bad)],
                            timeout=10)
        assert allowed.status_code == 200, (path, allowed.text)
