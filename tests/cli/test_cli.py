"""The ``lrcast`` client subcommands, run as real processes against a real service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import TEST_TOKEN as TOKEN

from .conftest import run_cli

STEP = {"type": "StepLR", "lr": 0.1, "step_size": 100, "gamma": 0.5}
PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


def test_runs_list_and_show(service: Any) -> None:
    with service.client() as http:
        http.put("/v1/runs/cli-a", json={"schedule": STEP, "world_size": 2,
                                         "metadata": {"owner": "ada"}})
        http.put("/v1/runs/cli-b", json={"schedule": PLATEAU})
        http.get("/v1/runs/cli-a/lr", params={"step": 42, "rank": 1})

    listed = run_cli(["runs", "list"], url=service.url)
    assert listed.code == 0, listed.err
    assert "cli-a" in listed.out and "cli-b" in listed.out and "ada" in listed.out
    as_json = run_cli(["runs", "list", "--json", "--limit", "1", "--all"], url=service.url)
    assert {r["run_id"] for r in as_json.json()["runs"]} >= {"cli-a", "cli-b"}

    shown = run_cli(["runs", "show", "cli-a"], url=service.url)
    assert shown.code == 0, shown.err
    assert "StepLR" in shown.out and "42" in shown.out  # rank 1's progress
    assert run_cli(["runs", "show", "cli-a", "--json"], url=service.url).json()[
        "world_size"] == 2


def test_lr_at_a_step(service: Any) -> None:
    with service.client() as http:
        http.put("/v1/runs/cli-lr", json={"schedule": STEP})
    plain = run_cli(["lr", "cli-lr", "250"], url=service.url)
    assert plain.code == 0 and float(plain.out.split()[0]) == pytest.approx(0.025)
    data = run_cli(["lr", "cli-lr", "0", "--json"], url=service.url).json()
    assert data["lr"] == 0.1 and data["lrs"] == [0.1] and data["step"] == 0


def test_preview_sparkline_json_and_yaml(tmp_path: Path) -> None:
    spec = tmp_path / "onecycle.json"
    spec.write_text(json.dumps({"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 1000}))
    shown = run_cli(["preview", str(spec)])  # no service: the engine runs here
    assert shown.code == 0, shown.err
    line = next(s for s in shown.out.splitlines() if set(s) <= set("▁▂▃▄▅▆▇█") and s)
    assert len(line) == 64 and "█" in line and line[0] == "▁" and line[-1] == "▁"
    assert "OneCycleLR, steps 0..999" in shown.out

    data = run_cli(["preview", str(spec), "--json", "--steps", "100"]).json()
    assert data["steps"] == list(range(100)) and max(data["lr"]) <= 0.1

    yaml_spec = tmp_path / "step.yaml"
    yaml_spec.write_text("type: StepLR\nlr: 0.1\nstep_size: 10\ngamma: 0.1\n")
    data = run_cli(["preview", str(yaml_spec), "--steps", "30", "--json"])
    assert data.json()["lr"][25] == pytest.approx(0.001)

    piped = run_cli(["preview", "-", "--steps", "5", "--json"], stdin=json.dumps(STEP))
    assert piped.json()["lr"] == [0.1] * 5


def test_preview_png_with_matplotlib(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(STEP))
    out = tmp_path / "curve.png"
    result = run_cli(["preview", str(spec), "--steps", "400", "--png", str(out), "--log"])
    assert result.code == 0, result.err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def _without(module: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The CLI in a process where `module` cannot be imported (an extra not installed)."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            f"from lrcast.cli import main\nsys.exit(main({args!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)


def test_optional_libraries_missing_give_clear_errors(tmp_path: Path) -> None:
    yaml_spec = tmp_path / "spec.yaml"
    yaml_spec.write_text("type: StepLR\nlr: 0.1\nstep_size: 10\n")
    no_yaml = _without("yaml", ["preview", str(yaml_spec)])
    assert no_yaml.returncode == 2 and "needs PyYAML" in no_yaml.stderr

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(STEP))
    no_plot = _without("matplotlib", ["preview", str(spec), "--png", str(tmp_path / "x.png")])
    assert no_plot.returncode == 2 and "lrcast[plot]" in no_plot.stderr


def test_amend_rewind_and_events(service: Any, tmp_path: Path) -> None:
    with service.client() as http:
        http.put("/v1/runs/cli-amend", json={"schedule": PLATEAU})
        http.post("/v1/runs/cli-amend/reports", json={"step": 10, "value": 1.0})
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"type": "ExponentialLR", "lr": 0.05, "gamma": 0.9}))
    amended = run_cli(["amend", "cli-amend", "--from-step", "5000", str(new)], url=service.url)
    assert amended.code == 0, amended.err
    assert "amended from step 5000" in amended.out
    assert run_cli(["lr", "cli-amend", "5001", "--json"], url=service.url).json()[
        "lr"] == pytest.approx(0.045)
    scaled = run_cli(["amend", "cli-amend", "--from-step", "6000", "--scale", "0.5", "--json"],
                     url=service.url)
    assert scaled.code == 0 and len(scaled.json()["timeline"]) == 3

    early = run_cli(["amend", "cli-amend", "--from-step", "0", "--scale", "2"], url=service.url)
    assert early.code == 1 and "earliest allowed step" in early.err

    rewound = run_cli(["rewind", "cli-amend", "5"], url=service.url)
    assert rewound.code == 0 and "rewound to step 5" in rewound.out

    events = run_cli(["events", "cli-amend"], url=service.url)
    assert events.code == 0
    for kind in ("created", "decision", "amendment", "rewind"):
        assert kind in events.out
    kinds = [e["kind"] for e in run_cli(["events", "cli-amend", "--json"],
                                        url=service.url).json()["events"]]
    assert kinds == ["created", "decision", "amendment", "amendment", "rewind"]


def test_errors_are_clear_with_non_zero_exit_codes(service: Any, tmp_path: Path) -> None:
    missing = run_cli(["runs", "show", "no-such-run"], url=service.url)
    assert missing.code == 1 and "no run 'no-such-run'" in missing.err and not missing.out

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "StepLR", "lr": 0.1, "step_size": -3}))
    invalid = run_cli(["preview", str(bad)])  # checked here, by the engine: local input
    assert invalid.code == 2 and "step_size" in invalid.err and str(bad) in invalid.err

    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "StepLR",')
    assert run_cli(["preview", str(broken)]).code == 2
    absent = run_cli(["preview", str(tmp_path / "absent.json")])
    assert absent.code == 2 and "cannot read" in absent.err

    down = run_cli(["runs", "list", "--url", "http://127.0.0.1:9"])
    assert down.code == 3 and "cannot reach the service" in down.err

    usage = run_cli(["amend", "x", "--from-step", "3"], url=service.url)
    assert usage.code == 2 and "either a SPEC file or --scale" in usage.err
    negative = run_cli(["lr", "x", "--", "-1"], url=service.url)
    assert negative.code == 2 and "STEP" in negative.err
    assert "greater than or equal to 0" in negative.err


def test_token_from_flag_or_environment(auth_service: Any) -> None:
    refused = run_cli(["runs", "list"], url=auth_service.url)
    assert refused.code == 1 and "--token" in refused.err
    assert run_cli(["runs", "list", "--token", TOKEN], url=auth_service.url).code == 0
    assert run_cli(["runs", "list", "--json"], url=auth_service.url, token=TOKEN).code == 0


def test_runs_show_prints_a_range_tests_suggestion(service: Any) -> None:
    spec = {"type": "LRRangeTest", "lr": 1e-5, "end_lr": 1.0, "num_iter": 30}
    with service.client() as http:
        http.put("/v1/runs/cli-sweep", json={"schedule": spec})
        for step in range(30):
            http.post("/v1/runs/cli-sweep/reports", json={"step": step, "value": 3.0 - 0.05 * step})
        expected = http.get("/v1/runs/cli-sweep/suggestion").json()["suggested_lr"]
    shown = run_cli(["runs", "show", "cli-sweep"], url=service.url)
    assert shown.code == 0, shown.err
    assert "LR range test: complete; suggested lr" in shown.out
    data = run_cli(["runs", "show", "cli-sweep", "--json"], url=service.url).json()
    assert expected is not None and data["suggestion"]["suggested_lr"] == expected
