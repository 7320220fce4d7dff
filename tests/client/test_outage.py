"""A rank keeps evaluating its lease while the service is frozen or gone, and fails clearly
(`LeaseExpired`) only past the horizon; failover to a live replica is transparent."""

from __future__ import annotations

import os
import signal
import time

import pytest

import lrcast
from lrcast import errors

from .scripted_http import dead_url

COSINE = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 1000}


def test_a_frozen_service_does_not_stall_steps_inside_the_lease(service, make_client, run_id):
    client = make_client(lease=lrcast.LeasePolicy(steps=200, seconds=None),
                         timeouts=lrcast.Timeouts(connect=1.0, read=3.0))
    run = client.run(run_id, schedule=COSINE, world_size=1)
    expected = lrcast.schedules.parse(COSINE)
    assert [run.lr(k) for k in range(160)] == [expected.lr(k) for k in range(160)]
    os.kill(service.process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        started = time.monotonic()
        tail = [run.lr(k) for k in range(160, 200)]  # the renewal at 160 hangs, elsewhere
        assert time.monotonic() - started < 0.5
    finally:
        os.kill(service.process.pid, signal.SIGCONT)
    assert tail == [expected.lr(k) for k in range(160, 200)]
    assert run.lr(250) == expected.lr(250)  # past the horizon: a new lease once it answers


def test_lease_expired_only_past_the_horizon_after_the_allowed_time(tmp_path):
    from tests.support import LRCastServer

    server = LRCastServer(tmp_path / "x.db", log_path=tmp_path / "log").start()
    try:
        client = lrcast.Client(server.url, lease=lrcast.LeasePolicy(steps=50, seconds=None,
                                                                    retry_every=0.1),
                               timeouts=lrcast.Timeouts(connect=0.5, read=2.0, lease=1.0),
                               retries=lrcast.Retries(attempts=1, backoff=0.01))
        run = client.run("gone", schedule=COSINE, world_size=1)
        run.lr(0)
    finally:
        server.kill()
    expected = lrcast.schedules.parse(COSINE)
    assert [run.lr(k) for k in range(50)] == [expected.lr(k) for k in range(50)]
    started = time.monotonic()
    with pytest.raises(errors.LeaseExpired) as info:
        run.lr(50)
    assert 1.0 <= time.monotonic() - started < 5.0
    assert (info.value.step, info.value.horizon) == (50, 50)
    assert isinstance(info.value, errors.ServiceUnavailable)
    client.close()


def test_failover_to_the_live_replica(service, run_id):
    with lrcast.Client([dead_url(), service.url],
                       retries=lrcast.Retries(attempts=2, backoff=0.01)) as client:
        run = client.run(run_id, schedule=COSINE, world_size=1)
        assert run.lr(3) == lrcast.schedules.parse(COSINE).lr(3)
        assert client.requests_sent == 3  # dead, live (PUT); live (lease)
