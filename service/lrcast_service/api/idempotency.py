"""The ``Idempotency-Key`` header of every write route (what a key means: `core/idempotency.py`).

`KeyDep` reads the header, fingerprints the request and, when the store already keeps an
answer for the key, replays it at once (``Idempotent-Replayed: true``) before the route runs.
Otherwise the route hands its write to `Key.apply` (or `Key.keep`), which keeps the answer in
the write's own transaction. A second request with a key this process is still executing
waits for the first (up to the long-poll cap), then gets its answer, or 409
``idempotency_key_in_flight``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ..core import idempotency
from ..core.idempotency import Answer, KeyedRequest, KeyInFlight
from ..core.record import RunRecord
from ..runtime.live import LiveRuns
from ..store.base import Keyed, Outcome, R, Rule

__all__ = ["Key", "KeyDep", "Respond", "encode", "install"]

REPLAYED = "Idempotent-Replayed"
#: (record as committed, the rule's result) -> (status, body): a route's answer to a write
Respond = Callable[[RunRecord, R], tuple[int, bytes]]


def encode(model: BaseModel, status: int = 200) -> tuple[int, bytes]:
    """A response model as the (status, body) a key keeps."""
    return status, model.model_dump_json().encode()


def response(answer: Answer, replayed: bool) -> Response:
    return Response(answer.body, status_code=answer.status,
                    media_type="application/json" if answer.body else None,
                    headers={REPLAYED: "true"} if replayed else None)


class Replay(Exception):
    """Raised by `KeyDep`: the key's answer is kept, so the route is not run again."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class InFlight:
    """The keyed writes this process is executing, so a retry waits for the first attempt."""

    def __init__(self) -> None:
        self.running: dict[tuple[str, str], asyncio.Event] = {}

    async def claim(self, request: KeyedRequest, timeout: float) -> asyncio.Event:
        """Wait until no request with the key runs here (`KeyInFlight` after `timeout`), then
        mark this one as running (no await in between, so one claim wins)."""
        deadline = time.monotonic() + timeout
        while (running := self.running.get((request.scope, request.key))) is not None:
            try:
                await asyncio.wait_for(running.wait(), deadline - time.monotonic())
            except TimeoutError:
                raise KeyInFlight(request.key) from None
        done = self.running[(request.scope, request.key)] = asyncio.Event()
        return done

    def release(self, request: KeyedRequest, done: asyncio.Event) -> None:
        del self.running[(request.scope, request.key)]
        done.set()


@dataclass(frozen=True)
class Key:
    """A write request's key (None without the header), and how to run the write with it."""

    request: KeyedRequest | None
    live: LiveRuns

    async def apply(self, run_id: str, rule: Rule[R], respond: Respond[R],
                    after: Callable[[R], None] | None = None, *,
                    hold_answers: bool = False) -> Response:
        """`LiveRuns.apply` with the key: its answer kept in the rule's transaction. `after`
        runs on the rule's result when the rule ran now (not on a replay). `hold_answers`:
        as `LiveRuns.write`'s."""
        if self.request is None:
            rec, result = await self.live.write(run_id, self.live.store.apply, run_id, rule,
                                                hold_answers=hold_answers)
            if after is not None:
                after(result)
            status, body = respond(rec, result)
            return Response(body, status_code=status, media_type="application/json")
        outcome: Outcome[R]
        _, outcome = await self.live.write(run_id, self.live.store.apply_keyed, run_id, rule,
                                           Keyed(self.request, respond),
                                           hold_answers=hold_answers)
        if after is not None and not outcome.replayed:
            after(outcome.result)  # type: ignore[arg-type]
        return self.answer(outcome)

    def answer(self, outcome: Outcome[Any]) -> Response:
        return response(outcome.answer, outcome.replayed)

    def response(self, status: int, body: bytes, replayed: bool) -> Response:
        """A write's (status, body) as the route answers it (a replay says so)."""
        return Response(body, status_code=status, media_type="application/json",
                        headers={REPLAYED: "true"} if replayed else None)

    async def keep(self, status: int, body: bytes) -> Response:
        """The answer of a write whose effect is idempotent by itself (a lease), kept after it."""
        if self.request is None:
            return Response(body, status_code=status, media_type="application/json")
        outcome = await run_in_threadpool(self.live.store.keep, self.request, status, body)
        return self.answer(outcome)

    def keyed(self, respond: Respond[R]) -> Keyed[R] | None:
        return None if self.request is None else Keyed(self.request, respond)


async def _key(request: Request, header: Annotated[str | None, Header(
        alias=idempotency.HEADER, description="a fresh key per write (a UUID4), the same on "
        "each retry of it: the write is executed once, retries get its answer replayed")] = None,
                ) -> AsyncIterator[Key]:
    live: LiveRuns = request.app.state.live
    if header is None:
        yield Key(None, live)
        return
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    keyed = KeyedRequest(scope=request.path_params.get("run_id", ""),
                         key=idempotency.check_key(header), method=request.method, path=path,
                         fingerprint=idempotency.fingerprint(request.method, path,
                                                             await request.body()))
    in_flight: InFlight = request.app.state.in_flight
    done = await in_flight.claim(keyed, live.max_wait)
    try:
        kept = await run_in_threadpool(live.store.answer, keyed.scope, keyed.key)
        kept = idempotency.replay(kept, keyed, time.time())
        if kept is not None:
            raise Replay(kept)
        yield Key(keyed, live)
    finally:
        in_flight.release(keyed, done)


KeyDep = Annotated[Key, Depends(_key)]


def install(app: FastAPI) -> None:
    """The in-flight table of `app`, and the handler that replays a kept answer."""
    app.state.in_flight = InFlight()

    @app.exception_handler(Replay)
    async def _replay(_: Request, exc: Replay) -> Any:
        return response(exc.answer, True)
