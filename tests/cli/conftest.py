"""Fixtures for the CLI tests: the real ``lrcast`` command against a real service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.support` lives at the repository root
    sys.path.insert(0, str(ROOT))

#: the console script installed beside this interpreter (.venv/bin/lrcast)
LRCAST = Path(sys.executable).parent / "lrcast"
TOKEN = "cli-secret"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(args: Sequence[str], *, url: str | None = None, token: str | None = None,
            stdin: str | None = None, cwd: Path | None = None) -> Result:
    """Run ``lrcast ARGS`` as a user would; LRCAST_URL/LRCAST_TOKEN from `url`/`token`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRCAST_")}
    if url:
        env["LRCAST_URL"] = url
    if token:
        env["LRCAST_TOKEN"] = token
    done = subprocess.run([str(LRCAST), *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=60, cwd=cwd)
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.support import LRCastServer

    path = tmp_path_factory.mktemp("cli")
    with LRCastServer(path / "lrcast.db", log_path=path / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def auth_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.support import LRCastServer

    path = tmp_path_factory.mktemp("cli-auth")
    with LRCastServer(path / "lrcast.db", tokens=[TOKEN], log_path=path / "server.log") as s:
        yield s
