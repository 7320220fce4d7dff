"""The fast path of ``GET /v1/runs/{run_id}/lr``: the one place that bypasses FastAPI.

It answers only a GET of that exact path whose run is cached, whose query is well-formed
(``step``, optional ``rank``, ``wait`` and ``epoch``, the epoch the view's own), whose token is
valid, and whose step is below both the persisted served frontier and any undecided plateau
round: then the answer is the view's encoded body, the same bytes the FastAPI route returns
(both call `RunView.lr_body`).
Everything else (cache misses, frontier extensions, the barrier's long-poll, another epoch,
any error) goes on to the FastAPI route. It counts its requests in the same metrics, under
the same route template.

Two ways in: `FastLR.body`, which the HTTP protocol (`http_protocol.py`) calls as soon as a
request's headers are parsed, before any ASGI scope, task or middleware exists (then the
response goes out in one write); and `FastLR.answer`, which the app (`app.LRCastAPI`) calls
first for every ASGI request (any other server, and replicas, whose plateau views are checked
current first, which awaits).
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..core import autopilot
from ..runtime.live import LiveRuns
from .auth import Auth, authorization
from .metrics import Metrics
from .models import MAX_STEP

__all__ = ["PREFIX", "ROUTE", "SUFFIX", "FastLR", "parse_query"]

ROUTE = "/v1/runs/{run_id}/lr"
PREFIX, SUFFIX = "/v1/runs/", "/lr"
_HEADERS = [(b"content-type", b"application/json")]


def _int(raw: bytes) -> int | None:
    """A plain decimal (no sign, no spaces), as FastAPI would accept it; None otherwise."""
    if not raw or len(raw) > 16 or not raw.isdigit():
        return None
    return int(raw)


def _wait_ok(raw: bytes) -> bool:
    try:
        wait = float(raw)
    except ValueError:
        return False
    return math.isfinite(wait) and 0 <= wait <= 3600


#: the integer parameters the fast path reads, and the largest each may be (None: any; the
#: route judges a rank past the run's world size)
_INTEGERS = {b"step": MAX_STEP, b"rank": None, b"epoch": MAX_STEP}


def parse_query(qs: bytes) -> tuple[int, int | None, int | None] | None:
    """(step, rank, epoch) from ``step=N[&rank=R][&wait=W][&epoch=E]``, or None to let the
    route decide (a key twice, an unknown key, a value FastAPI might read otherwise)."""
    integers: dict[bytes, int] = {}
    waited = False
    for part in qs.split(b"&"):
        key, _, value = part.partition(b"=")
        if key in _INTEGERS:
            number, bound = _int(value), _INTEGERS[key]
            if key in integers or number is None or (bound is not None and number > bound):
                return None
            integers[key] = number
        elif key == b"wait":  # no round is pending on the fast path: nothing to wait for
            if waited or not _wait_ok(value):
                return None
            waited = True
        else:
            return None
    step = integers.get(b"step")
    return None if step is None else (step, integers.get(b"rank"), integers.get(b"epoch"))


class FastLR:
    """Answers the requests it can (`body`, `answer`); the rest go to the FastAPI route."""

    def __init__(self, live: LiveRuns, auth: Auth, metrics: Metrics) -> None:
        self.live = live
        self.auth = auth
        self.metrics = metrics

    @property
    def at_once(self) -> bool:
        """True if `body` may answer without awaiting anything (no replicas to check)."""
        return self.live.replication is None

    def body(self, run_id: str, query: bytes, authorization: bytes | None) -> bytes | None:
        """The answer's body, or None to let the route answer: a dict lookup, a few
        comparisons, the view's memoised (or cheaply encoded) body."""
        live = self.live
        view = live.cached(run_id)
        if view is None:
            return None
        parsed = parse_query(query)
        if parsed is None:
            return None
        step, rank, epoch = parsed
        if step >= view.servable_below:
            return None
        if epoch is not None and epoch != view.epoch:
            return None  # the route answers (409 stale_membership, or an observer's read)
        if rank is not None:
            if rank >= view.world_size or run_id in live.committing:
                return None  # the route answers (a rank's read waits for reports in flight)
            if view.directive is not None and \
                    autopilot.blocking_directive(view.record, rank, step) is not None:
                return None  # the route answers 409 rewind
        if self.auth.enabled and not self.auth.allows(authorization):
            return None
        try:
            body = view.lr_body(step)
        except Exception:  # noqa: BLE001 - the route answers it: the 422, or a bug's logged 500
            return None
        if rank is not None:
            live.note_progress(run_id, rank, step)
        if step >= view.extend_at:  # half the reservation ahead is used: extend it now
            live.extend_ahead(run_id, step)
        return body

    def beyond_frontier(self, run_id: str, query: bytes,
                        authorization: bytes | None) -> tuple[int, int | None] | None:
        """(step, rank) of a request `body` declined only because its step is at or past
        the persisted frontier (no round in the way): `answer` has the frontier extended
        (the write in flight, if any) and answers it itself. None: the route answers."""
        view = self.live.cached(run_id)
        parsed = None if view is None else parse_query(query)
        if view is None or parsed is None:
            return None
        step, rank, epoch = parsed
        if step < view.frontier or (view.barrier is not None and step >= view.barrier):
            return None
        if epoch is not None and epoch != view.epoch:
            return None
        if rank is not None and (rank >= view.world_size or view.directive is not None):
            return None
        if self.auth.enabled and not self.auth.allows(authorization):
            return None
        return step, rank

    async def _past_frontier(self, run_id: str, query: bytes,
                             authorization: bytes | None) -> bytes | None:
        """The body of a request past the frontier, once the frontier is extended (as the
        route would: `LiveRuns.served`), without the route's cost; None: the route
        answers (and re-raises any error)."""
        wanted = self.beyond_frontier(run_id, query, authorization)
        if wanted is None:
            return None
        step, rank = wanted
        try:
            await self.live.served(run_id, step, 1, rank, 0.0)
        except Exception:  # noqa: BLE001 - the route answers it (a round opened, a 503, ...)
            return None
        return self.body(run_id, query, authorization)

    def observe(self, seconds: float) -> None:
        """Count one answered request in the route's metrics."""
        self.metrics.observe("GET", ROUTE, 200, seconds)

    async def answer(self, scope: dict[str, Any], send: Any) -> bool:
        """Send the answer and return True if this is a request the fast path serves."""
        if not (scope["type"] == "http" and scope["method"] == "GET"):
            return False
        path: str = scope["path"]
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            return False
        start = time.perf_counter()
        header = authorization(scope["headers"]) if self.auth.enabled else None
        run_id = path[len(PREFIX):-len(SUFFIX)]
        body = self.body(run_id, scope["query_string"], header)
        if body is None:  # a walking job at the frontier: the extension, then the answer
            body = await self._past_frontier(run_id, scope["query_string"], header)
        if body is not None and self.live.replication is not None:
            # replicas: a plateau run's view is checked current first
            body = await self.live.replication.checked(run_id, body)
        if body is None:
            return False
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        self.observe(time.perf_counter() - start)
        return True
