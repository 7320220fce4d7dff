"""Fixtures for the CLI tests: the real ``lrcast`` command against a real service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the console script installed beside this interpreter (.venv/bin/lrcast)
LRCAST = Path(sys.executable).parent / "lrcast"


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
