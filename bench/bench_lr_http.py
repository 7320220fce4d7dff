"""``GET /v1/runs/{id}/lr`` under the loads users make, beside a bare ASGI app.

Three mixes, each driven by `wrk` with the same Lua script against lrcast and against a bare
ASGI app (the limit: same uvicorn settings, 1 worker, uvloop, httptools, no access log, a fixed
JSON body of the same size), alternating the two for `--rounds` rounds:

- ``walking``: 64 connections (one per wrk thread, one rank each) ask the LR of *successive*
  steps of a fresh run from step 0 on, as fast as they can: what a REST user querying per step
  does. The served frontier grows under them.
- ``random``: random (run, step) over `--runs` runs of mixed types, every step inside the
  run's served frontier (reserved by one lease per run first).
- ``repeat``: one step asked again and again (a memoised answer): for reference only.

lrcast runs without its access log (``--no-access-log``), as the bare app; ``--access-log both``
adds a second lrcast server with the default access log, to show what it costs.

After the walking mix the bench prints the amendment *reach*: the steps between the furthest
step served and the first step an amendment may take (`amendment_too_early.min_step`), which
must stay about 30 s of that job's training or less. It prints the same for two jobs that
use the Python client: a burst of 100 quick ``run.lr()`` calls at start-up, and a job at 1
ms a step that takes 100 leases (or runs `--lease-seconds`).

    .venv/bin/python bench/bench_lr_http.py [--duration 10] [--connections 64] [--runs 256]
        [--access-log off|both]

Needs ``wrk`` (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import LRCastServer, free_port  # noqa: E402

BODY = (b'{"run_id":"walk-0000","step":123456,"lr":0.09999999999999999,'
        b'"lrs":[0.09999999999999999],"momentum":null,"momentums":null,"version":1}')

#: one wrk thread per connection, so each connection has its own step counter and rank
WALK_LUA = r"""
local step = 0
function setup(thread)
  thread:set("rank", _G.next_rank or 0)
  _G.next_rank = (_G.next_rank or 0) + 1
end
function init(args) run = args[1] end
function request()
  local path = "/v1/runs/" .. run .. "/lr?step=" .. step .. "&rank=" .. rank
  step = step + 1
  return wrk.format("GET", path)
end
"""

RANDOM_LUA = r"""
function setup(thread)
  thread:set("seed", _G.next_seed or 1)
  _G.next_seed = (_G.next_seed or 1) + 1
end
function init(args)
  prefix, runs, steps = args[1], tonumber(args[2]), tonumber(args[3])
  math.randomseed(seed * 7919)
end
function request()
  local run = string.format("%s-%04d", prefix, math.random(0, runs - 1))
  return wrk.format("GET", "/v1/runs/" .. run .. "/lr?step=" .. math.random(0, steps - 1))
end
"""

REPEAT_LUA = r"""
function init(args) run = args[1] end
function request() return wrk.format("GET", "/v1/runs/" .. run .. "/lr?step=100&rank=0") end
"""

#: the random mix's runs cycle through these types (every step < STEPS is valid for all)
STEPS = 50_000
MIXED = [
    {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": STEPS + 1},
    {"type": "cosine", "lr": 3e-4, "num_warmup_steps": 1000, "num_training_steps": STEPS},
    {"type": "StepLR", "lr": 0.1, "step_size": 1000, "gamma": 0.9},
    {"type": "CosineAnnealingWarmRestarts", "lr": 0.1, "T_0": 500, "T_mult": 2},
    {"type": "SequentialLR", "lr": 0.1, "milestones": [1000],
     "schedulers": [{"type": "LinearLR", "start_factor": 0.01, "total_iters": 1000},
                    {"type": "CosineAnnealingLR", "T_max": STEPS}]},
    {"type": "warmup_stable_decay", "lr": 1e-3, "num_warmup_steps": 500,
     "num_decay_steps": 5000, "num_training_steps": STEPS},
    {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 200},
    {"type": "PolynomialLR", "lr": 0.1, "total_iters": STEPS, "power": 2.0},
]


async def bare_app(scope: dict, receive: object, send: object) -> None:
    """The limit: a raw ASGI app answering a fixed JSON body of the same size."""
    if scope["type"] != "http":
        return
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


def run_wrk(url: str, script: Path, args: list[str], duration: int, connections: int,
            threads: int) -> dict[str, float]:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
                          "--latency", "--timeout", "5s", "-s", str(script), url, "--", *args],
                         capture_output=True, text=True, timeout=duration + 60,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": _ms(out, "50%"), "p99": _ms(out, "99%"),
            "non2xx": float(errors.group(1)) if errors else 0.0}


def _ms(out: str, pct: str) -> float:
    value, unit = re.search(rf"^\s+{pct}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def reach(client: httpx.Client, run_id: str, furthest: int) -> int | None:
    """Steps between the furthest step served and the first step an amendment may take."""
    answer = client.post(f"/v1/runs/{run_id}/amendments",
                         json={"from_step": 0, "scale": 1.0})
    if answer.status_code == 409 and "min_step" in answer.json():
        return int(answer.json()["min_step"]) - furthest
    return None


def furthest_step(client: httpx.Client, run_id: str) -> int:
    progress = client.get(f"/v1/runs/{run_id}").json().get("progress") or []
    return max((int(p["step"]) for p in progress), default=0)


def client_reaches(server: LRCastServer, lease_seconds: float) -> list[str]:
    """The amendment reach of two jobs that use the Python client (`lrcast.Client`): a burst
    of 100 quick ``run.lr()`` calls at start-up, and a job at 1 ms a step until it has taken
    100 leases (at most `lease_seconds`)."""
    import lrcast

    spec = {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 10_000_000}
    lines = []
    with server.client() as http, lrcast.Client(server.url) as client:
        burst = client.run("reach-burst", schedule=spec)
        for step in range(100):
            burst.lr(step)
        gap = reach(http, "reach-burst", 99)
        lines.append(f"amendment reach after a burst of 100 run.lr() calls at start-up: "
                     f"{gap} steps")
        paced = client.run("reach-paced", schedule=spec)
        # past its creation, the run's requests are its leases (`Client.requests_sent`)
        before, started, step = client.requests_sent, time.monotonic(), 0
        deadline = started + lease_seconds
        while time.monotonic() < deadline and client.requests_sent - before < 100:
            paced.lr(step)
            step += 1
            time.sleep(0.001)
        leases = client.requests_sent - before
        rate = step / (time.monotonic() - started)
        gap = reach(http, "reach-paced", step - 1)
        seconds = f"{gap / rate:.1f} s of its pace" if gap is not None else "?"
        lines.append(f"amendment reach after {leases} leases ({step} steps at "
                     f"{rate:.0f} steps/s): {gap} steps ({seconds})")
    return lines


def prepare(server: LRCastServer, runs: int) -> None:
    """The random mix's runs, each reserved by one lease; the repeat mix's run."""
    with server.client() as client:
        for i in range(runs):
            run_id = f"mix-{i:04d}"
            client.put(f"/v1/runs/{run_id}", json={
                "schedule": MIXED[i % len(MIXED)]}).raise_for_status()
            client.post(f"/v1/runs/{run_id}/leases", json={
                "rank": 0, "step": 0, "steps": STEPS}).raise_for_status()
        client.put("/v1/runs/repeat", json={"schedule": MIXED[0]}).raise_for_status()
        client.get("/v1/runs/repeat/lr?step=100&rank=0").raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--access-log", choices=("off", "both"), default="off",
                        help="off: lrcast without its access log, as the bare app; both: "
                             "also a server with it")
    parser.add_argument("--lease-seconds", type=float, default=30.0,
                        help="the paced client job's longest run, for its reach")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk not found (apt-get install wrk)")

    port = free_port()
    bare_url = f"http://127.0.0.1:{port}/"
    bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(port)])
    mixes = ("walking", "random", "repeat")
    sides = {"lrcast": ["--no-access-log"]}
    if args.access_log == "both":
        sides["lrcast+log"] = []
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        mix: {"bare": [], **{side: [] for side in sides}} for mix in mixes}
    reaches: list[tuple[int, int | None, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
            servers = {side: stack.enter_context(LRCastServer(
                Path(tmp) / f"{side}.db", extra_args=extra, log_path=Path(tmp) / f"{side}.log"))
                for side, extra in sides.items()}
            wait_up(bare_url)
            scripts = {}
            for name, lua in (("walking", WALK_LUA), ("random", RANDOM_LUA),
                              ("repeat", REPEAT_LUA)):
                scripts[name] = Path(tmp) / f"{name}.lua"
                scripts[name].write_text(lua)
            for server in servers.values():
                prepare(server, args.runs)
            for rnd in range(args.rounds):
                for mix in mixes:
                    threads = args.connections if mix == "walking" else 1
                    for side in ("bare", *servers):
                        server = servers.get(side)
                        with server.client() if server else httpx.Client() as client:
                            if mix == "walking":  # a fresh run each time: the frontier is 0
                                run_id = f"walk-{rnd:04d}"
                                if server:
                                    client.put(f"/v1/runs/{run_id}", json={
                                        "schedule": {"type": "CosineAnnealingLR", "lr": 0.1,
                                                     "T_max": 10_000_000},
                                        "world_size": args.connections}).raise_for_status()
                                extra = [run_id]
                            elif mix == "random":
                                extra = ["mix", str(args.runs), str(STEPS)]
                            else:
                                extra = ["repeat"]
                            started = time.monotonic()
                            results[mix][side].append(run_wrk(
                                server.url if server else bare_url, scripts[mix], extra,
                                args.duration, args.connections, threads))
                            if mix == "walking" and side == "lrcast":
                                far = furthest_step(client, run_id)
                                steps_per_s = far / max(time.monotonic() - started, 1e-9)
                                reaches.append((far, reach(client, run_id, far), steps_per_s))
            client_lines = client_reaches(servers["lrcast"], args.lease_seconds)
    finally:
        bare.kill()
        bare.wait()

    print(f"GET .../lr, {args.connections} connections, {args.duration} s x {args.rounds} "
          f"alternating rounds (medians); random mix over {args.runs} runs of "
          f"{len(MIXED)} types")
    print(f"{'mix':<8} {'server':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
          f" {'ratio':>6}")
    for mix in mixes:
        med = {side: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
               for side, rows in results[mix].items()}
        for side, r in med.items():
            ratio = r["rps"] / med["bare"]["rps"]
            print(f"{mix:<8} {side:<10} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
                  f"{r['non2xx']:>8.0f} {ratio:>6.2f}")
    goals = "goals: walking >= 0.5 and p99 < 10 ms, random >= 0.7 (repeat is memoised)"
    print(goals)
    for far, gap, rate in reaches:
        seconds = f"{gap / rate:.1f} s of this job's pace" if gap is not None and rate else "?"
        print(f"amendment reach after walking to step {far}: {gap} steps ({seconds}; "
              f"goal: about 30 s of training or less)")
    for line in client_lines:
        print(line)
    return 0


if __name__ == "__main__":
    random.seed(0)
    raise SystemExit(main())
