"""The client's per-step cost: `RemoteScheduler.step()` (leases, local evaluation) beside
PyTorch's own `scheduler.step()` for the same schedule, as a ratio (goal <= 1.0), and the HTTP
requests it sends per 1,000 steps (goal <= 10 for closed-form schedules).

Starts its own real service (`lrcast serve` on a loopback port, a temporary SQLite file):

    .venv/bin/python bench/bench_client.py [--steps 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lrcast  # noqa: E402
import lrcast.torch  # noqa: E402
from tests.support import LRCastServer  # noqa: E402


def cases(n: int) -> list[tuple[str, dict, Callable]]:
    """(name, spec, PyTorch constructor) for the same schedule, `n` steps long."""
    sch = torch.optim.lr_scheduler
    return [
        ("OneCycleLR", {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": n + 1},
         lambda o: sch.OneCycleLR(o, max_lr=0.1, total_steps=n + 1)),
        ("CosineAnnealingLR", {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": n},
         lambda o: sch.CosineAnnealingLR(o, T_max=n)),
        ("StepLR", {"type": "StepLR", "lr": 0.1, "step_size": 1000, "gamma": 0.5},
         lambda o: sch.StepLR(o, step_size=1000, gamma=0.5)),
        ("LinearLR", {"type": "LinearLR", "lr": 0.1, "start_factor": 0.01, "total_iters": n},
         lambda o: sch.LinearLR(o, start_factor=0.01, total_iters=n)),
    ]


def per_step(make_sched: Callable[[torch.optim.Optimizer], object], n: int) -> float:
    """Seconds per `sched.step()` over `n` steps (the optimizer step itself not timed)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = make_sched(opt)
    opt.step()  # PyTorch warns if the scheduler steps before the optimizer ever did
    step = sched.step
    started = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.steps

    with tempfile.TemporaryDirectory() as tmp, \
            LRCastServer(Path(tmp) / "bench.db", log_path=Path(tmp) / "log") as server:
        print(f"lrcast client bench: {n} steps, best of {args.repeat}, "
              f"{lrcast.LeasePolicy()}, service {server.url}")
        print(f"{'schedule':<20}{'torch us/step':>14}{'lrcast us/step':>16}{'ratio':>8}"
              f"{'req/1k steps':>14}")
        for name, spec, make_torch in cases(n):
            theirs = min(per_step(make_torch, n) for _ in range(args.repeat))
            ours, requests = [], []
            for i in range(args.repeat):
                client = lrcast.Client(server.url)  # the default LeasePolicy
                run = client.run(f"bench-{name}-{i}", schedule=spec, world_size=1)
                sent = client.requests_sent
                ours.append(per_step(lambda o, run=run: lrcast.torch.RemoteScheduler(o, run),
                                     n))
                requests.append((client.requests_sent - sent) * 1000 / n)
                client.close()
            best = min(ours)
            print(f"{name:<20}{theirs * 1e6:>14.2f}{best * 1e6:>16.2f}{best / theirs:>8.2f}"
                  f"{max(requests):>14.2f}")


if __name__ == "__main__":
    main()
