"""Runs: idempotent creation, conflicts, listing, showing, deleting, input validation."""

from __future__ import annotations

import httpx
import pytest

from ._specs import PLATEAU, STEP, run_body


def test_put_creates_then_identical_put_is_200(client: httpx.Client, run_id: str) -> None:
    first = client.put(f"/v1/runs/{run_id}", json=run_body(world_size=4))
    assert first.status_code == 201
    again = client.put(f"/v1/runs/{run_id}", json=run_body(world_size=4))
    assert again.status_code == 200
    assert again.json()["created_at"] == first.json()["created_at"]
    assert again.json()["version"] == first.json()["version"] == 1


@pytest.mark.parametrize("field,value", [("world_size", 3), ("aggregate", "max"),
                                         ("schedule", {**STEP, "gamma": 0.9})])
def test_put_with_other_definition_is_run_conflict(client: httpx.Client, run_id: str,
                                                   field: str, value: object) -> None:
    assert client.put(f"/v1/runs/{run_id}", json=run_body(world_size=4)).status_code == 201
    body = {**run_body(world_size=4), field: value}
    r = client.put(f"/v1/runs/{run_id}", json=body)
    assert r.status_code == 409
    assert r.json()["code"] == "run_conflict"
    assert field in r.json()["detail"] and r.json()["fields"] == [field]


def test_post_generates_an_id(client: httpx.Client) -> None:
    r = client.post("/v1/runs", json=run_body(metadata={"owner": "me"}))
    assert r.status_code == 201
    run_id = r.json()["run_id"]
    got = client.get(f"/v1/runs/{run_id}").json()
    assert got["metadata"] == {"owner": "me"} and got["schedule"] == STEP


def test_get_run_shows_state(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=2, aggregate="min"))
    client.get(f"/v1/runs/{run_id}/lr", params={"step": 3, "rank": 1})
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 5, "value": 1.5, "rank": 0})
    run = client.get(f"/v1/runs/{run_id}").json()
    assert run["world_size"] == 2 and run["aggregate"] == "min" and run["metric_driven"]
    assert run["pending_rounds"] == [{"step": 5, "received": 1, "expected": 2,
                                      "missing_ranks": [1]}]
    assert run["plateau"][0]["state"]["lrs"] == [0.1]
    # rank 1 used step 3; a report without `at` says nothing of where rank 0 is
    assert {p["rank"]: p["step"] for p in run["progress"]} == {1: 3}
    # the frontier covers what was served; amendments start there or at the latest round
    assert run["served_frontier"] > 3
    assert run["min_amendment_step"] == max(run["served_frontier"], 5)


def test_list_runs_paginates(client: httpx.Client, run_id: str) -> None:
    ids = [f"{run_id}-{i}" for i in range(5)]
    for rid in ids:
        client.put(f"/v1/runs/{rid}", json=run_body())
    seen, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = client.get("/v1/runs", params=params).json()
        seen += [r["run_id"] for r in page["runs"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert [s for s in seen if s.startswith(run_id)] == sorted(ids)
    assert seen == sorted(seen)


def test_delete_run(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    assert client.get(f"/v1/runs/{run_id}/lr", params={"step": 1}).status_code == 200
    assert client.delete(f"/v1/runs/{run_id}").status_code == 204
    for r in (client.get(f"/v1/runs/{run_id}"), client.get(f"/v1/runs/{run_id}/lr?step=1"),
              client.delete(f"/v1/runs/{run_id}")):
        assert r.status_code == 404 and r.json()["code"] == "run_not_found"
    # the id is free again, with a new definition
    assert client.put(f"/v1/runs/{run_id}", json=run_body(world_size=2)).status_code == 201


@pytest.mark.parametrize("path,method", [
    ("", "get"), ("/lr?step=1", "get"), ("/lrs?start=0&stop=3", "get"), ("/events", "get"),
    ("/timeline", "get")])
def test_unknown_run_is_404(client: httpx.Client, path: str, method: str) -> None:
    r = client.request(method.upper(), f"/v1/runs/nope-{method}{path}")
    assert r.status_code == 404 and r.json()["code"] == "run_not_found"


@pytest.mark.parametrize("path,body", [
    ("/reports", {"step": 1, "value": 1.0}), ("/rewind", {"to_step": 1}),
    ("/amendments", {"from_step": 1, "scale": 0.5}), ("/leases", {"step": 0})])
def test_unknown_run_writes_are_404(client: httpx.Client, path: str, body: dict) -> None:
    r = client.post(f"/v1/runs/nope{path}", json=body)
    assert r.status_code == 404 and r.json()["code"] == "run_not_found"


@pytest.mark.parametrize("body,field", [
    ({"schedule": {"type": "NoSuchLR", "lr": 0.1}}, "schedule.type"),
    ({"schedule": {"type": "StepLR", "lr": 0.1}}, "schedule.step_size"),
    ({"schedule": {"type": "StepLR", "lr": -1, "step_size": 2}}, "schedule.lr"),
    ({"schedule": STEP, "world_size": 0}, "world_size"),
    ({"schedule": STEP, "world_size": 65537}, "world_size"),
    ({"schedule": STEP, "aggregate": "median"}, "aggregate"),
    ({"schedule": STEP, "extra": 1}, "extra"),
    ({"world_size": 2}, "schedule"),
    ({"schedule": "StepLR"}, "schedule"),
])
def test_invalid_run_is_422_naming_the_field(client: httpx.Client, run_id: str, body: dict,
                                             field: str) -> None:
    r = client.put(f"/v1/runs/{run_id}", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid"
    assert r.json()["detail"].startswith(field), r.json()


@pytest.mark.parametrize("bad_id", ["a" * 129, "has space", "slash%2Fid", "sem;colon"])
def test_invalid_run_id_is_422(client: httpx.Client, bad_id: str) -> None:
    r = client.put(f"/v1/runs/{bad_id}", json=run_body())
    assert r.status_code in (404, 422)
    assert r.status_code != 201


def test_malformed_json_is_422(client: httpx.Client, run_id: str) -> None:
    r = client.put(f"/v1/runs/{run_id}", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid"


def test_oversized_body_is_413(client: httpx.Client, run_id: str) -> None:
    body = run_body(metadata={"blob": "x" * (2 << 20)})
    r = client.put(f"/v1/runs/{run_id}", json=body)
    assert r.status_code == 413 and r.json()["code"] == "too_large"
