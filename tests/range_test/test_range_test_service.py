"""The LR range test end to end against a real service: ranks report the training loss at
every step, the service stops the test when the smoothed loss diverges (torch-lr-finder's
rule) and ``/suggestion`` returns the LR at the steepest descent with the loss-vs-LR curve."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import lrcast

SPEC = {"type": "LRRangeTest", "lr": 1e-7, "end_lr": 10, "num_iter": 120}


def synthetic_loss(lr: float, rank: int = 0) -> float:
    """A training loss vs LR as range tests show it: flat, a descent around 1e-3, a valley,
    then an explosion past 1e-1; each rank sees a slightly different batch."""
    x = math.log10(lr)
    descent = 1.5 / (1.0 + math.exp(-3.0 * (x + 3.0)))
    explosion = math.exp(4.0 * (x + 0.7)) if x > -2.5 else 0.0
    return 3.0 - descent + explosion + 0.02 * rank


def torch_lr_finder_reference(lrs: list[float], losses: list[float], smooth_f: float = 0.05,
                              diverge_th: float = 5, skip_start: int = 10,
                              skip_end: int = 5) -> tuple[float, int]:
    """torch-lr-finder's range_test loop and plot(suggest_lr=True), written from its source
    with numpy (independent of the engine's helper): (suggested lr, points kept)."""
    hist_lr: list[float] = []
    hist_loss: list[float] = []
    best = math.inf
    for i, (lr, loss) in enumerate(zip(lrs, losses, strict=True)):
        if i == 0:
            best = loss
        else:
            loss = smooth_f * loss + (1 - smooth_f) * hist_loss[-1]
            best = min(best, loss)
        hist_lr.append(lr)
        hist_loss.append(loss)
        if loss > diverge_th * best:
            break
    kept = len(hist_loss)
    window = np.array(hist_loss[skip_start:-skip_end] if skip_end else hist_loss[skip_start:])
    index = skip_start + int(np.gradient(window).argmin())
    return hist_lr[index], kept


def sweep(http: Any, run_id: str, world_size: int) -> tuple[list[float], list[float], int]:
    """Every rank asks the LR and reports its loss, step by step, until the service says the
    test stopped. Returns the LRs, the mean losses of the decided rounds, and the 409 step."""
    lrs, means = [], []
    for step in range(SPEC["num_iter"]):
        lr = http.get(f"/v1/runs/{run_id}/lr", params={"step": step}).json()["lr"]
        losses = [synthetic_loss(lr, rank) for rank in range(world_size)]
        for rank, loss in enumerate(losses):
            answer = http.post(f"/v1/runs/{run_id}/reports",
                               json={"step": step, "value": loss, "rank": rank})
            if answer.status_code == 409:
                assert answer.json()["code"] == "range_test_stopped"
                return lrs, means, step
            assert answer.status_code == 200, answer.text
        lrs.append(lr)
        means.append(math.fsum(losses) / world_size)
    return lrs, means, -1


def test_two_ranks_sweep_until_divergence_and_get_torch_lr_finders_suggestion(
        service: Any) -> None:
    with service.client() as http:
        assert http.put("/v1/runs/sweep-2", json={"schedule": SPEC, "world_size": 2}
                        ).status_code == 201
        lrs, means, refused_at = sweep(http, "sweep-2", 2)
        result = http.get("/v1/runs/sweep-2/suggestion").json()

    expected_lr, kept = torch_lr_finder_reference(lrs, means)
    assert result["diverged"] is True and result["done"] is True
    assert result["stopped_at"] == kept - 1  # the step whose loss diverged
    assert refused_at == result["stopped_at"] + 1  # the next report was refused
    assert refused_at < SPEC["num_iter"]
    assert result["suggested_lr"] == pytest.approx(expected_lr, rel=1e-12)
    assert 1e-4 < result["suggested_lr"] < 1e-2  # the descent of the synthetic curve
    assert result["lrs"] == pytest.approx(lrs[:kept])
    assert result["losses"] == pytest.approx(means[:kept])
    assert len(result["smoothed"]) == kept and result["steps"] == list(range(kept))
    assert result["lrs"][result["suggested_step"]] == result["suggested_lr"]


def test_rounds_show_each_ranks_loss_and_the_spread(service: Any) -> None:
    with service.client() as http:
        http.put("/v1/runs/spread", json={"schedule": SPEC, "world_size": 3, "aggregate": "max"})
        for rank, value in ((0, 2.0), (1, 2.5), (2, 1.5)):
            http.post("/v1/runs/spread/reports", json={"step": 0, "value": value, "rank": rank})
        http.post("/v1/runs/spread/reports", json={"step": 1, "value": 1.0, "rank": 1})
        page = http.get("/v1/runs/spread/rounds").json()
    first, second = page["rounds"]
    assert first == {"step": 0, "decided": True, "value": 2.5, "received": 3, "expected": 3,
                     "reports": {"0": 2.0, "1": 2.5, "2": 1.5}, "min": 1.5, "max": 2.5}
    assert second["decided"] is False and second["value"] is None
    assert second["reports"] == {"1": 1.0}
    assert page["aggregate"] == "max" and page["next"] is None


def test_suggestion_is_only_for_range_tests(service: Any) -> None:
    with service.client() as http:
        http.put("/v1/runs/not-a-sweep", json={"schedule": {"type": "StepLR", "lr": 0.1,
                                                            "step_size": 10}})
        answer = http.get("/v1/runs/not-a-sweep/suggestion")
        assert answer.status_code == 409 and answer.json()["code"] == "not_range_test"
        # the report route's exception for range tests leaves other schedules as they were
        report = http.post("/v1/runs/not-a-sweep/reports", json={"step": 0, "value": 1.0})
        assert report.status_code == 409 and report.json()["code"] == "not_metric_driven"
        assert http.get("/v1/runs/nope/suggestion").status_code == 404
        assert http.get("/v1/runs/nope/rounds").status_code == 404


def test_a_fresh_range_test_has_no_suggestion_yet(service: Any) -> None:
    with service.client() as http:
        http.put("/v1/runs/fresh", json={"schedule": SPEC})
        result = http.get("/v1/runs/fresh/suggestion").json()
    assert result["suggested_lr"] is None and result["done"] is False
    assert result["num_iter"] == SPEC["num_iter"] and result["lrs"] == []


def test_training_loop_with_the_client_library_stops_at_divergence(service: Any) -> None:
    """What a user writes: ask the LR, train, report the loss, stop when the service says."""
    client = lrcast.Client(service.url, retries=lrcast.Retries(attempts=2, backoff=0.01))
    with client:
        run = client.run("client-sweep", SPEC, world_size=1, rank=0)
        stopped = None
        for step in range(SPEC["num_iter"]):
            lr = run.lr(step)
            try:
                run.report(step, synthetic_loss(lr))
            except lrcast.errors.RangeTestStopped as exc:
                assert exc.code == "range_test_stopped"
                stopped = step
                break
    with service.client() as http:
        result = http.get("/v1/runs/client-sweep/suggestion").json()
    assert stopped is not None and stopped == result["stopped_at"] + 1
    lrs = [lrcast.schedules.parse(SPEC).lr(k) for k in range(stopped)]
    expected, _ = torch_lr_finder_reference(lrs, [synthetic_loss(lr) for lr in lrs])
    assert result["suggested_lr"] == pytest.approx(expected, rel=1e-12)
