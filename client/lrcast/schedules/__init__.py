"""The schedule engine: specs (JSON) to pure functions of the step, identical to PyTorch.

>>> from lrcast.schedules import parse
>>> sched = parse({"type": "StepLR", "lr": 0.1, "step_size": 2, "gamma": 0.5})
>>> [sched.lr(k) for k in range(5)]
[0.1, 0.1, 0.05, 0.05, 0.025]
"""

from ._base import LRs, Schedule
from ._clock import CLOCKS, SCALINGS, ClockSchedule, Consumption
from ._context import MAX_DEPTH
from ._errors import ScheduleError, SpecError, StepOutOfRange
from ._examples import example_specs
from ._plateau import PlateauHistory, PlateauRule, PlateauState, fold_reports
from ._range_test import RangeTestSuggestion, suggest_lr
from ._registry import parse, schedule_types
from ._timeline import Segment, Timeline
from ._types import MAX_GROUPS

__all__ = [
    "CLOCKS",
    "SCALINGS",
    "MAX_DEPTH",
    "MAX_GROUPS",
    "ClockSchedule",
    "Consumption",
    "LRs",
    "PlateauHistory",
    "PlateauRule",
    "PlateauState",
    "RangeTestSuggestion",
    "ScheduleError",
    "Schedule",
    "Segment",
    "SpecError",
    "StepOutOfRange",
    "Timeline",
    "example_specs",
    "fold_reports",
    "parse",
    "schedule_types",
    "suggest_lr",
]
