"""Amendments: from a step on, a new schedule or a scale of the one in force.

A new schedule starts at its own step 0 at `from_step` (as a SequentialLR member does) with
a fresh plateau state; a scale multiplies the schedule in force there, and scales compound
(0.5 then 0.5 is 0.25). Either replaces every segment from `from_step` on. Refused below the
amendment floor (`frontier.min_amendment_step`): those LRs may already be in use.
"""

from __future__ import annotations

import math
from typing import Any

from .changes import Change
from .errors import AmendmentTooEarly, Invalid
from .frontier import min_amendment_step
from .record import Instance, RunRecord
from .timeline import build_schedule, schedule_of, segment_at

__all__ = ["amend", "check_amendment"]


def check_amendment(spec: dict[str, Any] | None, scale: float | None) -> None:
    """What can be refused before reading the run: exactly one of spec or scale, and a spec
    the engine builds."""
    if (spec is None) == (scale is None):
        raise Invalid("schedule", "give exactly one of schedule or scale")
    if spec is not None:
        build_schedule(spec)


def amend(rec: RunRecord, from_step: int, spec: dict[str, Any] | None,
          scale: float | None) -> Change:
    """The change that puts the amendment in force from `from_step` on."""
    check_amendment(spec, scale)
    if spec is not None:
        groups = schedule_of(spec).num_groups
        run_groups = schedule_of(rec.spec).num_groups  # every instance has the run's groups
        if groups != run_groups:
            raise Invalid("schedule.lr", f"has {groups} parameter group(s); the run has "
                                         f"{run_groups}")
    floor = min_amendment_step(rec)
    if from_step < floor:
        raise AmendmentTooEarly(floor, from_step)
    _, in_force, old_scale = segment_at(rec, from_step)
    change = Change()
    if spec is not None:
        idx, new_scale = max(rec.instances) + 1, 1.0
        change.new_instances.append(Instance(idx, from_step, spec))
    else:
        idx, new_scale = in_force, old_scale * float(scale or 1.0)
        if not math.isfinite(new_scale) or new_scale <= 0:
            raise Invalid("scale", "the compounded scale must be a positive finite number")
    change.replace_segments_from = from_step
    change.segments.append((from_step, idx, new_scale))
    change.events.append(("amendment", {"from_step": from_step, "schedule": spec,
                                        "scale": scale, "scale_in_force": new_scale,
                                        "instance": idx}))
    change.run["version"] = rec.version + 1
    return change
