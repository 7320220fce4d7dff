"""``lrcast serve``: settings checked up front, the address bound before anything else starts,
uvicorn with a startup line and an access log (plain text or JSON lines).

Bad configuration raises `ConfigError`, an address that cannot be bound `BindError`, each with
a one-line message (secrets hidden) that the command line prints with its own exit code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import ipaddress
import json
import logging
import logging.config
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from pydantic import ValidationError

from . import create_app, upgrade_database
from .access_log import AccessLog
from .config import Settings
from .http_protocol import KEEP_ALIVE_TIMEOUT, LRCastHttpProtocol  # httptools: [service]

__all__ = ["BindError", "ConfigError", "JsonFormatter", "load_settings", "serve", "upgrade"]

log = logging.getLogger("lrcast")


class ConfigError(Exception):
    """The settings cannot be used (invalid value, unsupported or unreachable database)."""


class BindError(Exception):
    """The address to listen on is in use or cannot be bound."""


def load_settings(**overrides: Any) -> Settings:
    """`Settings` from the environment and `overrides`; `ConfigError` naming each bad
    variable (its value is never echoed: it may be a secret)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            name = "LRCAST_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError("; ".join(problems)) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tokens(settings: Settings) -> list[str]:
    try:
        tokens = settings.token_list()
    except OSError as exc:
        raise ConfigError(f"LRCAST_TOKENS_FILE: cannot read {settings.tokens_file}: "
                          f"{exc.strerror or exc}") from None
    if not tokens and not settings.insecure and not _is_loopback(settings.host):
        raise ConfigError(f"refusing to listen on {settings.host} with no tokens; set "
                          "LRCAST_TOKENS (or LRCAST_TOKENS_FILE), or pass --insecure")
    return tokens


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the database is touched, so a taken port fails
    at once (and port 0 tells its real port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@contextlib.contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    """`ConfigError` if the database cannot be used: one line, the password hidden."""
    import sqlalchemy.exc

    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, OSError, ImportError) as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise ConfigError(f"cannot use the database {settings.redacted_database()}: "
                          f"{reason}") from None


def upgrade(settings: Settings) -> None:
    """Apply the schema migrations (``lrcast db upgrade``)."""
    with _database_errors(settings):
        upgrade_database(settings.database)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and for uvicorn's access
    records the request's fields. (Twenty lines here rather than one more dependency.)"""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) \
                and len(record.args) == 5:
            client, method, path, http_version, status = record.args
            entry.update(client=client, method=method, path=path, http=http_version,
                         status=int(status))  # type: ignore[call-overload]
        else:
            entry["message"] = record.getMessage()
            entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def log_config(log_format: str) -> dict[str, Any]:
    """`logging.config.dictConfig` for serve: every line on stdout; uvicorn's own messages
    from warnings up, lrcast's and the access log from info."""
    if log_format == "json":
        formatters = {name: {"()": JsonFormatter} for name in ("default", "access")}
    else:
        formatters = {
            "default": {"format": "%(asctime)s %(levelname)s %(message)s"},
            "access": {"()": "uvicorn.logging.AccessFormatter", "use_colors": False,
                       "fmt": '%(asctime)s %(client_addr)s "%(request_line)s" %(status_code)s'},
        }
    stdout = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    # the access log's lines from a template (`access_log.AccessLog`: the formatter above
    # only for records that are not a request's)
    access = {"()": AccessLog, "stream": "ext://sys.stdout", "log_format": log_format}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {"default": {**stdout, "formatter": "default"},
                     "access": {**access, "formatter": "access"}},
        "loggers": {
            "lrcast": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "lrcast_service": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


class _Server(uvicorn.Server):
    """uvicorn, with lrcast's startup line once the app has started and listens."""

    def __init__(self, config: uvicorn.Config, fields: dict[str, Any]) -> None:
        super().__init__(config)
        self.fields = fields

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            fields = self.fields
            log.info("lrcast %s listening on %s (store %s, auth %s, access log %s)",
                     fields["version"], fields["url"], fields["store"],
                     "on" if fields["auth"] else "off", fields["access_log"],
                     extra={"fields": fields})


def _best(module: str, fallback: str) -> str:
    try:
        __import__(module)
    except ImportError:
        return fallback
    return module


def serve(settings: Settings, version: str) -> None:
    """Run the service until stopped (SIGINT/SIGTERM). `ConfigError`/`BindError` before it
    starts if it cannot."""
    tokens = _tokens(settings)
    sock = _bind(settings.host, settings.port)
    try:
        logging.config.dictConfig(log_config(settings.log_format))
        with _database_errors(settings):  # its start-up migrates the database
            app = create_app(settings)
        # the start-up objects (thousands of modules' worth) live forever: keep them out of
        # the collector's full passes, which otherwise stall the event loop under load
        gc.collect()
        gc.freeze()
        host, port = sock.getsockname()[:2]
        config = uvicorn.Config(
            app, log_config=log_config(settings.log_format), log_level=None,
            access_log=settings.access_log, loop=_best("uvloop", "auto"),
            http=LRCastHttpProtocol, timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
            timeout_graceful_shutdown=5)
        fields = {"version": version,
                  "url": f"http://{f'[{host}]' if ':' in host else host}:{port}",
                  "store": settings.redacted_database(), "auth": bool(tokens),
                  "tokens": len(tokens),
                  "access_log": settings.log_format if settings.access_log else "off"}
        _Server(config, fields).run(sockets=[sock])
    finally:
        sock.close()
