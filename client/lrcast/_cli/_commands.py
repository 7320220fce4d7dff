"""The client subcommands (``runs list``/``runs show``, ``lr``, ``amend``, ``cooldown``,
``rewind``, ``membership``, ``events``): each talks to the service through `lrcast.Client`
and prints a table, or JSON with ``--json``. Registered on the ``lrcast`` app by `add_commands`."""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Annotated, Any
from urllib.parse import quote

import typer

from .._types import Request
from ._common import Connection, UsageError, client_command
from ._output import facts, fmt, load_spec, print_json, table, waiting

__all__ = ["add_commands"]

RunId = Annotated[str, typer.Argument(metavar="ID", help="The run id.", show_default=False)]
Step = Annotated[int, typer.Argument(metavar="STEP", min=0, help="A training step (0 or more).",
                                     show_default=False)]


class DecayType(enum.StrEnum):
    """The decay shapes of transformers' warmup_stable_decay."""

    linear = "linear"
    cosine = "cosine"
    one_minus_sqrt = "1-sqrt"


def _run_path(run_id: str, suffix: str = "") -> str:
    return f"/v1/runs/{quote(run_id, safe='')}{suffix}"


def _when(t: Any) -> str:
    if not isinstance(t, (int, float)):
        return fmt(t)
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


# runs ------------------------------------------------------------------------------------

def runs_list(
    conn: Connection,
    limit: Annotated[int, typer.Option(min=1, help="Runs per page.")] = 50,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow every page.")] = False,
) -> None:
    """List the runs, in the service's order; --all follows every page."""
    with conn.client() as client, waiting("listing runs"):
        runs: list[dict[str, Any]] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if after is not None:
                params["after"] = after
            page = client.send(Request("GET", "/v1/runs", params=params))
            runs.extend(page.get("runs", []))
            after = page.get("next")
            if not all_pages or not after:
                break
    if conn.json:
        print_json({"runs": runs, "next": None if all_pages else after})
        return
    table(None, ["run", "world size", "aggregate", "version", "created", "metadata"],
          [[r["run_id"], r["world_size"], r["aggregate"], r["version"], _when(r["created_at"]),
            json.dumps(r.get("metadata") or {}) if r.get("metadata") else ""] for r in runs])
    if not runs:
        print("no runs")
    elif after and not all_pages:
        print(f"more runs: lrcast runs list --all (or --limit {limit * 2})")


def runs_show(conn: Connection, run_id: RunId) -> None:
    """One run: its schedule, amendments, plateau state, pending rounds and rank progress
    (and the suggested LR of an LR range test)."""
    with conn.client() as client:
        run = client.send(Request("GET", _run_path(run_id)))
        suggestion = None
        if (run.get("schedule") or {}).get("type") == "LRRangeTest":
            suggestion = client.send(Request("GET", _run_path(run_id, "/suggestion")))
    if conn.json:
        print_json(run if suggestion is None else {**run, "suggestion": suggestion})
        return
    spec = run.get("schedule", {})
    pairs = [("schedule", spec.get("type", "?")), ("spec", json.dumps(spec)),
             ("world size", run.get("world_size")), ("aggregate", run.get("aggregate")),
             ("version", run.get("version")), ("created", _when(run.get("created_at"))),
             ("metric driven", "yes" if run.get("metric_driven") else "no")]
    if run.get("metric_driven"):
        pairs.append(("last decided round", fmt(run.get("last_decided_step"))))
    pairs.append(("amendments allowed from step", fmt(run.get("min_amendment_step"))))
    if run.get("metadata"):
        pairs.append(("metadata", json.dumps(run["metadata"])))
    facts(f"run {run.get('run_id', run_id)}", pairs)
    segments = run.get("timeline") or []
    if len(segments) > 1:
        table("timeline", ["from step", "origin", "scale", "schedule", "decisions"],
              [[s.get("from_step"), s.get("origin"), fmt(s.get("scale")),
                json.dumps(s.get("schedule")), len(s.get("decisions") or [])] for s in segments])
    progress = run.get("progress") or []
    if progress:
        table("progress", ["rank", "step"], [[p["rank"], p["step"]] for p in progress])
    if suggestion is not None:
        state = (f"diverged at step {suggestion['stopped_at']}" if suggestion["diverged"]
                 else "complete" if suggestion["done"] else "running")
        print(f"LR range test: {state}; suggested lr {fmt(suggestion['suggested_lr'])} "
              f"(steepest descent of the smoothed loss over {len(suggestion['lrs'])} steps)")
    for pending in run.get("pending_rounds") or []:
        print(f"round at step {pending['step']} waits for ranks "
              f"{', '.join(map(str, pending['missing_ranks']))} "
              f"({pending['received']}/{pending['expected']} reported)")


# queries and changes ---------------------------------------------------------------------

def lr(
    conn: Connection, run_id: RunId, step: Step,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for a pending plateau "
                                                    "round.")] = 0.0,
) -> None:
    """The LR of a run at a step: every parameter group's, and the momentum where it cycles."""
    params: dict[str, Any] = {"step": step}
    if wait:
        params["wait"] = wait
    with conn.client() as client, waiting(f"waiting up to {wait:g}s for step {step}"):
        data = client.send(Request("GET", _run_path(run_id, "/lr"), params=params, wait=wait))
    if conn.json:
        print_json(data)
        return
    print(fmt(data["lr"]))
    if len(data.get("lrs") or []) > 1:
        print("groups: " + ", ".join(fmt(x) for x in data["lrs"]))
    if data.get("momentum") is not None:
        print(f"momentum: {fmt(data['momentum'])}")


def _post_amendment(conn: Connection, run_id: str, body: dict[str, Any]) -> Any:
    """POST the amendment; its answer, or None once printed as JSON (``--json``)."""
    with conn.client() as client:
        data = client.send(Request("POST", _run_path(run_id, "/amendments"), json=body))
    if conn.json:
        print_json(data)
        return None
    return data


def amend(
    conn: Connection, run_id: RunId,
    from_step: Annotated[int, typer.Option(min=0, metavar="S", show_default=False,
                                           help="The first step the change applies to.")],
    spec: Annotated[str | None, typer.Argument(
        metavar="SPEC", help="The new schedule: a .json or .yaml file, or - for stdin.",
        show_default=False)] = None,
    scale: Annotated[float | None, typer.Option(
        metavar="X", help="Multiply the schedule in force by X instead of a new SPEC.")] = None,
) -> None:
    """Change a run's schedule from a step on: a new SPEC, or --scale to multiply it."""
    if (spec is None) == (scale is None):
        raise UsageError("give either a SPEC file or --scale FACTOR")
    body: dict[str, Any] = {"from_step": from_step}
    if spec is not None:
        body["schedule"] = load_spec(spec)
    else:
        body["scale"] = scale
    data = _post_amendment(conn, run_id, body)
    if data is None:
        return
    what = f"scaled by {fmt(scale)}" if scale is not None else "new schedule"
    print(f"run {run_id} amended from step {from_step} ({what}); "
          f"version {data.get('version')}")


def cooldown(
    conn: Connection, run_id: RunId,
    steps: Annotated[int, typer.Option(min=1, metavar="N", show_default=False,
                                       help="Length of the decay, in steps.")],
    from_step: Annotated[int | None, typer.Option(
        min=0, metavar="S", show_default=False,
        help="The first step of the decay [default: the first step an amendment may take].")
    ] = None,
    decay_type: Annotated[DecayType, typer.Option(
        help="The shape of transformers' warmup_stable_decay decay.")] = DecayType.linear,
    min_lr_ratio: Annotated[float, typer.Option(
        min=0.0, max=1.0, metavar="R", help="End at R x the LR in force at S.")] = 0.0,
) -> None:
    """Anneal a run now: from step S each group's LR there decays to R x it in N steps."""
    body: dict[str, Any] = {"cooldown": {"steps": steps, "decay_type": decay_type.value,
                                         "min_lr_ratio": min_lr_ratio}}
    if from_step is not None:
        body["from_step"] = from_step
    data = _post_amendment(conn, run_id, body)
    if data is None:
        return
    print(f"run {run_id} cools down from step {data.get('from_step')} over {steps} steps "
          f"({decay_type.value}, to {fmt(min_lr_ratio)} x); version {data.get('version')}")


def rewind(
    conn: Connection, run_id: RunId, step: Step,
    resume_id: Annotated[str | None, typer.Option(
        help="The same id for every rank resuming together.")] = None,
) -> None:
    """Tell the service the job resumed from a checkpoint at STEP (idempotent)."""
    body: dict[str, Any] = {"to_step": step}
    if resume_id:
        body["resume_id"] = resume_id
    with conn.client() as client:
        data = client.send(Request("POST", _run_path(run_id, "/rewind"), json=body))
    if conn.json:
        print_json(data)
        return
    state = "rewound" if data.get("applied", True) else "already rewound"
    print(f"run {run_id} {state} to step {step}; version {data.get('version')}")


def membership(
    conn: Connection, run_id: RunId,
    world_size: Annotated[int, typer.Option(min=1, help="Ranks of the new generation.",
                                            show_default=False)],
    from_step: Annotated[int, typer.Option(min=0, help="The checkpoint's step it resumes from.",
                                           show_default=False)],
    epoch: Annotated[int, typer.Option(min=0, help="The new generation's membership epoch "
                                       "(greater than the run's).", show_default=False)],
) -> None:
    """Change a run's membership: the job resumed from FROM_STEP with WORLD_SIZE ranks
    (idempotent per epoch; implies the rewind to FROM_STEP and discards open rounds)."""
    body = {"world_size": world_size, "from_step": from_step, "epoch": epoch}
    with conn.client() as client:
        data = client.send(Request("POST", _run_path(run_id, "/membership"), json=body))
    if conn.json:
        print_json(data)
        return
    print(f"run {run_id}: membership epoch {data.get('epoch')}, {data.get('world_size')} "
          f"rank(s) from step {data.get('from_step')}")


def events(conn: Connection, run_id: RunId) -> None:
    """A run's history: created, plateau decisions, amendments, rewinds."""
    events: list[dict[str, Any]] = []
    with conn.client() as client:
        after = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if after is not None:
                params["after"] = after
            page = client.send(Request("GET", _run_path(run_id, "/events"), params=params))
            events.extend(page.get("events", []))
            after = page.get("next")
            if after is None or not page.get("events"):
                break
    if conn.json:
        print_json({"events": events})
        return
    table(f"events of {run_id}", ["#", "time", "event", "step", "details"],
          [[e["id"], _when(e.get("time")), e.get("kind"), _event_step(e), _event_details(e)]
           for e in events])


def _event_step(event: dict[str, Any]) -> Any:
    data = event.get("data") or {}
    for key in ("step", "from_step", "to_step"):
        if key in data:
            return data[key]
    return ""


def _event_details(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    if event.get("kind") == "decision":  # the fields of core/rounds.py's decision event
        old, new = _first(data.get("old_lrs")), _first(data.get("new_lrs"))
        if not data.get("folded"):
            change = "round decided (the plateau rule is not active there)"
        elif data.get("reduced"):
            change = f"lr {fmt(old)} -> {fmt(new)}"
        else:
            change = f"lr stays {fmt(new)}"
        value = data.get("value")
        return change + (f"; metric {fmt(value)}" if value is not None else "")
    shown = {k: v for k, v in data.items() if k not in ("step", "from_step", "to_step")}
    return json.dumps(shown) if shown else ""


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def add_commands(app: typer.Typer) -> None:
    """Add the client subcommands to the ``lrcast`` app."""
    runs = typer.Typer(help="List or show runs.", no_args_is_help=True)
    runs.command("list")(client_command(runs_list))
    runs.command("show")(client_command(runs_show))
    app.add_typer(runs, name="runs")
    for command in (lr, amend, cooldown, rewind, membership, events):
        app.command()(client_command(command))
