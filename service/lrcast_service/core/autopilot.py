"""The autopilot: loss-spike detection and the one rewind directive it issues.

Ranks send their training loss in batches; a step's loss is the mean over ranks once every
rank sent it. The rule (`spike_start`) is robust to noise: the loss of step i is compared
with the median m and the median absolute deviation MAD of the `window` complete steps
before it, z = (x - m) / max(1.4826 * MAD, 1e-3 * |m|, 1e-12) (1.4826 * MAD estimates the
standard deviation of normal noise; the floor keeps a flat curve from dividing by zero); a
spike is `consecutive` steps in a row with z > `threshold`, and it began at the first of
them. Nothing is tested before `window` complete steps exist.

On a spike in ``act`` mode the service issues ONE directive: rewind to the latest announced
checkpoint before the spike began, skip `skip_batches` batches, scale the LR by `lr_scale`
from there. Every rank receives it at the same step, `at_step`: the first step beyond what
any rank was served or leased (the persisted frontier), as a 409 ``rewind`` on its next LR
or lease call at or past it; leases never reach past it. The first acknowledgement (a
rewind to `to_step` with ``resume_id`` = the directive's id) rewinds the run and amends it
by the scale from `to_step`, in one transaction; later ones count the rank. After the
rewind, the first `window` complete steps past `to_step` tell whether the loss recovered.
In ``alert`` mode a spike is only an event (and a Prometheus counter).
"""

from __future__ import annotations

import statistics
import uuid
from dataclasses import replace
from typing import Any

from . import amendments, rewind
from .changes import Change, History
from .errors import Invalid, RunConflict
from .record import RunRecord

__all__ = ["DEFAULT_SPIKE", "acknowledge", "blocking_directive", "checkpoint", "log_losses",
           "scan", "set_policy"]

#: the defaults of ``"autopilot": {"spike": {...}}`` (the API model repeats them for /docs)
DEFAULT_SPIKE = {"window": 50, "threshold": 6.0, "consecutive": 3, "lr_scale": 0.5,
                 "skip_batches": 200}


def scan(means: list[tuple[int, float]], first: int, window: int, threshold: float,
         consecutive: int) -> tuple[int | None, int]:
    """Judge the complete steps of `means` ((step, mean loss), sorted) from index `first`
    on, each against the `window` steps before it: (the step the first spike began at, or
    None; the index of the first step to judge again next time: past the spike, or the start
    of a run of high steps still too short to tell)."""
    run_start: int | None = None
    for i in range(max(first, window), len(means)):
        trailing = [v for _, v in means[i - window:i]]
        median = statistics.median(trailing)
        mad = statistics.median([abs(v - median) for v in trailing])
        scale = max(1.4826 * mad, 1e-3 * abs(median), 1e-12)
        if (means[i][1] - median) / scale > threshold:
            run_start = i if run_start is None else run_start
            if i - run_start + 1 >= consecutive:
                return means[run_start][0], i + 1
        else:
            run_start = None
    return None, len(means) if run_start is None else run_start


def policy_of(rec: RunRecord) -> dict[str, Any]:
    """The run's spike policy with the defaults filled in."""
    return {**DEFAULT_SPIKE, **((rec.autopilot or {}).get("spike") or {})}


def set_policy(rec: RunRecord, policy: dict[str, Any] | None) -> Change:
    """The run's autopilot policy, given at creation (an identical PUT is a no-op, a
    different one 409 run_conflict naming ``autopilot``; a PUT without one changes nothing)."""
    change = Change(record=rec)
    if policy is None or rec.autopilot == policy:
        return change
    if rec.autopilot is not None:
        raise RunConflict(rec.run_id, ["autopilot"])
    change.autopilot = {"policy": policy, "state": rec.autopilot_state}
    change.record = None
    return change


def checkpoint(rec: RunRecord, history: History, step: int) -> tuple[Change, bool]:
    """(the change, new): the job saved a checkpoint at `step` (idempotent)."""
    if history.latest_checkpoint(step + 1) == step:
        return Change(record=rec), False
    change = Change()
    change.new_checkpoints.append(step)
    change.events.append(("checkpoint", {"step": step}))
    return change, True


def log_losses(rec: RunRecord, history: History, rank: int,
               points: list[tuple[int, float]]) -> tuple[Change, list[str]]:
    """Record one rank's losses (a repeated point is kept once, the first value) and judge
    the steps every rank has now sent: (the change, the kinds of the events it raised)."""
    if rank >= rec.world_size:
        raise Invalid("rank", f"must be in 0..{rec.world_size - 1}")
    change = Change()
    if not points:
        return change, []
    steps = [s for s, _ in points]
    state = dict(rec.autopilot_state)
    checked = state.get("checked_until", -1)
    unjudged = history.losses(min(min(steps), checked + 1), max(steps))
    fresh: dict[int, float] = {}
    for step, value in points:
        if rank not in unjudged.get(step, {}) and step not in fresh:
            fresh[step] = value
            if step > checked:
                unjudged.setdefault(step, {})[rank] = value
    directive = state.get("directive")
    if directive is not None and rank not in directive["acks"]:  # an abandoned trajectory
        fresh = {s: v for s, v in fresh.items() if s <= directive["to_step"]}
        unjudged = {s: v for s, v in unjudged.items() if s <= directive["to_step"]}
    change.new_losses = [(s, rank, v) for s, v in sorted(fresh.items())]
    if rec.autopilot is None:
        return change, []
    policy, mode = policy_of(rec), rec.autopilot.get("mode", "alert")
    window = policy["window"]
    recent = [tuple(p) for p in state.get("recent", [])]
    complete = [(s, sum(v.values()) / len(v)) for s, v in sorted(unjudged.items())
                if s > checked and len(v) == rec.world_size]
    if not complete:
        return change, []
    means = recent + complete
    begun, resume = scan(means, len(recent), window, policy["threshold"],
                         policy["consecutive"])
    raised: list[str] = []
    watch = state.get("watch")
    if begun is not None:
        spike: dict[str, Any] = {"step": begun, "mode": mode}
        if watch is not None:  # the rewind did not help: said once, and no second directive
            change.events.append(("recovery", {"directive_id": watch["directive_id"],
                                               "recovered": False, "step": begun}))
            state["watch"] = None
            raised.append("recovery")
        elif mode == "act" and state.get("directive") is None:
            directive = _directive(rec, history, begun, policy)
            spike.update({"directive_id": directive["directive_id"]} if directive else
                         {"no_checkpoint": True})
            if directive is not None:
                state["directive"] = directive
        change.events.insert(0, ("spike", spike))
        raised.insert(0, "spike")
        if state.get("directive") and spike.get("directive_id"):
            change.events.insert(1, ("directive", state["directive"]))
            raised.insert(1, "directive")
    elif watch is not None and means[resume - 1][0] >= watch["until"]:
        change.events.append(("recovery", {"directive_id": watch["directive_id"],
                                           "recovered": True, "step": means[resume - 1][0]}))
        state["watch"] = None
        raised.append("recovery")
    if resume > 0:
        state["checked_until"] = max(checked, means[resume - 1][0])
        state["recent"] = [list(p) for p in means[:resume][-window:]]
    change.autopilot = {"policy": rec.autopilot, "state": state}
    return change, raised


def _directive(rec: RunRecord, history: History, begun: int,
               policy: dict[str, Any]) -> dict[str, Any] | None:
    """Rewind to the latest checkpoint before `begun`; None without one."""
    to_step = history.latest_checkpoint(begun)
    if to_step is None:
        return None
    return {"directive_id": uuid.uuid4().hex, "spike_step": begun, "to_step": to_step,
            "at_step": max(rec.frontier, to_step + 1), "skip_batches": policy["skip_batches"],
            "lr_scale": policy["lr_scale"], "acks": []}


def blocking_directive(rec: RunRecord, rank: int | None, step: int) -> dict[str, Any] | None:
    """The directive `rank` must act on before `step` (None: nothing stops it). Rank-less
    queries (inspection) are never stopped."""
    directive = rec.autopilot_state.get("directive")
    if directive is None or rank is None or rank in directive["acks"]:
        return None
    return directive if step >= directive["at_step"] else None


def acknowledge(rec: RunRecord, history: History, rank: int | None, to_step: int,
                directive_id: str) -> tuple[Change, bool] | None:
    """A rank resumed for the active directive: (the change, applied). The first
    acknowledgement rewinds the run and scales the LR from `to_step` in one change; each
    counts its rank (without a rank: every rank). None if `directive_id` is not the active
    directive (then it is a plain rewind)."""
    state = dict(rec.autopilot_state)
    directive = state.get("directive")
    if directive is None or directive["directive_id"] != directive_id:
        return None
    if to_step != directive["to_step"]:
        raise Invalid("to_step", f"directive {directive_id} rewinds to step "
                                 f"{directive['to_step']}")
    ranks = list(range(rec.world_size)) if rank is None else [rank]
    acks = sorted(set(directive["acks"]) | set(ranks))
    if acks == directive["acks"]:
        return Change(record=rec), False
    change = Change()
    if not directive["acks"]:
        change, _ = rewind.rewind(rec, history, to_step, directive_id)
        if directive["lr_scale"] != 1.0:  # amended on the run as the rewind leaves it
            rewound = replace(rec, frontier=to_step, last_round_step=None)
            scaled = amendments.amend(rewound, to_step, None, directive["lr_scale"])
            change.replace_segments_from = scaled.replace_segments_from
            change.segments = scaled.segments
            change.events += scaled.events
        state["checked_until"] = to_step
        state["recent"] = [p for p in state.get("recent", []) if p[0] <= to_step]
    change.events.append(("acknowledgement", {"directive_id": directive_id, "ranks": ranks,
                                              "to_step": to_step}))
    if len(acks) >= rec.world_size:
        state["directive"] = None
        state["watch"] = {"directive_id": directive_id,
                          "until": to_step + policy_of(rec)["window"]}
    else:
        state["directive"] = {**directive, "acks": acks}
    change.autopilot = {"policy": rec.autopilot, "state": state}
    return change, True
