"""The two halves of `lrcast_service.runtime.replication`, each alone, in process, on real stores
over one PostgreSQL database (two `SqlStore`s stand for two replicas):

- the freshness check (``runs.seq``) keeps a replica that missed a notification from
  answering past a round another replica opened, or with decisions another one rewound;
- the listener refreshes a replica's view, and wakes its long-poll, when another commits.

The HTTP-level behaviour of two real replicas is in test_replicas.py; here each mechanism is
shown necessary on its own, without racing the other.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from functools import partial

import pytest

from lrcast_service.core import rounds
from lrcast_service.core.errors import RoundPending
from lrcast_service.core.rewind import rewind
from lrcast_service.migrations import upgrade
from lrcast_service.runtime import replication
from lrcast_service.runtime.live import LiveRuns
from lrcast_service.store.sql import SqlStore
from tests.deploy.plateau_job import PLATEAU_SPEC
from tests.support.postgres import postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database("replication") as url:
        upgrade(url)
        yield url


@pytest.fixture
def stores(database: str) -> Iterator[tuple[SqlStore, SqlStore]]:
    a, b = SqlStore(database, pool_size=2), SqlStore(database, pool_size=2)
    yield a, b
    a.close()
    b.close()


def _report(store: SqlStore, run_id: str, step: int, rank: int, value: float) -> None:
    """One report committed by `store` (one replica), as the report route's batch would."""
    _, [result] = store.apply(run_id, partial(rounds.report, items=[(step, rank, value)]))
    assert not isinstance(result, Exception)


def _run_id() -> str:
    return f"repl-{uuid.uuid4().hex[:10]}"


def test_a_view_that_missed_a_notification_is_checked_before_the_barrier(
        database: str, stores: tuple[SqlStore, SqlStore]) -> None:
    """Replica A has no listener at all: only the seq check stands between its cached view
    and an answer past the round replica B opened (and a rewind B made)."""
    store_a, store_b = stores

    async def scenario() -> None:
        live_a = LiveRuns(store_a, reserve_chunk=256, max_wait=5)
        following = replication.attach(live_a, store_a, database)  # never started: no listener
        assert following is not None
        run_id = _run_id()
        store_b.create_run(run_id, PLATEAU_SPEC, 2, "mean", {})
        assert (await live_a.past_barrier(run_id, 10, 0.0)).barrier is None  # cached by A
        _report(store_b, run_id, 0, 0, 1.0)  # B opens the round at step 0
        with pytest.raises(RoundPending) as pending:
            await live_a.past_barrier(run_id, 10, 0.0)
        assert pending.value.fields == {"step": 0, "missing_ranks": [1]}
        _report(store_b, run_id, 0, 1, 1.0)  # B decides it
        assert (await live_a.past_barrier(run_id, 10, 0.0)).barrier is None

        for k, value in ((1, 1.0), (2, 1.0)):  # patience 1: halves the LR at step 20
            for rank in (0, 1):
                _report(store_b, run_id, 10 * k, rank, value)
        assert (await live_a.past_barrier(run_id, 25, 0.0)).timeline.lrs(25)[0] == 0.05
        store_b.apply(run_id, partial(rewind, to_step=15, resume_id=None))  # B drops round 20
        assert (await live_a.past_barrier(run_id, 25, 0.0)).timeline.lrs(25)[0] == 0.1
        await following.stop()

    asyncio.run(scenario())


def test_the_listener_wakes_a_long_poll_when_another_replica_decides(
        database: str, stores: tuple[SqlStore, SqlStore]) -> None:
    store_a, store_b = stores

    async def scenario() -> float:
        live_a = LiveRuns(store_a, reserve_chunk=256, max_wait=30)
        following = replication.attach(live_a, store_a, database)
        assert following is not None
        following.poll_interval = 30.0  # no polling: only the notification can wake it
        await following.start()
        try:
            run_id = _run_id()
            store_b.create_run(run_id, PLATEAU_SPEC, 2, "mean", {})
            _report(store_b, run_id, 0, 0, 1.0)
            poll = asyncio.ensure_future(live_a.past_barrier(run_id, 0, 20.0))
            await asyncio.sleep(0.3)
            assert not poll.done()  # waiting at the barrier
            await asyncio.to_thread(_report, store_b, run_id, 0, 1, 1.0)
            decided = time.monotonic()
            view = await asyncio.wait_for(poll, 5.0)
            assert view.barrier is None
            return time.monotonic() - decided
        finally:
            await following.stop()

    assert asyncio.run(scenario()) < 1.0
