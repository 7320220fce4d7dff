"""The client's per-step cost: what a training loop pays for `RemoteScheduler.step()` beside
PyTorch's own `scheduler.step()` on an identical optimizer, for every schedule type of
`bench_engine.py`, with 1 and 8 param groups (goal: <= 0.5 for every type), and the HTTP
requests it sends per 1,000 steps (goal <= 10).

Per type and group count, side by side in one run (best of `--repeat`, the two interleaved):
- torch: `scheduler.step()` over the case's steps, on SGD with momentum;
- inside: `RemoteScheduler.step()` over the same steps, all inside one lease (what a job pays
  between renewals: no HTTP, the LRs evaluated locally);
- renewal: the CPU time a lease renewal costs this process (the background request, the new
  lease's timeline parsed and installed), from `time.process_time` over the same steps with
  fixed 150-step leases (every thread counted, the service runs in its own process), minus
  those steps' inside cost, per renewal;
- ratios: inside / torch; and (inside + renewal / steps per renewal) / torch, the renewal
  amortised over what the default `LeasePolicy` leases at each `--paces` seconds per training
  step (30 s of steps, at most 100,000, renewed at 80%: one renewal per 24 s of training at
  any pace, so the slower the steps the more a renewal weighs against torch's step). The
  renewal's own figure is printed, to amortise at any pace;
- req/1k: requests per 1,000 steps with the default `LeasePolicy` from a fresh run (a tight
  loop: the leases grow 2x per renewal).

Starts its own real service (`lrcast serve` on a loopback port, a temporary SQLite file):

    .venv/bin/python bench/bench_client.py [--repeat 5] [--paces 0.001,0.01] [--types A,B]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lrcast  # noqa: E402
import lrcast.torch  # noqa: E402
from bench.bench_engine import CASES, STEPS  # noqa: E402
from lrcast.schedules import schedule_types  # noqa: E402
from tests.support import LRCastServer  # noqa: E402

#: steps timed per pass: the cases of bench_engine.py are STEPS long
N = STEPS - 1
#: the leases of the renewal pass: fixed, so every renewal costs the same
RENEWAL_POLICY = lrcast.LeasePolicy(steps=150, seconds=None)


def optimizer(groups: int) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs(groups),
                                                                     strict=True)],
                          lr=0.1, momentum=0.9)
    opt.step()  # PyTorch warns if the scheduler steps before the optimizer ever did
    return opt


def lrs(groups: int) -> list[float]:
    return [0.1 / (1 + g) for g in range(groups)]


def timed(sched: Any, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per `sched.step()` over N steps, by `clock` (the optimizer step not timed)."""
    step = sched.step
    started = clock()
    for _ in range(N):
        step()
    return (clock() - started) / N


def steps_per_renewal(pace: float, policy: lrcast.LeasePolicy) -> float:
    """Steps between two renewals once `policy` has measured a job at `pace` s/step."""
    assert policy.seconds is not None
    lease = min(policy.max_steps, max(policy.min_steps, policy.seconds / pace))
    return lease * policy.renew_at


class Case:
    """One schedule type with `groups` param groups: its runs on the service."""

    def __init__(self, server: LRCastServer, name: str, groups: int) -> None:
        self.name, self.groups, self.server = name, groups, server
        spec, self.make_torch = CASES[name]()
        self.spec = {**spec, "lr": lrs(groups)}
        # inside: one lease covers every timed step, renewed never (renew_at 1.0)
        self.inside = lrcast.Client(server.url, lease=lrcast.LeasePolicy(
            steps=N + 1, seconds=None, renew_at=1.0))
        self.inside_run = self.run(self.inside, "inside")
        self._runs = 0

    def run(self, client: lrcast.Client, kind: str) -> lrcast.Run:
        return client.run(f"bench-{self.name}-{self.groups}-{kind}-{time.monotonic_ns()}",
                          world_size=1, schedule=self.spec)

    def torch_step(self) -> float:
        return timed(self.make_torch(optimizer(self.groups)))

    def inside_step(self) -> float:
        # the run's lease stays installed: every scheduler on it steps inside it
        return timed(lrcast.torch.RemoteScheduler(optimizer(self.groups), self.inside_run))

    def renewal_cpu(self, inside: float) -> float:
        """CPU seconds per renewal: the pass with 150-step leases less its inside cost."""
        with lrcast.Client(self.server.url, lease=RENEWAL_POLICY) as client:
            sched = lrcast.torch.RemoteScheduler(optimizer(self.groups),
                                                 self.run(client, "renewal"))
            sent = client.requests_sent
            cpu = timed(sched, time.process_time) * N
            renewals = client.requests_sent - sent
        return max(0.0, cpu - inside * N) / max(1, renewals)

    def requests_per_1000(self) -> float:
        with lrcast.Client(self.server.url) as client:  # the default LeasePolicy
            sched = lrcast.torch.RemoteScheduler(optimizer(self.groups),
                                                 self.run(client, "default"))
            sent = client.requests_sent
            timed(sched)
            return (client.requests_sent - sent) * 1000 / N

    def close(self) -> None:
        self.inside.close()


def cases(server: LRCastServer, names: list[str]) -> Iterator[Case]:
    for name in schedule_types():
        if name in CASES and (not names or name in names):
            for groups in (1, 8):
                yield Case(server, name, groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--paces", default="0.001,0.01",
                        help="seconds per training step the renewal is amortised at")
    parser.add_argument("--types", default="", help="comma-separated types (default: all)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # PyTorch's deprecation notes
    torch.set_num_threads(1)
    paces = [float(p) for p in args.paces.split(",")]
    per_renewal = [steps_per_renewal(pace, lrcast.LeasePolicy()) for pace in paces]
    worst: list[tuple[float, str]] = [(0.0, "")] * (1 + len(paces))
    with tempfile.TemporaryDirectory() as tmp, \
            LRCastServer(Path(tmp) / "bench.db", log_path=Path(tmp) / "log",
                         extra_args=["--no-access-log"]) as server:
        print(f"lrcast client bench: {N} steps, best of {args.repeat}; renewals amortised over "
              + ", ".join(f"{n:,.0f} steps ({p * 1e3:g} ms a step)"
                          for n, p in zip(per_renewal, paces, strict=True))
              + f", the default LeasePolicy; service {server.url} (no access log)")
        print(f"{'schedule':<28}{'groups':>7}{'torch us':>10}{'inside us':>11}{'ratio':>7}"
              f"{'renewal us':>12}" + "".join(f"{f'@{p * 1e3:g}ms':>8}" for p in paces)
              + f"{'req/1k':>8}")
        for case in cases(server, [t for t in args.types.split(",") if t]):
            theirs = ours = float("inf")
            for _ in range(args.repeat):  # interleaved: both sides see the same load
                theirs = min(theirs, case.torch_step())
                ours = min(ours, case.inside_step())
            renewal = min(case.renewal_cpu(ours) for _ in range(max(1, args.repeat // 2)))
            requests = case.requests_per_1000()
            case.close()
            ratios = [ours / theirs] + [(ours + renewal / n) / theirs for n in per_renewal]
            label = f"{case.name}/{case.groups}"
            worst = [max(w, (r, label)) for w, r in zip(worst, ratios, strict=True)]
            print(f"{case.name:<28}{case.groups:>7}{theirs * 1e6:>10.2f}{ours * 1e6:>11.2f}"
                  f"{ratios[0]:>7.2f}{renewal * 1e6:>12.0f}"
                  + "".join(f"{r:>8.2f}" for r in ratios[1:]) + f"{requests:>8.2f}", flush=True)
    for (ratio, which), what in zip(worst, ["inside a lease"] + [
            f"with renewals at {p * 1e3:g} ms a step" for p in paces], strict=True):
        print(f"max ratio {what}: {ratio:.2f} ({which}; goal <= 0.5: "
              f"{'met' if ratio <= 0.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
