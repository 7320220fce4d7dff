"""Preview: a schedule evaluated without a run, with simulated reports fed to its plateau
part as the service would feed decided rounds (one aggregated value per round)."""

from __future__ import annotations

from typing import Any

from lrcast.schedules import PlateauHistory, Timeline

from .errors import Invalid
from .timeline import MAX_VALUES, build_run_schedule, evaluate_range, step_range

__all__ = ["preview"]


def preview(spec: dict[str, Any], steps: int | None, start: int, stop: int | None,
            stride: int, reports: list[tuple[int, float]]) -> dict[str, Any]:
    """LRs (and momenta) of `spec` for ``range(steps)`` or ``range(start, stop, stride)``,
    after `reports` ``(step, value)``."""
    schedule = build_run_schedule(spec)
    groups = schedule.num_groups
    if steps is not None:
        points = step_range(0, steps, 1, groups)
    elif stop is not None:
        points = step_range(start, stop, stride, groups)
    else:
        raise Invalid("steps", "give steps, or start and stop")
    if reports and schedule.plateau is None:
        raise Invalid("reports", "the schedule has no metric-driven part")
    if len(reports) * groups > MAX_VALUES:  # each report folds every group's LR
        raise Invalid("reports", f"at most {MAX_VALUES // groups} reports with {groups} "
                                 f"parameter groups")
    decisions = []
    if schedule.plateau is not None:
        state = schedule.plateau.initial(schedule.base_lrs)
        segment = Timeline.single(schedule).segments[0]  # on the spec's clock
        for step, value in sorted(reports, key=lambda r: r[0]):
            if not segment.folds_at(step):
                continue  # as the service: a round before the plateau part is inactive
            new = schedule.plateau.step(state, value)
            if new.lrs != state.lrs:
                decisions.append((step, new.lrs))
            state = new
    return evaluate_range(Timeline.single(schedule, PlateauHistory(decisions)), points)
