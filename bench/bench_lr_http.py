"""Throughput and latency of ``GET /v1/runs/{id}/lr`` beside a bare ASGI app.

Both servers run under the same uvicorn settings (1 worker, uvloop, httptools, no access
log), each in its own process, one after the other; `wrk` drives each with 64 connections
for 10 s (``--latency``), alternating the two servers for `--rounds` rounds. Prints the
median requests/s, p50 and p99 side by side, and the ratio.

    .venv/bin/python bench/bench_lr_http.py [--duration 10] [--connections 64]

Needs ``wrk`` (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import LRCastServer, free_port  # noqa: E402

BODY = (b'{"run_id":"bench","step":100,"lr":0.1,"lrs":[0.1],"momentum":null,'
        b'"momentums":null,"version":1}')


async def bare_app(scope: dict, receive: object, send: object) -> None:
    """The baseline: a raw ASGI app answering a small fixed JSON body."""
    await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})  # type: ignore[operator]


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


def wait_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def run_wrk(url: str, duration: int, connections: int, threads: int) -> dict[str, float]:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
                          "--latency", "--timeout", "5s", url], capture_output=True,
                         text=True, timeout=duration + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": _ms(out, "50%"), "p99": _ms(out, "99%"),
            "non2xx": float(errors.group(1)) if errors else 0.0}


def _ms(out: str, pct: str) -> float:
    value, unit = re.search(rf"^\s+{pct}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (2 cores here)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk not found (apt-get install wrk)")

    port = free_port()
    bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(port)])
    runs: dict[str, list[dict[str, float]]] = {"bare ASGI": [], "lrcast /lr": []}
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                LRCastServer(Path(tmp) / "bench.db") as server:
            wait_up(f"http://127.0.0.1:{port}/")
            with server.client() as client:
                client.put("/v1/runs/bench", json={"schedule": {
                    "type": "StepLR", "lr": 0.1, "step_size": 1000, "gamma": 0.5}})
                path = "/v1/runs/bench/lr?step=100&rank=0"
                client.get(path).raise_for_status()  # reserves the step: answers are cached
            # alternate the two servers, so that drifting load on a shared machine hits both
            for _ in range(args.rounds):
                runs["bare ASGI"].append(run_wrk(f"http://127.0.0.1:{port}/", args.duration,
                                                 args.connections, args.threads))
                runs["lrcast /lr"].append(run_wrk(server.url + path, args.duration,
                                                  args.connections, args.threads))
    finally:
        bare.kill()
        bare.wait()
    results = {name: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
               for name, rounds in runs.items()}

    print(f"GET .../lr, {args.connections} connections, {args.duration} s x {args.rounds} "
          f"alternating rounds (medians), wrk -t{args.threads}")
    for name, rounds in runs.items():
        print(f"  {name} req/s per round: " + ", ".join(f"{r['rps']:.0f}" for r in rounds))
    print(f"{'server':<12} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in results.items():
        print(f"{name:<12} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
              f"{r['non2xx']:>8.0f}")
    ratio = results["lrcast /lr"]["rps"] / results["bare ASGI"]["rps"]
    print(f"ratio lrcast / bare: {ratio:.2f} (goal >= 0.5; p99 goal < 10 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
