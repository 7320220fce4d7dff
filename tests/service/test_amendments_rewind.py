"""Amendments (the served frontier) and rewinds (back to a checkpoint)."""

from __future__ import annotations

import httpx
import pytest

from ._specs import PLATEAU, STEP, run_body


def lr(client: httpx.Client, run_id: str, step: int) -> float:
    r = client.get(f"/v1/runs/{run_id}/lr", params={"step": step})
    assert r.status_code == 200, r.text
    return r.json()["lr"]


def amend(client: httpx.Client, run_id: str, **body: object) -> httpx.Response:
    return client.post(f"/v1/runs/{run_id}/amendments", json=body)


def test_amendment_below_the_frontier_is_refused(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    lr(client, run_id, 40)
    frontier = client.get(f"/v1/runs/{run_id}").json()["served_frontier"]
    assert frontier > 40
    r = amend(client, run_id, from_step=40, scale=0.5)
    assert r.status_code == 409 and r.json()["code"] == "amendment_too_early"
    assert r.json()["min_step"] == frontier
    assert amend(client, run_id, from_step=frontier, scale=0.5).status_code == 200


def test_every_later_query_switches_at_the_amendment_step(client: httpx.Client,
                                                          run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    before = [lr(client, run_id, s) for s in range(0, 5)]
    start = client.get(f"/v1/runs/{run_id}").json()["served_frontier"]
    new = {"type": "ConstantLR", "lr": 0.01, "factor": 1.0, "total_iters": 0}
    r = amend(client, run_id, from_step=start, schedule=new)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert [lr(client, run_id, s) for s in range(0, 5)] == before
    assert lr(client, run_id, start - 1) == pytest.approx(0.1 * 0.5 ** ((start - 1) // 10))
    assert lr(client, run_id, start) == lr(client, run_id, start + 500) == 0.01
    body = client.get(f"/v1/runs/{run_id}/lr", params={"step": start}).json()
    assert body["version"] == 2


def test_scales_compound(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    assert amend(client, run_id, from_step=100, scale=0.5).status_code == 200
    assert amend(client, run_id, from_step=200, scale=0.5).status_code == 200
    base = 0.1 * 0.5 ** 25  # StepLR at step 250 without amendments
    assert lr(client, run_id, 250) == pytest.approx(base * 0.25)
    assert lr(client, run_id, 150) == pytest.approx(0.1 * 0.5 ** 15 * 0.5)
    events = [e["kind"] for e in client.get(f"/v1/runs/{run_id}/events").json()["events"]]
    assert events == ["created", "amendment", "amendment"]


@pytest.mark.parametrize("body,field", [
    ({"from_step": 5}, "schedule"), ({"from_step": 5, "scale": 0.5, "schedule": STEP},
                                     "schedule"),
    ({"from_step": 5, "scale": 0}, "scale"), ({"from_step": 5, "scale": -1}, "scale"),
    ({"from_step": -5, "scale": 0.5}, "from_step"),
    ({"from_step": 5, "schedule": {"type": "StepLR", "lr": 0.1}}, "schedule.step_size"),
    ({"from_step": 5, "schedule": {**STEP, "lr": [0.1, 0.2]}}, "schedule.lr")])
def test_invalid_amendment_is_422(client: httpx.Client, run_id: str, body: dict,
                                  field: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    r = amend(client, run_id, **body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(field)


def test_amended_plateau_schedule_has_fresh_state(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU))
    for step, value in ((10, 1.0), (20, 2.0)):  # patience 0: halved at 20
        client.post(f"/v1/runs/{run_id}/reports", json={"step": step, "value": value})
    assert lr(client, run_id, 21) == 0.05
    start = client.get(f"/v1/runs/{run_id}").json()["served_frontier"]
    assert amend(client, run_id, from_step=start,
                 schedule={**PLATEAU, "lr": 0.2}).status_code == 200
    assert lr(client, run_id, start) == 0.2
    client.post(f"/v1/runs/{run_id}/reports", json={"step": start + 10, "value": 5.0})
    assert lr(client, run_id, start + 10) == 0.2  # the new instance's first round: its best


def test_rewind_restores_the_plateau_state(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU))
    for step, value in ((10, 1.0), (20, 2.0), (30, 3.0)):
        client.post(f"/v1/runs/{run_id}/reports", json={"step": step, "value": value})
    assert lr(client, run_id, 35) == 0.025
    state_at_20 = None
    r = client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 20})
    assert r.status_code == 200 and r.json()["applied"]
    run = client.get(f"/v1/runs/{run_id}").json()
    state_at_20 = run["plateau"][0]["state"]
    assert state_at_20["lrs"] == [0.05] and state_at_20["last_epoch"] == 2
    assert run["served_frontier"] == 20 and run["last_decided_step"] == 20
    assert lr(client, run_id, 35) == 0.05  # the decision at 30 is gone
    # the same steps are open again, with other values
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 30, "value": 0.5})
    assert lr(client, run_id, 31) == 0.05
    kinds = [e["kind"] for e in client.get(f"/v1/runs/{run_id}/events").json()["events"]]
    assert kinds.count("rewind") == 1


def test_rewind_lets_the_job_amend_from_the_checkpoint(client: httpx.Client,
                                                      run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    lr(client, run_id, 500)
    assert amend(client, run_id, from_step=300, scale=0.1).status_code == 409
    client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 300})
    assert amend(client, run_id, from_step=300, scale=0.1).status_code == 200
    assert lr(client, run_id, 300) == pytest.approx(0.1 * 0.5 ** 30 * 0.1)


def test_rewind_is_idempotent(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=2))
    for rank in (0, 1):
        client.post(f"/v1/runs/{run_id}/reports", json={"step": 10, "value": 1.0, "rank": rank})
    first = client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 5, "resume_id": "ck5"})
    lr(client, run_id, 8)  # a rank moves on (the frontier grows past 5)...
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 10, "value": 1.0, "rank": 0})
    # ...then a slower rank rewinds with the same checkpoint: nothing changes
    again = client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 5, "resume_id": "ck5"})
    assert first.json()["applied"] and not again.json()["applied"]
    assert again.json()["version"] == first.json()["version"]
    run = client.get(f"/v1/runs/{run_id}").json()
    assert run["pending_rounds"][0]["received"] == 1 and run["served_frontier"] > 8
    # without a resume_id: a repeat is a no-op only while nothing was reported since
    client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 3})
    assert not client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 3}).json()["applied"]
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 10, "value": 1.0, "rank": 0})
    assert client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 3}).json()["applied"]


def test_invalid_rewind_is_422(client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    for body in ({"to_step": -1}, {}, {"to_step": 1, "resume_id": "x" * 300}):
        assert client.post(f"/v1/runs/{run_id}/rewind", json=body).status_code == 422
