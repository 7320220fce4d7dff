"""Schedules the service tests use (specs as users write them)."""

STEP = {"type": "StepLR", "lr": 0.1, "step_size": 10, "gamma": 0.5}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}
WARMUP_PLATEAU = {"type": "SequentialLR", "lr": 0.1, "milestones": [20], "schedulers": [
    {"type": "LinearLR", "start_factor": 0.1, "total_iters": 20},
    {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 1}]}


def run_body(schedule: dict = STEP, **extra: object) -> dict:
    return {"schedule": schedule, **extra}
