"""The web dashboard: ``/`` serves its page, ``/dashboard/<file>`` its scripts and styles
(``/dashboard/vendor/<file>`` the libraries vendored with it).

The files are plain HTML, CSS and JavaScript modules shipped inside the package (no build
step, nothing fetched from a CDN). They are public: the page itself holds no data, and the
API calls it makes carry the user's bearer token like any other client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "dashboard"

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

#: only these files are served, by their path under dashboard/ (``vendor/uPlot.min.css``): a
#: fixed list, so no path from the URL ever reaches the disk
_FILES = {p.relative_to(DASHBOARD_DIR).as_posix(): p for p in DASHBOARD_DIR.rglob("*")
          if p.is_file() and p.suffix in _MEDIA_TYPES} if DASHBOARD_DIR.is_dir() else {}

# Revalidate on every load so a service upgrade never runs a stale mix of old and new modules.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> Response:
    """The dashboard's single page (it routes between its views with the URL's hash)."""
    return _file("index.html")


@router.get("/dashboard")
def dashboard_root() -> Response:
    return RedirectResponse("/")


@router.get("/dashboard/{name:path}")
def asset(name: str) -> Response:
    """One of the dashboard's own files (or its vendored libraries'), by path."""
    return _file(name)


def _file(name: str) -> Response:
    path = _FILES.get(name)
    if path is None:
        return Response(status_code=404, content=b"not found", media_type="text/plain")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)
