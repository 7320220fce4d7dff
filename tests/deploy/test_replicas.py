"""Two real replicas (uvicorn subprocesses on loopback ports) over one PostgreSQL database
behave as one service: rounds decided once whatever replica gets the reports, long-polls
woken across replicas, the amendment frontier and rewinds shared, and a job that survives
`kill -9` of a replica through the client's failover."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import lrcast
from lrcast_service.store import notify
from tests.deploy.plateau_job import EVERY, PLATEAU_SPEC, run_ranks, torch_lrs
from tests.support import LRCastServer
from tests.support.postgres import postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

TOKEN = "replica-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database("the replica test") as url:
        yield url


@pytest.fixture
def replicas(database: str, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[list[LRCastServer]]:
    """Two replicas on one database, started together (so they race to migrate it)."""
    logs = tmp_path_factory.mktemp("replicas")
    servers = [LRCastServer(database, tokens=[TOKEN], log_path=logs / f"replica-{i}.log")
               for i in range(2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(LRCastServer.start, servers))
    try:
        yield servers
    finally:
        for server in servers:
            server.kill()


def _run_id() -> str:
    return f"replica-{uuid.uuid4().hex[:10]}"


def _put(server: LRCastServer, run_id: str, world_size: int,
         schedule: dict[str, object] | None = None) -> None:
    body = {"schedule": schedule or PLATEAU_SPEC, "world_size": world_size}
    response = httpx.put(f"{server.url}/v1/runs/{run_id}", json=body, headers=AUTH, timeout=10)
    assert response.status_code in (200, 201), response.text


def _report(server: LRCastServer, run_id: str, step: int, rank: int,
            value: float, **extra: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/runs/{run_id}/reports", headers=AUTH, timeout=30,
                      json={"step": step, "rank": rank, "value": value, **extra})


def _lr(server: LRCastServer, run_id: str, step: int, wait: float = 0.0,
        **params: object) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/runs/{run_id}/lr", headers=AUTH, timeout=wait + 30,
                     params={"step": step, "wait": wait, **params})


def _seen(server: LRCastServer, run_id: str) -> dict[str, object]:
    """The run as `server` shows it: its cached view, and the ranks' progress it knows (the
    persisted one merged with what it heard since)."""
    response = httpx.get(f"{server.url}/v1/runs/{run_id}", headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    run = response.json()
    return {"epoch": run["epoch"], "served_frontier": run["served_frontier"],
            "progress": {p["rank"]: p["step"] for p in run["progress"]}}


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _decisions(server: LRCastServer, run_id: str) -> list[dict[str, object]]:
    response = httpx.get(f"{server.url}/v1/runs/{run_id}/events", headers=AUTH, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    events = body["events"] if isinstance(body, dict) else body
    return [e for e in events if e["kind"] == "decision"]


def test_64_ranks_over_two_replicas_survive_kill_9(replicas: list[LRCastServer]) -> None:
    """64 ranks, half preferring each replica; replica 0 is killed with SIGKILL after the
    third round and its ranks fail over to replica 1. Every rank sees the same LRs, equal to
    PyTorch's ReduceLROnPlateau fed the means, and every round was decided exactly once."""
    world_size, rounds, killed_after = 64, 6, 2
    run_id = _run_id()
    urls = [s.url for s in replicas]
    killed = threading.Event()

    def kill_replica_0(rank: int, k: int) -> None:
        if rank == 0 and k == killed_after and not killed.is_set():
            replicas[0].kill()
            killed.set()

    def make_client(rank: int) -> lrcast.Client:
        order = urls if rank % 2 == 0 else urls[::-1]
        return lrcast.Client(order, token=TOKEN,
                             retries=lrcast.Retries(attempts=20, backoff=0.05, max_backoff=0.5))

    seen = run_ranks(make_client, run_id, world_size, rounds, kill_replica_0)

    assert killed.is_set()
    expected = torch_lrs(rounds, world_size)
    assert min(expected) < max(expected)
    for rank, lrs in enumerate(seen):
        assert lrs == seen[0], f"rank {rank} differs from rank 0"
    assert seen[0] == pytest.approx(expected, rel=1e-12, abs=0)
    decisions = _decisions(replicas[1], run_id)
    assert [d["data"]["step"] for d in decisions] == [k * EVERY for k in range(rounds)]


def test_reports_to_both_replicas_count_once_and_decide_once(
        replicas: list[LRCastServer]) -> None:
    """Every rank sends its report to both replicas at once: each is counted once (the
    duplicates are idempotent 200s) and the round is decided exactly once."""
    world_size = 32
    run_id = _run_id()
    _put(replicas[0], run_id, world_size)
    jobs = [(server, rank) for rank in range(world_size) for server in replicas]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda job: _report(job[0], run_id, 0, job[1], 1.0 + job[1]),
                                jobs))
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert sum(a.json()["decided"] for a in answers) >= 1
    decisions = _decisions(replicas[1], run_id)
    assert len(decisions) == 1
    assert decisions[0]["data"]["value"] == pytest.approx(1.0 + (world_size - 1) / 2)
    final = _report(replicas[0], run_id, 0, 0, 1.0).json()
    assert final["received"] == world_size and final["decided"]


def test_long_poll_on_one_replica_wakes_when_the_round_completes_on_the_other(
        replicas: list[LRCastServer]) -> None:
    run_id = _run_id()
    _put(replicas[0], run_id, 2)
    assert _report(replicas[0], run_id, 0, 0, 1.0).json()["decided"] is False
    result: dict[str, object] = {}

    def long_poll() -> None:
        response = _lr(replicas[0], run_id, 0, wait=20)
        result["at"] = time.monotonic()
        result["response"] = response

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)  # the long-poll is waiting on replica 0
    assert "response" not in result
    decided = _report(replicas[1], run_id, 0, 1, 3.0)
    done_at = time.monotonic()
    poller.join(10)
    assert decided.json()["decided"] is True
    response = result["response"]
    assert isinstance(response, httpx.Response) and response.status_code == 200
    assert float(result["at"]) - done_at < 1.0  # type: ignore[arg-type]
    assert response.json()["lr"] == decided.json()["lr"]


def test_a_report_on_one_replica_is_a_barrier_on_the_other_at_once(
        replicas: list[LRCastServer]) -> None:
    """Right after replica 1 acknowledges a report, replica 0 (which served the run before)
    must hold the next step at the barrier, not answer it from its cached view."""
    run_id = _run_id()
    _put(replicas[0], run_id, 2)
    for attempt in range(20):  # repeat: the race against the notification is what is tested
        step = attempt * EVERY
        assert _lr(replicas[0], run_id, step).status_code == 200  # replica 0 caches the run
        assert _report(replicas[1], run_id, step, 0, 1.0).status_code in (200, 201)
        pending = _lr(replicas[0], run_id, step)
        assert pending.status_code == 409, pending.text
        assert pending.json()["code"] == "round_pending"
        assert _report(replicas[1], run_id, step, 1, 1.0).json()["decided"] is True


def test_amendment_frontier_is_shared(replicas: list[LRCastServer]) -> None:
    """A step served by replica 0 cannot be amended through replica 1, and an amendment
    through replica 1 beyond the frontier is what replica 0 serves there."""
    run_id = _run_id()
    schedule = {"type": "StepLR", "lr": 0.1, "step_size": 5, "gamma": 0.5}
    _put(replicas[0], run_id, 1, schedule)
    assert _lr(replicas[0], run_id, 3).status_code == 200
    refused = httpx.post(f"{replicas[1].url}/v1/runs/{run_id}/amendments", headers=AUTH,
                         json={"from_step": 3, "scale": 2.0}, timeout=10)
    assert refused.status_code == 409, refused.text
    min_step = refused.json()["min_step"]
    assert min_step > 3
    amended = httpx.post(f"{replicas[1].url}/v1/runs/{run_id}/amendments", headers=AUTH,
                         json={"from_step": min_step, "scale": 2.0}, timeout=10)
    assert amended.status_code in (200, 201), amended.text
    for step in (min_step, min_step + 7):
        a, b = _lr(replicas[0], run_id, step).json(), _lr(replicas[1], run_id, step).json()
        assert a["lr"] == b["lr"]
        assert a["lr"] == pytest.approx(2.0 * 0.1 * 0.5 ** (step // 5))


def test_rewind_on_one_replica_is_seen_by_the_other(replicas: list[LRCastServer]) -> None:
    run_id = _run_id()
    _put(replicas[0], run_id, 1)
    # patience 1: the third round without improvement halves the LR at step 20
    for k, value in enumerate([1.0, 1.0, 1.0]):
        assert _report(replicas[0], run_id, k * EVERY, 0, value).json()["decided"]
    before = _lr(replicas[0], run_id, 25).json()["lr"]
    assert before == pytest.approx(0.05)
    rewound = httpx.post(f"{replicas[1].url}/v1/runs/{run_id}/rewind", headers=AUTH,
                         json={"to_step": 15}, timeout=10)
    assert rewound.status_code == 200, rewound.text
    assert _lr(replicas[0], run_id, 25).json()["lr"] == pytest.approx(0.1)


STEP_LR = {"type": "StepLR", "lr": 0.1, "step_size": 5, "gamma": 0.5}


def _heard_at(server: LRCastServer, run_id: str, step: int, ranks: range) -> None:
    """Each rank asks `server` for `step`, then `step` + 1 (below the frontier the first
    reserved: heard in memory only, no write)."""
    for rank in ranks:
        for at in (step, step + 1):
            assert _lr(server, run_id, at, rank=rank).status_code == 200


def test_a_membership_change_on_one_replica_trims_the_other_s_progress(
        replicas: list[LRCastServer]) -> None:
    """Replica 1 heard ranks 0-3 at step 41; a change to 2 ranks from step 20 made through
    replica 0 brings replica 1's own record of them back as the persisted one: ranks 0 and 1
    at 20, ranks 2 and 3 gone; and no later write of replica 1 carries the old steps."""
    run_id = _run_id()
    _put(replicas[0], run_id, 4, STEP_LR)
    _heard_at(replicas[1], run_id, 40, range(4))
    assert _seen(replicas[1], run_id)["progress"] == {r: 41 for r in range(4)}
    changed = httpx.post(f"{replicas[0].url}/v1/runs/{run_id}/membership", headers=AUTH,
                         json={"world_size": 2, "from_step": 20, "epoch": 1}, timeout=10)
    assert changed.status_code == 200, changed.text
    _until(lambda: _seen(replicas[1], run_id)["epoch"] == 1)  # replica 1 followed it
    assert _seen(replicas[1], run_id)["progress"] == {0: 20, 1: 20}
    assert _lr(replicas[1], run_id, 5000).status_code == 200  # replica 1 writes the frontier
    assert _seen(replicas[0], run_id)["progress"] == {0: 20, 1: 20}


def test_a_rewind_on_one_replica_trims_the_other_s_progress(
        replicas: list[LRCastServer]) -> None:
    run_id = _run_id()
    _put(replicas[0], run_id, 2, STEP_LR)
    _heard_at(replicas[1], run_id, 40, range(2))
    rewound = httpx.post(f"{replicas[0].url}/v1/runs/{run_id}/rewind", headers=AUTH,
                         json={"to_step": 15}, timeout=10)
    assert rewound.status_code == 200, rewound.text
    _until(lambda: _seen(replicas[1], run_id)["served_frontier"] == 15)
    assert _seen(replicas[1], run_id)["progress"] == {0: 15, 1: 15}
    assert _lr(replicas[1], run_id, 5000).status_code == 200
    assert _seen(replicas[0], run_id)["progress"] == {0: 15, 1: 15}


def _cut_listeners(database: str) -> int:
    """Terminate every replica's ``LISTEN`` connection, as a network blip would: until each
    reconnects (`store.notify.RECONNECT_DELAY` later), it hears of no other replica's write.
    Returns how many were cut."""
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND query = %s AND pid <> pg_backend_pid()",
            (f"LISTEN {notify.CHANNEL}",)).fetchall()
    return sum(1 for (cut,) in rows if cut)


def test_a_report_past_a_replica_s_frontier_but_served_by_the_other_is_accepted(
        replicas: list[LRCastServer], database: str) -> None:
    """A rank got its LR from replica 0, which wrote a frontier past replica 1's cached one;
    replica 1 has not followed that write (its listener's connection was just cut, so no
    notification reaches it), and the rank reports there with `at` past replica 1's
    frontier. Replica 1 reads the run afresh before judging `at`: accepted, not 422."""
    run_id = _run_id()
    _put(replicas[0], run_id, 1)
    assert _lr(replicas[1], run_id, 0).status_code == 200  # replica 1 caches the run
    cached = _seen(replicas[1], run_id)["served_frontier"]
    assert isinstance(cached, int) and cached > 0
    assert _cut_listeners(database) == 2
    step = cached + 5
    assert _lr(replicas[0], run_id, step - 1, rank=0).status_code == 200  # past `cached`
    assert _seen(replicas[1], run_id)["served_frontier"] == cached  # not followed yet
    report = _report(replicas[1], run_id, step, 0, 1.0, at=step - 1)
    assert report.status_code == 200, report.text
    assert report.json()["decided"] is True
