"""A small plateau job for the deployment tests: ranks report through the real client, and the
expected LRs come from PyTorch's own `ReduceLROnPlateau` fed the aggregated values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

import lrcast

PLATEAU_SPEC: dict[str, Any] = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5,
                                "patience": 1}
EVERY = 10  # steps between evaluation rounds


def rank_value(round_index: int, rank: int, world_size: int) -> float:
    """Rank `rank`'s metric in round `round_index`: spread around a mean that improves, then
    stalls (so the plateau rule reduces the LR), and never the same for two ranks."""
    mean = 1.0 / (1 + min(round_index, 3))
    return mean + 0.01 * (rank - (world_size - 1) / 2)


def aggregated(round_index: int, world_size: int) -> float:
    """The mean the service feeds the plateau rule for a round."""
    return sum(rank_value(round_index, r, world_size) for r in range(world_size)) / world_size


def torch_lrs(rounds: int, world_size: int) -> list[float]:
    """Group 0's LR at every step of the job per PyTorch: after the round at step s, steps
    s..s+EVERY-1 use the LR the scheduler holds once fed that round's aggregated value."""
    import torch

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=PLATEAU_SPEC["lr"])
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=PLATEAU_SPEC["factor"], patience=PLATEAU_SPEC["patience"])
    lrs: list[float] = []
    for k in range(rounds):
        sched.step(aggregated(k, world_size))
        lrs.extend([opt.param_groups[0]["lr"]] * EVERY)
    return lrs


def rank_job(make_client: Callable[[], lrcast.Client], run_id: str, rank: int,
             world_size: int, rounds: int,
             between_rounds: Callable[[int, int], None] | None = None) -> list[float]:
    """One rank's training loop: ensure the run, then per round report its metric (blocking
    until the round is decided) and read the LR of every step up to the next round.
    `between_rounds(rank, k)` runs after round k (e.g. to kill a replica mid-job)."""
    client = make_client()
    try:
        run = client.run(run_id, schedule=PLATEAU_SPEC, world_size=world_size, rank=rank)
        seen: list[float] = []
        for k in range(rounds):
            run.report(k * EVERY, rank_value(k, rank, world_size))
            seen.extend(run.lr(step) for step in range(k * EVERY, (k + 1) * EVERY))
            if between_rounds is not None:
                between_rounds(rank, k)
        return seen
    finally:
        client.close()


def run_ranks(make_client: Callable[[int], lrcast.Client], run_id: str, world_size: int,
              rounds: int, between_rounds: Callable[[int, int], None] | None = None,
              ) -> Sequence[list[float]]:
    """Every rank's LR sequence, the ranks running concurrently (one thread each)."""
    with ThreadPoolExecutor(max_workers=world_size) as pool:
        futures = [pool.submit(rank_job, lambda r=rank: make_client(r), run_id, rank,
                               world_size, rounds, between_rounds)
                   for rank in range(world_size)]
        # the first rank to fail fails the job now, not when the others time out waiting
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()
        return [f.result() for f in futures]
