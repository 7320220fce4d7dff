"""The threads background flows run on (`lrcast._workers`): one kept per client for every
renewal, another only for a job that would wait, none left once a client is closed or garbage;
renewals through them against the real service."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

import lrcast
from lrcast._workers import Workers

COSINE = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 1000}
#: fixed 20-step leases, renewed from step 16 of each on
SHORT = lrcast.LeasePolicy(steps=20, seconds=None)


def background_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("lrcast-background")]


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def renew_once(run: lrcast.Run, step: int) -> None:
    """Step `run` to `step`, its lease's renewal point, and until the renewal came back."""
    for k in range(run.lease.start if run.lease else 0, step + 1):
        run.lr(k)
    renewal = run._renewal
    assert renewal is not None, f"no renewal in flight at step {step}"
    assert wait_for(lambda: renewal.job.finished)


# Workers, alone ----------------------------------------------------------------------------
def test_jobs_in_turn_share_one_thread():
    workers = Workers("lrcast-background-test")
    done: list[int] = []
    for k in range(20):
        finished = threading.Event()
        assert workers.submit(lambda k=k, finished=finished: (done.append(k), finished.set()))
        assert finished.wait(5.0)
        assert wait_for(lambda: workers._idle == 1)  # back waiting before the next job
    assert done == list(range(20))
    assert workers.threads == 1
    workers.close(5.0)
    assert workers.threads == 0


def test_a_job_never_waits_behind_a_busy_thread():
    workers = Workers("lrcast-background-test")
    release, second = threading.Event(), threading.Event()
    workers.submit(lambda: release.wait(10.0))
    workers.submit(second.set)
    try:
        assert second.wait(2.0), "the second job waited for the first"
        assert workers.threads == 2
    finally:
        release.set()
        workers.close(5.0)
    assert workers.threads == 0


def test_closed_workers_refuse_jobs_and_stop_their_threads():
    workers = Workers("lrcast-background-test")
    ran = threading.Event()
    workers.submit(ran.set)
    assert ran.wait(5.0)
    (thread,) = [t for t in threading.enumerate() if t.name == "lrcast-background-test-0"]
    workers.close(5.0)
    assert not thread.is_alive()
    assert workers.submit(lambda: None) is False
    assert workers.threads == 0


def test_closed_from_one_of_its_own_threads_it_stops_them_all():
    # a client that becomes garbage while a renewal runs is collected on that thread
    workers = Workers("lrcast-background-own")
    closed = threading.Event()
    workers.submit(lambda: (workers.close(1.0), closed.set()))
    assert closed.wait(5.0), "close() on a worker thread raised or hung"
    assert wait_for(lambda: not any(t.name.startswith("lrcast-background-own")
                                    for t in threading.enumerate()))
    assert workers.submit(lambda: None) is False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_thread():
    workers = Workers("lrcast-background-test")
    ran = threading.Event()
    workers.submit(ran.set)
    assert ran.wait(5.0) and wait_for(lambda: workers._idle == 1)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's idle thread is not here
        done = threading.Event()
        workers.submit(lambda: (os.write(write, b"ran"), done.set()))
        os._exit(0 if done.wait(5.0) else 1)
    os.close(write)
    try:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert os.read(read, 3) == b"ran"
    finally:
        os.close(read)
        workers.close(5.0)


# a client's renewals -----------------------------------------------------------------------
def test_renewals_run_on_one_kept_thread_that_close_stops(make_client, run_id):
    client = make_client(lease=SHORT)
    run = client.run(run_id, schedule=COSINE, world_size=1)
    expected = lrcast.schedules.parse(COSINE)
    run.lr(0)
    before = background_threads()
    threads = set()
    for start in range(0, 200, 16):  # a renewal at step 16 of every lease
        assert run.lease.start == start
        renew_once(run, start + 16)
        threads.update(background_threads())
        assert run.lr(start + 17) == expected.lr(start + 17)  # installs the renewal
        assert (run.lease.start, run.lease.horizon) == (start + 16, start + 36)
    assert len(threads - set(before)) == 1, threads
    (thread,) = threads - set(before)
    assert thread.is_alive()
    client.close()
    assert not thread.is_alive()


def test_after_close_the_lease_still_answers_and_no_thread_starts(make_client, run_id):
    client = make_client(lease=SHORT)
    run = client.run(run_id, schedule=COSINE, world_size=1)
    expected = lrcast.schedules.parse(COSINE)
    run.lr(0)
    client.close()
    before = threading.active_count()
    assert [run.lr(k) for k in range(20)] == [expected.lr(k) for k in range(20)]
    assert threading.active_count() == before
    assert run._book.unreachable_since is not None  # the renewal refused: as one that failed


def test_many_clients_and_schedulers_leave_no_thread(service, run_id):
    torch = pytest.importorskip("torch")
    import lrcast.torch

    start = threading.active_count()
    for k in range(12):
        with lrcast.Client(service.url, lease=SHORT) as client:
            run = client.run(f"{run_id}-{k}", schedule=COSINE, world_size=1)
            opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
            sched = lrcast.torch.RemoteScheduler(opt, run)
            for _ in range(60):  # three leases: renewals in the background
                opt.step()
                sched.step()
            assert client.requests_sent >= 3
    assert background_threads() == []
    assert threading.active_count() == start


def test_a_client_never_closed_stops_its_thread_once_garbage(service, run_id):
    client = lrcast.Client(service.url, lease=SHORT)
    run = client.run(run_id, schedule=COSINE, world_size=1)
    run.lr(0)
    renew_once(run, 16)
    (thread,) = background_threads()
    del client, run
    gc.collect()
    assert wait_for(lambda: not thread.is_alive())
