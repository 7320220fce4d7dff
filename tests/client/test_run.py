"""Every `Run` method against the real service (tests/support: uvicorn + SQLite)."""

from __future__ import annotations

import math
import threading
import time

import pytest

import lrcast
from lrcast import errors
from tests.support.oracles import scheduler_lrs

COSINE = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 500, "eta_min": 0.001}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


def test_run_put_is_idempotent_and_conflicts_on_another_schedule(make_client, run_id):
    client = make_client()
    first = client.run(run_id, schedule=COSINE, world_size=2, rank=1)
    again = client.run(run_id, schedule=COSINE, world_size=2, rank=0)
    assert (first.rank, again.rank, again.world_size) == (1, 0, 2)
    with pytest.raises(errors.RunConflict):
        client.run(run_id, schedule={**COSINE, "T_max": 9}, world_size=2)
    attached = client.run(run_id)  # no schedule: attach to the existing run
    assert attached.lr(7) == first.lr(7)


def test_unknown_run_and_invalid_spec_are_mapped(make_client, run_id):
    client = make_client()
    with pytest.raises(errors.RunNotFound):
        client.run(run_id)
    with pytest.raises(errors.InvalidRequest):
        client.run(run_id, schedule={"type": "CosineAnnealingLR", "lr": 0.1, "T_max": -1},
                   world_size=1)


def test_lr_equals_pytorch_with_a_handful_of_requests_per_1000_steps(make_client, run_id):
    pytest.importorskip("torch")
    client = make_client(lease=lrcast.LeasePolicy(steps=1000, seconds=None))
    run = client.run(run_id, schedule=COSINE, world_size=1)
    before = client.requests_sent
    ours = [run.lr(k) for k in range(3000)]
    leases = client.requests_sent - before
    oracle = scheduler_lrs("CosineAnnealingLR", 3000, T_max=500, eta_min=0.001)
    assert ours == pytest.approx(oracle, rel=1e-9, abs=1e-15)
    # renewal at 80% of each 1000-step lease: 0, 800, 1600, 2400 -> 4 requests
    assert leases == 4
    assert run.lrs(10) == [run.lr(10)] and run.momentum(10) is None


def test_timeline_is_the_resolved_schedule(make_client, run_id):
    client = make_client()
    run = client.run(run_id, schedule=COSINE, world_size=1)
    timeline = run.timeline()
    assert [timeline.lr(k) for k in range(0, 2000, 37)] == [run.lr(k)
                                                            for k in range(0, 2000, 37)]


def test_report_blocks_until_every_rank_reported(make_client, run_id):
    ranks = [make_client().run(run_id, schedule=PLATEAU, world_size=2, rank=r)
             for r in range(2)]
    late: dict[str, object] = {}

    def rank1() -> None:
        time.sleep(0.5)
        late["t"] = time.monotonic()
        late["result"] = ranks[1].report(10, 1.0)

    thread = threading.Thread(target=rank1)
    thread.start()
    result = ranks[0].report(10, 3.0)  # blocks for rank 1
    done = time.monotonic()
    thread.join(10)
    assert result.decided and done >= late["t"]
    assert late["result"].decided
    # mean(3, 1) = 2 is the first value: best so far, no reduction yet
    assert [r.lr(10) for r in ranks] == [0.1, 0.1]
    thread = threading.Thread(target=ranks[1].report, args=(20, 2.5))
    thread.start()
    ranks[0].report(20, 2.5)
    thread.join(10)
    # mean 2.5 is worse than 2 with patience 0: halved from step 20 on, on both ranks
    assert [r.lr(19) for r in ranks] == [0.1, 0.1]
    assert [r.lr(20) for r in ranks] == [0.05, 0.05]
    assert ranks[0].lr(500) == 0.05


def test_report_timeout_names_the_missing_ranks(make_client, run_id):
    client = make_client(timeouts=lrcast.Timeouts(round=1.0, poll=0.3))
    run = client.run(run_id, schedule=PLATEAU, world_size=3, rank=0)
    run.lr(0)
    started = time.monotonic()
    with pytest.raises(errors.RoundTimeout) as info:
        run.report(5, 1.0)
    assert 0.9 <= time.monotonic() - started < 10
    assert (info.value.step, info.value.missing_ranks) == (5, [1, 2])
    assert "[1, 2]" in str(info.value)
    assert run.lr(4) == 0.1  # steps before the round still answer locally
    with pytest.raises(errors.RoundPending):  # a step at the round waits for it
        run.lr(5)


def test_report_errors_are_mapped(make_client, run_id):
    client = make_client()
    closed = client.run(run_id, schedule=COSINE, world_size=1)
    with pytest.raises(errors.NotMetricDriven):
        closed.report(10, 1.0)
    run = client.run(run_id + "p", schedule=PLATEAU, world_size=1)
    assert run.report(10, 1.0).decided
    assert run.report(10, 1.0).decided  # the same report again: idempotent
    with pytest.raises(errors.ReportConflict):
        run.report(10, 2.0)
    with pytest.raises(errors.InvalidRequest):
        run.report(20, math.nan)


def test_amendment_only_beyond_the_leased_horizon(make_client, run_id):
    client = make_client(lease=lrcast.LeasePolicy(steps=100, seconds=None))
    run = client.run(run_id, schedule=COSINE, world_size=1)
    before = [run.lr(k) for k in range(50)]  # leases [0, 100)
    with pytest.raises(errors.AmendmentTooEarly) as info:
        run.amend(10, scale=0.5)
    start = info.value.min_step
    assert start >= 100
    run.amend(start, scale=0.5)
    other = make_client().run(run_id, schedule=COSINE, world_size=1)
    assert [other.lr(k) for k in range(50)] == before
    original = lrcast.schedules.parse(COSINE)
    assert other.lr(start - 1) == pytest.approx(original.lr(start - 1))
    assert other.lr(start + 3) == pytest.approx(0.5 * original.lr(start + 3))
    assert run.lr(start + 3) == other.lr(start + 3)  # the first rank sees it on renewal
    with pytest.raises(ValueError):
        run.amend(start + 10)


def test_amend_with_a_new_schedule(make_client, run_id):
    client = make_client(lease=lrcast.LeasePolicy(steps=10, seconds=None))
    run = client.run(run_id, schedule=COSINE, world_size=1)
    run.lr(0)
    new = {"type": "StepLR", "lr": 0.02, "step_size": 5, "gamma": 0.1}
    try:
        run.amend(15, schedule=new)
        start = 15
    except errors.AmendmentTooEarly as exc:
        start = exc.min_step
        run.amend(start, schedule=new)
    assert [run.lr(start + k) for k in (0, 4, 5)] == pytest.approx([0.02, 0.02, 0.002])


def test_rewind_drops_decisions_after_the_step(make_client, run_id):
    client = make_client()
    run = client.run(run_id, schedule=PLATEAU, world_size=1)
    run.report(10, 1.0)
    run.report(20, 2.0)  # worse: halved from 20
    assert run.lr(25) == 0.05
    run.rewind(15)
    assert run.timeline().lr(25) == 0.1  # read-only: this rank has not used step 25 again
    run.report(20, 0.5)  # the round at 20 is open again; better: no change
    assert run.lr(25) == 0.1


def test_auth_error_without_the_token(tmp_path):
    from tests.support import LRCastServer

    with LRCastServer(tmp_path / "a.db", tokens=["s3cret"], log_path=tmp_path / "log") as srv:
        with lrcast.Client(srv.url) as anonymous, pytest.raises(errors.AuthError):
            anonymous.run("x", schedule=COSINE, world_size=1)
        with lrcast.Client(srv.url, token="s3cret") as client:
            assert client.run("x", schedule=COSINE, world_size=1).lr(0) == 0.1
