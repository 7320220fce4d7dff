"""Replicas as one service: change notifications and freshness checks over PostgreSQL.

The SQL of both (``pg_notify``, ``LISTEN``, the ``runs.seq`` read) is in `store/notify.py`;
this module is what a replica does with them.

Each replica caches the evaluated view of a run (`runtime.live.LiveRuns`). With several
replicas on one PostgreSQL database a write lands on one of them, so the others must learn of
it, for two reasons:

- Liveness: a long-poll waiting on replica A for a plateau round must wake when the deciding
  report commits on replica B. Every write transaction on a run ends with
  ``pg_notify('lrcast_runs', {"run": id, "origin": replica})`` (`store.notify.publish`),
  delivered by PostgreSQL only when the transaction commits. A `store.notify.Listener` thread
  per replica holds its own connection in ``LISTEN`` and hands each run id to the event
  loop, where `Replication` reloads that run's view (under the run's lock, so it lands after
  any write of this replica in flight) and so wakes its waiters. Waiters also re-check every
  `POLL_INTERVAL` seconds, so a notification lost while the listener reconnects delays a
  wake-up by at most that.
- Safety: a notification races the client. A rank whose report was acknowledged by B may ask
  A for the next step before A has processed B's notification; A's stale view would not know
  the round is open and would answer past the barrier. So before a view of a metric-driven run
  is used to answer past the barrier, `Replication.current` compares its ``runs.seq`` (a change
  counter every write transaction bumps under the run's row lock, see `store/sql.py`) with the
  database's in one primary-key read, and reloads when they differ. Closed-form runs need no
  such read: every step a replica answers lies below the served frontier it persisted first,
  and amendments start at or beyond the database's frontier, so a cached view is never wrong
  for the steps it answers (it is only refreshed by the notification or the next frontier
  extension, whose write returns the current record).

SQLite has no notifications and serves one process, so none of this runs there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from ..store.notify import Listener, SeqReader

if TYPE_CHECKING:
    from ..store.sql import SqlStore
    from .live import LiveRuns, RunView

#: how often a waiting long-poll re-checks the database when no notification came, seconds
POLL_INTERVAL = 0.5

log = logging.getLogger("lrcast.replication")


class Replication:
    """Keeps one replica's `LiveRuns` current with the writes of the others (see the module
    docstring). Made by `attach`; `LiveRuns` calls `current` and `poll_interval`."""

    poll_interval = POLL_INTERVAL

    def __init__(self, live: LiveRuns, url: str, origin: str) -> None:
        self.live = live
        self.listener = Listener(url, origin, self._on_change)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty: set[str] = set()
        self._everything = False
        self._task: asyncio.Task[None] | None = None
        self._next_read: dict[str, asyncio.Future[int | None]] = {}
        self._reading: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._seqs = SeqReader(url)

    async def start(self) -> None:
        """Start listening (call from the app's lifespan, on the serving event loop)."""
        self._loop = asyncio.get_running_loop()
        self.listener.start()
        await run_in_threadpool(self.listener.listening.wait, 10.0)

    async def stop(self) -> None:
        await run_in_threadpool(self.listener.stop)
        if self._task is not None:
            self._task.cancel()
        await self._seqs.close()

    # from the listener thread -------------------------------------------------------------
    def _on_change(self, run_id: str | None) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._mark, run_id)

    # on the event loop -----------------------------------------------------------------------
    def _mark(self, run_id: str | None) -> None:
        """Queue a refresh; many notifications for one run before it runs cost one reload."""
        if run_id is None:
            self._everything = True
        else:
            self._dirty.add(run_id)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._dirty or self._everything:
            if self._everything:
                self._everything = False
                self._dirty.update(self.live.views)
                if not self._dirty:
                    break
            run_id = self._dirty.pop()
            try:
                await self.live.refresh(run_id)
            except Exception as exc:  # the database is away: the waiters' polling retries
                log.warning("replication: refreshing run %r failed: %s", run_id, exc)

    async def current(self, view: RunView) -> bool:
        """True if `view` is the run as committed now; otherwise reload it and return False
        (the caller takes the fresh view and checks again)."""
        seq = await self._seq_read_after_now(view.run_id)
        if seq is not None and seq == view.record.seq:
            return True
        cached = self.live.views.get(view.run_id)
        if cached is None or cached.record.seq != seq:  # not already reloaded by another
            await self.live.refresh(view.run_id)
        return False

    async def checked(self, run_id: str, body: bytes) -> bytes | None:
        """`body`, answered by the fast LR path from the run's cached view, if that view may
        answer: always for a closed-form run, after `current` for a metric-driven one; None
        sends the request on to the route (which reloads and waits at the barrier)."""
        view = self.live.views.get(run_id)
        if view is None or not view.metric_driven:
            return body
        return body if await self.current(view) else None

    async def _seq_read_after_now(self, run_id: str) -> int | None:
        """The run's seq from a read that starts after this call, so it reflects every commit
        acknowledged before it. Concurrent callers share reads (one in flight per run, the
        next gathering everyone who arrives meanwhile): under load the check costs one
        primary-key read per batch of queries, not per query."""
        pending = self._next_read.get(run_id)
        if pending is None:
            pending = self._next_read[run_id] = asyncio.get_running_loop().create_future()
            if run_id not in self._reading:
                self._reading.add(run_id)
                task = asyncio.ensure_future(self._read_seqs(run_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(pending)

    async def _read_seqs(self, run_id: str) -> None:
        try:
            while (batch := self._next_read.pop(run_id, None)) is not None:
                try:
                    batch.set_result(await self._seqs.read(run_id))
                except Exception as exc:
                    batch.set_exception(exc)
        finally:
            self._reading.discard(run_id)


def attach(live: LiveRuns, store: SqlStore, url: str) -> Replication | None:
    """The `Replication` for `live` when the store is PostgreSQL (None for SQLite); sets
    ``live.replication`` so the barrier checks freshness. Start it in the app's lifespan."""
    if store.sqlite:
        return None
    replication = Replication(live, url, store.origin)
    live.replication = replication
    return replication
