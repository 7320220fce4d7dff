"""The client's per-step cost: `RemoteScheduler.step()` (leases, local evaluation) beside
PyTorch's own `scheduler.step()` for the same schedule, as a ratio (goal <= 0.5 for every
type, with 1 and 8 param groups), and the HTTP requests it sends per 1,000 steps (goal <= 10
for closed-form schedules). The schedules are those of `bench_engine.py`.

Starts its own real service (`lrcast serve` on a loopback port, a temporary SQLite file):

    .venv/bin/python bench/bench_client.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lrcast  # noqa: E402
import lrcast.torch  # noqa: E402
from bench.bench_engine import CASES, STEPS  # noqa: E402
from lrcast.schedules import schedule_types  # noqa: E402
from tests.support import LRCastServer  # noqa: E402


def per_step(make_sched: Callable[[torch.optim.Optimizer], object], groups: int,
             n: int) -> float:
    """Seconds per `sched.step()` over `n` steps (the optimizer step itself not timed)."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs(groups),
                                                                     strict=True)],
                          lr=0.1, momentum=0.9)
    sched = make_sched(opt)
    opt.step()  # PyTorch warns if the scheduler steps before the optimizer ever did
    step = sched.step
    started = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - started) / n


def lrs(groups: int) -> list[float]:
    return [0.1 / (1 + g) for g in range(groups)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = STEPS - 1  # the cases of bench_engine.py are STEPS long
    warnings.filterwarnings("ignore", category=UserWarning)  # PyTorch's deprecation notes

    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp, \
            LRCastServer(Path(tmp) / "bench.db", log_path=Path(tmp) / "log",
                         extra_args=["--no-access-log"]) as server:
        print(f"lrcast client bench: {n} steps, best of {args.repeat}, "
              f"{lrcast.LeasePolicy()}, service {server.url} (no access log)")
        print(f"{'schedule':<28}{'groups':>7}{'torch us':>10}{'lrcast us':>11}{'ratio':>8}"
              f"{'req/1k steps':>14}")
        for name in schedule_types():
            if name not in CASES:
                continue
            spec, make_torch = CASES[name]()
            for groups in (1, 8):
                theirs = min(per_step(make_torch, groups, n) for _ in range(args.repeat))
                ours, requests = [], []
                for i in range(args.repeat):
                    client = lrcast.Client(server.url)  # the default LeasePolicy
                    run = client.run(f"bench-{name}-{groups}-{i}", world_size=1,
                                     schedule={**spec, "lr": lrs(groups)})
                    sent = client.requests_sent
                    ours.append(per_step(
                        lambda o, run=run: lrcast.torch.RemoteScheduler(o, run), groups, n))
                    requests.append((client.requests_sent - sent) * 1000 / n)
                    client.close()
                best = min(ours)
                worst = max(worst, best / theirs)
                print(f"{name:<28}{groups:>7}{theirs * 1e6:>10.2f}{best * 1e6:>11.2f}"
                      f"{best / theirs:>8.2f}{max(requests):>14.2f}")
    print(f"worst ratio {worst:.2f} (goal: <= 0.5 for every type, 1 and 8 groups)")


if __name__ == "__main__":
    main()
