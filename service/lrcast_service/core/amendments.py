"""Amendments: from a step on, a new schedule, a scale of the one in force, or a cooldown.

A new schedule starts at its own step 0 at `from_step` (as a SequentialLR member does) with
a fresh plateau state; a scale multiplies the schedule in force there, and scales compound
(0.5 then 0.5 is 0.25); a cooldown is the new schedule ``Cooldown`` (the decay phase of
transformers' warmup_stable_decay, in the engine) started from the LRs in force at
`from_step`. Each replaces every segment from `from_step` on. Refused below the amendment
floor (`frontier.min_amendment_step`): those LRs may already be in use. An omitted
`from_step` is that floor: the first step an amendment may take.
"""

from __future__ import annotations

import math
from typing import Any

from .changes import Change
from .errors import AmendmentTooEarly, Invalid, RoundPending
from .frontier import barrier, min_amendment_step
from .record import Instance, RunRecord
from .timeline import (
    build_schedule,
    build_timeline,
    check_amendment_clock,
    evaluate,
    schedule_of,
    segment_at,
)

__all__ = ["amend", "check_amendment", "cooldown_spec"]


def check_amendment(spec: dict[str, Any] | None, scale: float | None,
                    cooldown: dict[str, Any] | None = None) -> None:
    """What can be refused before reading the run: exactly one of spec, scale or cooldown,
    and a spec the engine builds (a cooldown's fields are the API model's to check)."""
    if sum(x is not None for x in (spec, scale, cooldown)) != 1:
        raise Invalid("schedule", "give exactly one of schedule, scale or cooldown")
    if spec is not None:
        build_schedule(spec)


def cooldown_spec(lrs: list[float], cooldown: dict[str, Any]) -> dict[str, Any]:
    """The engine's ``Cooldown`` spec that decays `lrs` as the API's `cooldown` asks
    (``steps``, ``decay_type``, ``min_lr_ratio``)."""
    return {"type": "Cooldown", "lr": list(lrs), "num_decay_steps": cooldown["steps"],
            "decay_type": cooldown.get("decay_type", "linear"),
            "min_lr_ratio": cooldown.get("min_lr_ratio", 0.0)}


def amend(rec: RunRecord, from_step: int | None, spec: dict[str, Any] | None,
          scale: float | None, cooldown: dict[str, Any] | None = None) -> Change:
    """The change that puts the amendment in force from `from_step` on (its
    `replace_segments_from`: the floor when `from_step` is None)."""
    check_amendment(spec, scale, cooldown)
    floor = min_amendment_step(rec)
    from_step = floor if from_step is None else from_step
    if from_step < floor:
        raise AmendmentTooEarly(floor, from_step)
    if cooldown is not None:  # decays the LRs in force at from_step: they must be decided
        pending = barrier(rec)
        if pending is not None and pending <= from_step:
            got = rec.open_rounds[pending].reports
            raise RoundPending(pending, [r for r in range(rec.world_size) if r not in got])
        lrs, _ = evaluate(build_timeline(rec), from_step)
        spec = cooldown_spec(lrs, cooldown)
    if spec is not None:
        check_amendment_clock(rec, spec)
        groups = schedule_of(spec).num_groups
        run_groups = schedule_of(rec.spec).num_groups  # every instance has the run's groups
        if groups != run_groups:
            raise Invalid("schedule.lr", f"has {groups} parameter group(s); the run has "
                                         f"{run_groups}")
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
    event = {"from_step": from_step, "schedule": spec, "scale": scale,
             "scale_in_force": new_scale, "instance": idx}
    if cooldown is not None:
        event["cooldown"] = cooldown
    change.events.append(("amendment", event))
    change.run["version"] = rec.version + 1
    return change
