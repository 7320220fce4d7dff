"""Errors as HTTP: the one table mapping each domain error (`core.errors`) to its status and
code, `ApiError` for the few errors that are HTTP's own (401, 413, 503), and the handlers
that turn every failure into ``{"detail": ..., "code": ..., **fields}``.

Bad input is never a 500: what reaches the catch-all handler is a bug, logged with its
traceback and answered 500 ``internal_error``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..core import errors, idempotency
from ..core.errors import DomainError
from .models import ErrorBody

log = logging.getLogger("lrcast.service")

INTERNAL_ERROR = {"detail": "internal error", "code": "internal_error"}


class ApiError(Exception):
    """An error of HTTP itself, not of a rule: HTTP `status`, machine-readable `code`, human
    `detail`, extra fields."""

    def __init__(self, status: int, code: str, detail: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


#: THE table: each domain error -> (HTTP status, error code); a subclass not listed takes its
#: nearest listed base's entry
DOMAIN_ERRORS: dict[type[DomainError], tuple[int, str]] = {
    errors.Invalid: (422, "invalid"),
    errors.StepOutOfRange: (422, "step_out_of_range"),
    errors.RunNotFound: (404, "run_not_found"),
    errors.RunConflict: (409, "run_conflict"),
    errors.RunUnreadable: (409, "run_unreadable"),
    errors.RoundPending: (409, "round_pending"),
    errors.ReportConflict: (409, "report_conflict"),
    errors.RoundClosed: (409, "round_closed"),
    errors.LRAlreadyServed: (409, "lr_already_served"),
    errors.ConsumptionConflict: (409, "consumption_conflict"),
    errors.NotMetricDriven: (409, "not_metric_driven"),
    errors.AmendmentTooEarly: (409, "amendment_too_early"),
    errors.NotRangeTest: (409, "not_range_test"),
    errors.RangeTestStopped: (409, "range_test_stopped"),
    idempotency.KeyReused: (422, "idempotency_key_reused"),
    idempotency.KeyInFlight: (409, "idempotency_key_in_flight"),
    errors.RewindDirective: (409, "rewind"),
    errors.StaleMembership: (409, "stale_membership"),
    errors.MembershipPending: (409, "membership_pending"),
    errors.MembershipConflict: (409, "membership_conflict"),
}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: the statuses every ``/v1`` operation may answer, for the OpenAPI document
API_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("invalid: the body is no JSON (or not UTF-8)"),
    401: _error("unauthorized: no configured bearer token"),
    404: _error("run_not_found"),
    413: _error("too_large: the body is over the limit (1 MiB by default)"),
    422: _error("invalid: naming the field"),
}


def conflicts(*codes: str) -> dict[int | str, dict[str, Any]]:
    """The 409 of an operation, with its codes, for the OpenAPI document."""
    return {409: _error("conflict: " + ", ".join(codes))}


def status_and_code(exc: DomainError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[cls]
    raise TypeError(f"{type(exc).__name__} has no entry in DOMAIN_ERRORS") from exc


def domain_body(exc: DomainError) -> dict[str, Any]:
    return {"detail": exc.detail, "code": status_and_code(exc)[1], **exc.fields}


def json_body(content: Any) -> bytes:
    """What Starlette's `JSONResponse` sends for `content`."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


def error_answer(exc: Exception, method: str, path: str) -> tuple[int, bytes]:
    """(status, body) of a route's exception as the handlers below answer it, for the fast
    paths that answer outside FastAPI (a domain error, else a logged 500)."""
    if isinstance(exc, DomainError):
        return status_and_code(exc)[0], json_body(domain_body(exc))
    log.error("unexpected error on %s %s", method, path, exc_info=exc)
    return 500, json_body(INTERNAL_ERROR)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _allowed(app: FastAPI, request: Request) -> list[str]:
    """Every method some route of `app` answers at the request's path."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Register the exception handlers on `app`."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(domain_body(exc), status_code=status_and_code(exc)[0])

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "field": _loc(e.get("loc", ())),
                   "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "msg": "invalid request"}
        return JSONResponse({"detail": f"{first['field']}: {first['msg']}", "code": "invalid",
                             "field": first["field"], "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid", 404: "not_found", 405: "method_not_allowed",
                401: "unauthorized"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names the first matching route's methods only
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(app, request))}
        return JSONResponse({"detail": str(exc.detail), "code": code},
                            status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(INTERNAL_ERROR, status_code=500)
