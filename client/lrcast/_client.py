"""`Client` and `AsyncClient`: twins over one base that holds the configuration and the
operations (as I/O-free flows, see `_flow.py`); each twin only performs their I/O.

Every request goes to the base URL that answered last; on a connection error or a 5xx the
client fails over to the next URL, and after a pass over all of them backs off (exponential,
with jitter) before the next pass. Every write carries an `Idempotency-Key` (the same on each
retry of it), so the service can apply a write whose first answer was lost only once.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx

from . import errors
from ._config import LeasePolicy, Retries, Timeouts
from ._env import (
    epoch_from_env,
    rank_from_env,
    run_id_from_env,
    token_from_env,
    urls_from_env,
    world_size_from_env,
)
from ._flow import Attempt, Command, Exchange, Flow, Sleep, Spawn, advance
from ._run import AsyncRun, Run, RunBase
from ._types import Request
from ._workers import Workers

URLs = str | Sequence[str] | None
T = TypeVar("T")


class BaseClient:
    """Configuration and the operations' flows, shared by the twins."""

    _run_class: type[RunBase]

    def __init__(self, urls: URLs = None, *, token: str | None = None,
                 timeouts: Timeouts | None = None, retries: Retries | None = None,
                 lease: LeasePolicy | None = None,
                 transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None) -> None:
        """`transport`: an httpx transport to send through (the twin's kind: sync or async)."""
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
        self._exchange = Exchange(self.urls, self.retries, preferred=0)
        self._runs: list[Any] = []
        self._http = self._open(transport)

    def _open(self, transport: Any) -> Any:
        """The twin's httpx client."""
        raise NotImplementedError

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far (every attempt counts), for benchmarks and tests."""
        return self._exchange.sent

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _timeout(self, request: Request) -> httpx.Timeout:
        t = self.timeouts
        read = t.read + request.wait if request.wait else t.read
        return httpx.Timeout(connect=t.connect, read=read, write=t.read, pool=t.connect)

    def _send_flow(self, request: Request, passes: int | None = None) -> Flow[Any]:
        """`request` with failover and retries (`passes` over the URLs, default
        `retries.attempts`): the decoded JSON body of the answer."""
        return self._exchange.flow(request, self._timeout(request), passes)

    def _run_flow(self, run_id: str | None, schedule: Mapping[str, Any] | None,
                  world_size: int | None, aggregate: str,
                  metadata: Mapping[str, Any] | None, rank: int | None,
                  autopilot: Mapping[str, Any] | None = None,
                  epoch: int | None = None) -> Flow[Any]:
        run_id = run_id_from_env() if run_id is None else run_id
        rank = rank_from_env() if rank is None else rank
        world_size = world_size_from_env() if world_size is None else world_size
        epoch = epoch_from_env() if epoch is None else epoch
        get = Request("GET", f"/v1/runs/{run_id}")
        if schedule is None:
            info = yield from self._send_flow(get)
        else:
            put = Request("PUT", f"/v1/runs/{run_id}", json={
                "schedule": dict(schedule), "world_size": world_size,
                "aggregate": aggregate, "metadata": dict(metadata or {}),
                **({"autopilot": dict(autopilot)} if autopilot is not None else {})})
            try:
                info = yield from self._send_flow(put)
            except errors.RunConflict as exc:
                # a new generation of an elastic job: its membership change comes once the
                # rank knows the step it resumes from (`RunBase`); until then the run as is
                if not _membership_changes(exc, epoch):
                    raise
                info = yield from self._send_flow(get)
                if (info or {}).get("epoch", 0) >= epoch:  # type: ignore[operator]
                    raise
        run = self._run_class(self, run_id, rank=rank, info=info or {}, epoch=epoch,
                              world_size=world_size)
        self._runs.append(run)  # their buffered losses are sent on close
        return run


def _membership_changes(conflict: errors.RunConflict, epoch: int | None) -> bool:
    """Whether a PUT's `conflict` is only the world size of a job restarted under a
    membership epoch (then the run's epoch says whether it is this job's new generation)."""
    body = conflict.body if isinstance(conflict.body, dict) else {}
    return epoch is not None and epoch > 0 and body.get("fields") == ["world_size"]


class Client(BaseClient):
    """The synchronous client. `Client("http://host:8000", token=...)`, or from `LRCAST_URL`
    (comma-separated for replicas) and `LRCAST_TOKEN`."""

    _run_class = Run
    _http: httpx.Client

    def _open(self, transport: httpx.BaseTransport | None) -> httpx.Client:
        #: the threads background flows (lease renewals, loss batches) run on; stopped on
        #: close, or once the client is garbage (they hold no reference to it)
        self._workers = Workers("lrcast-background")
        weakref.finalize(self, self._workers.close, 0.0).atexit = False
        _OPEN_CLIENTS.add(self)
        return httpx.Client(headers=self._headers(), transport=transport)

    def send(self, request: Request, *, attempts: int | None = None) -> Any:
        """Send `request` with failover and retries (`attempts` passes over the URLs, default
        `retries.attempts`); the decoded JSON body of the answer."""
        return self._drive(self._send_flow(request, attempts))

    def run(self, run_id: str | None = None, schedule: Mapping[str, Any] | None = None, *,
            world_size: int | None = None, aggregate: str = "mean",
            metadata: Mapping[str, Any] | None = None, rank: int | None = None,
            autopilot: Mapping[str, Any] | None = None, epoch: int | None = None) -> Run:
        """Ensure the run exists (the idempotent PUT, so every rank may call this at start-up)
        and return it as this rank sees it. Without `schedule`, attach to an existing run.
        `run_id` defaults to torchrun's `TORCHELASTIC_RUN_ID`; `world_size` and `rank` to the
        launcher's variables (torchrun, Open MPI, PMI, SLURM). `autopilot` is the run's
        loss-spike policy (``{"spike": {...}, "mode": "act" | "alert"}``). `epoch` is the
        job's membership epoch (default `LRCAST_EPOCH`, else `TORCHELASTIC_RESTART_COUNT`):
        a greater one than the run's makes this rank's generation the run's membership from
        the step it resumes at (see `Run.membership`)."""
        return self._drive(self._run_flow(run_id, schedule, world_size, aggregate, metadata,
                                          rank, autopilot, epoch))

    def _drive(self, flow: Flow[T]) -> T:
        done, value = advance(flow, None)
        while not done:
            done, value = advance(flow, self._io(value))
        return value

    def _io(self, command: Command) -> Any:
        """The one place the sync client blocks: perform one command of a flow."""
        if isinstance(command, Attempt):
            try:
                return self._http.request(
                    command.method, command.url, params=command.params, json=command.json,
                    headers=command.headers, timeout=command.timeout)
            except httpx.TransportError as exc:
                return exc
        if isinstance(command, Sleep):
            return time.sleep(command.seconds)
        if isinstance(command, Spawn):
            return _ThreadJob(self, command)
        return command.job.wait(command.timeout)  # type: ignore[union-attr]

    def close(self) -> None:
        """Send the runs' buffered losses, then close the connections; lease renewals in
        flight end with them."""
        for run in self._runs:
            run.flush_losses()
        self._http.close()
        self._stop_workers()

    def _stop_workers(self, timeout: float = 2.0) -> None:
        # no background thread may outlive the client: a thread still in a request when the
        # interpreter exits can abort a process that also runs torch.distributed
        self._workers.close(timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ThreadJob:
    """A flow driven on one of the client's threads (a lease renewal), so a slow or
    black-holed service never stalls the training thread."""

    def __init__(self, client: Client, spawn: Spawn) -> None:
        self._value: Any = None
        self._done = threading.Event()
        self._client, self._flow = client, spawn.flow
        if not client._workers.submit(self._work):  # closed: as a renewal that failed
            self._done.set()

    def _work(self) -> None:
        try:
            self._value = self._client._drive(self._flow)
        except Exception:  # any failure: the caller keeps what it has and retries later
            self._value = None
        finally:
            self._done.set()
            self._client = self._flow = None  # type: ignore[assignment]

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def result(self) -> Any:
        return self._value

    def wait(self, timeout: float) -> None:
        self._done.wait(timeout)


class AsyncClient(BaseClient):
    """The asyncio twin of `Client`: the same arguments, `await`-able methods."""

    _run_class = AsyncRun
    _http: httpx.AsyncClient

    def _open(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers=self._headers(), transport=transport)

    async def send(self, request: Request, *, attempts: int | None = None) -> Any:
        """As `Client.send`."""
        return await self._drive(self._send_flow(request, attempts))

    async def run(self, run_id: str | None = None,
                  schedule: Mapping[str, Any] | None = None, *, world_size: int | None = None,
                  aggregate: str = "mean", metadata: Mapping[str, Any] | None = None,
                  rank: int | None = None, autopilot: Mapping[str, Any] | None = None,
                  epoch: int | None = None) -> AsyncRun:
        """As `Client.run`."""
        return await self._drive(self._run_flow(run_id, schedule, world_size, aggregate,
                                                metadata, rank, autopilot, epoch))

    async def _drive(self, flow: Flow[T]) -> T:
        done, value = advance(flow, None)
        while not done:
            done, value = advance(flow, await self._io(value))
        return value

    async def _io(self, command: Command) -> Any:
        """As `Client._io`, in the event loop (a spawned flow is a task)."""
        if isinstance(command, Attempt):
            try:
                return await self._http.request(
                    command.method, command.url, params=command.params, json=command.json,
                    headers=command.headers, timeout=command.timeout)
            except httpx.TransportError as exc:
                return exc
        if isinstance(command, Sleep):
            return await asyncio.sleep(command.seconds)
        if isinstance(command, Spawn):
            return _TaskJob(self, command)
        await asyncio.wait([command.job.task], timeout=command.timeout)  # type: ignore
        return None

    async def aclose(self) -> None:
        for run in self._runs:
            await run.flush_losses()
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _TaskJob:
    """A flow driven as an asyncio task (the twin of `_ThreadJob`)."""

    def __init__(self, client: AsyncClient, spawn: Spawn) -> None:
        self.task = asyncio.get_running_loop().create_task(client._drive(spawn.flow),
                                                           name=spawn.name)

    @property
    def finished(self) -> bool:
        return self.task.done()

    def result(self) -> Any:
        if not self.task.done() or self.task.cancelled() or self.task.exception() is not None:
            return None  # any failure: the caller keeps what it has and retries later
        return self.task.result()


_OPEN_CLIENTS: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _stop_workers_at_exit() -> None:
    """Let background flows in flight finish (briefly) for clients never closed."""
    for client in list(_OPEN_CLIENTS):
        client._stop_workers(timeout=1.0)
