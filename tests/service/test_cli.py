"""``lrcast serve`` and ``lrcast db upgrade`` as real processes: the startup line, the access
log (plain and JSON lines), one-line errors with their exit codes for bad configuration, and
settings that keep their secrets out of reprs and logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

import lrcast
from lrcast_service import Settings
from tests.support import LRCastServer, free_port, sqlite_url
from tests.support.postgres import postgres_database

PASSWORD = "s3cret-pw"


def lrcast_cli(*args: str, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m lrcast ARGS`` in an environment without the developer's LRCAST_*."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LRCAST_")}
    return subprocess.run([sys.executable, "-m", "lrcast", *args], capture_output=True,
                          text=True, timeout=timeout, env={**base, **(env or {})})


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh.db")
    result = lrcast_cli("db", "upgrade", "--database", url)
    assert result.returncode == 0, result.stderr
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert {"runs", "rounds", "reports", "decisions", "events", "alembic_version"} <= tables
    assert lrcast_cli("db", "upgrade", "--database", url).returncode == 0  # idempotent


def test_startup_line_and_plain_access_log(tmp_path: Path) -> None:
    with LRCastServer(tmp_path / "lrcast.db", tokens=["tok-1", "tok-2"],
                      log_path=tmp_path / "out.log") as server:
        httpx.get(server.url + "/v1/runs", headers=server.headers, timeout=10)
        httpx.get(server.url + "/v1/runs/nope", headers=server.headers, timeout=10)
        log = server.log()
    first = log.splitlines()[0]
    assert f"lrcast {lrcast.__version__} listening on {server.url}" in first
    assert f"store {server.database}" in first and "auth on" in first
    assert '"GET /v1/runs HTTP/1.1" 200' in log and '"GET /v1/runs/nope HTTP/1.1" 404' in log
    assert "tok-1" not in log and "tok-2" not in log


def test_startup_line_hides_the_database_password(tmp_path: Path) -> None:
    with postgres_database("serve's startup line on PostgreSQL") as url:
        # the test server trusts loopback connections: the password is carried, not checked
        with_password = sa.make_url(url).set(password=PASSWORD).render_as_string(
            hide_password=False)
        with LRCastServer(with_password, log_path=tmp_path / "out.log") as server:
            httpx.get(server.url + "/healthz", timeout=10)
            log = server.log()
    assert PASSWORD not in log
    assert f"store {sa.make_url(with_password).render_as_string(hide_password=True)}" in log
    assert ":***@" in log


def test_json_access_log(tmp_path: Path) -> None:
    with LRCastServer(tmp_path / "lrcast.db", extra_args=["--log-format", "json"],
                      log_path=tmp_path / "out.log") as server:
        httpx.get(server.url + "/v1/runs?limit=3", timeout=10)
        log = server.log()
    entries = [json.loads(line) for line in log.splitlines()]  # every line is one object
    started = entries[0]
    assert started["logger"] == "lrcast" and started["url"] == server.url
    assert started["auth"] is False and started["version"] == lrcast.__version__
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert {"method": "GET", "path": "/v1/runs?limit=3", "status": 200}.items() <= \
        next(e for e in access if e["path"].startswith("/v1/runs")).items()
    assert all(e["time"].endswith("Z") for e in entries)


def test_no_access_log(tmp_path: Path) -> None:
    with LRCastServer(tmp_path / "lrcast.db", extra_args=["--no-access-log"],
                      log_path=tmp_path / "out.log") as server:
        httpx.get(server.url + "/v1/runs", timeout=10)
        log = server.log()
    assert "listening on" in log and "GET /v1/runs" not in log


def _fails(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """Exit `code`, one line on stderr naming each needle, no traceback, no secret."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrcast: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert PASSWORD not in result.stderr and "Traceback" not in result.stderr


def test_bad_configuration_exits_5_in_one_line(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "x.db")
    _fails(lrcast_cli("serve", "--database", f"mysql://u:{PASSWORD}@localhost/db"), 5,
           "mysql", "sqlite:///", "postgresql://")
    _fails(lrcast_cli("serve", env={"LRCAST_PORT": "abc", "LRCAST_DATABASE": db}), 5,
           "LRCAST_PORT", "integer")
    _fails(lrcast_cli("serve", "--database", db, env={"LRCAST_TOKENS": '["a", '}), 5,
           "LRCAST_TOKENS", "JSON")
    _fails(lrcast_cli("serve", "--database", db,
                      env={"LRCAST_TOKENS_FILE": str(tmp_path / "absent")}), 5,
           "LRCAST_TOKENS_FILE", "absent")
    _fails(lrcast_cli("serve", "--host", "0.0.0.0", "--database", db), 5,
           "no tokens", "--insecure")
    _fails(lrcast_cli("db", "upgrade", "--database", "not a url"), 5, "LRCAST_DATABASE")


def test_unreachable_postgres_exits_5_in_one_line() -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://lrcast:{PASSWORD}@127.0.0.1:{port}/lrcast"
    for args in (["serve", "--port", str(free_port())], ["db", "upgrade"]):
        _fails(lrcast_cli(*args, "--database", url), 5,
               f"postgresql://lrcast:***@127.0.0.1:{port}/lrcast", "refused")


def test_port_in_use_exits_4(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = lrcast_cli("serve", "--port", str(port), "--database",
                            sqlite_url(tmp_path / "x.db"))
    _fails(result, 4, f"127.0.0.1:{port}", "in use")
    assert not (tmp_path / "x.db").exists()  # it failed before touching the database


def test_tokens_as_a_json_list_or_comma_separated(tmp_path: Path) -> None:
    for tokens in ('["tok a", "tok,b"]', "tok a, tok,b"):
        expected = ["tok a", "tok,b"] if tokens.startswith("[") else ["tok a", "tok", "b"]
        with LRCastServer(tmp_path / "t.db", env={"LRCAST_TOKENS": tokens}) as server:
            for token in expected:
                ok = httpx.get(server.url + "/v1/runs", timeout=10,
                               headers={"Authorization": f"Bearer {token}"})
                assert ok.status_code == 200, (tokens, token)
            refused = httpx.get(server.url + "/v1/runs", timeout=10,
                                headers={"Authorization": f"Bearer {tokens}"})
            assert refused.status_code == 401


def test_settings_repr_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRCAST_TOKENS", '["tok-alpha", "tok-beta"]')
    monkeypatch.setenv("LRCAST_DATABASE", f"postgresql://lrcast:{PASSWORD}@db:5432/lrcast")
    settings = Settings()
    assert settings.token_list() == ["tok-alpha", "tok-beta"]
    assert settings.database.endswith("@db:5432/lrcast")  # the real URL, for the store
    for shown in (repr(settings), str(settings), repr(settings.model_dump(exclude={"database"}))):
        assert "tok-alpha" not in shown and "tok-beta" not in shown and PASSWORD not in shown
    assert "postgresql://lrcast:***@db:5432/lrcast" in repr(settings)
    assert settings.redacted_database() == "postgresql://lrcast:***@db:5432/lrcast"


def test_settings_errors_do_not_echo_the_value() -> None:
    with pytest.raises(ValueError) as raised:
        Settings(database=f"mysql://u:{PASSWORD}@h/db")
    assert PASSWORD not in str(raised.value) and "mysql" in str(raised.value)
