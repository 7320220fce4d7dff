"""The CLI's client subcommands: one function per subcommand, each talking to the service
through `lrcast.Client` and printing a table (or ``--json``)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from .. import errors
from .._types import Request
from ._output import (
    UsageError,
    facts,
    fmt,
    load_spec,
    print_json,
    save_png,
    sparkline,
    table,
    waiting,
)

#: exit codes: the service refused the request / bad local input or usage / unreachable
EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


def _client(args: argparse.Namespace) -> Any:
    """A `lrcast.Client` for `--url`/`--token` (defaults: LRCAST_URL, LRCAST_TOKEN), with few
    retries: a person at a terminal wants a quick, clear failure."""
    from .. import Client, Retries, Timeouts

    return Client(args.url, token=args.token, retries=Retries(attempts=2, backoff=0.2),
                  timeouts=Timeouts(connect=5.0, read=60.0))


def _run_path(run_id: str, suffix: str = "") -> str:
    return f"/v1/runs/{quote(run_id, safe='')}{suffix}"


def _when(t: Any) -> str:
    if not isinstance(t, (int, float)):
        return fmt(t)
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def guarded(command: Callable[[argparse.Namespace], int | None]) -> Callable[..., int]:
    """Turn errors into one clear line on stderr and a non-zero exit code."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(command(args) or 0)
        except UsageError as exc:
            print(f"lrcast: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except errors.AuthError as exc:
            print(f"lrcast: not authorized ({exc.message}); pass --token or set LRCAST_TOKEN",
                  file=sys.stderr)
            return EXIT_REFUSED
        except errors.ServiceUnavailable as exc:
            print(f"lrcast: cannot reach the service: {exc.message}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except errors.LRCastError as exc:
            extra = ""
            field = getattr(exc, "field", None)
            if isinstance(exc, errors.InvalidRequest) and field and field not in exc.message:
                extra = f" (field {exc.field})"
            if isinstance(exc, errors.AmendmentTooEarly) and exc.min_step is not None:
                extra = f" (the earliest allowed step is {exc.min_step})"
            print(f"lrcast: {exc.message}{extra}", file=sys.stderr)
            return EXIT_REFUSED

    run.__doc__ = command.__doc__
    return run


# runs ------------------------------------------------------------------------------------

@guarded
def cmd_runs_list(args: argparse.Namespace) -> None:
    """List runs (newest pages first, as the service orders them); --all follows every page."""
    with _client(args) as client, waiting("listing runs"):
        runs: list[dict[str, Any]] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": args.limit}
            if after is not None:
                params["after"] = after
            page = client.send(Request("GET", "/v1/runs", params=params))
            runs.extend(page.get("runs", []))
            after = page.get("next")
            if not args.all or not after:
                break
    if args.json:
        print_json({"runs": runs, "next": None if args.all else after})
        return
    table(None, ["run", "world size", "aggregate", "version", "created", "metadata"],
          [[r["run_id"], r["world_size"], r["aggregate"], r["version"], _when(r["created_at"]),
            json.dumps(r.get("metadata") or {}) if r.get("metadata") else ""] for r in runs])
    if not runs:
        print("no runs")
    elif after and not args.all:
        print(f"more runs: lrcast runs list --all (or --limit {args.limit * 2})")


@guarded
def cmd_runs_show(args: argparse.Namespace) -> None:
    """One run: its schedule, amendments, plateau state, pending rounds and rank progress."""
    with _client(args) as client:
        run = client.send(Request("GET", _run_path(args.run_id)))
        suggestion = None
        if (run.get("schedule") or {}).get("type") == "LRRangeTest":
            suggestion = client.send(Request("GET", _run_path(args.run_id, "/suggestion")))
    if args.json:
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
    facts(f"run {run.get('run_id', args.run_id)}", pairs)
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

@guarded
def cmd_lr(args: argparse.Namespace) -> None:
    """The LR of a run at a step (every group's, and the momentum where it cycles)."""
    params: dict[str, Any] = {"step": args.step}
    if args.wait:
        params["wait"] = args.wait
    with _client(args) as client, waiting(f"waiting up to {args.wait:g}s for step {args.step}"):
        data = client.send(Request("GET", _run_path(args.run_id, "/lr"), params=params,
                                   wait=args.wait or 0.0))
    if args.json:
        print_json(data)
        return
    print(fmt(data["lr"]))
    if len(data.get("lrs") or []) > 1:
        print("groups: " + ", ".join(fmt(x) for x in data["lrs"]))
    if data.get("momentum") is not None:
        print(f"momentum: {fmt(data['momentum'])}")


@guarded
def cmd_preview(args: argparse.Namespace) -> None:
    """A spec's LR curve, computed by the service without storing anything: a sparkline in the
    terminal, --png for a plot (matplotlib), --json for the numbers."""
    doc = load_spec(args.spec)
    if not isinstance(doc, dict):
        raise UsageError(f"{args.spec}: a spec is a JSON/YAML object with a 'type'")
    # A preview body ({"schedule": ..., "reports": [...]}) is accepted as well as a bare spec.
    body = dict(doc) if "schedule" in doc and "type" not in doc else {"schedule": doc}
    steps = args.steps or body.pop("steps", None) or 1000
    body.pop("steps", None)
    stride = max(1, -(-steps // args.points))
    body.update({"start": 0, "stop": steps, "stride": stride})
    with _client(args) as client:
        data = client.send(Request("POST", "/v1/preview", json=body))
    if args.png:
        save_png(args.png, data["steps"], data["lr"], title=_title(body["schedule"], steps),
                 log=args.log)
    if args.json:
        print_json(data)
        return
    lrs = data["lr"]
    print(f"{_title(body['schedule'], steps)} (stride {stride}{', log scale' if args.log else ''})")
    print(f"max {fmt(max(lrs))}")
    print(sparkline(lrs, width=args.width, log=args.log))
    print(f"min {fmt(min(lrs))}")
    print(f"step {data['steps'][0]}: {fmt(lrs[0])}  ...  step {data['steps'][-1]}: {fmt(lrs[-1])}")
    if args.png:
        print(f"plot saved to {args.png}")


def _title(spec: Any, steps: int) -> str:
    kind = spec.get("type", "?") if isinstance(spec, dict) else "?"
    return f"{kind}, steps 0..{steps - 1}"


@guarded
def cmd_amend(args: argparse.Namespace) -> None:
    """Change a run's schedule from a step on: a new spec, or --scale to multiply it."""
    if (args.spec is None) == (args.scale is None):
        raise UsageError("give either a SPEC file or --scale FACTOR")
    body: dict[str, Any] = {"from_step": args.from_step}
    if args.spec is not None:
        body["schedule"] = load_spec(args.spec)
    else:
        body["scale"] = args.scale
    with _client(args) as client:
        data = client.send(Request("POST", _run_path(args.run_id, "/amendments"), json=body))
    if args.json:
        print_json(data)
        return
    what = f"scaled by {fmt(args.scale)}" if args.scale is not None else "new schedule"
    print(f"run {args.run_id} amended from step {args.from_step} ({what}); "
          f"version {data.get('version')}")


@guarded
def cmd_rewind(args: argparse.Namespace) -> None:
    """Tell the service the job resumed from a checkpoint at STEP (idempotent)."""
    body: dict[str, Any] = {"to_step": args.step}
    if args.resume_id:
        body["resume_id"] = args.resume_id
    with _client(args) as client:
        data = client.send(Request("POST", _run_path(args.run_id, "/rewind"), json=body))
    if args.json:
        print_json(data)
        return
    state = "rewound" if data.get("applied", True) else "already rewound"
    print(f"run {args.run_id} {state} to step {args.step}; version {data.get('version')}")


@guarded
def cmd_events(args: argparse.Namespace) -> None:
    """A run's history: created, plateau decisions, amendments, rewinds."""
    events: list[dict[str, Any]] = []
    with _client(args) as client:
        after = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if after is not None:
                params["after"] = after
            page = client.send(Request("GET", _run_path(args.run_id, "/events"), params=params))
            events.extend(page.get("events", []))
            after = page.get("next")
            if after is None or not page.get("events"):
                break
    if args.json:
        print_json({"events": events})
        return
    table(f"events of {args.run_id}", ["#", "time", "event", "step", "details"],
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
    if event.get("kind") == "decision":
        old, new = _first(data.get("old_lrs", data.get("old_lr"))), \
            _first(data.get("new_lrs", data.get("new_lr", data.get("lrs"))))
        value = data.get("value", data.get("aggregated"))
        change = f"lr {fmt(old)} -> {fmt(new)}" if old != new else f"lr stays {fmt(new)}"
        return change + (f"; metric {fmt(value)}" if value is not None else "")
    shown = {k: v for k, v in data.items() if k not in ("step", "from_step", "to_step")}
    return json.dumps(shown) if shown else ""


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value
