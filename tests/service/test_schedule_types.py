"""``GET /v1/schedule-types``: the engine's catalog, every type with an example spec the
service takes as it is (behind the token, like every /v1 route)."""

from __future__ import annotations

import httpx

from lrcast.schedules import example_specs, parse, schedule_types
from tests.support import LRCastServer


def test_every_type_with_its_example(auth_service: LRCastServer) -> None:
    with httpx.Client(base_url=auth_service.url) as anonymous:
        assert anonymous.get("/v1/schedule-types").status_code == 401
    with auth_service.client() as http:
        answer = http.get("/v1/schedule-types")
    assert answer.status_code == 200
    types = answer.json()["types"]
    assert [t["type"] for t in types] == schedule_types()
    examples = example_specs()
    for entry in types:
        assert entry["example"] == examples[entry["type"]]
        assert entry["example"]["type"] == entry["type"]
        assert entry["metric_driven"] == parse(entry["example"]).metric_driven


def test_every_example_is_accepted_and_previewed(auth_service: LRCastServer) -> None:
    with auth_service.client() as http:
        for entry in http.get("/v1/schedule-types").json()["types"]:
            name = entry["type"].replace("_", "-")
            created = http.put(f"/v1/runs/catalog-{name}", json={"schedule": entry["example"]})
            assert created.status_code == 201, (entry["type"], created.text)
            preview = http.post("/v1/preview", json={"schedule": entry["example"], "steps": 20})
            assert preview.status_code == 200 and len(preview.json()["lr"]) == 20, entry["type"]
