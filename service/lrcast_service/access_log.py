"""The access log's handler: one line per request, without the cost of the logging machinery.

uvicorn's own access log formats each line through `uvicorn.logging.AccessFormatter` (a
copy of the record, ``http.HTTPStatus`` lookups, ``time.strftime``): about 15 µs a request,
as much as answering one. `AccessLog` writes the same line (plain text, or the JSON object
of `serving.JsonFormatter`) from a template, the time's text cached per second: uvicorn's
records through `emit`, and the LR fast path's requests through `line` directly (no
`LogRecord` at all; `http_protocol.py`). Each line is written before the response goes out,
so a line is never lost for an answer sent.
"""

from __future__ import annotations

import http
import json
import logging
import time
from typing import Any, TextIO

__all__ = ["AccessLog", "direct"]

_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}
_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _plain_phrase(status: int) -> str:
    """uvicorn's ``"200 OK"`` (no colours)."""
    return f"{status} {_PHRASES.get(status, '')}"


class AccessLog(logging.StreamHandler):  # type: ignore[type-arg]
    """A `logging.StreamHandler` for ``uvicorn.access``: its access records (and `line`'s)
    as `log_format` says ("plain": ``TIME CLIENT "METHOD PATH HTTP/V" STATUS PHRASE``, as
    uvicorn's formatter with lrcast's format; "json": `serving.JsonFormatter`'s object);
    any other record through the handler's formatter, as a plain handler."""

    def __init__(self, stream: TextIO | None = None, log_format: str = "plain") -> None:
        super().__init__(stream)
        self.json = log_format == "json"
        self._second = -1
        self._stamp = ""

    def _time(self, now: float) -> str:
        """The line's time: ``2026-01-01 12:00:00,123`` (local, as `logging.Formatter`), or
        ``2026-01-01T12:00:00.123Z`` (UTC, as `serving.JsonFormatter`)."""
        if self.json:  # datetime's own rounding of the fraction, to the microsecond
            second = int(now)
            micros = round((now - second) * 1e6)
            if micros >= 1_000_000:
                second, micros = second + 1, micros - 1_000_000
            if second != self._second:
                self._second = second
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            return f"{self._stamp}.{micros // 1000:03d}Z"
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d}"

    def text(self, now: float, client: str, method: str, path: str, http_version: str,
             status: int) -> str:
        """One request's line (with its newline)."""
        if self.json:
            return (f'{{"time": "{self._time(now)}", "level": "info", "logger": '
                    f'"uvicorn.access", "client": {_quote(client)}, "method": '
                    f'{_quote(method)}, "path": {_quote(path)}, "http": '
                    f'{_quote(http_version)}, "status": {int(status)}}}\n')
        return (f'{self._time(now)} {client} "{method} {path} HTTP/{http_version}" '
                f'{_plain_phrase(int(status))}\n')

    def line(self, client: str, method: str, path: str, http_version: str,
             status: int) -> None:
        """Write one request's line now."""
        try:
            self.stream.write(self.text(time.time(), client, method, path, http_version,
                                        status))
            self.stream.flush()
        except Exception:  # noqa: BLE001 - as logging does: a log line never fails a request
            self.handleError(logging.makeLogRecord({"msg": "access log line"}))

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if not (isinstance(args, tuple) and len(args) == 5):
            super().emit(record)
            return
        try:
            self.stream.write(self.text(record.created, *args))  # type: ignore[arg-type]
            self.stream.flush()
        except Exception:  # noqa: BLE001 - as logging does
            self.handleError(record)


def direct(logger: logging.Logger) -> AccessLog | None:
    """The logger's `AccessLog` if a line may go straight to it (the logger writes INFO
    there and nowhere else, with no filters); None: log through `logger`."""
    if not logger.isEnabledFor(logging.INFO) or logger.filters or logger.propagate:
        return None
    handlers = logger.handlers
    if len(handlers) != 1 or not isinstance(handlers[0], AccessLog):
        return None
    handler: Any = handlers[0]
    return handler if not handler.filters and handler.level <= logging.INFO else None
