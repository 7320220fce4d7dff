"""The LR range test (torch-lr-finder's sweep, schedule type ``LRRangeTest``).

Such a run takes the training loss as a report at every step. The decided rounds' aggregated
losses, paired with the LR of their step, go through the engine's `suggest_lr`
(torch-lr-finder's smoothing, divergence stop and steepest-descent suggestion). Once the
smoothed loss has diverged the test is over: a report past that step is `RangeTestStopped`,
which is how the training loop learns to stop.
"""

from __future__ import annotations

import math
from typing import Any

from lrcast.schedules import StepOutOfRange, Timeline, suggest_lr

from .errors import RangeTestStopped

__all__ = ["RANGE_TEST", "analyse", "check_not_stopped", "is_range_test"]

RANGE_TEST = "LRRangeTest"


def is_range_test(spec: dict[str, Any]) -> bool:
    return spec.get("type") == RANGE_TEST


def analyse(run_id: str, timeline: Timeline, decided: list[tuple[int, float]], *,
            smooth_f: float = 0.05, diverge_th: float = 5, skip_start: int = 10,
            skip_end: int = 5) -> dict[str, Any]:
    """The suggestion from the decided rounds ``(step, aggregated loss)`` in step order."""
    steps, lrs, losses = [], [], []
    for step, value in decided:
        try:
            lr = float(timeline.lr(step))
        except StepOutOfRange:  # past the sweep (the engine raises there): not part of the test
            break
        if not math.isfinite(lr) or lr <= 0:
            continue
        steps.append(step)
        lrs.append(lr)
        losses.append(value)
    result = suggest_lr(lrs, losses, smooth_f=smooth_f, diverge_th=diverge_th,
                        skip_start=skip_start, skip_end=skip_end)
    kept = len(result.losses)
    num_iter = int(getattr(timeline.segments[0].schedule, "num_iter", 0) or 0)
    stopped_at = steps[kept - 1] if result.diverged else None
    return {
        "run_id": run_id,
        "suggested_lr": result.lr,
        "suggested_step": steps[result.index] if result.index is not None else None,
        "best_loss": result.best_loss, "diverged": result.diverged, "stopped_at": stopped_at,
        "done": result.diverged or (bool(steps) and steps[-1] >= num_iter - 1),
        "num_iter": num_iter, "steps": steps[:kept], "lrs": list(result.lrs),
        "losses": losses[:kept], "smoothed": list(result.losses),
    }


def check_not_stopped(analysis: dict[str, Any], step: int) -> None:
    """`RangeTestStopped` for a report past the step where the test diverged."""
    stopped = analysis["stopped_at"]
    if stopped is not None and step > stopped:
        raise RangeTestStopped(step, stopped, analysis["suggested_lr"])
