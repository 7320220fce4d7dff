"""The fast path of ``GET /v1/runs/{run_id}/lr``: the one place that bypasses FastAPI.

The app (`app.LRCastAPI`) hands it every request before FastAPI sees it. It answers only a
GET of that exact path whose run is cached, whose query is well-formed (``step``, optional
``rank`` and ``wait``), whose token is valid, and whose step is below both the persisted
served frontier and any undecided plateau round: then the answer is the view's pre-encoded
body, the same bytes the FastAPI route returns (both call `RunView.lr_body`). Everything
else (cache misses, frontier extensions, the barrier's long-poll, any error) goes on to the
FastAPI route. It counts its requests in the same metrics, under the same route template.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..core import autopilot, frontier
from ..runtime.live import LiveRuns
from .auth import Auth
from .metrics import Metrics
from .models import MAX_STEP

ROUTE = "/v1/runs/{run_id}/lr"
_PREFIX, _SUFFIX = "/v1/runs/", "/lr"
_HEADERS = [(b"content-type", b"application/json")]


def _int(raw: bytes) -> int | None:
    """A plain decimal (no sign, no spaces), as FastAPI would accept it; None otherwise."""
    if not raw or len(raw) > 16 or not raw.isdigit():
        return None
    return int(raw)


def parse_query(qs: bytes) -> tuple[int, int | None] | None:
    """(step, rank) from ``step=N[&rank=R][&wait=W]``, or None to let the route decide."""
    step = rank = None
    seen = set()
    for part in qs.split(b"&"):
        key, _, value = part.partition(b"=")
        if key in seen:
            return None
        seen.add(key)
        if key == b"step":
            step = _int(value)
            if step is None or step > MAX_STEP:
                return None
        elif key == b"rank":
            rank = _int(value)
            if rank is None:
                return None
        elif key == b"wait":  # no round is pending on the fast path: nothing to wait for
            try:
                wait = float(value)
            except ValueError:
                return None
            if not (math.isfinite(wait) and 0 <= wait <= 3600):
                return None
        else:
            return None
    return None if step is None else (step, rank)


class FastLR:
    """Answers the requests it can (`answer`); the app hands it every request first."""

    def __init__(self, live: LiveRuns, auth: Auth, metrics: Metrics) -> None:
        self.live = live
        self.auth = auth
        self.metrics = metrics

    def _body(self, scope: dict[str, Any]) -> bytes | None:
        path: str = scope["path"]
        view = self.live.cached(path[len(_PREFIX):-len(_SUFFIX)])
        if view is None:
            return None
        query = parse_query(scope["query_string"])
        if query is None:
            return None
        step, rank = query
        if not frontier.servable(step, view.frontier, view.barrier):
            return None
        if rank is not None and (rank >= view.world_size or view.run_id in self.live.committing):
            return None  # the route answers (a rank's read waits for reports in flight)
        if autopilot.blocking_directive(view.record, rank, step) is not None:
            return None  # the route answers 409 rewind
        if self.auth.enabled:
            header = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    header = value
            if not self.auth.allows(header):
                return None
        try:
            body = view.lr_body(step)
        except Exception:  # noqa: BLE001 - the route answers it: the 422, or a bug's logged 500
            return None
        if rank is not None:
            self.live.note_progress(view.run_id, rank, step)
        if step >= view.extend_at:  # half the reservation ahead is used: extend it now
            self.live.extend_ahead(view.run_id, step)
        return body

    async def answer(self, scope: dict[str, Any], send: Any) -> bool:
        """Send the answer and return True if this is a request the fast path serves."""
        if (scope["type"] == "http" and scope["method"] == "GET"
                and scope["path"].startswith(_PREFIX) and scope["path"].endswith(_SUFFIX)):
            start = time.perf_counter()
            body = self._body(scope)
            if body is not None and self.live.replication is not None:
                # replicas: a plateau run's view is checked current first
                body = await self.live.replication.checked(
                    scope["path"][len(_PREFIX):-len(_SUFFIX)], body)
            if body is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*_HEADERS,
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                self.metrics.observe("GET", ROUTE, 200, time.perf_counter() - start)
                return True
        return False
