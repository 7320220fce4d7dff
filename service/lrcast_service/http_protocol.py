"""uvicorn's httptools protocol with the API's error shape and a header deadline.

- A request uvicorn cannot parse gets its 400 as ``{"detail", "code"}`` JSON, like every
  other error of the API (uvicorn answers it in plain text, before any app sees it).
- A connection must deliver a request's headers within `HEADER_TIMEOUT` seconds of opening
  (or of the request's first byte): one that sends nothing, or its headers a byte at a time,
  is closed. Idle keep-alive connections are closed after `KEEP_ALIVE_TIMEOUT` (uvicorn's
  own ``timeout_keep_alive``).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HEADER_TIMEOUT", "KEEP_ALIVE_TIMEOUT", "LRCastHttpProtocol"]

HEADER_TIMEOUT = 10.0
KEEP_ALIVE_TIMEOUT = 5.0


class LRCastHttpProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

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
