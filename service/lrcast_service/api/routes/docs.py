"""The API's docs, ``/docs`` (Swagger UI) and ``/redoc``, with their scripts from the
package's ``dashboard/vendor/`` instead of a CDN: they work offline, and fetch no fonts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

# relative to the page, so they also resolve behind a proxy that serves the app under a prefix
_VENDOR = "dashboard/vendor/"
_FAVICON = _VENDOR + "swagger-favicon-32x32.png"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=request.app.openapi_url, title="lrcast API",
                               swagger_js_url=_VENDOR + "swagger-ui-bundle.js",
                               swagger_css_url=_VENDOR + "swagger-ui.css",
                               swagger_favicon_url=_FAVICON)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url=request.app.openapi_url, title="lrcast API",
                          redoc_js_url=_VENDOR + "redoc.standalone.js",
                          redoc_favicon_url=_FAVICON, with_google_fonts=False)
