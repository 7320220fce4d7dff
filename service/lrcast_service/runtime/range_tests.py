"""The analyses of LR range tests this process made, shared by the report route (which
refuses reports past the divergence) and the suggestion route."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from ..core import lr_finder
from .live import LiveRuns, RunView

__all__ = ["RangeTests"]

_MAX_CACHED = 1024


class RangeTests:
    def __init__(self, live: LiveRuns) -> None:
        self.live = live
        #: the default analysis per (run, version): a report that decides no round changes
        #: no version, so the ranks of one round share one read
        self._default: dict[tuple[str, int], dict[str, Any]] = {}

    async def analyse(self, view: RunView, **options: Any) -> dict[str, Any]:
        """`core.lr_finder.analyse` of the run's decided rounds (one read; in the
        threadpool, as the analysis of a long sweep takes a while)."""
        def blocking() -> dict[str, Any]:
            decided = self.live.store.decided_values(view.run_id)
            return lr_finder.analyse(view.run_id, view.timeline, decided, **options)

        return await run_in_threadpool(blocking)

    async def check_report(self, run_id: str, step: int) -> None:
        """`RangeTestStopped` for a report past the step where a range test diverged; a
        no-op (one cached lookup) for every other run."""
        view = await self.live.view(run_id)
        if not lr_finder.is_range_test(view.record.spec):
            return
        key = (run_id, view.version)
        result = self._default.get(key)
        if result is None:
            result = await self.analyse(view)
            if len(self._default) >= _MAX_CACHED:
                self._default.clear()
            self._default[key] = result
        lr_finder.check_not_stopped(result, step)
