"""`AsyncClient`/`AsyncRun` behave as their sync twins, against the real service."""

from __future__ import annotations

import asyncio

import pytest

import lrcast
from lrcast import errors

from .conftest import FAST_RETRIES

ONECYCLE = {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 400}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


def test_async_run_answers_what_the_sync_run_answers(service, make_client, run_id):
    sync_run = make_client().run(run_id, schedule=ONECYCLE, world_size=1)

    async def main() -> tuple[list, list, list, int]:
        async with lrcast.AsyncClient(service.url, retries=FAST_RETRIES,
                                      lease=lrcast.LeasePolicy(steps=100, seconds=None)) as client:
            run = await client.run(run_id, schedule=ONECYCLE, world_size=1)
            lrs = [await run.lr(k) for k in range(400)]
            sent = client.requests_sent
            moms = [await run.momentum(k) for k in range(0, 400, 7)]
            groups = [await run.lrs(k) for k in (0, 99, 399)]
            timeline = await run.timeline()
            assert [timeline.lr(k) for k in range(0, 400, 13)] == lrs[::13]
            with pytest.raises(errors.StepOutOfRange):
                await run.lr(401)
            return lrs, moms, groups, sent

    lrs, moms, groups, sent = asyncio.run(main())
    assert lrs == [sync_run.lr(k) for k in range(400)]
    assert moms == [sync_run.momentum(k) for k in range(0, 400, 7)]
    assert groups == [sync_run.lrs(k) for k in (0, 99, 399)]
    assert sent <= 1 + 5  # the PUT and a lease per 80 steps, not one request per step


def test_async_reports_from_two_ranks_decide_one_round(service, run_id):
    async def main() -> list:
        clients = [lrcast.AsyncClient(service.url, retries=FAST_RETRIES) for _ in range(2)]
        runs = [await c.run(run_id, schedule=PLATEAU, world_size=2, rank=r)
                for r, c in enumerate(clients)]
        await asyncio.gather(runs[0].report(10, 1.0), runs[1].report(10, 3.0))
        results = await asyncio.gather(runs[0].report(20, 4.0), runs[1].report(20, 4.0))
        lrs = [[await r.lr(19), await r.lr(20)] for r in runs]
        with pytest.raises(errors.AmendmentTooEarly):
            await runs[0].amend(0, scale=0.5)
        await asyncio.gather(*(r.rewind(15) for r in runs))  # every rank, as on resume
        after = [await r.lr(20) for r in runs]
        for c in clients:
            await c.aclose()
        return [[r.decided for r in results], lrs, after]

    decided, lrs, after = asyncio.run(main())
    assert decided == [True, True]
    assert lrs == [[0.1, 0.05], [0.1, 0.05]]  # mean 4 after mean 2: halved from step 20
    assert after == [0.1, 0.1]


def test_async_renewal_does_not_wait_for_a_frozen_service(service, run_id):
    import os
    import signal
    import time

    spec = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 1000}
    expected = lrcast.schedules.parse(spec)

    async def main() -> tuple[list[float], float, float]:
        async with lrcast.AsyncClient(service.url, retries=FAST_RETRIES,
                                      lease=lrcast.LeasePolicy(steps=200, seconds=None),
                                      timeouts=lrcast.Timeouts(connect=1.0, read=3.0)) as c:
            run = await c.run(run_id, schedule=spec, world_size=1)
            for k in range(160):
                await run.lr(k)
            os.kill(service.process.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                tail = [await run.lr(k) for k in range(160, 200)]
                took = time.monotonic() - started
            finally:
                os.kill(service.process.pid, signal.SIGCONT)
            return tail, took, await run.lr(250)

    tail, took, later = asyncio.run(main())
    assert took < 0.5
    assert tail == [expected.lr(k) for k in range(160, 200)]
    assert later == expected.lr(250)
