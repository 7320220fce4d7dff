"""A group commit runs its rule on a copy of the run as this process last committed it, unless
another writer came since (``runs.seq``): then on the run reloaded."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lrcast_service.core.record import copy_record
from lrcast_service.migrations import upgrade
from lrcast_service.runtime.live import LiveRuns
from lrcast_service.store.sql import SqlStore
from tests.support import sqlite_url

PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "patience": 0}


def test_a_write_by_another_process_is_seen_by_the_next_group_commit(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "lrcast.db")
    upgrade(url)
    here, there = SqlStore(url), SqlStore(url)  # two processes on one database

    async def scenario() -> list[int]:
        live, other = LiveRuns(here, 256, 5), LiveRuns(there, 256, 5)
        await live.create("run", PLATEAU, 4, "mean", {})
        counts = [len((await live.report("run", 10, 0, 1.0))[0].record.open_rounds[10].reports)]
        await other.report("run", 10, 1, 1.0)  # `live`'s view does not know this one
        counts.append(len((await live.report("run", 10, 2, 1.0))[0].record.open_rounds[10]
                          .reports))
        counts.append(len((await live.report("run", 10, 3, 2.0))[0].record.open_rounds.get(
            10, (await live.view("run")).record.last_decided).reports))
        return counts

    try:
        assert asyncio.run(scenario()) == [1, 3, 4]
        decided = here.load("run").last_decided
        assert decided.step == 10 and decided.value == 1.25  # all four reports counted
    finally:
        here.close()
        there.close()


def test_a_copied_record_shares_nothing_a_rule_updates(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "lrcast.db")
    upgrade(url)
    store = SqlStore(url)

    async def scenario() -> None:
        live = LiveRuns(store, 256, 5)
        await live.create("run", PLATEAU, 2, "mean", {})
        await live.report("run", 10, 0, 1.0, at=3)
    try:
        asyncio.run(scenario())
        rec = store.load("run")
        before = repr(rec)
        copy = copy_record(rec)
        assert repr(copy) == before
        copy.open_rounds[10].reports[1] = 2.0
        copy.progress[1] = 9
        copy.seen[1] = 1.0
        copy.instances[0].state = {"best": 0.0}
        copy.decisions.setdefault(0, []).append((10, (0.05,)))
        copy.segments.append((20, 0, 1.0))
        assert repr(rec) == before
    finally:
        store.close()
