"""``GET /v1/runs/{id}/lr`` throughput of the scale-out: 1 vs 2 replicas over PostgreSQL,
and SQLite vs PostgreSQL for one replica, as ratios.

Every server is a real ``lrcast serve`` (tests/support/server.py: one uvicorn worker, uvloop,
httptools) on a loopback port; `wrk` drives it for `--duration` seconds with `--connections`
connections in all. With two replicas, two wrk processes run at the same time, one per
replica, with half the connections each, and their requests/s are summed. Two runs are
measured per setup:

- ``closed``: a closed-form schedule (StepLR): the fast path answers from the replica's
  cached view below the persisted frontier, with no database access at all;
- ``plateau``: a ReduceLROnPlateau run: on PostgreSQL each answer first checks the cached
  view is current (one primary-key read of ``runs.seq``, see store/notify.py), since a round
  may have opened on another replica.

    LRCAST_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/bench_replicas.py [--duration 5] [--connections 64]

Needs ``wrk`` (Debian: ``apt-get install wrk``) and a PostgreSQL server (a fresh database is
created on it and dropped after). On a 2-core machine the replicas, PostgreSQL and wrk share
the cores, so the 2-replica figure measures contention as much as scale-out.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import LRCastServer  # noqa: E402
from tests.support.postgres import ENV, fresh_database  # noqa: E402

STEP = 100
SCHEDULES = {
    "closed": {"type": "StepLR", "lr": 0.1, "step_size": 1000, "gamma": 0.5},
    "plateau": {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 2},
}


def prepare(server: LRCastServer) -> None:
    """Create both runs and serve the benchmarked step once (reserving the frontier)."""
    for name, schedule in SCHEDULES.items():
        response = httpx.put(f"{server.url}/v1/runs/bench-{name}", timeout=10,
                             json={"schedule": schedule, "world_size": 1})
        response.raise_for_status()
        httpx.get(f"{server.url}/v1/runs/bench-{name}/lr", params={"step": STEP},
                  timeout=10).raise_for_status()


def wrk(urls: list[str], duration: float, connections: int) -> float:
    """Requests/s summed over one wrk process per URL, all running at the same time."""
    per = max(1, connections // len(urls))
    procs = [subprocess.Popen(["wrk", "-t1", f"-c{per}", f"-d{duration:g}s", "--timeout", "5s",
                               url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for url in urls]
    total = 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=duration + 30)
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        if match is None or non2xx is not None:
            raise RuntimeError(f"wrk failed or saw errors:\n{out}")
        total += float(match.group(1))
    return total


def measure(servers: list[LRCastServer], duration: float, connections: int,
            ) -> dict[str, float]:
    for server in servers:
        prepare(server)
    return {name: wrk([f"{s.url}/v1/runs/bench-{name}/lr?step={STEP}" for s in servers],
                      duration, connections) for name in SCHEDULES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--postgres", default=os.environ.get(ENV),
                        help=f"PostgreSQL server URL (default ${ENV})")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_replicas: wrk is not installed (apt-get install wrk)")
    if not args.postgres:
        sys.exit(f"bench_replicas: set {ENV} or pass --postgres")
    args.duration = min(max(args.duration, 1.0), 10.0)  # bounded: the machine is shared

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with LRCastServer(Path(tmp) / "bench.db", log_path=Path(tmp) / "sqlite.log") as one:
            results["sqlite, 1 replica"] = measure([one], args.duration, args.connections)
        with fresh_database(args.postgres) as url:
            with LRCastServer(url, log_path=Path(tmp) / "pg1.log") as one:
                results["postgres, 1 replica"] = measure([one], args.duration,
                                                         args.connections)
            with ExitStack() as stack:
                two = [stack.enter_context(LRCastServer(url, log_path=Path(tmp) / f"pg2-{i}.log"))
                       for i in range(2)]
                results["postgres, 2 replicas"] = measure(two, args.duration,
                                                          args.connections)

    print(f"GET /v1/runs/{{id}}/lr?step={STEP}: requests/s, {args.connections} connections, "
          f"{args.duration:g} s per run, {os.cpu_count()} CPUs")
    print(f"{'setup':24} {'closed':>10} {'plateau':>10}")
    for setup, rates in results.items():
        print(f"{setup:24} {rates['closed']:>10.0f} {rates['plateau']:>10.0f}")
    sq, pg1, pg2 = (results[k] for k in ("sqlite, 1 replica", "postgres, 1 replica",
                                         "postgres, 2 replicas"))
    for name in SCHEDULES:
        print(f"{name:8} 2 replicas / 1 replica (postgres): {pg2[name] / pg1[name]:.2f}   "
              f"postgres / sqlite (1 replica): {pg1[name] / sq[name]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
