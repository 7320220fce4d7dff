"""`Client` and `AsyncClient`: twins over one base that holds the configuration, builds the
requests and maps responses to results or `lrcast.errors`; they differ only in I/O.

Every request goes to the base URL that answered last; on a connection error or a 5xx the
client fails over to the next URL, and after a pass over all of them backs off (exponential,
with jitter) before the next pass. Writes are idempotent on the service, so a retried write
whose first answer was lost changes nothing.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from . import errors
from ._config import LeasePolicy, Retries, Timeouts
from ._env import rank_from_env, token_from_env, urls_from_env, world_size_from_env
from ._run import AsyncRun, Run
from ._types import Request

URLs = str | Sequence[str] | None


class BaseClient:
    """Configuration, request building and response mapping shared by the twins."""

    def __init__(self, urls: URLs = None, *, token: str | None = None,
                 timeouts: Timeouts | None = None, retries: Retries | None = None,
                 lease: LeasePolicy | None = None) -> None:
        if urls is None:
            urls = urls_from_env()
        elif isinstance(urls, str):
            urls = [u.strip() for u in urls.split(",") if u.strip()]
        self.urls: tuple[str, ...] = tuple(u.rstrip("/") for u in urls)
        if not self.urls:
            raise ValueError("at least one base URL is required")
        self.token = token if token is not None else token_from_env()
        self.timeouts = timeouts or Timeouts()
        self.retries = retries or Retries()
        self.lease_policy = lease or LeasePolicy()
        #: HTTP requests sent so far (every attempt counts), for benchmarks and tests
        self.requests_sent = 0
        self._preferred = 0
        #: lease renewals in flight on their own threads (see `_run._Renewal`)
        self._renewals: set[threading.Thread] = set()

    # building ----------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _timeout(self, request: Request) -> httpx.Timeout:
        t = self.timeouts
        read = t.read + request.wait if request.wait else t.read
        return httpx.Timeout(connect=t.connect, read=read, write=t.read, pool=t.connect)

    def _attempts(self, passes: int | None = None) -> Iterator[tuple[float, int]]:
        """(seconds to sleep first, URL index): every URL from the preferred one, per pass."""
        n = len(self.urls)
        for attempt in range(max(1, self.retries.attempts if passes is None else passes)):
            delay = self.retries.delay(attempt) if attempt else 0.0
            start = self._preferred
            for k in range(n):
                yield (delay if k == 0 else 0.0), (start + k) % n

    @staticmethod
    def _put_run(run_id: str, schedule: Any, world_size: int, aggregate: str,
                 metadata: Mapping[str, Any] | None) -> Request:
        return Request("PUT", f"/v1/runs/{run_id}",
                       json={"schedule": schedule, "world_size": world_size,
                             "aggregate": aggregate, "metadata": dict(metadata or {})})

    # mapping -----------------------------------------------------------------------------
    def _outcome(self, request: Request, response: httpx.Response, index: int) -> Any:
        """The decoded body of a success; raises the mapped error for any other answer.

        A 5xx is returned as a `ServiceUnavailable` (not raised) so the caller fails over.
        """
        status = response.status_code
        if status >= 500:
            return errors.ServiceUnavailable(
                f"{self.urls[index]} answered {status} to {request.method} {request.path}",
                status=status)
        self._preferred = index
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if status in request.ok:
            return body
        raise errors.from_response(status, body, fallback=response.text[:200])

    def _unavailable(self, request: Request, last: BaseException | None) -> errors.LRCastError:
        return errors.ServiceUnavailable(
            f"{request.method} {request.path}: no answer from {', '.join(self.urls)} after "
            f"{self.retries.attempts} attempt(s): {last}")


class Client(BaseClient):
    """The synchronous client. `Client("http://host:8000", token=...)`, or from `LRCAST_URL`
    (comma-separated for replicas) and `LRCAST_TOKEN`."""

    def __init__(self, urls: URLs = None, *, token: str | None = None,
                 timeouts: Timeouts | None = None, retries: Retries | None = None,
                 lease: LeasePolicy | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(urls, token=token, timeouts=timeouts, retries=retries, lease=lease)
        self._http = httpx.Client(headers=self._headers(), transport=transport)
        _OPEN_CLIENTS.add(self)

    def send(self, request: Request, *, attempts: int | None = None) -> Any:
        """Send `request` with failover and retries (`attempts` passes over the URLs, default
        `retries.attempts`); the decoded JSON body of the answer."""
        last: BaseException | None = None
        for delay, index in self._attempts(attempts):
            if delay:
                time.sleep(delay)
            self.requests_sent += 1
            try:
                response = self._http.request(
                    request.method, self.urls[index] + request.path, params=request.params,
                    json=request.json, timeout=self._timeout(request))
            except httpx.TransportError as exc:
                last = exc
                continue
            result = self._outcome(request, response, index)
            if isinstance(result, errors.ServiceUnavailable):
                last = result
                continue
            return result
        raise self._unavailable(request, last)

    def run(self, run_id: str, schedule: Mapping[str, Any] | None = None, *,
            world_size: int | None = None, aggregate: str = "mean",
            metadata: Mapping[str, Any] | None = None, rank: int | None = None) -> Run:
        """Ensure the run exists (the idempotent PUT, so every rank may call this at start-up)
        and return it as this rank sees it. Without `schedule`, attach to an existing run.
        `world_size` and `rank` default to the environment (torchrun, SLURM)."""
        rank = rank_from_env() if rank is None else rank
        if schedule is None:
            info = self.send(Request("GET", f"/v1/runs/{run_id}"))
        else:
            world_size = world_size_from_env() if world_size is None else world_size
            info = self.send(self._put_run(run_id, dict(schedule), world_size, aggregate,
                                           metadata))
        return Run(self, run_id, rank=rank, info=info or {})

    def close(self) -> None:
        """Close the connections; lease renewals in flight end with them."""
        self._http.close()
        self._join_renewals()

    def _join_renewals(self, timeout: float = 2.0) -> None:
        # no renewal thread may outlive the client: a thread still in a request when the
        # interpreter exits can abort a process that also runs torch.distributed
        deadline = time.monotonic() + timeout
        for thread in list(self._renewals):
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(BaseClient):
    """The asyncio twin of `Client`: the same arguments, `await`-able methods."""

    def __init__(self, urls: URLs = None, *, token: str | None = None,
                 timeouts: Timeouts | None = None, retries: Retries | None = None,
                 lease: LeasePolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(urls, token=token, timeouts=timeouts, retries=retries, lease=lease)
        self._http = httpx.AsyncClient(headers=self._headers(), transport=transport)

    async def send(self, request: Request, *, attempts: int | None = None) -> Any:
        """As `Client.send`."""
        last: BaseException | None = None
        for delay, index in self._attempts(attempts):
            if delay:
                await asyncio.sleep(delay)
            self.requests_sent += 1
            try:
                response = await self._http.request(
                    request.method, self.urls[index] + request.path, params=request.params,
                    json=request.json, timeout=self._timeout(request))
            except httpx.TransportError as exc:
                last = exc
                continue
            result = self._outcome(request, response, index)
            if isinstance(result, errors.ServiceUnavailable):
                last = result
                continue
            return result
        raise self._unavailable(request, last)

    async def run(self, run_id: str, schedule: Mapping[str, Any] | None = None, *,
                  world_size: int | None = None, aggregate: str = "mean",
                  metadata: Mapping[str, Any] | None = None,
                  rank: int | None = None) -> AsyncRun:
        """As `Client.run`."""
        rank = rank_from_env() if rank is None else rank
        if schedule is None:
            info = await self.send(Request("GET", f"/v1/runs/{run_id}"))
        else:
            world_size = world_size_from_env() if world_size is None else world_size
            info = await self.send(self._put_run(run_id, dict(schedule), world_size, aggregate,
                                                 metadata))
        return AsyncRun(self, run_id, rank=rank, info=info or {})

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_OPEN_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _join_renewals_at_exit() -> None:
    """Let renewals in flight finish (briefly) for clients never closed."""
    for client in list(_OPEN_CLIENTS):
        client._join_renewals(timeout=1.0)
