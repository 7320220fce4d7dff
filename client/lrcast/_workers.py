"""The threads a sync `Client` drives its background flows on (lease renewals, loss batches).

A new thread per renewal cost the process about as much CPU again as the renewal's request
(its start, the training thread waiting for it to run). So a client keeps its threads: its
first background job starts one (a daemon), which then waits, blocked on a queue, for the
next. A job that comes
while every thread is busy (a renewal behind a loss batch to a black-holed replica, two runs
renewing at once) gets a thread of its own, so no job waits behind another; the threads stay
until `close`. In a forked child (a DataLoader worker) the parent's threads do not exist: the
child's first job starts its own.

Not `concurrent.futures.ThreadPoolExecutor`, which reuses idle threads too: its
`max_workers` is a bound a job waits behind when reached (a renewal behind stuck loss batches),
and an executor inherited by a forked child counts the parent's threads, which do not exist
there (idle or at the bound), so the child's jobs may never run.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable

__all__ = ["Workers"]

Job = Callable[[], None]


class Workers:
    """Threads named `name`-0, -1, ... that run the jobs `submit` hands them, each on an idle
    thread or a new one."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._closed = False
        self._reset()

    def _reset(self) -> None:
        """No thread yet (in this process)."""
        self._pid = os.getpid()
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        #: threads waiting for a job and not promised one yet
        self._idle = 0

    @property
    def threads(self) -> int:
        """Threads started and not known to have stopped."""
        return len(self._threads)

    def submit(self, job: Job) -> bool:
        """Run `job` on a thread; False (and `job` never runs) once closed. `job` must not
        raise: nothing would see it."""
        with self._lock:
            if self._closed:
                return False
            if self._pid != os.getpid():
                self._reset()
            if self._idle:
                self._idle -= 1  # that thread takes this job: the next one needs another
            else:
                thread = threading.Thread(target=self._serve, args=(self._jobs,), daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            self._jobs.put(job)
        return True

    def _serve(self, jobs: queue.SimpleQueue[Job | None]) -> None:
        while (job := jobs.get()) is not None:
            try:
                job()
            finally:
                with self._lock:
                    self._idle += 1

    def close(self, timeout: float) -> None:
        """Refuse new jobs and stop the threads once the jobs queued are done, waiting at most
        `timeout` seconds in all (a thread still in a request past it stays listed)."""
        with self._lock:
            if self._pid != os.getpid():
                self._reset()
            if not self._closed:
                for _ in self._threads:
                    self._jobs.put(None)
            self._closed = True
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        current = threading.current_thread()  # the garbage collector may run on a worker
        for thread in threads:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
