"""/docs and /redoc load their scripts from the package (``dashboard/vendor/``), never from
a CDN; the dashboard's files are served by their path under ``dashboard/``, and only those."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lrcast_service

DASHBOARD_DIR = Path(lrcast_service.__file__).parent / "dashboard"


@pytest.mark.parametrize("path,assets", [
    ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-favicon-32x32.png"]),
    ("/redoc", ["redoc.standalone.js"]),
])
def test_the_docs_pages_fetch_nothing_off_the_machine(service: Any, path: str,
                                                      assets: list[str]) -> None:
    with service.client() as http:
        page = http.get(path)
        assert page.status_code == 200
        assert "http" not in page.text  # no CDN, no web fonts
        for name in assets:
            assert f'"dashboard/vendor/{name}"' in page.text
        assert '"/openapi.json"' in page.text or "'/openapi.json'" in page.text
        assert http.get("/openapi.json").json()["info"]["title"] == "lrcast"


def test_only_the_dashboard_s_own_files_are_served(service: Any) -> None:
    with service.client() as http:
        for path in sorted(DASHBOARD_DIR.rglob("*.js")):
            name = path.relative_to(DASHBOARD_DIR).as_posix()
            answer = http.get(f"/dashboard/{name}")
            assert answer.status_code == 200 and answer.content == path.read_bytes(), name
            assert answer.headers["cache-control"] == "no-cache"
        for outside in ("/dashboard/../app.py", "/dashboard/..%2Fapp.py",
                        "/dashboard/vendor/../../app.py", "/dashboard/config.py"):
            assert http.get(outside).status_code in (404, 405), outside
