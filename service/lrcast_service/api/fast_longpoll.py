"""The barrier's long-polls without FastAPI: ``GET /v1/runs/{run_id}/lr?step=S&wait=W`` while
a plateau round at or before S waits for reports.

When a round is decided every rank's long-poll is answered at once, so what each costs is
paid 1,024 times in a row; through FastAPI that is about a millisecond each. The app
(`app.LRCastAPI`) hands this path what the `fast_lr` path did not answer; it takes only a
well-formed query (`fast_lr.parse_query`) with ``wait > 0`` on a cached run whose barrier
blocks the step, a valid token and a rank of the run. It then does the route's own work
(`routes.lr.lr_body`: the rank's epoch fenced, `LiveRuns.served`, the autopilot's directive,
the view's pre-encoded body, the same bytes for every waiter of the round) and renders
errors as the route's exception handlers do. Everything else goes on to the route.
"""

from __future__ import annotations

import time
from typing import Any

from ..runtime.live import LiveRuns
from .auth import Auth, authorization
from .errors import error_answer
from .fast_lr import PREFIX, ROUTE, SUFFIX, parse_query
from .metrics import Metrics
from .routes.lr import lr_body

__all__ = ["FastLongPoll"]


def _wait(qs: bytes) -> float:
    """The ``wait`` of a query `parse_query` accepted (0 without one)."""
    for part in qs.split(b"&"):
        key, _, value = part.partition(b"=")
        if key == b"wait":
            return float(value)
    return 0.0


class FastLongPoll:
    """Answers the long-polls at a barrier (`answer`); the app hands it requests after
    `fast_lr`."""

    def __init__(self, live: LiveRuns, auth: Auth, metrics: Metrics) -> None:
        self.live = live
        self.auth = auth
        self.metrics = metrics

    def _takes(self, scope: dict[str, Any],
               ) -> tuple[str, int, int | None, float, int | None] | None:
        """(run id, step, rank, wait, epoch) of a long-poll this path answers."""
        path: str = scope["path"]
        run_id = path[len(PREFIX):-len(SUFFIX)]
        view = self.live.cached(run_id)
        if view is None or view.barrier is None:
            return None
        query = parse_query(scope["query_string"])
        if query is None:
            return None
        step, rank, epoch = query
        wait = _wait(scope["query_string"])
        if wait <= 0 or step < view.barrier or (rank is not None and rank >= view.world_size):
            return None
        if self.auth.enabled and not self.auth.allows(authorization(scope["headers"])):
            return None
        return run_id, step, rank, wait, epoch

    async def answer(self, scope: dict[str, Any], send: Any) -> bool:
        """Answer and return True if this is a long-poll at a barrier."""
        if not (scope["type"] == "http" and scope["method"] == "GET"
                and scope["path"].startswith(PREFIX) and scope["path"].endswith(SUFFIX)):
            return False
        start = time.perf_counter()
        taken = self._takes(scope)
        if taken is None:
            return False
        run_id, step, rank, wait, epoch = taken
        try:
            status, body = 200, await lr_body(self.live, run_id, step, rank, wait, epoch)
        except Exception as exc:  # noqa: BLE001 - answered as the route's handlers do
            status, body = error_answer(exc, "GET", scope["path"])
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe("GET", ROUTE, status, time.perf_counter() - start)
        return True
