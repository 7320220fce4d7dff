"""``lrcast preview`` runs the engine locally: the same numbers as the service's
``POST /v1/preview``, and as PyTorch's own schedulers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_cli

PRESETS = Path(__file__).resolve().parents[2] / "service/lrcast_service/dashboard/presets.json"


@pytest.mark.parametrize("preset", json.loads(PRESETS.read_text()), ids=lambda p: p["id"])
def test_preview_matches_the_service(service: Any, tmp_path: Path,
                                     preset: dict[str, Any]) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"schedule": preset["schedule"], "steps": preset["steps"]}))
    local = run_cli(["preview", str(body), "--json", "--points", "500"])
    assert local.code == 0, local.err
    data = local.json()
    stride = data["steps"][1] - data["steps"][0]
    with service.client() as http:
        remote = http.post("/v1/preview", json={"schedule": preset["schedule"], "start": 0,
                                                "stop": preset["steps"], "stride": stride})
    assert remote.status_code == 200, remote.text
    expected = remote.json()
    assert {k: data[k] for k in ("steps", "lr", "lrs", "momentum")} == \
        {k: expected[k] for k in ("steps", "lr", "lrs", "momentum")}


def test_preview_matches_torch_one_cycle(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    spec = {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 300}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    data = run_cli(["preview", str(path), "--json", "--steps", "300"]).json()

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=300)
    expected_lr, expected_momentum = [], []
    for _ in range(300):
        expected_lr.append(opt.param_groups[0]["lr"])
        expected_momentum.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    assert data["lr"] == pytest.approx(expected_lr, rel=1e-12, abs=1e-15)
    assert data["momentum"] == pytest.approx(expected_momentum, rel=1e-12)


def test_preview_folds_reports_like_torch_reduce_on_plateau(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    spec = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 1}
    values = [1.0, 0.9, 0.95, 0.97, 0.8, 0.85, 0.86, 0.87, 0.5, 0.6]
    reports = [{"step": 10 * (i + 1), "value": v} for i, v in enumerate(values)]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "reports.json").write_text(json.dumps(reports))
    result = run_cli(["preview", str(tmp_path / "spec.json"), "--reports",
                      str(tmp_path / "reports.json"), "--steps", "120", "--json"])
    assert result.code == 0, result.err
    lr = result.json()["lr"]

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    for report in reports:
        sched.step(report["value"])
        # the LR decided by the round at a step is in force from that step on
        assert lr[report["step"]] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    assert lr[0] == 0.1 and min(lr) < 0.1  # it did decay


def test_reports_need_a_metric_driven_schedule(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps({"type": "StepLR", "lr": 0.1,
                                                    "step_size": 10}))
    (tmp_path / "reports.json").write_text(json.dumps([{"step": 1, "value": 1.0}]))
    result = run_cli(["preview", str(tmp_path / "spec.json"), "--reports",
                      str(tmp_path / "reports.json")])
    assert result.code == 2 and "no metric-driven part" in result.err

    (tmp_path / "bad.json").write_text(json.dumps([{"step": -1, "value": 1.0}]))
    result = run_cli(["preview", str(tmp_path / "spec.json"), "--reports",
                      str(tmp_path / "bad.json")])
    assert result.code == 2 and "reports[0]" in result.err
