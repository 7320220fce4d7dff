"""The web dashboard: ``/`` serves its page, ``/dashboard/<file>`` its scripts and styles
(``/dashboard/vendor/<file>`` the libraries vendored with it), with Starlette's `StaticFiles`.

The files are plain HTML, CSS and JavaScript modules shipped inside the package (no build
step, nothing fetched from a CDN). They are public: the page itself holds no data, and the
API calls it makes carry the user's bearer token like any other client.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

# Revalidate on every load so a service upgrade never runs a stale mix of old and new modules.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class DashboardFiles(StaticFiles):
    """`StaticFiles` over the package's ``dashboard/`` folder, with the headers above. A path
    that is not a file there is a 404 in the API's JSON error shape (the app's handler)."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


files = DashboardFiles(packages=[("lrcast_service", "dashboard")])

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index(request: Request) -> Response:
    """The dashboard's single page (it routes between its views with the URL's hash)."""
    return await files.get_response("index.html", request.scope)


@router.get("/dashboard")
def dashboard_root() -> Response:
    return RedirectResponse("/")
