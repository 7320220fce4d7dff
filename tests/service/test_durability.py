"""kill -9 and restart on the same database: every acknowledged write survives, the same
LRs are answered, and the served frontier still holds amendments back."""

from __future__ import annotations

from tests.support import LRCastServer

from ._specs import PLATEAU, STEP, run_body


def test_kill_9_loses_nothing_acknowledged(database_url: str) -> None:
    with LRCastServer(database_url) as server, server.client() as client:
        client.put("/v1/runs/closed", json=run_body(STEP, metadata={"k": "v"}))
        client.post("/v1/runs/closed/amendments", json={"from_step": 50, "scale": 0.5})
        served = [client.get("/v1/runs/closed/lr", params={"step": s}).content
                  for s in range(0, 120, 7)]
        client.put("/v1/runs/plateau", json=run_body(PLATEAU, world_size=2))
        for step, value in ((10, 1.0), (20, 2.0)):
            for rank in (0, 1):
                client.post("/v1/runs/plateau/reports",
                            json={"step": step, "value": value, "rank": rank})
        client.post("/v1/runs/plateau/rewind", json={"to_step": 20, "resume_id": "a"})
        client.post("/v1/runs/plateau/reports", json={"step": 30, "value": 3.0, "rank": 1})
        runs_before = {rid: client.get(f"/v1/runs/{rid}").json()
                       for rid in ("closed", "plateau")}
        events_before = client.get("/v1/runs/plateau/events").json()

        server.kill()
        server.start()

        assert [client.get("/v1/runs/closed/lr", params={"step": s}).content
                for s in range(0, 120, 7)] == served
        for rid, before in runs_before.items():
            after = client.get(f"/v1/runs/{rid}").json()
            for key in ("schedule", "version", "timeline", "plateau", "pending_rounds",
                        "served_frontier", "metadata", "last_decided_step"):
                assert after[key] == before[key], key
        assert client.get("/v1/runs/plateau/events").json() == events_before
        frontier = runs_before["closed"]["served_frontier"]
        r = client.post("/v1/runs/closed/amendments", json={"from_step": frontier - 1,
                                                              "scale": 0.5})
        assert r.status_code == 409 and r.json()["min_step"] == frontier
        # the repeated rewind is still recognised, and the half round completes
        again = client.post("/v1/runs/plateau/rewind", json={"to_step": 20, "resume_id": "a"})
        assert again.json()["applied"] is False
        done = client.post("/v1/runs/plateau/reports",
                           json={"step": 30, "value": 3.0, "rank": 0}).json()
        assert done["decided"] and done["lr"] == 0.025
