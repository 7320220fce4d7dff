"""What every subcommand shares: the exit codes, the connection options (accepted before or
after the subcommand), and the guard that turns errors into one line and an exit code."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any

import typer

from .. import errors

__all__ = [
    "EXIT_CODES_HELP",
    "MEANINGS",
    "Connection",
    "ExitCode",
    "RootJson",
    "RootToken",
    "RootUrl",
    "UsageError",
    "client_command",
    "connection_options",
    "fail",
]


class ExitCode(IntEnum):
    """The exit status of ``lrcast``: one meaning each (`MEANINGS`), so scripts can tell
    them apart."""

    OK = 0
    REFUSED = 1
    USAGE = 2
    UNREACHABLE = 3
    CANNOT_BIND = 4
    BAD_CONFIG = 5
    BROKEN_PIPE = 141  # 128 + SIGPIPE, as other Unix tools


#: what each exit code means, as ``--help`` and the README list them
MEANINGS = {
    ExitCode.OK: "ok",
    ExitCode.REFUSED: "the service refused the request (4xx: unknown run, invalid field, "
                      "conflict, token)",
    ExitCode.USAGE: "bad usage or local input (unknown option, unreadable or invalid spec file)",
    ExitCode.UNREACHABLE: "the service is unreachable",
    ExitCode.CANNOT_BIND: "serve cannot bind its address (in use, not permitted)",
    ExitCode.BAD_CONFIG: "bad configuration, or the database cannot be used (serve, db)",
    ExitCode.BROKEN_PIPE: "stdout was closed early (a pipe into head)",
}
EXIT_CODES_HELP = "\n".join(["Exit codes:", ""] + [f"- {int(code)}: {meaning}"
                                                    for code, meaning in MEANINGS.items()])


class UsageError(Exception):
    """Bad local input (a missing file, invalid JSON, a missing optional library): exit 2."""


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print ``lrcast: message`` on stderr; the `typer.Exit` to raise with `code`."""
    print(f"lrcast: {message}", file=sys.stderr)
    return typer.Exit(int(code))


@dataclass(frozen=True)
class Connection:
    """Where the service is and how to talk to it, from ``--url``/``--token``/``--json``."""

    url: str | None = None
    token: str | None = None
    json: bool = False

    def client(self) -> Any:
        """A `lrcast.Client` with few retries: a person at a terminal wants a quick, clear
        failure. Unset URL and token default to LRCAST_URL and LRCAST_TOKEN."""
        from .. import Client, Retries, Timeouts

        return Client(self.url, token=self.token, retries=Retries(attempts=2, backoff=0.2),
                      timeouts=Timeouts(connect=5.0, read=60.0))


def connection_options(*, root: bool) -> dict[str, inspect.Parameter]:
    """The ``--url``/``--token``/``--json`` parameters, for the root callback (which also
    reads LRCAST_URL/LRCAST_TOKEN) and for every client command (given there, they win)."""
    where = "" if root else " Also accepted before the subcommand."

    def option(name: str, help: str, envvar: str | None = None) -> Any:
        return typer.Option(name, help=help + where, envvar=envvar if root else None,
                            show_envvar=root, show_default=False, rich_help_panel="Connection")

    url = option("--url", "Service base URL(s), comma-separated for replicas; "
                          "default http://127.0.0.1:8000.", "LRCAST_URL")
    token = option("--token", "Bearer token.", "LRCAST_TOKEN")
    as_json = option("--json", "Print JSON, for scripts.")
    kw = inspect.Parameter.KEYWORD_ONLY
    return {"url": inspect.Parameter("url", kw, default=None,
                                     annotation=Annotated[str | None, url]),
            "token": inspect.Parameter("token", kw, default=None,
                                       annotation=Annotated[str | None, token]),
            "as_json": inspect.Parameter("as_json", kw, default=False,
                                         annotation=Annotated[bool, as_json])}


#: the connection options of the root callback, as annotations
RootUrl, RootToken, RootJson = (p.annotation for p in connection_options(root=True).values())


def _guarded(command: Callable[..., Any]) -> Callable[..., None]:
    """Run `command`; turn its errors into one clear line on stderr and an `ExitCode`, and a
    closed stdout into a quiet exit (no BrokenPipe traceback)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
        except BrokenPipeError:
            # stdout is gone: point it at /dev/null so the interpreter's final flush is quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        except UsageError as exc:
            raise fail(str(exc), ExitCode.USAGE) from None
        except errors.AuthError as exc:
            raise fail(f"not authorized ({exc.message}); pass --token or set LRCAST_TOKEN",
                       ExitCode.REFUSED) from None
        except errors.ServiceUnavailable as exc:
            raise fail(f"cannot reach the service: {exc.message}",
                       ExitCode.UNREACHABLE) from None
        except errors.LRCastError as exc:
            raise fail(exc.message + _detail(exc), ExitCode.REFUSED) from None

    return run


def _detail(exc: errors.LRCastError) -> str:
    field = getattr(exc, "field", None)
    if isinstance(exc, errors.InvalidRequest) and field and field not in exc.message:
        return f" (field {field})"
    if isinstance(exc, errors.AmendmentTooEarly) and exc.min_step is not None:
        return f" (the earliest allowed step is {exc.min_step})"
    return ""


def client_command(command: Callable[..., Any], *,
                   options: tuple[str, ...] = ("url", "token", "as_json")
                   ) -> Callable[..., None]:
    """A client subcommand: `command` takes a `Connection` first, and gets the connection
    `options` (``--url``, ``--token``, ``--json``) added to its own; given after the
    subcommand they win over the same options given before it."""
    signature = inspect.signature(command, eval_str=True)
    own = list(signature.parameters.values())[1:]  # without the Connection
    added = [p for name, p in connection_options(root=False).items() if name in options]
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=typer.Context)
    run = _guarded(command)

    @functools.wraps(command)
    def with_connection(ctx: typer.Context, **kwargs: Any) -> None:
        given = {name: kwargs.pop(name, None) for name in ("url", "token", "as_json")}
        before: Connection = ctx.obj or Connection()
        run(Connection(given["url"] if given["url"] is not None else before.url,
                       given["token"] if given["token"] is not None else before.token,
                       bool(given["as_json"]) or before.json), **kwargs)

    parameters = [context, *own, *added]
    # Typer reads this signature (and these evaluated annotations), not the command's
    with_connection.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters)
    with_connection.__annotations__ = {p.name: p.annotation for p in parameters}
    del with_connection.__wrapped__
    return with_connection
