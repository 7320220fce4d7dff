"""Previews on their own bounded executor, so they never take the threads writes use.

A preview is pure CPU (a schedule evaluated at up to `MAX_VALUES` LRs). On the shared
thread pool, many at once would hold every worker thread while a plateau report waits for one
to commit. Here they run `workers` at a time on their own threads, at most `queue` more wait,
and past that a preview is refused at once (503 ``busy``, Retry-After) instead of queueing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import ApiError

__all__ = ["PreviewPool"]

T = TypeVar("T")


class PreviewPool:
    def __init__(self, workers: int = 1, queue: int = 4) -> None:
        self.limit = workers + queue
        self._admitted = 0
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="lrcast-preview")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the pool's threads; 503 busy when `limit` previews are admitted."""
        if self._admitted >= self.limit:  # one event loop: no lock needed around the count
            raise ApiError(503, "busy", f"{self.limit} previews are running or queued; "
                                        f"retry shortly", headers={"Retry-After": "1"})
        self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
