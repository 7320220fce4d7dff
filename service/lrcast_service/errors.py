"""One error type for the API, and the handlers that turn every failure into
``{"detail": ..., "code": ...}`` (never a 500 for bad input)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lrcast.schedules import SpecError, StepOutOfRange

log = logging.getLogger("lrcast.service")


class ApiError(Exception):
    """An error answer: HTTP `status`, machine-readable `code`, human `detail`, extra fields."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


def run_not_found(run_id: str) -> ApiError:
    return ApiError(404, "run_not_found", f"no run {run_id!r}")


def invalid(field: str, reason: str) -> ApiError:
    """422 naming the field at fault."""
    return ApiError(422, "invalid", f"{field}: {reason}", field=field)


def spec_error(exc: Exception, prefix: str = "schedule") -> ApiError:
    """422 for a schedule the engine rejects, naming ``schedule.<path>``."""
    if isinstance(exc, SpecError):
        field = f"{prefix}.{exc.path}" if exc.path else prefix
        return ApiError(422, "invalid", f"{field}: {exc.reason}", field=field)
    return ApiError(422, "invalid", f"{prefix}: {type(exc).__name__}: {exc}", field=prefix)


def evaluation_error(exc: Exception, step: int) -> ApiError:
    """422 for a step the schedule cannot answer (as PyTorch would raise there)."""
    if isinstance(exc, StepOutOfRange):
        return ApiError(422, "step_out_of_range", str(exc), step=step)
    return ApiError(422, "step_out_of_range", f"step {step}: {type(exc).__name__}: {exc}",
                    step=step)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install(app: FastAPI) -> None:
    """Register the exception handlers on `app`."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

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
        return JSONResponse({"detail": str(exc.detail), "code": code},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error", "code": "internal"}, status_code=500)
