"""One plateau round of a 1,024-rank job: reports per second into one run, and how soon every
rank's long-poll is answered once the deciding report is acknowledged.

For each round at step s of a ReduceLROnPlateau run with ``world_size = --ranks``:

1. rank 0 reports (the round opens), then every rank sends ``GET .../lr?step=s&rank=r&wait=30``
   on a connection of its own (the barrier: they wait for the round);
2. ranks 1..n-2 report, `--in-flight` at a time, each on a keep-alive connection: reports/s;
3. the last rank's report decides the round; from the moment its 2xx is read, the time until
   each waiting long-poll has its answer (p50, max).

Each store is measured twice: reports without a key, and each with an ``Idempotency-Key`` (what
the client sends). Side by side, the limit of the store: on PostgreSQL ``pgbench`` alone on
the same server, one single-row INSERT per transaction from `--in-flight` clients (the
machine's commit rate; also printed with 1 client); on SQLite a loop of single-row commits in
WAL mode with ``synchronous=FULL`` (the same settings as the store). The client is a minimal
HTTP/1.1 client on asyncio streams, so the figures are the server's, not an HTTP library's.

    .venv/bin/python bench/bench_rounds.py [--ranks 1024] [--rounds 3] [--in-flight 64]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]  (or LRCAST_TEST_POSTGRES_URL)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import LRCastServer  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, method: str, path: str, body: dict | None = None,
                   key: bool = False) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + (f"Idempotency-Key: {uuid.uuid4()}\r\n" if key else "")
                + f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        self.writer.write(head.encode() + data)
        await self.writer.drain()

    async def answer(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        return status, await self.reader.readexactly(length)

    async def request(self, method: str, path: str, body: dict | None = None,
                      key: bool = False) -> tuple[int, bytes]:
        await self.send(method, path, body, key)
        return await self.answer()

    def close(self) -> None:
        self.writer.close()


async def one_round(port: int, run_id: str, step: int, ranks: int, in_flight: int,
                    keyed: bool) -> dict[str, float]:
    path = f"/v1/runs/{run_id}"
    first = await Connection.open(port)
    status, body = await first.request("POST", f"{path}/reports",
                                       {"step": step, "rank": 0, "value": 1.0}, keyed)
    assert status == 200, body
    waiters = [await Connection.open(port) for _ in range(ranks)]
    for rank, conn in enumerate(waiters):
        await conn.send("GET", f"{path}/lr?step={step}&rank={rank}&wait=30")
    answered: list[float] = []

    async def wait(conn: Connection) -> None:
        status, body = await conn.answer()
        answered.append(time.perf_counter())
        assert status == 200, body

    waiting = [asyncio.ensure_future(wait(conn)) for conn in waiters]
    await asyncio.sleep(0.5)  # every long-poll is parked at the barrier
    assert not answered, "a long-poll was answered before its round was decided"

    queue = list(range(1, ranks - 1))
    pool = [await Connection.open(port) for _ in range(in_flight)]

    async def reporter(conn: Connection) -> None:
        while queue:
            rank = queue.pop()
            status, body = await conn.request("POST", f"{path}/reports",
                                              {"step": step, "rank": rank, "value": 1.0}, keyed)
            assert status == 200, body

    started = time.perf_counter()
    await asyncio.gather(*(reporter(conn) for conn in pool))
    rate = (ranks - 2) / (time.perf_counter() - started)
    last = await Connection.open(port)  # `first` may have idled past the keep-alive timeout
    status, body = await last.request("POST", f"{path}/reports",
                                       {"step": step, "rank": ranks - 1, "value": 1.0}, keyed)
    acknowledged = time.perf_counter()
    assert status == 200 and json.loads(body)["decided"], body
    await asyncio.wait_for(asyncio.gather(*waiting), 60)
    delays = sorted(t - acknowledged for t in answered)
    for conn in [first, last, *waiters, *pool]:
        conn.close()
    return {"reports_per_s": rate, "wake_p50_ms": 1e3 * statistics.median(delays),
            "wake_max_ms": 1e3 * max(0.0, delays[-1])}


async def bench_server(server: LRCastServer, args: argparse.Namespace,
                       keyed: bool) -> list[dict[str, float]]:
    """`args.rounds` rounds of a fresh run; `keyed`: every report with an Idempotency-Key, as
    the client sends them."""
    run_id = f"r{args.ranks}-{'keyed' if keyed else 'plain'}-{int(time.time())}"
    with server.client() as client:
        client.put(f"/v1/runs/{run_id}", json={
            "schedule": {"type": "ReduceLROnPlateau", "lr": 0.1, "patience": 0},
            "world_size": args.ranks}).raise_for_status()
    return [await one_round(server.port, run_id, step, args.ranks, args.in_flight, keyed)
            for step in range(1, args.rounds + 1)]


def bench_store(server: LRCastServer, args: argparse.Namespace,
                ) -> list[tuple[str, list[dict[str, float]]]]:
    return [(name, asyncio.run(bench_server(server, args, keyed)))
            for name, keyed in (("", False), (", keyed", True))]


def sqlite_commit_rate(path: Path, seconds: float = 3.0) -> float:
    """Single-row commits per second with the store's durability settings."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v REAL)")
    n, deadline = 0, time.monotonic() + seconds
    started = time.monotonic()
    while time.monotonic() < deadline:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (v) VALUES (1.0)")
        db.execute("COMMIT")
        n += 1
    db.close()
    return n / (time.monotonic() - started)


def pgbench_commit_rate(url: str, clients: int, seconds: int = 5) -> float | None:
    """pgbench's tps for one single-row INSERT per transaction, `clients` at a time."""
    if shutil.which("pgbench") is None or shutil.which("psql") is None:
        return None
    url = url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run(["psql", url, "-qc", "CREATE TABLE IF NOT EXISTS bench_commit "
                    "(k bigserial PRIMARY KEY, v float8)"], check=True, capture_output=True)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("INSERT INTO bench_commit (v) VALUES (1.0);\n")
    out = subprocess.run(["pgbench", "-n", "-f", script.name, "-c", str(clients), "-j", "2",
                          "-T", str(seconds), url], capture_output=True, text=True,
                         timeout=seconds + 60, check=True).stdout
    os.unlink(script.name)
    match = re.search(r"tps = ([\d.]+)", out)
    return float(match.group(1)) if match else None


def summary(name: str, rows: list[dict[str, float]], limit: float | None, limit_name: str) -> None:
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    ratio = f"{med['reports_per_s'] / limit:.2f}" if limit else "n/a"
    print(f"{name:<18} {med['reports_per_s']:>10.0f} {med['wake_p50_ms']:>10.1f} "
          f"{med['wake_max_ms']:>10.1f}   {limit or 0:>10.0f} ({limit_name})  {ratio:>6}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--postgres", metavar="URL",
                        default=os.environ.get("LRCAST_TEST_POSTGRES_URL"),
                        help="also on PostgreSQL (a scratch database is made there and dropped; "
                             "default: $LRCAST_TEST_POSTGRES_URL)")
    args = parser.parse_args()
    try:  # the limits must not be those of the open-files default
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    except (ImportError, ValueError):
        pass

    results = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        server = stack.enter_context(LRCastServer(Path(tmp) / "rounds.db",
                                                  extra_args=["--no-access-log"]))
        limit = sqlite_commit_rate(Path(tmp) / "commit.db")
        results += [(f"SQLite{mode}", rows, limit, "single-row commits/s")
                    for mode, rows in bench_store(server, args)]
        if args.postgres:
            url = stack.enter_context(fresh_database(args.postgres))
            server = stack.enter_context(LRCastServer(url, extra_args=["--no-access-log"]))
            rows_by_mode = bench_store(server, args)
            server.stop()  # pgbench alone on the server
            single = pgbench_commit_rate(url, 1)
            limit = pgbench_commit_rate(url, args.in_flight)
            results += [(f"PostgreSQL{mode}", rows, limit,
                         f"pgbench tps, {args.in_flight} clients")
                        for mode, rows in rows_by_mode]
    print(f"{args.ranks}-rank plateau rounds, {args.rounds} rounds (medians), "
          f"{args.in_flight} reports in flight")
    print(f"{'store':<18} {'reports/s':>10} {'wake p50':>10} {'wake max':>10}   "
          f"{'limit':>10}               {'ratio':>6}")
    for name, rows, limit, limit_name in results:
        summary(name, rows, limit, limit_name)
    print("goals: >= 2,000 reports/s on SQLite; every waiter answered <= 100 ms after the "
          "deciding report is acknowledged (wake max)")
    if not args.postgres:
        print("PostgreSQL: skipped (--postgres URL or LRCAST_TEST_POSTGRES_URL)")
    else:
        print(f"pgbench with 1 client (one commit at a time, as one run's group commits): "
              f"{single or 0:.0f} tps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
