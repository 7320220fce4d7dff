"""The ``lrcast`` command line (Typer): the service (``serve``, ``db upgrade``) and its runs
(``runs``, ``lr``, ``preview``, ``amend``, ``rewind``, ``events``).

Client commands import neither the service nor its libraries: ``serve`` and ``db`` import
``lrcast_service`` when they run. Each group of subcommands is one module in ``_cli/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from . import __version__
from ._cli import _commands, _preview, _serve
from ._cli._common import EXIT_CODES_HELP, Connection, ExitCode, RootJson, RootToken, RootUrl

__all__ = ["app", "main"]

app = typer.Typer(
    name="lrcast", no_args_is_help=True, rich_markup_mode="markdown", add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold a token
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP,
    help="Learning-rate schedules as a service: run the service, inspect and change its runs, "
         "preview a schedule.\n\nThe connection options (--url, --token, --json) go before or "
         "after the subcommand.")


def _print_version(value: bool) -> None:
    if value:
        print(f"lrcast {__version__}")
        raise typer.Exit()


def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print the version and exit.")] = False,
    url: RootUrl = None,
    token: RootToken = None,
    as_json: RootJson = False,
) -> None:
    ctx.obj = Connection(url, token, as_json)


app.callback()(_root)
_serve.add_commands(app)
_commands.add_commands(app)
_preview.add_commands(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lrcast`` script and ``python -m lrcast``: the exit code."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="lrcast")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
