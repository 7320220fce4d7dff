"""The command line: ``lrcast db upgrade`` and the refusal to listen openly without tokens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.support import sqlite_url


def lrcast(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lrcast", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh.db")
    result = lrcast("db", "upgrade", "--database", url)
    assert result.returncode == 0, result.stderr
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert {"runs", "rounds", "reports", "decisions", "events", "alembic_version"} <= tables
    assert lrcast("db", "upgrade", "--database", url).returncode == 0  # idempotent


def test_serve_refuses_an_open_address_without_tokens(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("LRCAST_")}
    result = lrcast("serve", "--host", "0.0.0.0", "--database",
                    sqlite_url(tmp_path / "x.db"), env=env)
    assert result.returncode != 0
    assert "no tokens" in result.stderr and "--insecure" in result.stderr


def test_help_lists_the_subcommands() -> None:
    out = lrcast("--help").stdout
    assert "serve" in out and "db" in out
