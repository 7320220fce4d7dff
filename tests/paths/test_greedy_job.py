"""A two-rank job on a ``greedy`` schedule: the service aggregates each round's values,
decides once, and every rank's LRs are transformers' GreedyLR fed the aggregated values."""

from __future__ import annotations

import math
import threading
import uuid

import pytest

import lrcast
from tests.support import LRCastServer

torch = pytest.importorskip("torch", reason="the reference needs torch")
pytest.importorskip("transformers", reason="the reference needs transformers")
from transformers import get_scheduler  # noqa: E402

KWARGS = {"factor": 0.5, "patience": 1, "min_lr": 0.002, "max_lr": 0.08, "reset_start": 2,
          "smooth": True, "window_size": 2, "warmup": 1}
SPEC = {"type": "greedy", "lr": [0.01, 0.001], **KWARGS}
ROUNDS = [(4 * k + 3, k) for k in range(25)]


def rank_value(rank: int, k: int) -> float:
    """Ranks disagree; their mean improves, stalls, improves and worsens."""
    trend = 1.0 / (1 + k) if k < 8 else 0.3 if k < 14 else 0.3 / (k - 12) if k < 19 else k
    return trend + (0.05 if rank else -0.05) * math.cos(k)


def test_every_rank_sees_greedy_lr_fed_the_mean(service: LRCastServer) -> None:
    run_id = f"greedy-{uuid.uuid4().hex[:12]}"
    lrs: dict[int, list[list[float]]] = {}

    def rank(r: int) -> None:
        with lrcast.Client(service.url) as client:
            run = client.run(run_id, SPEC, world_size=2, rank=r, aggregate="mean")
            seen = []
            for step, k in ROUNDS:
                run.report(step, rank_value(r, k))
                seen.append(run.lrs(step))
            lrs[r] = seen

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(2)]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, SPEC["lr"],
                                                                        strict=True)], lr=0.01)
    ref = get_scheduler("greedy", opt, scheduler_specific_kwargs=KWARGS)
    expected = []
    for _, k in ROUNDS:
        ref.step(math.fsum([rank_value(0, k), rank_value(1, k)]) / 2)
        expected.append([g["lr"] for g in opt.param_groups])
    assert lrs[0] == lrs[1] == expected
    assert len({tuple(x) for x in expected}) > 3  # the LRs rose, fell and reset
