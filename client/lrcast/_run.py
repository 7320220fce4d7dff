"""`Run` and `AsyncRun`: one training run as one rank sees it.

LRs come from the rank's lease (see `_lease.py`): evaluated locally, with an HTTP call only to
renew the lease, after a plateau decision that changed the schedule, or to wait for a round.
The twins share `RunBase` (request building, lease bookkeeping, result mapping) and differ
only in I/O.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import errors
from ._lease import FETCH, LOCAL, RENEW, Lease, LeaseBook
from ._types import ReportResult, Request
from .schedules import StepOutOfRange as _EngineStepOutOfRange
from .schedules import Timeline

if TYPE_CHECKING:
    from ._client import AsyncClient, BaseClient, Client


class RunBase:
    """What `Run` and `AsyncRun` share: identity, the lease book and request building."""

    def __init__(self, client: BaseClient, run_id: str, *, rank: int,
                 info: Mapping[str, Any]) -> None:
        self.run_id = run_id
        self.rank = rank
        #: the service's answer to the PUT (or GET) that opened the run
        self.info = dict(info)
        self._base = client
        self._book = LeaseBook(client.lease_policy)
        self._listeners: list[Callable[[], None]] = []
        self._path = f"/v1/runs/{run_id}"
        #: bumped by reports and rewinds: a lease asked for before is stale
        self._generation = 0
        self._renewal: _Renewal | _AsyncRenewal | None = None

    @property
    def world_size(self) -> int | None:
        lease = self._book.lease
        return lease.world_size if lease is not None else self.info.get("world_size")

    @property
    def lease(self) -> Lease | None:
        """The lease this rank evaluates on (None before the first LR is asked for)."""
        return self._book.lease

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the schedule this rank sees changes (a plateau decision,
        a rewind), e.g. to re-apply the current step's LR to an optimizer."""
        self._listeners.append(callback)

    # requests ------------------------------------------------------------------------------
    def _lease_request(self, step: int, wait: float) -> Request:
        params = {"wait": round(wait, 3)} if wait > 0 else None
        return Request("POST", f"{self._path}/leases", params=params, wait=wait,
                       json={"rank": self.rank, "step": step,
                             "steps": self._book.lease_steps(step)})

    def _report_request(self, step: int, value: float) -> Request:
        value = float(value)
        if not math.isfinite(value):  # JSON cannot carry it; the service would refuse it
            raise errors.InvalidRequest(f"value: must be a finite number, got {value!r}",
                                        field="value", code="invalid")
        return Request("POST", f"{self._path}/reports",
                       json={"step": step, "value": float(value), "rank": self.rank})

    def _amend_request(self, from_step: int, schedule: Mapping[str, Any] | None,
                       scale: float | None) -> Request:
        if (schedule is None) == (scale is None):
            raise ValueError("amend needs exactly one of schedule= or scale=")
        body: dict[str, Any] = {"from_step": from_step}
        if schedule is not None:
            body["schedule"] = dict(schedule)
        else:
            body["scale"] = scale
        return Request("POST", f"{self._path}/amendments", json=body)

    def _rewind_request(self, step: int, resume_id: str | None) -> Request:
        body: dict[str, Any] = {"to_step": step}
        if resume_id is not None:
            body["resume_id"] = resume_id
        return Request("POST", f"{self._path}/rewind", json=body)

    # bookkeeping ---------------------------------------------------------------------------
    def _install(self, data: Mapping[str, Any], step: int) -> Lease:
        """A lease answered for `step`: the barrier at any round <= step has passed."""
        lease = Lease.from_json(data)
        old = self._book.lease
        book = self._book
        if book.pending_round is not None and book.pending_round <= step:
            book.pending_round = None
        book.install(lease)
        if old is not None and old.version != lease.version:
            self._notify()
        return lease

    def _notify(self) -> None:
        for callback in list(self._listeners):
            callback()

    def _reported(self, result: ReportResult) -> None:
        """A decided report: keep the lease if the schedule did not change, else drop it."""
        book = self._book
        if book.pending_round is not None and book.pending_round <= result.step:
            book.set_pending(None)
        lease = book.lease
        if lease is not None and result.version is not None and lease.version != result.version:
            book.drop()
            self._notify()

    def _decided_from_lease(self, step: int, lease: Lease) -> ReportResult:
        size = lease.world_size
        return ReportResult(step=step, received=size, expected=size, decided=True,
                            lr=lease.timeline.lr(step), version=lease.version)

    def _round_timeout(self, step: int, pending: errors.RoundPending) -> errors.RoundTimeout:
        timeout = self._base.timeouts.round
        missing = pending.missing_ranks
        return errors.RoundTimeout(
            f"run {self.run_id!r}: the plateau round at step {step} was not decided within "
            f"{timeout:g}s; ranks still missing: {missing}",
            step=step, missing_ranks=missing, code=pending.code, status=pending.status,
            body=pending.body)

    def _lease_expired(self, step: int, cause: BaseException) -> errors.LeaseExpired:
        lease = self._book.lease
        horizon = lease.horizon if lease is not None else step
        return errors.LeaseExpired(
            f"run {self.run_id!r}: step {step} lies beyond the lease horizon {horizon} and the "
            f"service stayed unreachable for {self._base.timeouts.lease:g}s: {cause}",
            step=step, horizon=horizon)

    def _take_renewal(self) -> None:
        """Install a finished background renewal, unless a report or rewind since made it
        stale (it may predate a plateau decision)."""
        renewal, self._renewal = self._renewal, None
        if renewal is None or not renewal.finished or renewal.generation != self._generation:
            return
        if renewal.data is not None:
            self._install(renewal.data, renewal.step)
        else:
            self._book.renewal_failed()

    @staticmethod
    def _evaluate(lease: Lease, step: int, what: str) -> Any:
        try:
            return lease.timeline.momentums(step) if what == "m" else lease.timeline.lrs(step)
        except _EngineStepOutOfRange as exc:
            raise errors.StepOutOfRange(str(exc), code="step_out_of_range") from exc

    @staticmethod
    def _timeline(data: Any) -> Timeline:
        segments = data["timeline"] if isinstance(data, dict) else data
        return Timeline.from_json(segments)


class _Renewal:
    """One lease renewal on a daemon thread, so a slow or black-holed service never stalls
    the training thread while its lease still has steps left."""

    def __init__(self, run: Run, step: int) -> None:
        self.step = step
        self.generation = run._generation
        self.data: Any = None
        self.done = threading.Event()
        request = run._lease_request(step, 0.0)
        client = run._base
        thread = threading.Thread(target=self._renew, args=(client, request), daemon=True,
                                  name=f"lrcast-renew-{run.run_id}")
        client._renewals.add(thread)
        thread.start()

    def _renew(self, client: Client, request: Request) -> None:
        try:
            self.data = client.send(request, attempts=1)
        except Exception:  # any failure: the rank keeps its lease and retries later
            self.data = None
        finally:
            self.done.set()
            client._renewals.discard(threading.current_thread())

    @property
    def finished(self) -> bool:
        return self.done.is_set()


class _AsyncRenewal:
    """One lease renewal as an asyncio task (the twin of `_Renewal`)."""

    def __init__(self, run: AsyncRun, step: int) -> None:
        self.step = step
        self.generation = run._generation
        self.data: Any = None
        self.task = asyncio.get_running_loop().create_task(
            self._renew(run._base, run._lease_request(step, 0.0)))

    async def _renew(self, client: AsyncClient, request: Request) -> None:
        try:
            self.data = await client.send(request, attempts=1)
        except Exception:  # any failure: the rank keeps its lease and retries later
            self.data = None

    @property
    def finished(self) -> bool:
        return self.task.done()


class Run(RunBase):
    """One run as this rank sees it (synchronous). Made by `Client.run`. A `Run` belongs to
    one rank and is used from one thread (its lease renewals run on their own)."""

    _base: Client


    def lrs(self, step: int) -> list[float]:
        """Every parameter group's LR at `step` (evaluated on the lease)."""
        return list(self._evaluate(self._lease_for(step), step, "l"))

    def lr(self, step: int) -> float:
        """Group 0's LR at `step`."""
        return self._evaluate(self._lease_for(step), step, "l")[0]

    def momentums(self, step: int) -> list[float] | None:
        """Every group's momentum (or `betas[0]`) at `step`; None if the schedule does not
        cycle momentum."""
        values = self._evaluate(self._lease_for(step), step, "m")
        return None if values is None else list(values)

    def momentum(self, step: int) -> float | None:
        """Group 0's momentum at `step`, or None."""
        values = self._evaluate(self._lease_for(step), step, "m")
        return None if values is None else values[0]

    def _lease_for(self, step: int) -> Lease:
        book = self._book
        lease = book.lease
        if lease is not None and lease.start <= step < book.fast_until:
            return lease
        renewal = self._renewal
        if renewal is not None and renewal.finished:
            self._take_renewal()
        action = book.action(step)
        if action == LOCAL:
            return book.lease  # type: ignore[return-value]
        if action == RENEW:  # in the background: the training thread never waits for it
            if self._renewal is None:
                self._renewal = _Renewal(self, step)
            return book.lease  # type: ignore[return-value]
        if isinstance(self._renewal, _Renewal):  # one in flight may cover the step already
            timeouts = self._base.timeouts
            self._renewal.done.wait(timeouts.connect + timeouts.read)
            self._take_renewal()
            if book.action(step) != FETCH:
                return self._lease_for(step)
        return self._fetch(step)

    def _fetch(self, step: int) -> Lease:
        """Block until the service hands a lease covering `step` (or give up clearly)."""
        timeouts, policy = self._base.timeouts, self._base.lease_policy
        started = time.monotonic()
        while True:
            try:
                data = self._base.send(self._lease_request(step, timeouts.poll))
                return self._install(data, step)
            except errors.ServiceUnavailable as exc:
                if time.monotonic() - started >= timeouts.lease:
                    raise self._lease_expired(step, exc) from exc
                time.sleep(policy.retry_every)
            except errors.RoundPending:
                if time.monotonic() - started >= timeouts.round:
                    raise
                time.sleep(0.05)

    def report(self, step: int, value: float) -> ReportResult:
        """Report this rank's metric for the round at `step`; blocks until every rank has
        reported and the round is decided, or raises `RoundTimeout` naming the missing ranks."""
        self._generation += 1
        result = ReportResult.from_json(self._base.send(self._report_request(step, value)))
        if not result.decided:
            self._book.set_pending(step)
            result = self._await_round(step)
        self._reported(result)
        return result

    def _await_round(self, step: int) -> ReportResult:
        timeouts = self._base.timeouts
        deadline = time.monotonic() + timeouts.round
        last: errors.LRCastError | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                data = self._base.send(self._lease_request(step, min(timeouts.poll, remaining)))
                return self._decided_from_lease(step, self._install(data, step))
            except errors.RoundPending as exc:
                last = exc
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            except errors.ServiceUnavailable as exc:
                last = exc
                time.sleep(min(self._base.lease_policy.retry_every,
                               max(0.0, deadline - time.monotonic())))
        if isinstance(last, errors.RoundPending) or last is None:
            raise self._round_timeout(step, last or errors.RoundPending("", step=step))
        raise last

    def rewind(self, step: int, resume_id: str | None = None) -> dict[str, Any]:
        """The job resumed from a checkpoint at `step`: plateau reports and decisions after it
        are dropped on the service (idempotent: every rank may call it)."""
        self._generation += 1
        data = self._base.send(self._rewind_request(step, resume_id))
        self._book.set_pending(None)
        self._book.drop()
        return data or {}

    def amend(self, from_step: int, schedule: Mapping[str, Any] | None = None,
              scale: float | None = None) -> dict[str, Any]:
        """Change the schedule from `from_step` on (a new spec, or a `scale` of the one in
        force). Raises `AmendmentTooEarly` (with `min_step`) if a rank may have used it."""
        return self._base.send(self._amend_request(from_step, schedule, scale)) or {}

    def timeline(self) -> Timeline:
        """The run's resolved schedule as the service holds it now (read-only, no lease)."""
        return self._timeline(self._base.send(Request("GET", f"{self._path}/timeline")))


class AsyncRun(RunBase):
    """The asyncio twin of `Run`. Made by `AsyncClient.run`."""

    _base: AsyncClient

    async def lrs(self, step: int) -> list[float]:
        """As `Run.lrs`."""
        return list(self._evaluate(await self._lease_for(step), step, "l"))

    async def lr(self, step: int) -> float:
        """As `Run.lr`."""
        return self._evaluate(await self._lease_for(step), step, "l")[0]

    async def momentums(self, step: int) -> list[float] | None:
        """As `Run.momentums`."""
        values = self._evaluate(await self._lease_for(step), step, "m")
        return None if values is None else list(values)

    async def momentum(self, step: int) -> float | None:
        """As `Run.momentum`."""
        values = self._evaluate(await self._lease_for(step), step, "m")
        return None if values is None else values[0]

    async def _lease_for(self, step: int) -> Lease:
        book = self._book
        lease = book.lease
        if lease is not None and lease.start <= step < book.fast_until:
            return lease
        renewal = self._renewal
        if renewal is not None and renewal.finished:
            self._take_renewal()
        action = book.action(step)
        if action == LOCAL:
            return book.lease  # type: ignore[return-value]
        if action == RENEW:  # as a task: the caller never waits for it inside the lease
            if self._renewal is None:
                self._renewal = _AsyncRenewal(self, step)
            return book.lease  # type: ignore[return-value]
        if isinstance(self._renewal, _AsyncRenewal):
            timeouts = self._base.timeouts
            await asyncio.wait([self._renewal.task], timeout=timeouts.connect + timeouts.read)
            self._take_renewal()
            if book.action(step) != FETCH:
                return await self._lease_for(step)
        return await self._fetch(step)

    async def _fetch(self, step: int) -> Lease:
        timeouts, policy = self._base.timeouts, self._base.lease_policy
        started = time.monotonic()
        while True:
            try:
                data = await self._base.send(self._lease_request(step, timeouts.poll))
                return self._install(data, step)
            except errors.ServiceUnavailable as exc:
                if time.monotonic() - started >= timeouts.lease:
                    raise self._lease_expired(step, exc) from exc
                await asyncio.sleep(policy.retry_every)
            except errors.RoundPending:
                if time.monotonic() - started >= timeouts.round:
                    raise
                await asyncio.sleep(0.05)

    async def report(self, step: int, value: float) -> ReportResult:
        """As `Run.report`."""
        self._generation += 1
        data = await self._base.send(self._report_request(step, value))
        result = ReportResult.from_json(data)
        if not result.decided:
            self._book.set_pending(step)
            result = await self._await_round(step)
        self._reported(result)
        return result

    async def _await_round(self, step: int) -> ReportResult:
        timeouts = self._base.timeouts
        deadline = time.monotonic() + timeouts.round
        last: errors.LRCastError | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                data = await self._base.send(
                    self._lease_request(step, min(timeouts.poll, remaining)))
                return self._decided_from_lease(step, self._install(data, step))
            except errors.RoundPending as exc:
                last = exc
                await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            except errors.ServiceUnavailable as exc:
                last = exc
                await asyncio.sleep(min(self._base.lease_policy.retry_every,
                                        max(0.0, deadline - time.monotonic())))
        if isinstance(last, errors.RoundPending) or last is None:
            raise self._round_timeout(step, last or errors.RoundPending("", step=step))
        raise last

    async def rewind(self, step: int, resume_id: str | None = None) -> dict[str, Any]:
        """As `Run.rewind`."""
        self._generation += 1
        data = await self._base.send(self._rewind_request(step, resume_id))
        self._book.set_pending(None)
        self._book.drop()
        return data or {}

    async def amend(self, from_step: int, schedule: Mapping[str, Any] | None = None,
                    scale: float | None = None) -> dict[str, Any]:
        """As `Run.amend`."""
        return await self._base.send(self._amend_request(from_step, schedule, scale)) or {}

    async def timeline(self) -> Timeline:
        """As `Run.timeline`."""
        return self._timeline(await self._base.send(Request("GET", f"{self._path}/timeline")))
