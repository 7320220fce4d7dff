"""Leases: a rank evaluates its run's resolved schedule locally, for the steps the service
handed it, with no HTTP call per step.

A lease is the run's `Timeline` (spec, amendments, plateau decisions so far) valid for the
steps [start, horizon). The service records every horizon it hands out and accepts
amendments only beyond it, and caps a horizon at a plateau round still waiting for reports,
so a lease never disagrees with what another rank gets. `LeaseBook` is the I/O-free state
machine that says, for a step, whether the lease answers it, should be renewed, or must be
replaced first; `Run`/`AsyncRun` do the I/O.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ._config import LeasePolicy
from .schedules import Consumption, Timeline


@dataclass(frozen=True)
class Lease:
    """The run's timeline, valid for the steps [start, horizon)."""

    run_id: str
    version: int
    timeline: Timeline
    start: int
    horizon: int
    metric_driven: bool
    world_size: int
    #: the run's membership epoch (`Run.membership`)
    epoch: int = 0
    #: the timeline as the service sent it (None if built otherwise)
    timeline_json: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], previous: Lease | None = None,
                  consumption: Consumption | None = None) -> Lease:
        """The lease the service sent, evaluated on `consumption` (default: the log it sent);
        its timeline is `previous`'s if the service sent the same one (a renewal usually
        does: nothing is parsed or built again)."""
        raw = data["timeline"]
        if consumption is None and (log := data.get("consumption")) is not None:
            consumption = Consumption.from_json(log)
        if previous is not None and previous.timeline_json == raw:
            timeline = (Timeline(previous.timeline.segments) if consumption is None
                        else previous.timeline.with_consumption(consumption))
        else:
            timeline = Timeline.from_json(raw, consumption)
        return cls(run_id=str(data["run_id"]), version=int(data["version"]),
                   timeline=timeline, start=int(data["start"]),
                   horizon=int(data["horizon"]), metric_driven=bool(data["metric_driven"]),
                   world_size=int(data["world_size"]), epoch=int(data.get("epoch", 0)),
                   timeline_json=raw)

    def covers(self, step: int) -> bool:
        return self.start <= step < self.horizon

    def with_consumption(self, consumption: Consumption) -> Lease:
        """This lease evaluated on another consumption log (the service's and this rank's
        entries not sent yet); itself if that changes nothing."""
        timeline = self.timeline.with_consumption(consumption)
        return self if timeline is self.timeline else replace(self, timeline=timeline)


#: what `LeaseBook.action` asks the caller to do before evaluating a step
LOCAL, RENEW, FETCH = 0, 1, 2


class LeaseBook:
    """This rank's lease and when to replace it.

    `fast_until` is the first step the lease does not answer without a second look: the
    renewal point, the horizon, or a plateau round this rank reported at and that is not
    decided yet (a rank that reported at s evaluates no step >= s until the round is decided).
    """

    __slots__ = ("policy", "lease", "fast_until", "pending_round", "retry_at",
                 "unreachable_since", "installed_at", "_watchers")

    def __init__(self, policy: LeasePolicy) -> None:
        self.policy = policy
        self.lease: Lease | None = None
        self.fast_until = -1
        self.pending_round: int | None = None
        self.retry_at = 0.0
        self.unreachable_since: float | None = None
        self.installed_at = 0.0
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever `lease` or `fast_until` may have changed (a cache of what
        the lease answers, such as `RemoteScheduler`'s window, drops it then)."""
        self._watchers.append(callback)

    def install(self, lease: Lease, now: float | None = None) -> None:
        """A fresh lease from the service: evaluate locally until its renewal point."""
        self.lease = lease
        self.installed_at = time.monotonic() if now is None else now
        self.retry_at = 0.0
        self.unreachable_since = None
        self._refresh()

    def reevaluate(self, lease: Lease, renew_from: int) -> None:
        """The same lease evaluated otherwise (on a consumption log with this rank's new
        entries): renewed from step `renew_from` on at the latest."""
        self.lease = lease
        self.fast_until = min(self.fast_until, renew_from)
        for callback in self._watchers:
            callback()

    def drop(self) -> None:
        """Forget the lease (after a rewind, or a decision that changed the schedule)."""
        self.lease = None
        self._refresh()

    def set_pending(self, step: int | None) -> None:
        self.pending_round = step
        self._refresh()

    def _refresh(self) -> None:
        for callback in self._watchers:
            callback()
        lease = self.lease
        if lease is None:
            self.fast_until = -1
            return
        used = math.ceil((lease.horizon - lease.start) * self.policy.renew_at)
        until = min(lease.horizon, lease.start + max(1, used))
        if self.pending_round is not None:
            until = min(until, self.pending_round)
        self.fast_until = until

    def lease_steps(self, step: int, now: float | None = None) -> int:
        """How many steps to ask for in a lease starting at `step` (see `LeasePolicy`)."""
        lease = self.lease
        if lease is None:
            return self.policy.steps
        now = time.monotonic() if now is None else now
        # a step past the horizon used no more of the lease than all of it
        return self.policy.next_steps(min(step, lease.horizon) - lease.start,
                                      now - self.installed_at)

    def action(self, step: int, now: float | None = None) -> int:
        """LOCAL, RENEW (the lease answers, but try to renew it now) or FETCH (it does not)."""
        lease = self.lease
        if lease is None or not lease.covers(step):
            return FETCH
        if self.pending_round is not None and step >= self.pending_round:
            return FETCH
        if step < self.fast_until:
            return LOCAL
        now = time.monotonic() if now is None else now
        return RENEW if now >= self.retry_at else LOCAL

    def renewal_failed(self, now: float | None = None) -> None:
        """The service did not answer a renewal: keep going on the lease, retry later."""
        now = time.monotonic() if now is None else now
        if self.unreachable_since is None:
            self.unreachable_since = now
        self.retry_at = now + self.policy.retry_every
