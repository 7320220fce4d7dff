"""The ``lrcast`` command line: the service (``serve``, ``db upgrade``) and its runs
(``runs``, ``lr``, ``preview``, ``amend``, ``rewind``, ``events``).

Only the standard library is imported here; the service (``lrcast[service]``) is imported
by the subcommands that need it. One function per subcommand: add a parser in `_parser`
and a ``_cmd_<name>`` function.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Sequence
from typing import Any


def _service() -> Any:
    """Import the service package, or exit with a clear message if the extra is missing."""
    try:
        import lrcast_service
    except ImportError as exc:
        sys.exit(f"lrcast: the service is not installed ({exc}); install lrcast[service]")
    return lrcast_service


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _settings(args: argparse.Namespace) -> Any:
    """Settings from the environment (LRCAST_*), overridden by the flags given."""
    overrides = {key: value for key, value in
                 (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None)),
                  ("database", args.database)) if value is not None}
    if getattr(args, "insecure", False):
        overrides["insecure"] = True
    return _service().Settings(**overrides)


def _cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTP service with uvicorn (uvloop/httptools where installed, no access log)."""
    settings = _settings(args)
    if not settings.token_list() and not settings.insecure and not _is_loopback(settings.host):
        sys.exit(f"lrcast: refusing to listen on {settings.host} with no tokens; set "
                 "LRCAST_TOKENS (or LRCAST_TOKENS_FILE), or pass --insecure")
    import uvicorn

    app = _service().create_app(settings)
    import gc

    # the start-up objects (thousands of modules' worth) live forever: keep them out of the
    # collector's full passes, which otherwise stall the event loop under load
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False,
                loop=_best("uvloop", "auto"), http=_best("httptools", "auto"),
                log_level="warning", timeout_graceful_shutdown=5)
    return 0


def _best(module: str, fallback: str) -> str:
    try:
        __import__(module)
    except ImportError:
        return fallback
    return module


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply the schema migrations to the database (also done at every start-up)."""
    settings = _settings(args)
    _service().upgrade_database(settings.database)
    print(f"lrcast: database is up to date ({settings.redacted_database()})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrcast", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--database", help="sqlite:///path.db or postgresql://... "
                                          "(default sqlite:///./lrcast.db)")
    serve.add_argument("--insecure", action="store_true",
                       help="allow a non-loopback address with no tokens")
    serve.set_defaults(func=_cmd_serve)

    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the schema migrations")
    upgrade.add_argument("--database", help="database URL (default from LRCAST_DATABASE)")
    upgrade.set_defaults(func=_cmd_db_upgrade)

    from ._cli import add_commands  # the client subcommands: runs, lr, preview, amend, ...

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lrcast`` script and ``python -m lrcast``."""
    args = _parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
