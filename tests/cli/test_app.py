"""The ``lrcast`` app itself, run as real processes: --version, help, where the connection
options go, exit codes, quiet pipes, suggestions, and what importing it costs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lrcast

from .conftest import LRCAST, run_cli

STEP = {"type": "StepLR", "lr": 0.1, "step_size": 100, "gamma": 0.5}
SUBCOMMANDS = ["serve", "db", "runs", "lr", "preview", "amend", "rewind", "events"]


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.code == 0 and result.out.strip() == f"lrcast {lrcast.__version__}"


def test_help_lists_every_subcommand_and_the_exit_codes() -> None:
    out = run_cli(["--help"]).out
    for name in SUBCOMMANDS:
        assert re.search(rf"^\W*{name}\s", out, re.M), name
    codes = re.findall(r"^\W*(\d+): (\w+)", out, re.M)
    assert codes == [("0", "ok"), ("1", "the"), ("2", "bad"), ("3", "the"), ("4", "serve"),
                     ("5", "bad"), ("141", "stdout")]


@pytest.mark.parametrize("args", [[], ["serve"], ["db", "upgrade"], ["runs", "list"],
                                  ["runs", "show"], ["lr"], ["preview"], ["amend"],
                                  ["rewind"], ["events"]])
def test_help_text_has_no_raw_markup(args: list[str]) -> None:
    result = run_cli([*args, "--help"])
    assert result.code == 0 and "Usage: lrcast" in result.out
    assert "`" not in result.out and "``" not in result.out


@pytest.fixture(scope="module")
def run_at_step(service: Any) -> str:
    with service.client() as http:
        http.put("/v1/runs/cli-opts", json={"schedule": STEP})
    return "cli-opts"


@pytest.mark.parametrize("before,after", [
    (["--url", "{url}", "--json"], []),
    ([], ["--url", "{url}", "--json"]),
    (["--json"], ["--url", "{url}"]),
    (["--url", "http://127.0.0.1:9"], ["--url", "{url}", "--json"]),  # after the command wins
])
def test_connection_options_before_or_after_the_subcommand(
        service: Any, run_at_step: str, before: list[str], after: list[str]) -> None:
    fill = [a.format(url=service.url) for a in (*before, "lr", run_at_step, "250", *after)]
    result = run_cli(fill)
    assert result.code == 0, result.err
    assert result.json()["lr"] == pytest.approx(0.025)


def test_exit_codes_are_distinct_per_kind_of_failure(service: Any, tmp_path: Path) -> None:
    assert run_cli(["lr", "no-such-run", "0"], url=service.url).code == 1  # 404
    assert run_cli(["lr", "x", "not-a-step"], url=service.url).code == 2  # usage
    assert run_cli(["preview", str(tmp_path / "absent.json")]).code == 2  # local input
    assert run_cli(["lr", "x", "0", "--url", "http://127.0.0.1:9"]).code == 3  # unreachable


def test_misspellings_get_suggestions() -> None:
    option = run_cli(["preview", "spec.json", "--stpes", "10"])
    assert option.code == 2 and "--stpes" in option.err and "--steps" in option.err
    command = run_cli(["evnets", "x"])
    assert command.code == 2 and "Did you mean 'events'" in command.err


def _closed_stdout(args: list[str], url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run lrcast with its stdout a pipe whose reader has already gone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRCAST_")}
    if url:
        env["LRCAST_URL"] = url
    read, write = os.pipe()
    os.close(read)  # the first write fails: EPIPE
    try:
        return subprocess.run([str(LRCAST), *args], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=60, env=env)
    finally:
        os.close(write)


def test_a_closed_pipe_ends_quietly(service: Any, run_at_step: str, tmp_path: Path) -> None:
    events = _closed_stdout(["events", run_at_step, "--json"], url=service.url)
    assert events.returncode == 141 and events.stderr == ""

    spec = tmp_path / "spec.json"
    spec.write_text('{"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 100000}')
    head = subprocess.run(
        f"{LRCAST} preview {spec} --json --steps 100000 --points 100000 | head -1",
        shell=True, capture_output=True, text=True, timeout=60)
    assert head.stdout == "{\n" and head.stderr == ""


HEAVY = {"lrcast_service", "fastapi", "starlette", "sqlalchemy", "uvicorn", "alembic",
         "pydantic_settings", "torch", "matplotlib"}


def _imported(args: list[str], url: str | None = None) -> set[str]:
    """Top-level packages imported by ``python -X importtime -m lrcast ARGS``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRCAST_")}
    if url:
        env["LRCAST_URL"] = url
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "lrcast", *args],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_client_commands_do_not_import_the_service(service: Any, run_at_step: str,
                                                   tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"type": "StepLR", "lr": 0.1, "step_size": 10}')
    for args in (["lr", "--help"], ["serve", "--help"], ["lr", run_at_step, "0"],
                 ["runs", "list"], ["preview", str(spec)]):
        imported = _imported(args, url=service.url)
        assert {"lrcast", "typer", "httpx"} <= imported, args
        assert not imported & HEAVY, (args, imported & HEAVY)
    # and the measurement sees the service when a command does import it
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert {"lrcast_service", "sqlalchemy"} <= _imported(["db", "upgrade", "--database", url])


def test_readme_lists_the_same_exit_codes() -> None:
    from lrcast._cli._common import MEANINGS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", readme, re.M))
    assert {int(code) for code in rows} == {int(code) for code in MEANINGS}
    for code, meaning in MEANINGS.items():
        assert rows[str(int(code))].replace("`", "") == meaning, code
