"""PostgreSQL's side of replication (`runtime/replication.py` says why and how): the
change notification each write transaction sends on commit, the listener that receives the
other replicas' ones, and the one-row read of a run's change counter (``runs.seq``).

SQLite has no notifications and serves one process, so none of this runs there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CHANNEL = "lrcast_runs"
#: pause before the listener reconnects after losing its connection, seconds
RECONNECT_DELAY = 0.5

log = logging.getLogger("lrcast.replication")


def new_origin() -> str:
    """An id for one store instance, so a replica can skip its own notifications."""
    return uuid.uuid4().hex


def publish(conn: Connection, run_id: str, origin: str) -> None:
    """Queue a change notification for `run_id` in the current transaction; PostgreSQL sends
    it on commit only (and drops it on rollback)."""
    payload = json.dumps({"run": run_id, "origin": origin}, separators=(",", ":"))
    conn.execute(sa.text("SELECT pg_notify(:channel, :payload)"),
                 {"channel": CHANNEL, "payload": payload})


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as psycopg's own ``postgresql://``."""
    scheme, sep, rest = url.partition("://")
    return ("postgresql" if scheme.startswith("postgres") else scheme) + sep + rest


class Listener:
    """A daemon thread that ``LISTEN``s on its own connection and calls
    ``on_change(run_id)`` for every other replica's write, and ``on_change(None)`` after each
    (re)connection, when any notification may have been missed. `on_change` runs in the
    listener's thread: it must be thread-safe (see `runtime.replication.Replication`)."""

    def __init__(self, url: str, origin: str, on_change: Callable[[str | None], None]) -> None:
        self.url = libpq_url(url)
        self.origin = origin
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lrcast-listener", daemon=True)
        #: set once the first LISTEN is in place (tests and start-up wait on it)
        self.listening = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end; it notices within a second (its ``notifies`` timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.on_change(None)
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._dispatch(note.payload)
                            if self._stop.is_set():
                                break
            except Exception as exc:  # connection lost: reconnect; waiters poll meanwhile
                if not self._stop.is_set():
                    log.warning("replication listener: %s; reconnecting", exc)
                    self._stop.wait(RECONNECT_DELAY)

    def _dispatch(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            run_id, origin = data["run"], data.get("origin")
        except (ValueError, KeyError, TypeError):
            return
        if origin != self.origin and isinstance(run_id, str):
            self.on_change(run_id)


class SeqReader:
    """Reads a run's ``runs.seq`` on a connection of its own (autocommit, so each read sees
    every commit before it): no thread hop, pool checkout or pre-ping."""

    def __init__(self, url: str) -> None:
        self.url = libpq_url(url)
        self._conn: Any = None  # psycopg.AsyncConnection, opened on first use
        self._lock = asyncio.Lock()

    async def read(self, run_id: str) -> int | None:
        """The run's seq now, or None if there is no such run."""
        import psycopg

        async with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=5)
            try:
                cur = await self._conn.execute("SELECT seq FROM runs WHERE id = %s",
                                               (run_id,))
                row = await cur.fetchone()
            except psycopg.Error:
                await self._conn.close()
                self._conn = None
                raise
        return None if row is None else int(row[0])

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
