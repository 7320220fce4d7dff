"""`Run` and `AsyncRun`: one training run as one rank sees it.

LRs come from the rank's lease (see `_lease.py`): evaluated locally, with an HTTP call only to
renew the lease, after a plateau decision that changed the schedule, or to wait for a round.
Leases and reports carry ``at``, the step the rank is at (`RunBase.current_step`): the service
shows it as the rank's progress and refuses a plateau report that would change an LR a rank
already used; closing the run tells it the final step.
Every operation is written once in `RunBase`, as an I/O-free flow (see `_flow.py`); the twins
only drive the flows with their client (blocking, or awaiting).

On a sample or token clock (or with batch scaling) the rank records what each step consumed
(`RunBase.record_consumption`, or ``RemoteScheduler.step(samples=..., tokens=...)``): only
changes are kept (run-length), the lease is evaluated at once on the service's log plus these
entries, and they leave with the next lease request (a renewal is started in the background on
a change) or before a report: never a call per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors
from ._flow import Background, Flow, Join, Sleep, Spawn
from ._lease import FETCH, LOCAL, RENEW, Lease, LeaseBook
from ._types import ReportResult, Request
from .schedules import Consumption, Timeline
from .schedules import StepOutOfRange as _EngineStepOutOfRange
from .schedules._clock import Entry, entry_json

if TYPE_CHECKING:
    from ._client import AsyncClient, BaseClient, Client

#: a loss batch leaves after this many points, or this many seconds after the last one
LOSS_BATCH, LOSS_EVERY = 100, 2.0
#: what `RunBase._read` evaluates
LRS, LR, MOMENTUMS, MOMENTUM = range(4)


@dataclass(frozen=True, slots=True)
class _Renewal:
    """A lease renewal in the background, asked for at `step` in `generation`."""

    step: int
    generation: int
    job: Background


class RunBase:
    """What `Run` and `AsyncRun` share: identity, the lease book and every operation."""

    def __init__(self, client: BaseClient, run_id: str, *, rank: int,
                 info: Mapping[str, Any], epoch: int | None = None,
                 world_size: int | None = None) -> None:
        self.run_id = run_id
        self.rank = rank
        #: this process's membership epoch (None: no membership handling), sent with leases
        #: and reports so that the service fences a replaced generation's stragglers
        self.epoch = epoch
        #: (epoch, world size) of the membership change this rank's generation still owes
        #: the run (`_membership_due`), sent once the rank knows the step it resumes from
        self._due: tuple[int, int] | None = _membership_due(info, epoch, world_size)
        #: the first step this rank asked a lease for (where it resumed, without a rewind)
        self._first_step: int | None = None
        #: the service's answer to the PUT (or GET) that opened the run
        self.info = dict(info)
        self._client = client
        self._book = LeaseBook(client.lease_policy)
        self._listeners: list[Callable[[], None]] = []
        self._path = f"/v1/runs/{run_id}"
        #: bumped by reports and rewinds: a lease asked for before is stale
        self._generation = 0
        self._renewal: _Renewal | None = None
        #: the step this rank is at: the latest step whose LR it used (None: none yet). Set by
        #: `lrs`, `lr`, `momentums`, `momentum` (an LR handed out is used) and by
        #: `RemoteScheduler` (no I/O); sent as ``at`` with leases and reports
        self.current_step: int | None = None
        #: the ``at`` last sent (`close` sends the final step only if it moved since)
        self._told: int | None = None
        #: losses not sent yet ([step, value]), and when the last batch left
        self._losses: list[list[float]] = []
        self._losses_sent_at = time.monotonic()
        self._loss_jobs: list[Background] = []
        #: this rank's consumption log: the service's (as its last answer carried it) with
        #: the entries it has not confirmed yet (`_unsent`, sent with the next lease request)
        self._consumption = Consumption()
        self._unsent: list[Entry] = []
        #: (samples, tokens, from, until): amounts just told that match the log on the steps
        #: [from, until), so telling them again there needs no look-up (the per-step call)
        self._told_batch: tuple[Any, Any, int, float] | None = None

    @property
    def world_size(self) -> int | None:
        lease = self._book.lease
        return lease.world_size if lease is not None else self.info.get("world_size")

    @property
    def membership_epoch(self) -> int:
        """The run's membership epoch, as the service last said."""
        lease = self._book.lease
        return lease.epoch if lease is not None else int(self.info.get("epoch", 0))

    @property
    def metric_driven(self) -> bool:
        """Whether the schedule has a metric-driven part (plateau rounds take reports)."""
        lease = self._book.lease
        return lease.metric_driven if lease is not None else bool(self.info.get("metric_driven"))

    @property
    def lease(self) -> Lease | None:
        """The lease this rank evaluates on (None before the first LR is asked for)."""
        return self._book.lease

    @property
    def local_until(self) -> int:
        """The first step `lease` does not answer without a second look (its renewal point,
        its horizon, or a plateau round this rank reported at and that is not decided yet):
        steps in [lease.start, local_until) need no call to `lease_for`."""
        return self._book.fast_until

    def record_consumption(self, step: int, *, samples: int | None = None,
                           tokens: int | None = None) -> None:
        """Step `step` consumed `samples` and/or `tokens` (the job's global batch, the same on
        every rank); an amount left out, or both, continue as before. Only a change is kept,
        and it leaves with the next lease request (no call per step); the lease evaluates the
        steps after `step` with it at once. `InvalidRequest` for a negative or non-integer
        step or amount."""
        told = self._told_batch
        if told is not None and told[0] == samples and told[1] == tokens and \
                type(step) is int and told[2] <= step < told[3] and \
                type(samples) is not bool and type(tokens) is not bool:
            return  # the same amounts as the steps before: nothing changes
        step = _checked_count(step, "step", low=0)
        amounts = [None if v is None else _checked_count(v, unit, low=1)
                   for unit, v in (("samples", samples), ("tokens", tokens))]
        self._told_batch = None
        log = self._consumption
        changed = [a if a is not None and log.amount(unit, step) != a else None
                   for unit, a in zip(("samples", "tokens"), amounts, strict=True)]
        if changed != [None, None]:
            entry: Entry = (step, changed[0], changed[1])
            self._unsent.append(entry)
            self._consumption = log = log.merged([entry])
            self._renew_with_consumption(step)
        following = log.next_entry(step)
        self._told_batch = (samples, tokens, step, math.inf if following is None else following)

    def _renew_with_consumption(self, step: int) -> None:
        """Evaluate the lease on the log with the new entry now; renew it soon (the entry
        leaves with the renewal, in the background)."""
        book = self._book
        if book.lease is not None:  # renewed soon, in the background
            book.reevaluate(book.lease.with_consumption(self._consumption), step + 1)

    def _absorb(self, data: Any) -> None:
        """The service's log (its JSON): entries it holds are sent; the rest stay unsent."""
        if not isinstance(data, list):
            return
        log = Consumption.from_json(data)
        self._unsent = [e for e in self._unsent if not _holds(log, e)]
        self._consumption = log.merged(self._unsent)
        self._told_batch = None

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the schedule this rank sees changes (a plateau decision,
        a rewind), e.g. to re-apply the current step's LR to an optimizer."""
        self._listeners.append(callback)

    def on_lease_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever `lease` or `local_until` may change (a lease installed or
        dropped, a plateau round pending or decided), e.g. to drop what was worked out from
        the lease."""
        self._book.watch(callback)

    # requests ------------------------------------------------------------------------------
    def _at(self, below: int) -> dict[str, int]:
        """``{"at": current_step}`` if known (-1: no step used yet) and below `below` (the
        service's bound)."""
        at = self.current_step
        if at is None or not 0 <= at < below:
            return {}
        self._told = at
        return {"at": at}

    def _lease_request(self, step: int, wait: float, steps: int | None = None) -> Request:
        params = {"wait": round(wait, 3)} if wait > 0 else None
        body = {"rank": self.rank, "step": step, **self._at(step + 1),
                "steps": self._book.lease_steps(step) if steps is None else steps,
                **self._epoch()}
        if self._unsent:
            body["consumption"] = [entry_json(e) for e in self._unsent]
        return Request("POST", f"{self._path}/leases", params=params, wait=wait, json=body)

    def _epoch(self) -> dict[str, int]:
        return {} if self.epoch is None else {"epoch": self.epoch}

    def _consumption_request(self) -> Request | None:
        if not self._unsent:
            return None
        return Request("POST", f"{self._path}/consumption",
                       json={"entries": [entry_json(e) for e in self._unsent]})

    def _report_request(self, step: int, value: float) -> Request:
        value = float(value)
        if not math.isfinite(value):  # JSON cannot carry it; the service would refuse it
            raise errors.InvalidRequest(f"value: must be a finite number, got {value!r}",
                                        field="value", code="invalid")
        lease = self._book.lease  # `at` is below the served frontier: within a lease
        return Request("POST", f"{self._path}/reports",
                       json={"step": step, "value": value, "rank": self.rank,
                             **self._at(lease.horizon if lease is not None else 0),
                             **self._epoch()})

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

    def _cooldown_request(self, steps: int, from_step: int | None, decay_type: str,
                          min_lr_ratio: float) -> Request:
        body: dict[str, Any] = {"cooldown": {"steps": steps, "decay_type": decay_type,
                                             "min_lr_ratio": min_lr_ratio}}
        if from_step is not None:
            body["from_step"] = from_step
        return Request("POST", f"{self._path}/amendments", json=body)

    def _losses_request(self) -> Request | None:
        """The buffered losses as one request (the buffer is emptied), or None."""
        points, self._losses = self._losses, []
        self._losses_sent_at = time.monotonic()
        if not points:
            return None
        return Request("POST", f"{self._path}/losses",
                       json={"rank": self.rank, "points": points})

    def _rewind_request(self, step: int, resume_id: str | None) -> Request:
        body: dict[str, Any] = {"to_step": step, "rank": self.rank}
        if resume_id is not None:
            body["resume_id"] = resume_id
        return Request("POST", f"{self._path}/rewind", json=body)

    # flows ---------------------------------------------------------------------------------
    def _leased(self, step: int) -> Lease | None:
        """The fast path: the lease, if it answers `step` without a second look."""
        lease = self._book.lease
        if lease is not None and lease.start <= step < self._book.fast_until:
            return lease
        return None

    def _lease_flow(self, step: int) -> Flow[Lease]:
        """The lease that answers `step`: renewed in the background while it still answers,
        else fetched (after any renewal in flight, which may cover the step already)."""
        book = self._book
        if self._renewal is not None and self._renewal.job.finished:
            self._take_renewal()
        action = book.action(step)
        if action == LOCAL:
            return book.lease  # type: ignore[return-value]
        if self._due is not None and self._first_step is not None:
            # past the first lease (a scheduler's constructor asks it before any checkpoint
            # is loaded): the rank resumed at the first step it asked for
            yield from self._owed_membership_flow(self._first_step)
            action = book.action(step)
        if self._first_step is None:
            self._first_step = step
        if action == RENEW:  # in the background: the training thread never waits for it
            if self._renewal is None:
                job = yield Spawn(self._client._send_flow(self._lease_request(step, 0.0),
                                                          passes=1),
                                  name=f"lrcast-renew-{self.run_id}")
                self._renewal = _Renewal(step, self._generation, job)
            return book.lease  # type: ignore[return-value]
        if self._renewal is not None:
            timeouts = self._client.timeouts
            yield Join(self._renewal.job, timeouts.connect + timeouts.read)
            self._take_renewal()
            if book.action(step) != FETCH:
                return (yield from self._lease_flow(step))
        return (yield from self._fetch_flow(step))

    def _fetch_flow(self, step: int) -> Flow[Lease]:
        """Wait until the service hands a lease covering `step` (or give up clearly)."""
        timeouts, policy = self._client.timeouts, self._client.lease_policy
        started = time.monotonic()
        while True:
            try:
                data = yield from self._client._send_flow(
                    self._lease_request(step, timeouts.poll))
                return self._install(data, step)
            except errors.ServiceUnavailable as exc:
                if time.monotonic() - started >= timeouts.lease:
                    raise self._lease_expired(step, exc) from exc
                yield Sleep(policy.retry_every)
            except errors.RoundPending:
                if time.monotonic() - started >= timeouts.round:
                    raise
                yield Sleep(0.05)

    def _send_consumption_flow(self) -> Flow[None]:
        """Send the unsent consumption entries now (before a report: its `at` may pass them)."""
        request = self._consumption_request()
        if request is not None:
            data = yield from self._client._send_flow(request)
            self._absorb((data or {}).get("consumption"))

    def _report_flow(self, step: int, value: float) -> Flow[ReportResult]:
        if self._due is not None:
            yield from self._owed_membership_flow(
                max(step - 1, 0) if self._first_step is None else self._first_step)
        yield from self._send_consumption_flow()
        request = self._report_request(step, value)
        self._generation += 1
        result = ReportResult.from_json((yield from self._client._send_flow(request)))
        if not result.decided:
            self._book.set_pending(step)
            result = yield from self._await_round_flow(step)
        self._reported(result)
        return result

    def _await_round_flow(self, step: int) -> Flow[ReportResult]:
        timeouts = self._client.timeouts
        deadline = time.monotonic() + timeouts.round
        last: errors.LRCastError | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                data = yield from self._client._send_flow(
                    self._lease_request(step, min(timeouts.poll, remaining)))
                return self._decided_from_lease(step, self._install(data, step))
            except errors.RoundPending as exc:
                last = exc
                yield Sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            except errors.ServiceUnavailable as exc:
                last = exc
                yield Sleep(min(self._client.lease_policy.retry_every,
                                max(0.0, deadline - time.monotonic())))
        if isinstance(last, errors.RoundPending) or last is None:
            raise self._round_timeout(step, last or errors.RoundPending("", step=step))
        raise last

    def _close_flow(self) -> Flow[None]:
        """Tell the service the step this rank ended at (a lease of one step there), once,
        if it moved since the last lease or report: best effort, one pass over the URLs."""
        at = self.current_step
        try:
            if at is None or at < 0 or at == self._told:
                yield from self._send_consumption_flow()  # what the last steps consumed
                return
            yield from self._client._send_flow(self._lease_request(at, 0.0, steps=1), passes=1)
        except errors.LRCastError:  # closing never fails a finished job
            pass

    def _rewind_flow(self, step: int, resume_id: str | None) -> Flow[dict[str, Any]]:
        if self._due is not None:  # a new generation resumes from `step`: its change
            data = yield from self._owed_membership_flow(step)
            if resume_id is None:
                return data
        self._rewound(step)  # first, as a renewal in flight must not be taken after it
        data = yield from self._client._send_flow(self._rewind_request(step, resume_id))
        return data or {}

    def _rewound(self, step: int) -> None:
        """The run went back to `step` (a rewind, or a membership change, which is one): this
        rank is there at most, its lease is stale, and what the steps from `step` on consume
        is told again (the service dropped it too)."""
        self._generation += 1
        if self.current_step is not None:
            self.current_step = min(self.current_step, step)
        self._unsent = [e for e in self._unsent if e[0] < step]
        self._consumption = Consumption([e for e in self._consumption.entries if e[0] < step])
        self._told_batch = None
        self._book.set_pending(None)
        self._book.drop()

    def _owed_membership_flow(self, from_step: int) -> Flow[dict[str, Any]]:
        epoch, world_size = self._due  # type: ignore[misc]
        return (yield from self._membership_flow(world_size, from_step, epoch))

    def _membership_flow(self, world_size: int, from_step: int,
                         epoch: int) -> Flow[dict[str, Any]]:
        """The run's membership change (every rank of a generation sends the same: it is
        idempotent); like a rewind, it makes the lease stale."""
        data = yield from self._client._send_flow(Request(
            "POST", f"{self._path}/membership",
            json={"world_size": world_size, "from_step": from_step, "epoch": epoch}))
        self.epoch, self._due = epoch, None
        self.info.update(epoch=epoch, world_size=world_size)
        self._rewound(from_step)
        return data or {}

    def _log_loss_flow(self, step: int, value: float) -> Flow[None]:
        """Buffer the point; every `LOSS_BATCH` points or `LOSS_EVERY` seconds the buffer
        leaves in the background (the training thread never waits for it)."""
        value = float(value)
        if not math.isfinite(value):
            raise errors.InvalidRequest(f"value: must be a finite number, got {value!r}",
                                        field="value", code="invalid")
        self._losses.append([int(step), value])
        due = (len(self._losses) >= LOSS_BATCH
               or time.monotonic() - self._losses_sent_at >= LOSS_EVERY)
        self._loss_jobs = [job for job in self._loss_jobs if not job.finished]
        request = self._losses_request() if due else None
        if request is not None:
            job = yield Spawn(self._client._send_flow(request),
                              name=f"lrcast-losses-{self.run_id}")
            self._loss_jobs.append(job)

    def _flush_losses_flow(self) -> Flow[None]:
        """Send what is buffered now, after the batches in flight."""
        timeouts = self._client.timeouts
        for job in self._loss_jobs:
            yield Join(job, timeouts.connect + timeouts.read)
        self._loss_jobs = []
        request = self._losses_request()
        if request is not None:
            yield from self._client._send_flow(request)

    def _amend_flow(self, request: Request) -> Flow[dict[str, Any]]:
        return (yield from self._client._send_flow(request)) or {}

    def _timeline_flow(self) -> Flow[Timeline]:
        data = yield from self._client._send_flow(Request("GET", f"{self._path}/timeline"))
        segments = data["timeline"] if isinstance(data, dict) else data
        return Timeline.from_json(segments, data.get("consumption")
                                  if isinstance(data, dict) else None)

    # bookkeeping ---------------------------------------------------------------------------
    def _install(self, data: Mapping[str, Any], step: int) -> Lease:
        """A lease answered for `step`: the barrier at any round <= step has passed."""
        self._absorb(data.get("consumption"))
        old = self._book.lease
        lease = Lease.from_json(data, old, self._consumption)
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
        timeout = self._client.timeouts.round
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
            f"service stayed unreachable for {self._client.timeouts.lease:g}s: {cause}",
            step=step, horizon=horizon)

    def _take_renewal(self) -> None:
        """Install a finished background renewal, unless a report or rewind since made it
        stale (it may predate a plateau decision)."""
        renewal, self._renewal = self._renewal, None
        if renewal is None or not renewal.job.finished or renewal.generation != self._generation:
            return
        data = renewal.job.result()
        if data is not None:
            self._install(data, renewal.step)
        else:
            self._book.renewal_failed()

    def _read(self, lease: Lease, step: int, what: int) -> Any:
        """`what` (LRS, LR, MOMENTUMS or MOMENTUM) at `step`, evaluated on `lease`: the rank
        is now at `step`."""
        try:
            values = lease.timeline.lrs(step) if what <= LR else lease.timeline.momentums(step)
        except _EngineStepOutOfRange as exc:
            raise errors.StepOutOfRange(str(exc), code="step_out_of_range") from exc
        self.current_step = step
        if values is None:
            return None
        return values[0] if what in (LR, MOMENTUM) else list(values)


def _membership_due(info: Mapping[str, Any], epoch: int | None,
                    world_size: int | None) -> tuple[int, int] | None:
    """The change a rank under `epoch` owes the run as `info` shows it: for a later epoch
    than generation 0 when the run's is not newer (the same epoch again is idempotent, and
    says so if a sibling rank made it from another step); `StaleMembership` if the run's
    is newer: a later generation replaced this one."""
    if epoch is None:
        return None
    run_epoch = int(info.get("epoch", 0))
    if run_epoch > epoch:
        raise errors.StaleMembership(
            f"run {info.get('run_id')!r} is at membership epoch {run_epoch}, this process at "
            f"{epoch}: a later generation of the job replaced this one (restarting by hand? "
            "set LRCAST_EPOCH to a greater epoch)", code="stale_membership",
            body={"epoch": run_epoch, "sent_epoch": epoch})
    if epoch == 0 or world_size is None:
        return None
    return epoch, world_size


def _checked_count(value: Any, name: str, *, low: int) -> int:
    """`value` as an integer >= `low` (an integral float too), else `InvalidRequest`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise errors.InvalidRequest(f"{name}: must be an integer >= {low}, got {value!r}",
                                    field=name, code="invalid")
    return value


def _holds(log: Consumption, entry: Entry) -> bool:
    """True if `log` has every amount `entry` names in force at its step."""
    step = entry[0]
    return all(amount is None or log.amount(unit, step) == amount
               for unit, amount in zip(("samples", "tokens"), entry[1:], strict=True))


class Run(RunBase):
    """One run as this rank sees it (synchronous). Made by `Client.run`. A `Run` belongs to
    one rank and is used from one thread (its lease renewals run on their own)."""

    _client: Client

    def lrs(self, step: int) -> list[float]:
        """Every parameter group's LR at `step` (evaluated on the lease)."""
        return self._read(self.lease_for(step), step, LRS)

    def lr(self, step: int) -> float:
        """Group 0's LR at `step`."""
        return self._read(self.lease_for(step), step, LR)

    def momentums(self, step: int) -> list[float] | None:
        """Every group's momentum (or `betas[0]`) at `step`; None if the schedule does not
        cycle momentum."""
        return self._read(self.lease_for(step), step, MOMENTUMS)

    def momentum(self, step: int) -> float | None:
        """Group 0's momentum at `step`, or None."""
        return self._read(self.lease_for(step), step, MOMENTUM)

    def lease_for(self, step: int) -> Lease:
        """The lease that answers `step`; renewed in the background when due, fetched first
        (blocking) when the current one does not answer it."""
        return self._leased(step) or self._client._drive(self._lease_flow(step))

    def report(self, step: int, value: float) -> ReportResult:
        """Report this rank's metric for the round at `step`; blocks until every rank has
        reported and the round is decided, or raises `RoundTimeout` naming the missing ranks."""
        return self._client._drive(self._report_flow(step, value))

    def rewind(self, step: int, resume_id: str | None = None) -> dict[str, Any]:
        """The job resumed from a checkpoint at `step`: plateau reports and decisions after it
        are dropped on the service (idempotent: every rank may call it). After a `Rewind`,
        pass its `directive_id` as `resume_id`: that acknowledges it for this rank."""
        return self._client._drive(self._rewind_flow(step, resume_id))

    def membership(self, world_size: int, from_step: int, epoch: int) -> dict[str, Any]:
        """The job resumed from its checkpoint at `from_step` with `world_size` ranks, as
        membership generation `epoch` (greater than the run's): implies the rewind there and
        discards open rounds (idempotent: every rank may send it; the client does it itself
        for a new generation, see `Client.run`). This process's epoch becomes `epoch`."""
        return self._client._drive(self._membership_flow(world_size, from_step, epoch))

    def log_loss(self, step: int, value: float) -> None:
        """Record this rank's training loss at `step` for the autopilot: buffered and sent in
        batches in the background (never a call per step, never a wait for other ranks)."""
        self._client._drive(self._log_loss_flow(step, value))

    def flush_losses(self) -> None:
        """Send the buffered losses now (`Client.close` does it)."""
        self._client._drive(self._flush_losses_flow())

    def send_consumption(self) -> None:
        """Send the consumption entries not sent yet now (they go with lease requests and
        before reports anyway)."""
        self._client._drive(self._send_consumption_flow())

    def checkpoint(self, step: int) -> dict[str, Any]:
        """Announce that the job saved a checkpoint after `step` (idempotent): the autopilot
        rewinds to the latest one before a loss spike."""
        return self._client._drive(self._client._send_flow(
            Request("POST", f"{self._path}/checkpoints", json={"step": step})))

    def amend(self, from_step: int, schedule: Mapping[str, Any] | None = None,
              scale: float | None = None) -> dict[str, Any]:
        """Change the schedule from `from_step` on (a new spec, or a `scale` of the one in
        force). Raises `AmendmentTooEarly` (with `min_step`) if a rank may have used it."""
        return self._client._drive(self._amend_flow(
            self._amend_request(from_step, schedule, scale)))

    def cooldown(self, steps: int, *, from_step: int | None = None, decay_type: str = "linear",
                 min_lr_ratio: float = 0.0) -> dict[str, Any]:
        """Anneal now: from `from_step` (default: the first step an amendment may take) each
        group's LR there decays over `steps` steps as transformers' warmup_stable_decay does
        (`decay_type` "linear", "cosine" or "1-sqrt"), to `min_lr_ratio` x that LR. Returns the
        amendment (its `from_step` resolved); `AmendmentTooEarly` as `amend`."""
        return self._client._drive(self._amend_flow(
            self._cooldown_request(steps, from_step, decay_type, min_lr_ratio)))

    def timeline(self) -> Timeline:
        """The run's resolved schedule as the service holds it now (read-only, no lease)."""
        return self._client._drive(self._timeline_flow())

    def close(self) -> None:
        """Tell the service the step this rank ended at (`current_step`), so the run's
        progress shows where training stopped; one request at most, errors ignored."""
        self._client._drive(self._close_flow())

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRun(RunBase):
    """The asyncio twin of `Run`. Made by `AsyncClient.run`."""

    _client: AsyncClient

    async def lrs(self, step: int) -> list[float]:
        """As `Run.lrs`."""
        return self._read(await self.lease_for(step), step, LRS)

    async def lr(self, step: int) -> float:
        """As `Run.lr`."""
        return self._read(await self.lease_for(step), step, LR)

    async def momentums(self, step: int) -> list[float] | None:
        """As `Run.momentums`."""
        return self._read(await self.lease_for(step), step, MOMENTUMS)

    async def momentum(self, step: int) -> float | None:
        """As `Run.momentum`."""
        return self._read(await self.lease_for(step), step, MOMENTUM)

    async def lease_for(self, step: int) -> Lease:
        """As `Run.lease_for` (a renewal runs as a task)."""
        return self._leased(step) or await self._client._drive(self._lease_flow(step))

    async def report(self, step: int, value: float) -> ReportResult:
        """As `Run.report`."""
        return await self._client._drive(self._report_flow(step, value))

    async def rewind(self, step: int, resume_id: str | None = None) -> dict[str, Any]:
        """As `Run.rewind`."""
        return await self._client._drive(self._rewind_flow(step, resume_id))

    async def membership(self, world_size: int, from_step: int, epoch: int) -> dict[str, Any]:
        """As `Run.membership`."""
        return await self._client._drive(self._membership_flow(world_size, from_step, epoch))

    async def log_loss(self, step: int, value: float) -> None:
        """As `Run.log_loss` (a batch leaves as a task)."""
        await self._client._drive(self._log_loss_flow(step, value))

    async def flush_losses(self) -> None:
        """As `Run.flush_losses`."""
        await self._client._drive(self._flush_losses_flow())

    async def send_consumption(self) -> None:
        """As `Run.send_consumption`."""
        await self._client._drive(self._send_consumption_flow())

    async def checkpoint(self, step: int) -> dict[str, Any]:
        """As `Run.checkpoint`."""
        return await self._client._drive(self._client._send_flow(
            Request("POST", f"{self._path}/checkpoints", json={"step": step})))

    async def amend(self, from_step: int, schedule: Mapping[str, Any] | None = None,
                    scale: float | None = None) -> dict[str, Any]:
        """As `Run.amend`."""
        return await self._client._drive(self._amend_flow(
            self._amend_request(from_step, schedule, scale)))

    async def cooldown(self, steps: int, *, from_step: int | None = None,
                       decay_type: str = "linear", min_lr_ratio: float = 0.0) -> dict[str, Any]:
        """As `Run.cooldown`."""
        return await self._client._drive(self._amend_flow(
            self._cooldown_request(steps, from_step, decay_type, min_lr_ratio)))

    async def timeline(self) -> Timeline:
        """As `Run.timeline`."""
        return await self._client._drive(self._timeline_flow())

    async def aclose(self) -> None:
        """As `Run.close`."""
        await self._client._drive(self._close_flow())

    async def __aenter__(self) -> AsyncRun:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
