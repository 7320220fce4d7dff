"""Many runs in one service: memory per run and LR latency as the number of runs grows.

Creates runs of mixed types in steps up to `--runs` (default 10,000) on a real ``lrcast serve``
(SQLite), touches every run once (a lease of the steps queried, which loads it into the
service's cache; the server runs without its access log), then
measures the server's resident memory (``/proc/PID/status`` VmRSS) and the latency of LR
queries for random (run, step) pairs from `--connections` keep-alive connections. Memory per
run must not grow without bound (cold runs leave the cache) and the latency must not grow with
the number of runs: the last columns are the ratios to the smallest size.

    .venv/bin/python bench/bench_many_runs.py [--runs 10000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_lr_http import MIXED, STEPS  # noqa: E402
from bench.bench_rounds import Connection  # noqa: E402
from tests.support import LRCastServer  # noqa: E402

#: the steps the latency queries ask, reserved by a lease per run when it is created
QUERIED = 200


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def create(port: int, first: int, last: int, connections: int) -> None:
    todo = list(range(first, last))

    async def worker() -> None:
        conn = await Connection.open(port)
        while todo:
            i = todo.pop()
            status, body = await conn.request("PUT", f"/v1/runs/many-{i:06d}",
                                              {"schedule": MIXED[i % len(MIXED)]})
            assert status in (200, 201), body
            # the steps the queries ask are reserved (one query reserves only its step)
            status, body = await conn.request("POST", f"/v1/runs/many-{i:06d}/leases",
                                              {"rank": 0, "step": 0, "steps": QUERIED})
            assert status == 200, body
        conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def latency(port: int, runs: int, seconds: float, connections: int) -> list[float]:
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    rng = random.Random(runs)

    async def worker() -> None:
        conn = await Connection.open(port)
        while time.monotonic() < deadline:
            path = f"/v1/runs/many-{rng.randrange(runs):06d}/lr?step={rng.randrange(QUERIED)}"
            started = time.perf_counter()
            status, body = await conn.request("GET", path)
            samples.append(time.perf_counter() - started)
            assert status == 200, body
        conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    sizes = [n for n in (100, 1_000, 10_000, 100_000) if n < args.runs] + [args.runs]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LRCastServer(
            Path(tmp) / "many.db", extra_args=["--no-access-log"]) as server:
        pid = server.process.pid
        base_rss = rss_mb(pid)
        done = 0
        for size in sizes:
            asyncio.run(create(server.port, done, size, args.connections))
            done = size
            samples = sorted(asyncio.run(latency(server.port, size, args.seconds,
                                                 args.connections)))
            rss = rss_mb(pid)
            rows.append((size, rss, (rss - base_rss) * 1024 / size,
                         1e3 * statistics.median(samples),
                         1e3 * samples[int(0.99 * (len(samples) - 1))], len(samples)))
    print(f"runs of {len(MIXED)} mixed types (steps < {STEPS}), LR of random (run, step) from "
          f"{args.connections} connections for {args.seconds:.0f} s at each size")
    print(f"{'runs':>8} {'RSS MB':>8} {'KB/run':>8} {'p50 ms':>8} {'p99 ms':>8} {'queries':>8}"
          f" {'p50 x':>6} {'RSS x':>6}")
    for size, rss, per_run, p50, p99, n in rows:
        print(f"{size:>8} {rss:>8.1f} {per_run:>8.1f} {p50:>8.2f} {p99:>8.2f} {n:>8} "
              f"{p50 / rows[0][3]:>6.2f} {rss / rows[0][1]:>6.2f}")
    print("goal: memory per run and LR latency do not grow with the number of runs "
          "(cold runs leave the cache)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
