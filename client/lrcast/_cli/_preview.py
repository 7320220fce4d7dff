"""``lrcast preview``: a spec's LR curve, evaluated here by the schedule engine
(`lrcast.schedules`, the same code the service runs): no service needed."""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from ._common import Connection, UsageError, client_command
from ._output import fmt, load_spec, print_json, save_png, sparkline

__all__ = ["add_commands"]


def _reports(doc: Any, name: str) -> list[tuple[int, float]]:
    """(step, value) pairs from a list of ``{"step": S, "value": V}`` (or ``{"reports": ...}``)."""
    if isinstance(doc, dict) and "reports" in doc:
        doc = doc["reports"]
    if not isinstance(doc, list):
        raise UsageError(f"{name}: reports are a list of {{\"step\": S, \"value\": V}}")
    pairs = []
    for i, report in enumerate(doc):
        step = report.get("step") if isinstance(report, dict) else None
        value = report.get("value") if isinstance(report, dict) else None
        good_step = type(step) is int and step >= 0
        good_value = type(value) in (int, float) and math.isfinite(value)
        if not (good_step and good_value):
            raise UsageError(f"{name}: reports[{i}] needs a step (an integer, 0 or more) and a "
                             "finite value")
        pairs.append((step, float(value)))
    return pairs


def evaluate(spec: Any, steps: range, reports: list[tuple[int, float]], name: str
             ) -> dict[str, Any]:
    """LRs (and momenta where every step cycles them) of `spec` over `steps`, with `reports`
    folded into its metric-driven part as the service folds decided rounds; the shape of the
    service's ``POST /v1/preview``."""
    from ..schedules import ScheduleError, Timeline, fold_reports, parse
    from ..schedules._clock import check_covered, spec_consumption

    try:
        schedule = parse(spec)
        check_covered(schedule, spec_consumption(schedule))  # as the service's preview
    except ScheduleError as exc:
        raise UsageError(f"{name}: invalid spec: {exc}") from None
    if reports and schedule.plateau is None:
        raise UsageError(f"{name}: the schedule has no metric-driven part to take reports")
    timeline = Timeline.single(schedule)
    if schedule.plateau is not None:
        # a round before the plateau part starts is inactive, as in the service
        segment = timeline.segments[0]  # on the spec's clock
        _, history = fold_reports(schedule.plateau, schedule.base_lrs,
                                  [r for r in reports if segment.folds_at(r[0])])
        timeline = Timeline.single(schedule, history)
    lr, lrs, momentum = [], [], []
    for step in steps:
        try:
            values, moms = timeline.values(step)
        except ScheduleError as exc:
            raise UsageError(f"{name}: {exc}") from None
        lrs.append([float(x) for x in values])
        lr.append(lrs[-1][0])
        momentum.append(float(moms[0]) if moms is not None else None)
    cycles = all(m is not None for m in momentum)
    return {"steps": list(steps), "lr": lr, "lrs": lrs, "momentum": momentum if cycles else None}


def preview(
    conn: Connection,
    spec: Annotated[str, typer.Argument(
        metavar="SPEC", show_default=False,
        help="A spec file (.json, .yaml/.yml) or - for stdin (JSON); a preview body "
             "with schedule, steps and reports is accepted too.")],
    steps: Annotated[int | None, typer.Option(
        min=1, show_default=False, help="Steps to preview [default: the file's, else 1000].")
    ] = None,
    reports: Annotated[str | None, typer.Option(
        metavar="FILE", show_default=False,
        help="Metric reports for a metric-driven spec: a JSON/YAML list of "
             '{"step": S, "value": V}, one aggregated value per round.')] = None,
    png: Annotated[str | None, typer.Option(
        metavar="OUT.png", show_default=False, help="Save a plot (needs lrcast[plot]).")
    ] = None,
    log: Annotated[bool, typer.Option("--log", help="Log scale.")] = False,
    width: Annotated[int, typer.Option(min=1, help="Sparkline width.")] = 64,
    points: Annotated[int, typer.Option(
        min=1, help="At most this many points are computed (a stride beyond).")] = 2000,
) -> None:
    """A spec's LR curve, computed locally by the schedule engine: a sparkline in the
    terminal, --png for a plot, --json for the numbers."""
    doc = load_spec(spec)
    if not isinstance(doc, dict):
        raise UsageError(f"{spec}: a spec is a JSON/YAML object with a 'type'")
    body = doc if "schedule" in doc and "type" not in doc else {"schedule": doc}
    total = steps or body.get("steps") or 1000
    if not isinstance(total, int) or total < 1:
        raise UsageError(f"{spec}: steps must be a positive integer")
    folded = _reports(body.get("reports", []), spec)
    if reports is not None:
        folded = _reports(load_spec(reports), reports)
    stride = max(1, -(-total // points))
    data = evaluate(body["schedule"], range(0, total, stride), folded, spec)
    title = f"{_kind(body['schedule'])}, steps 0..{total - 1}"
    if png:
        save_png(png, data["steps"], data["lr"], title=title, log=log)
    if conn.json:
        print_json(data)
        return
    lrs = data["lr"]
    print(f"{title} (stride {stride}{', log scale' if log else ''})")
    print(f"max {fmt(max(lrs))}")
    print(sparkline(lrs, width=width, log=log))
    print(f"min {fmt(min(lrs))}")
    print(f"step {data['steps'][0]}: {fmt(lrs[0])}  ...  step {data['steps'][-1]}: {fmt(lrs[-1])}")
    if png:
        print(f"plot saved to {png}")


def _kind(spec: Any) -> str:
    return spec.get("type", "?") if isinstance(spec, dict) else "?"


def add_commands(app: typer.Typer) -> None:
    """Add ``preview`` to the ``lrcast`` app."""
    app.command()(client_command(preview, options=("as_json",)))
