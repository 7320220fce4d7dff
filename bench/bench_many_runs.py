"""Many runs in one service: memory per run and LR latency as the number of runs grows.

One real ``lrcast serve`` (SQLite, no access log) per size (100, 1,000, ... up to `--runs`,
default 10,000), side by side: each gets its runs of mixed types, every run touched once (a
lease of the steps queried, which loads it into the service's cache), then the servers are
measured in alternating rounds of `--seconds` each (`--rounds`, medians), so the machine's
noise falls on every size alike:

- memory: each server's resident memory (``/proc/PID/status`` VmRSS) added per run since it
  had its first runs (the fixed cost of the warm-up excluded);
- latency (p50, p99) of LR queries for random (run, step) pairs over all its runs from
  `--connections` keep-alive connections, and the server's CPU time per query.

Neither may grow with the number of runs (cold runs leave the cache): the last columns are
the ratios to the smallest size.

    .venv/bin/python bench/bench_many_runs.py [--runs 10000] [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_lr_http import MIXED, STEPS  # noqa: E402
from bench.bench_rounds import Connection  # noqa: E402
from tests.support import LRCastServer  # noqa: E402

#: the steps the latency queries ask, reserved by a lease per run when it is created
QUERIED = 200


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


#: runs created and queried before the baseline RSS, so code paths warmed once do not count
WARMUP = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each size")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds between creating runs and measuring (background writes)")
    args = parser.parse_args()
    sizes = [n for n in (100, 1_000, 10_000, 100_000) if n < args.runs] + [args.runs]
    memory: dict[int, tuple[float, float]] = {}
    measured: dict[int, list[tuple[list[float], float]]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        servers = {size: stack.enter_context(LRCastServer(
            Path(tmp) / f"many-{size}.db", extra_args=["--no-access-log"])) for size in sizes}
        for size, server in servers.items():
            pid = server.process.pid
            asyncio.run(create(server.port, 0, WARMUP, args.connections))
            asyncio.run(latency(server.port, WARMUP, args.seconds / 2, args.connections))
            before = rss_mb(pid)
            asyncio.run(create(server.port, WARMUP, size, args.connections))
            time.sleep(args.settle)
            asyncio.run(latency(server.port, size, args.seconds / 2, args.connections))
            rss = rss_mb(pid)  # the memory the runs added, per run
            memory[size] = (rss, (rss - before) * 1024 / (size - WARMUP))
        for _ in range(args.rounds):
            for size, server in servers.items():
                cpu = cpu_seconds(server.process.pid)
                samples = asyncio.run(latency(server.port, size, args.seconds,
                                              args.connections))
                cpu = cpu_seconds(server.process.pid) - cpu
                measured[size].append((sorted(samples), 1e6 * cpu / len(samples)))
    rows = []
    for size in sizes:
        rounds = measured[size]
        rows.append((size, *memory[size],
                     statistics.median(1e3 * statistics.median(s) for s, _ in rounds),
                     statistics.median(1e3 * s[int(0.99 * (len(s) - 1))] for s, _ in rounds),
                     statistics.median(len(s) for s, _ in rounds),
                     statistics.median(cpu for _, cpu in rounds)))
    print(f"runs of {len(MIXED)} mixed types (steps < {STEPS}), one server per size; LR of "
          f"random (run, step) from {args.connections} connections, {args.rounds} alternating "
          f"rounds of {args.seconds:g} s (medians); KB/run: the server's RSS added per run; "
          f"CPU us/q: the server's CPU time per query")
    print(f"{'runs':>8} {'RSS MB':>8} {'KB/run':>8} {'p50 ms':>8} {'p99 ms':>8} {'queries':>8}"
          f" {'CPU us/q':>9} {'KB/run x':>9} {'p50 x':>6} {'p99 x':>6} {'CPU x':>6}")
    first = rows[0]
    for size, rss, per_run, p50, p99, n, cpu in rows:
        print(f"{size:>8} {rss:>8.1f} {per_run:>8.2f} {p50:>8.2f} {p99:>8.2f} {n:>8.0f} "
              f"{cpu:>9.1f} {per_run / first[2]:>9.2f} {p50 / first[3]:>6.2f} "
              f"{p99 / first[4]:>6.2f} {cpu / first[6]:>6.2f}")
    print("goal: memory per run and LR latency do not grow with the number of runs (the "
          "ratios to the first size stay about 1; cold runs leave the cache, bounded by "
          "16,384 runs / 64 MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
