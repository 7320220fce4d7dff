"""uvicorn's httptools protocol with the API's error shape, a header deadline, and the LR
fast path answered where the request is parsed.

- A request uvicorn cannot parse gets its 400 as ``{"detail", "code"}`` JSON, like every
  other error of the API (uvicorn answers it in plain text, before any app sees it).
- A connection must deliver a request's headers within `HEADER_TIMEOUT` seconds of opening
  (or of the request's first byte): one that sends nothing, or its headers a byte at a time,
  is closed. Idle keep-alive connections are closed after `KEEP_ALIVE_TIMEOUT` (uvicorn's
  own ``timeout_keep_alive``). A request whose headers come in one read (nearly all) arms no
  timer of its own, and the keep-alive timer is one per connection, checked when it fires
  (uvicorn cancels one and arms another for every request).
- ``GET /v1/runs/{id}/lr`` that `api.fast_lr.FastLR.body` can answer is answered as soon as
  its headers are parsed: one write of the status line, headers and body, its access log
  line, its metrics; no ASGI scope (built only for a request that goes to the app), task,
  middleware or second write. Anything else (another
  request, a body, ``Expect``, a proxy's forwarded headers, a connection to close, a request
  pipelined behind one in progress, a write buffer that is full) goes to the app as usual.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from . import access_log
from .api.fast_lr import PREFIX, SUFFIX, FastLR

__all__ = ["HEADER_TIMEOUT", "KEEP_ALIVE_TIMEOUT", "LRCastHttpProtocol"]

HEADER_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 5.0

_PREFIX, _SUFFIX = PREFIX.encode(), SUFFIX.encode()
_OK = STATUS_LINE[200]
_JSON_LENGTH = b"content-type: application/json\r\ncontent-length: "
#: headers that make a GET more than its line and its host (the app handles those); a
#: ``content-length`` other than 0 (some clients send 0 with every request: no body)
_NOT_FAST = frozenset((b"transfer-encoding", b"expect", b"upgrade",
                       b"x-forwarded-for", b"x-forwarded-proto", b"forwarded"))


class _Answered:
    """The cycle of a request answered on the fast path: complete, nothing to wake."""

    response_complete = True
    disconnected = False
    keep_alive = True

    class message_event:  # noqa: N801 - uvicorn sets it when the connection goes
        @staticmethod
        def set() -> None:
            pass


_ANSWERED: Any = _Answered()


class LRCastHttpProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None
    _in_headers = False
    _keep_alive_timer: asyncio.TimerHandle | None = None
    #: when the connection's last response completed; None while a request is in progress
    _idle_since: float | None = None
    #: (the server's default headers, as they were encoded), shared: they change each second
    _default_head: tuple[Any, bytes] = (None, b"")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fast = getattr(self.config.app, "fast", None)
        self._fast: FastLR | None = fast if isinstance(fast, FastLR) and \
            not self.root_path and self.limit_concurrency is None else None
        self._direct_log = access_log.direct(self.access_logger) if self.access_log else None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        if self._keep_alive_timer is not None:
            self._keep_alive_timer.cancel()
            self._keep_alive_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # headers begun and not complete in this read: they have HEADER_TIMEOUT from now
        if self._in_headers and self._header_timer is None \
                and not self.transport.is_closing():
            self._start_header_timer()

    def on_message_begin(self) -> None:
        # uvicorn's, but for the ASGI scope: a request answered on the fast path needs none,
        # so it is built (`_build_scope`) once the headers say the request goes to the app
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._in_headers = True

    def _build_scope(self) -> None:
        """The request's ASGI scope, as uvicorn's `on_message_begin` builds it."""
        url, headers, expect_100_continue = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.expect_100_continue = url, expect_100_continue
        self.headers = self.scope["headers"] = headers

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._stop_header_timer()
        if not self._answer_fast():
            self._build_scope()
            super().on_headers_complete()

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn cancels its keep-alive timer here (a request's first bytes, its response
        # complete, the connection lost); here the connection is only marked busy, and the
        # one timer finds that when it fires (`_keep_alive_due`)
        self._idle_since = None

    def on_response_complete(self) -> None:
        # uvicorn's, but for the keep-alive timer: the connection is marked idle from now
        # and the timer is armed only if none is (uvicorn arms a new one each response)
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = now = self.loop.time()
        if self._keep_alive_timer is None:
            self._keep_alive_timer = self.loop.call_at(now + self.timeout_keep_alive,
                                                       self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        """Close the connection if it has been idle for ``timeout_keep_alive``; if it went
        idle later, look again then; if a request is in progress, its response arms it."""
        self._keep_alive_timer = None
        idle_since = self._idle_since
        if idle_since is None or self.transport.is_closing():
            return
        due = idle_since + self.timeout_keep_alive
        if self.loop.time() >= due:
            self.timeout_keep_alive_handler()
        else:
            self._keep_alive_timer = self.loop.call_at(due, self._keep_alive_due)

    def _answer_fast(self) -> bool:
        """Answer this request on the LR fast path, if it can be (see the module)."""
        fast = self._fast
        if fast is None or not fast.at_once or self.pipeline or self.flow.write_paused \
                or (self.cycle is not None and not self.cycle.response_complete):
            return False
        url = self.url
        path, _, query = url.partition(b"?")
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)) or b"%" in path \
                or b"#" in query:
            return False
        parser = self.parser
        if parser.get_method() != b"GET" or not parser.should_keep_alive():
            return False
        authorization = None
        for name, value in self.headers:
            if name in _NOT_FAST or (name == b"content-length" and value.strip() != b"0"):
                return False
            if name == b"authorization" and authorization is None:  # the first, as the gate
                authorization = value
        start = time.perf_counter()
        try:
            run_id = path[len(_PREFIX):-len(_SUFFIX)].decode("ascii")
        except UnicodeDecodeError:
            return False
        body = fast.body(run_id, query, authorization)
        if body is None:
            return False
        default, head = LRCastHttpProtocol._default_head
        if default is not self.server_state.default_headers:
            default = self.server_state.default_headers
            head = b"".join(name + b": " + value + b"\r\n" for name, value in default)
            LRCastHttpProtocol._default_head = (default, head)
        if self.access_log:  # as uvicorn logs it (the path is a run's: nothing to quote)
            client = f"{self.client[0]}:{self.client[1]:d}" if self.client else ""
            version = parser.get_http_version()
            if self._direct_log is not None:
                self._direct_log.line(client, "GET", url.decode("ascii"), version, 200)
            else:
                self.access_logger.info('%s - "%s %s HTTP/%s" %d', client, "GET",
                                        url.decode("ascii"), version, 200)
        self.transport.write(b"".join((_OK, head, _JSON_LENGTH, str(len(body)).encode(),
                                       b"\r\n\r\n", body)))
        self.cycle = _ANSWERED  # what follows of this request (nothing: a GET) is skipped
        self.on_response_complete()
        fast.observe(time.perf_counter() - start)
        return True

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"detail": f"malformed HTTP request: {msg}",
                           "code": "bad_request"}).encode()
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in
                 self.server_state.default_headers]
        head += [b"content-type: application/json\r\n",
                 b"content-length: " + str(len(body)).encode() + b"\r\n",
                 b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _start_header_timer(self) -> None:
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
