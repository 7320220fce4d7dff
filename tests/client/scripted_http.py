"""Real tiny HTTP servers on loopback for transport tests (retries, failover, error mapping):
one that answers from a script, and a proxy that loses answers on the way back from the real
service. They stand in for a failing proxy or replica, not for the lrcast service, whose
behaviour is tested against the real thing."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class ScriptedServer:
    """Answers each request with the next (status, body) of `script`; the last one repeats."""

    def __init__(self, script: list[tuple[int, Any]]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                owner.requests.append({"method": self.command, "path": self.path,
                                       "headers": dict(self.headers),
                                       "json": json.loads(raw) if raw else None})
                status, body = owner.script[0] if len(owner.script) == 1 else owner.script.pop(0)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class LossyProxy:
    """A real loopback HTTP proxy in front of a real service that forwards every request and
    loses the answer to the first attempt of each write (by its `Idempotency-Key`): the write
    reached the service, the client never heard back, as when a connection drops."""

    def __init__(self, upstream: str) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self
        seen: set[str] = set()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                owner.requests.append({"method": self.command, "path": self.path,
                                       "headers": headers})
                response = httpx.request(self.command, upstream + self.path, content=raw,
                                         headers=headers, timeout=30.0)
                key = headers.get("Idempotency-Key")
                if key is not None and key not in seen:
                    seen.add(key)
                    self.close_connection = True  # the answer is lost on the way back
                    return
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers.get("content-type", ""))
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LossyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
