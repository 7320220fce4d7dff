"""The client's operations as I/O-free flows, and the retry/backoff/failover policy.

Every operation of a client or a run (one request with failover and retries, fetching a
lease, waiting for a plateau round, reporting) is a generator that yields I/O *commands* and
receives their outcomes; it never sends, sleeps or waits itself. `Client` and `AsyncClient`
each perform the commands in one small driver (`_io`), so the policy is written once, here
and in `RunBase`, and the twins differ only in how they block (as httpx's twins do).
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx

from . import errors
from ._config import Retries
from ._types import Request

T = TypeVar("T")

#: methods that change the service's state: each logical write carries one Idempotency-Key
WRITES = frozenset({"PUT", "POST", "DELETE", "PATCH"})


@dataclass(frozen=True, slots=True)
class Attempt:
    """Send one HTTP request; the outcome is the `httpx.Response` or the
    `httpx.TransportError` it failed with."""

    method: str
    url: str
    params: Mapping[str, Any] | None
    json: Any
    headers: Mapping[str, str] | None
    timeout: httpx.Timeout


@dataclass(frozen=True, slots=True)
class Sleep:
    """Sleep `seconds`; the outcome is None."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Spawn:
    """Drive `flow` in the background (a thread, or an asyncio task); the outcome is its
    `Background` handle."""

    flow: Generator[Any, Any, Any]
    name: str


class Background(Protocol):
    """A flow driven in the background."""

    @property
    def finished(self) -> bool: ...

    def result(self) -> Any:
        """The flow's result, or None if it failed (or is not finished)."""


@dataclass(frozen=True, slots=True)
class Join:
    """Wait at most `timeout` seconds for `job` to finish; the outcome is None."""

    job: Background
    timeout: float


Command = Attempt | Sleep | Spawn | Join
Flow = Generator[Command, Any, T]


def advance(flow: Flow[T], outcome: Any) -> tuple[bool, Any]:
    """Feed `outcome` to `flow`: (False, its next command) or (True, its result)."""
    try:
        return False, flow.send(outcome)
    except StopIteration as done:
        return True, done.value


class Exchange:
    """The retry/backoff/failover policy for one logical request.

    Each pass tries every base URL once, from the one that answered last; a connection error
    or a 5xx moves on to the next URL, and each pass after the first starts with a backoff
    (`Retries.delay`). A write carries a fresh `Idempotency-Key`, the same on every attempt,
    so a service that honours the key applies it once however many of its answers were lost.
    """

    def __init__(self, urls: tuple[str, ...], retries: Retries, preferred: int) -> None:
        self.urls = urls
        self.retries = retries
        #: the index of the URL that answered last (the first to try)
        self.preferred = preferred
        #: attempts so far (every HTTP request counts)
        self.sent = 0

    def attempts(self, passes: int | None) -> Iterator[tuple[float, int]]:
        """(seconds to sleep first, URL index): every URL from the preferred one, per pass."""
        n = len(self.urls)
        for attempt in range(max(1, self.retries.attempts if passes is None else passes)):
            delay = self.retries.delay(attempt) if attempt else 0.0
            start = self.preferred
            for k in range(n):
                yield (delay if k == 0 else 0.0), (start + k) % n

    def flow(self, request: Request, timeout: httpx.Timeout,
             passes: int | None = None) -> Flow[Any]:
        """Send `request` until a URL answers; the decoded body of a success, the mapped
        `lrcast.errors` exception for any other answer, `ServiceUnavailable` if none did."""
        headers = ({"Idempotency-Key": str(uuid.uuid4())} if request.method in WRITES
                   else None)
        last: BaseException | None = None
        for delay, index in self.attempts(passes):
            if delay:
                yield Sleep(delay)
            self.sent += 1
            outcome = yield Attempt(request.method, self.urls[index] + request.path,
                                    request.params, request.json, headers, timeout)
            if isinstance(outcome, httpx.TransportError):
                last = outcome
                continue
            if outcome.status_code >= 500:
                last = errors.ServiceUnavailable(
                    f"{self.urls[index]} answered {outcome.status_code} to {request.method} "
                    f"{request.path}", status=outcome.status_code)
                continue
            self.preferred = index
            return self._decode(request, outcome)
        raise errors.ServiceUnavailable(
            f"{request.method} {request.path}: no answer from {', '.join(self.urls)} after "
            f"{self.retries.attempts if passes is None else passes} attempt(s): {last}")

    @staticmethod
    def _decode(request: Request, response: httpx.Response) -> Any:
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code in request.ok:
            return body
        raise errors.from_response(response.status_code, body, fallback=response.text[:200])
