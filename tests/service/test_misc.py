"""Preview, events, health, metrics, OpenAPI, and bearer-token auth."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import torch

from tests.support import LRCastServer

from ._specs import PLATEAU, STEP, run_body


def test_preview_matches_pytorch_plateau(client: httpx.Client) -> None:
    values = [1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.9, 0.92]
    reports = [{"step": 10 * (i + 1), "value": v} for i, v in enumerate(values)]
    body = client.post("/v1/preview", json={"schedule": {**PLATEAU, "patience": 1},
                                            "steps": 100, "reports": reports}).json()
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    expected = []
    for step in range(100):
        if step % 10 == 0 and step and step // 10 <= len(values):
            sched.step(values[step // 10 - 1])
        expected.append(opt.param_groups[0]["lr"])
    assert body["steps"] == list(range(100)) and body["lr"] == expected
    assert body["version"] is None


def test_preview_ranges_and_errors(client: httpx.Client) -> None:
    body = client.post("/v1/preview", json={"schedule": STEP, "start": 5, "stop": 30,
                                            "stride": 10}).json()
    assert body["steps"] == [5, 15, 25] and body["lr"] == [0.1, 0.05, 0.025]
    for bad, field in (({"schedule": STEP, "steps": 100_001}, "steps"),
                       ({"schedule": STEP}, "steps"),
                       ({"schedule": {"type": "StepLR"}, "steps": 3}, "schedule"),
                       ({"schedule": STEP, "steps": 3, "reports": [{"step": 1, "value": 1}]},
                        "reports")):
        r = client.post("/v1/preview", json=bad)
        assert r.status_code == 422 and r.json()["detail"].startswith(field), r.text


def test_events_paginate(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    for k in range(4):
        client.post(f"/v1/runs/{run_id}/amendments", json={"from_step": 100 * (k + 1),
                                                           "scale": 0.5})
    page = client.get(f"/v1/runs/{run_id}/events", params={"limit": 3}).json()
    assert [e["kind"] for e in page["events"]] == ["created", "amendment", "amendment"]
    rest = client.get(f"/v1/runs/{run_id}/events", params={"after": page["next"]}).json()
    assert [e["data"]["from_step"] for e in rest["events"]] == [300, 400]
    assert rest["next"] is None and all(e["time"] > 0 for e in rest["events"])


def test_health_ready_docs(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/runs/{run_id}", "/v1/runs/{run_id}/lr", "/v1/runs/{run_id}/leases",
                 "/v1/runs/{run_id}/timeline", "/v1/preview", "/v1/runs/{run_id}/rewind"):
        assert path in paths
    assert client.get("/docs").status_code == 200


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_routes_reports_and_decisions(client: httpx.Client, run_id: str) -> None:
    before = client.get("/metrics").text
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU))
    for _ in range(3):  # the first through the route, the others through the fast path
        client.get(f"/v1/runs/{run_id}/lr", params={"step": 1})
    client.get(f"/v1/runs/{run_id}/lr", params={"step": -1})
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 5, "value": 1.0})
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 5, "value": 1.0})  # a retry
    after = client.get("/metrics").text
    route = "/v1/runs/{run_id}/lr"

    def delta(name: str, **labels: str) -> float:
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    assert delta("lrcast_http_requests_total", route=route, status="200") == 3
    assert delta("lrcast_http_requests_total", route=route, status="422") == 1
    assert delta("lrcast_http_request_duration_seconds_count", route=route) == 4
    assert delta("lrcast_reports_total") == 1
    assert delta("lrcast_plateau_decisions_total") == 1
    assert run_id not in after  # templates, never raw paths


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LRCastServer]:
    db = tmp_path_factory.mktemp("auth") / "lrcast.db"
    tokens_file = db.parent / "tokens"
    tokens_file.write_text("# ops\nsecond-token\n")
    with LRCastServer(db, tokens=["first-token"],
                      env={"LRCAST_TOKENS_FILE": str(tokens_file)}) as srv:
        yield srv


def test_tokens_are_required_on_v1(secured: LRCastServer) -> None:
    with httpx.Client(base_url=secured.url) as anon:
        for method, path in (("PUT", "/v1/runs/a"), ("GET", "/v1/runs"),
                             ("GET", "/v1/runs/a/lr?step=1"), ("POST", "/v1/preview")):
            r = anon.request(method, path, json=run_body())
            assert r.status_code == 401 and r.json()["code"] == "unauthorized", path
        assert anon.get("/healthz").status_code == 200
        for token in ("first-token", "second-token"):
            headers = {"Authorization": f"Bearer {token}"}
            assert anon.put("/v1/runs/a", json=run_body(), headers=headers).status_code in (
                200, 201)
            assert anon.get("/v1/runs/a/lr?step=1", headers=headers).status_code == 200
        # the cached run's fast path checks the token as well
        for header in ("Bearer wrong", "Basic first-token", "Bearer", "first-token"):
            r = anon.get("/v1/runs/a/lr?step=1", headers={"Authorization": header})
            assert r.status_code == 401, header
    assert "first-token" not in secured.log() and "second-token" not in secured.log()


ODD_INPUTS = [
    ("PUT", "/v1/runs/odd", "[" * 100_000 + "]" * 100_000),
    ("PUT", "/v1/runs/odd", '{"schedule": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}"),
    ("PUT", "/v1/runs/odd", '{"schedule": {"type": "StepLR", "lr": 1e308, "step_size": 1, '
                            '"gamma": 10}}'),
    ("GET", "/v1/runs/odd/lr?step=5", None),
    ("GET", "/v1/runs/odd/lrs?start=0&stop=10", None),
    ("POST", "/v1/runs/odd/leases", '{"step": 9007199254740991, "steps": 100000}'),
    ("GET", "/v1/runs/odd/lr?step=9007199254740991&wait=1e400", None),
    ("POST", "/v1/preview", '{"schedule": {"type": "OneCycleLR", "max_lr": 0.1, '
                            '"total_steps": 10}, "start": 5, "stop": 9007199254740991}'),
    ("POST", "/v1/preview", '{"schedule": {"type": "SequentialLR", "lr": 0.1, '
                            '"schedulers": [], "milestones": []}, "steps": 5}'),
    ("POST", "/v1/runs/odd/amendments", '{"from_step": 9007199254740991, "scale": 1e6}'),
    ("DELETE", "/v1/runs/odd", None),
    ("GET", "/v1/runs/%00/lr?step=1", None),
    ("POST", "/v1/runs", "null"),
]


@pytest.mark.parametrize("method,path,body", ODD_INPUTS)
def test_never_a_500(client: httpx.Client, method: str, path: str, body: str | None) -> None:
    r = client.request(method, path, content=body,
                       headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["code"] and r.json()["detail"]
    if path.endswith("/lrs?start=0&stop=10"):  # 1e308 * 10 overflows: never a null LR
        assert r.status_code == 422 and r.json()["code"] == "step_out_of_range"
