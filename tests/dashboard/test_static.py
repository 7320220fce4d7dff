"""The dashboard's files as the service serves them (no browser needed). The vendored
libraries and the /docs and /redoc pages need the ``StaticFiles`` mount (conftest.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.support import TEST_TOKEN as TOKEN

from .conftest import DASHBOARD_DIR


def test_root_serves_the_page_without_a_token(auth_service: Any) -> None:
    with httpx.Client(base_url=auth_service.url, timeout=30.0) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<main id="app">' in page.text
        assert http.get("/v1/runs").status_code == 401  # the data stays behind the token
    with auth_service.client() as http:
        assert http.get("/v1/runs").status_code == 200


def test_every_module_the_page_imports_is_served(service: Any) -> None:
    with service.client() as http:
        page = http.get("/").text
        linked = re.findall(r'(?:src|href)="dashboard/([\w./-]+)"', page)
        assert {"app.js", "app.css", "vendor/uPlot.iife.min.js",
                "vendor/uPlot.min.css"} <= set(linked)
        seen, todo = set(), linked
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            answer = http.get(f"/dashboard/{name}")
            assert answer.status_code == 200, name
            assert answer.content == (DASHBOARD_DIR / name).read_bytes(), name
            assert answer.headers["cache-control"] == "no-cache"  # never a stale mix of modules
            if name.endswith(".js"):
                assert answer.headers["content-type"].startswith("text/javascript")
                todo += re.findall(r"from '\./([\w.]+)'", answer.text)
        assert {"api.js", "chart.js", "compare.js", "playground.js", "run.js", "runs.js"} <= seen
        assert "cdn" not in http.get("/").text.lower()


def test_unknown_or_outside_files_are_404(service: Any) -> None:
    with service.client() as http:
        assert http.get("/dashboard/nope.js").status_code == 404
        assert http.get("/dashboard/..%2Fapp.py").status_code == 404
        assert http.get("/dashboard/../app.py").status_code in (404, 405)


def test_every_preset_is_a_valid_spec_for_the_service(service: Any) -> None:
    presets = json.loads((DASHBOARD_DIR / "presets.json").read_text())
    names = {p["id"] for p in presets}
    assert {"warmup-cosine", "one-cycle", "resnet-step", "wsd", "plateau", "range-test"} <= names
    with service.client() as http:
        for preset in presets:
            steps = preset["steps"]
            body = {"schedule": preset["schedule"], "start": 0, "stop": steps,
                    "stride": max(1, steps // 2000)}
            answer = http.post("/v1/preview", json=body)
            assert answer.status_code == 200, (preset["id"], answer.text)
            lrs = answer.json()["lr"]
            assert max(lrs) > 0, preset["id"]


def test_the_token_is_never_in_the_served_files(auth_service: Any) -> None:
    with auth_service.client() as http:
        for name in ("index.html", "app.js", "api.js"):
            assert TOKEN not in http.get(f"/dashboard/{name}").text


def test_docs_and_redoc_load_their_assets_from_the_package(service: Any) -> None:
    with service.client() as http:
        for path, assets in (("/docs", ["swagger-ui-bundle.js", "swagger-ui.css",
                                         "swagger-favicon-32x32.png"]),
                             ("/redoc", ["redoc.standalone.js"])):
            page = http.get(path)
            assert page.status_code == 200 and "http" not in page.text, path  # no CDN, no fonts
            for name in assets:
                assert f'"dashboard/vendor/{name}"' in page.text, (path, name)
                served = http.get(f"/dashboard/vendor/{name}")
                assert served.content == (DASHBOARD_DIR / "vendor" / name).read_bytes(), name
        assert http.get("/openapi.json").json()["info"]["title"] == "lrcast"
