"""Real tiny HTTP servers on loopback for transport tests (retries, failover, error mapping):
one that answers from a script, and a proxy that loses answers on the way back from the real
service. They stand in for a failing proxy or replica, not for the lrcast service, whose
behaviour is tested against the real thing."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx


class LoopbackServer:
    """A threaded HTTP server on a free loopback port that records every request and lets
    `answer(handler, request, raw_body)` reply (or not)."""

    protocol_version = "HTTP/1.0"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = owner.protocol_version

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = {"method": self.command, "path": self.path,
                           "headers": dict(self.headers),
                           "json": json.loads(raw) if raw else None}
                owner.requests.append(request)
                owner.answer(self, request, raw)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, handler: BaseHTTPRequestHandler, request: dict[str, Any],
               raw: bytes) -> None:
        raise NotImplementedError

    @staticmethod
    def reply(handler: BaseHTTPRequestHandler, status: int, data: bytes,
              content_type: str = "application/json") -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ScriptedServer(LoopbackServer):
    """Answers each request with the next (status, body) of `script`; the last one repeats."""

    def __init__(self, script: list[tuple[int, Any]]) -> None:
        super().__init__()
        self.script = list(script)

    def answer(self, handler: BaseHTTPRequestHandler, request: dict[str, Any],
               raw: bytes) -> None:
        status, body = self.script[0] if len(self.script) == 1 else self.script.pop(0)
        self.reply(handler, status, json.dumps(body).encode())


class LossyProxy(LoopbackServer):
    """A real loopback HTTP proxy in front of a real service that forwards every request and
    loses the answer to the first attempt of each write (by its `Idempotency-Key`): the write
    reached the service, the client never heard back, as when a connection drops."""

    protocol_version = "HTTP/1.1"

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self._seen: set[str] = set()

    def answer(self, handler: BaseHTTPRequestHandler, request: dict[str, Any],
               raw: bytes) -> None:
        headers = {k: v for k, v in request["headers"].items()
                   if k.lower() not in ("host", "connection", "content-length")}
        response = httpx.request(request["method"], self.upstream + request["path"],
                                 content=raw, headers=headers, timeout=30.0)
        key = headers.get("Idempotency-Key")
        if key is not None and key not in self._seen:
            self._seen.add(key)
            handler.close_connection = True  # the answer is lost on the way back
            return
        self.reply(handler, response.status_code, response.content,
                   response.headers.get("content-type", ""))


def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
