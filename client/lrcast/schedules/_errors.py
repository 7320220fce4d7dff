"""Errors raised by the schedule engine."""

from __future__ import annotations


class ScheduleError(ValueError):
    """Base class: a spec that cannot be built, or a step it cannot answer."""


class SpecError(ScheduleError):
    """An invalid spec; `path` names the field, e.g. ``schedulers[1].T_max``."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


class StepOutOfRange(ScheduleError):
    """The step lies where PyTorch itself would raise (e.g. OneCycleLR past total_steps)."""

    def __init__(self, step: int, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"step {step}: {reason}")
