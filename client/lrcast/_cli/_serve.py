"""``lrcast serve`` and ``lrcast db upgrade``: the only subcommands that import the service
(``lrcast[service]``), and only when they run."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from ._common import ExitCode, fail

__all__ = ["add_commands"]

Database = Annotated[str | None, typer.Option(
    metavar="URL", show_default=False,
    help="sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB [default: LRCAST_DATABASE, "
         "else sqlite:///./lrcast.db]")]


def _serving() -> Any:
    """The service's serving module, or exit 5 if the service extra is not installed."""
    try:
        from lrcast_service import serving
    except ImportError as exc:
        raise fail(f"the service is not installed ({exc}); pip install 'lrcast[service]'",
                   ExitCode.BAD_CONFIG) from None
    return serving


def serve(
    host: Annotated[str | None, typer.Option(
        show_default=False, help="Address to listen on [default: LRCAST_HOST, else "
                                 "127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(
        min=0, max=65535, show_default=False,
        help="Port; 0 picks a free one [default: LRCAST_PORT, else 8000].")] = None,
    database: Database = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Allow a non-loopback address with no tokens.")] = False,
    log_format: Annotated[Literal["plain", "json"] | None, typer.Option(
        show_default=False, help="Log lines as plain text or JSON objects "
                                 "[default: LRCAST_LOG_FORMAT, else plain].")] = None,
    access_log: Annotated[bool | None, typer.Option(
        "--access-log/--no-access-log", show_default=False,
        help="One log line per request [default: LRCAST_ACCESS_LOG, else on].")] = None,
) -> None:
    """Run the HTTP service (uvicorn). Prints a startup line, then an access log on stdout.

    Settings not given as options come from LRCAST_* environment variables (LRCAST_TOKENS,
    comma-separated or a JSON list, or LRCAST_TOKENS_FILE turn authentication on).
    Exits 4 if the address cannot be bound, 5 on bad configuration or an unusable database.
    """
    from .. import __version__

    serving = _serving()
    overrides = {"host": host, "port": port, "database": database, "log_format": log_format,
                 "access_log": access_log, "insecure": insecure or None}
    try:
        settings = serving.load_settings(
            **{key: value for key, value in overrides.items() if value is not None})
        serving.serve(settings, __version__)
    except serving.ConfigError as exc:
        raise fail(f"bad configuration: {exc}", ExitCode.BAD_CONFIG) from None
    except serving.BindError as exc:
        raise fail(str(exc), ExitCode.CANNOT_BIND) from None


def db_upgrade(database: Database = None) -> None:
    """Apply the schema migrations to the database (also done at every start-up)."""
    serving = _serving()
    try:
        settings = serving.load_settings(**({"database": database} if database else {}))
        serving.upgrade(settings)
    except serving.ConfigError as exc:
        raise fail(f"bad configuration: {exc}", ExitCode.BAD_CONFIG) from None
    print(f"lrcast: database is up to date ({settings.redacted_database()})")


def add_commands(app: typer.Typer) -> None:
    """Add ``serve`` and ``db upgrade`` to the ``lrcast`` app."""
    app.command()(serve)
    db = typer.Typer(help="Database administration.", no_args_is_help=True)
    db.command("upgrade")(db_upgrade)
    app.add_typer(db, name="db")
