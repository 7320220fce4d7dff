"""The CLI's client subcommands (``runs``, ``lr``, ``preview``, ``amend``, ``rewind``,
``events``), registered on ``lrcast``'s parser by `add_commands`.

The standard library only at import time: `lrcast.Client`, rich, PyYAML and matplotlib are
imported by the commands that use them.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from . import _commands as c

__all__ = ["add_commands"]


def _common() -> argparse.ArgumentParser:
    """Options every client subcommand takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("LRCAST_URL") or None,
                        help="service base URL(s), comma-separated (default $LRCAST_URL or "
                             "http://127.0.0.1:8000)")
    common.add_argument("--token", default=os.environ.get("LRCAST_TOKEN") or None,
                        help="bearer token (default $LRCAST_TOKEN)")
    common.add_argument("--json", action="store_true", help="print JSON, for scripts")
    return common


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


class _IntermixedParser(argparse.ArgumentParser):
    """A subcommand parser that lets options come between positionals, which plain argparse
    refuses when a later positional is optional (``nargs="?"``)."""

    _inside = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._inside:  # parse_known_intermixed_args calls back here for its passes
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the client subcommands to the ``lrcast`` parser's subparsers."""
    common = _common()

    runs = sub.add_parser("runs", help="list or show runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    ls = runs_sub.add_parser("list", parents=[common], help="list the runs")
    ls.add_argument("--limit", type=_positive, default=50, help="runs per page (default 50)")
    ls.add_argument("--all", action="store_true", help="follow every page")
    ls.set_defaults(func=c.cmd_runs_list)
    show = runs_sub.add_parser("show", parents=[common], help="show one run")
    show.add_argument("run_id", metavar="ID")
    show.set_defaults(func=c.cmd_runs_show)

    lr = sub.add_parser("lr", parents=[common], help="the LR of a run at a step")
    lr.add_argument("run_id", metavar="ID")
    lr.add_argument("step", metavar="STEP", type=_non_negative)
    lr.add_argument("--wait", type=float, default=0.0,
                    help="seconds to wait for a pending plateau round")
    lr.set_defaults(func=c.cmd_lr)

    preview = sub.add_parser("preview", parents=[common],
                             help="a spec's LR curve (sparkline, --png, --json)")
    preview.add_argument("spec", metavar="SPEC", help="spec file: .json, .yaml/.yml, or - (stdin)")
    preview.add_argument("--steps", type=_positive, help="steps to preview (default 1000)")
    preview.add_argument("--png", metavar="OUT.png", help="save a plot (needs matplotlib)")
    preview.add_argument("--log", action="store_true", help="log scale")
    preview.add_argument("--width", type=_positive, default=64, help="sparkline width")
    preview.add_argument("--points", type=_positive, default=2000,
                         help="at most this many points are computed (a stride beyond)")
    preview.set_defaults(func=c.cmd_preview)

    # `amend ID --from-step S SPEC`: an option between two positionals, the second optional
    saved, sub._parser_class = sub._parser_class, _IntermixedParser
    try:
        amend = sub.add_parser("amend", parents=[common],
                               help="change a run's schedule from a step on")
    finally:
        sub._parser_class = saved
    amend.add_argument("run_id", metavar="ID")
    amend.add_argument("spec", metavar="SPEC", nargs="?", help="the new schedule's spec file")
    amend.add_argument("--from-step", type=_non_negative, required=True, metavar="S")
    amend.add_argument("--scale", type=float, help="multiply the schedule in force instead")
    amend.set_defaults(func=c.cmd_amend)

    rewind = sub.add_parser("rewind", parents=[common],
                            help="the job resumed from a checkpoint at STEP")
    rewind.add_argument("run_id", metavar="ID")
    rewind.add_argument("step", metavar="STEP", type=_non_negative)
    rewind.add_argument("--resume-id", help="the same id for every rank resuming together")
    rewind.set_defaults(func=c.cmd_rewind)

    events = sub.add_parser("events", parents=[common], help="a run's history")
    events.add_argument("run_id", metavar="ID")
    events.set_defaults(func=c.cmd_events)
