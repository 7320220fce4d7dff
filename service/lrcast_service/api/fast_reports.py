"""The fast path of ``POST /v1/runs/{run_id}/reports``: a plateau round's reports without
FastAPI's per-request cost (the dependency solver and the middleware stack cost about a
millisecond a request, half of what a 1,024-rank round may spend on each report).

The app (`app.LRCastAPI`) hands it the requests `takes` accepts: that exact path without a
query, a JSON body of a declared length under `MAX_BODY`, no transfer coding. It answers
only when the run is cached, the token is valid, the Idempotency-Key (if any) is well
formed and the body is a valid `ReportIn` (parsed as FastAPI parses it: `json.loads`, then
the model); then it does the route's own work (`routes.reports.submit`) and renders its
answer and its errors as the route's exception handlers do. Everything else goes on to the
FastAPI route with the body it has read, so the route answers the 401, 413 and 422s. It
counts its requests in the same metrics, under the same route template.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ..core import idempotency
from ..core.errors import DomainError
from ..core.idempotency import KeyedRequest
from ..runtime.live import LiveRuns
from ..runtime.range_tests import RangeTests
from .auth import Auth
from .errors import error_answer
from .idempotency import REPLAYED, InFlight, Key
from .metrics import Metrics
from .models import ReportIn
from .routes.reports import submit

__all__ = ["MAX_BODY", "FastReports"]

ROUTE = "/v1/runs/{run_id}/reports"
_PREFIX, _SUFFIX = "/v1/runs/", "/reports"
#: the largest body the fast path reads (a report is some 60 bytes)
MAX_BODY = 4096
_KEY_HEADER = idempotency.HEADER.lower().encode()
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes] | None:
    """The request's headers by name; None if one the fast path reads comes twice."""
    out: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in out and name in (b"authorization", b"content-length", b"content-type",
                                    _KEY_HEADER):
            return None
        out[name] = value
    return out


class FastReports:
    """Answers the report requests it can; hands the rest to the FastAPI app."""

    def __init__(self, live: LiveRuns, auth: Auth, metrics: Metrics, range_tests: RangeTests,
                 in_flight: InFlight, max_body: int = MAX_BODY) -> None:
        self.live = live
        #: the largest body taken: the route answers larger ones (413 over the app's limit)
        self.max_body = min(MAX_BODY, max_body)
        self.auth = auth
        self.metrics = metrics
        self.range_tests = range_tests
        self.in_flight = in_flight

    @staticmethod
    def takes(scope: dict[str, Any]) -> bool:
        path = scope.get("path", "")
        return (scope["type"] == "http" and scope["method"] == "POST"
                and path.startswith(_PREFIX) and path.endswith(_SUFFIX)
                and not scope["query_string"])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any,
                       app: ASGIApp) -> None:
        start = time.perf_counter()
        headers = _headers(scope)
        request = self._request(scope, headers) if headers is not None else None
        if request is None:
            await app(scope, receive, send)
            return
        run_id, length, key = request
        body, more = await _read(receive, length)
        if more is None:
            return  # the client went away
        parsed = _parse(body) if not more else None
        if parsed is None:  # the route answers it (the 422), from the body as read
            await app(scope, _replay(body, more, receive), send)
            return
        status, data, replayed = await self._submit(scope, run_id, parsed, body, key)
        out = [(b"content-type", b"application/json"),
               (b"content-length", str(len(data)).encode())]
        if replayed:
            out.append((REPLAYED.lower().encode(), b"true"))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": data})
        self.metrics.observe("POST", ROUTE, status, time.perf_counter() - start)

    def _request(self, scope: dict[str, Any],
                 headers: dict[bytes, bytes]) -> tuple[str, int, str | None] | None:
        """(run id, body length, key) if the fast path may answer the request."""
        path: str = scope["path"]
        run_id = path[len(_PREFIX):-len(_SUFFIX)]
        declared = headers.get(b"content-length")
        kind = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if (self.live.cached(run_id) is None or declared is None or not declared.isdigit()
                or int(declared) > self.max_body or b"transfer-encoding" in headers
                or kind != b"application/json"):
            return None
        if self.auth.enabled and not self.auth.allows(headers.get(b"authorization")):
            return None
        key = headers.get(_KEY_HEADER)
        if key is not None:
            try:
                key = idempotency.check_key(key.decode("latin-1"))
            except DomainError:
                return None
        return run_id, int(declared), key

    async def _submit(self, scope: dict[str, Any], run_id: str, body: ReportIn, raw: bytes,
                      key: str | None) -> tuple[int, bytes, bool]:
        path = scope["path"]
        keyed = None if key is None else KeyedRequest(
            scope=run_id, key=key, method="POST", path=path,
            fingerprint=idempotency.fingerprint("POST", path, raw))
        try:
            if keyed is None:
                return await submit(run_id, body, self.live, self.metrics, self.range_tests,
                                    Key(None, self.live))
            done = await self.in_flight.claim(keyed, self.live.max_wait)
            try:
                try:
                    return await submit(run_id, body, self.live, self.metrics,
                                        self.range_tests, Key(keyed, self.live))
                except DomainError:
                    # the route replays a kept answer before its checks: so does this, once
                    # a check refused the report (a commit checks its keys in its transaction)
                    kept = idempotency.replay(
                        await run_in_threadpool(self.live.store.answer, keyed.scope, keyed.key),
                        keyed, time.time())
                    if kept is None:
                        raise
                    return kept.status, kept.body, True
            finally:
                self.in_flight.release(keyed, done)
        except Exception as exc:  # noqa: BLE001 - answered as the route's handlers do
            return (*error_answer(exc, "POST", path), False)


async def _read(receive: Any, length: int) -> tuple[bytes, bool | None]:
    """(the body, whether more follows beyond `length`); more is None if the client left."""
    chunks, seen = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        seen += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if seen > length:
            return b"".join(chunks), True


def _replay(body: bytes, more: bool, receive: Any) -> Any:
    """`receive` for the app: the body read so far, then the rest from the client."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()
    return replay


def _parse(body: bytes) -> ReportIn | None:
    """The report as FastAPI parses a JSON body (`json.loads`, then the model); None if not
    valid."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return ReportIn.model_validate(data)
    except ValidationError:
        return None
