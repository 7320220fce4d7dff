"""A real lrcast service in a subprocess, for integration tests (never a mock).

`LRCastServer` runs ``python -m lrcast serve`` on a free loopback port over a real database
(a SQLite file by default, or any URL given), waits for ``/healthz``, and can be killed with
SIGKILL and restarted on the same database and port, to prove durability::

    with LRCastServer(tmp_path / "lrcast.db", tokens=["t0k"]) as server:
        httpx.get(server.url + "/healthz")
        server.kill()          # kill -9: no shutdown hooks run
        server.start()         # same port, same database
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The database URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


class LRCastServer:
    """One ``lrcast serve`` process; `url` is its base URL, `database` its database URL."""

    def __init__(self, database: str | os.PathLike[str], *, tokens: Sequence[str] = (),
                 port: int | None = None, env: Mapping[str, str] | None = None,
                 extra_args: Sequence[str] = (), startup_timeout: float = 30.0,
                 log_path: str | os.PathLike[str] | None = None) -> None:
        database = str(database)
        self.database = database if "://" in database else sqlite_url(database)
        self.tokens = list(tokens)
        self.port = port or free_port()
        self.env = dict(env or {})
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header with the first token (empty when the server has none)."""
        return {"Authorization": f"Bearer {self.tokens[0]}"} if self.tokens else {}

    def client(self, **kwargs: object) -> httpx.Client:
        """A sync httpx client on this server, authenticated with the first token."""
        return httpx.Client(**{"base_url": self.url, "headers": self.headers, "timeout": 30.0,
                               **kwargs})

    def async_client(self, **kwargs: object) -> httpx.AsyncClient:
        """An async httpx client on this server, authenticated with the first token."""
        return httpx.AsyncClient(**{"base_url": self.url, "headers": self.headers,
                                    "timeout": 30.0, **kwargs})

    def start(self) -> LRCastServer:
        """Start the process and wait until /healthz answers (raise with its output if not)."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("server already running")
        env = {**os.environ, **self.env}
        # a server configured by the test alone, not by the developer's environment
        for key in [k for k in env if k.startswith("LRCAST_") and k not in self.env]:
            del env[key]
        if self.tokens:
            env["LRCAST_TOKENS"] = ",".join(self.tokens)
        cmd = [sys.executable, "-m", "lrcast", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--database", self.database, *self.extra_args]
        if self.log_path is None:  # a file, not a pipe: a pipe nobody reads can block the server
            self.log_path = Path(tempfile.mkstemp(prefix="lrcast-serve-", suffix=".log")[1])
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lrcast serve exited with {self.process.returncode}:\n"
                                   + self.log())
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"lrcast serve did not answer /healthz within {self.startup_timeout}s"
                           f":\n{self.log()}")

    def log(self) -> str:
        """The server's output so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL the process (kill -9: nothing is flushed on the way out) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM the process (a graceful shutdown), SIGKILL after 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def restart(self, *, kill: bool = True) -> LRCastServer:
        """Kill -9 (or stop) and start again on the same port and database."""
        self.kill() if kill else self.stop()
        return self.start()

    def __enter__(self) -> LRCastServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
