"""Every example spec, through every path a user can take to its LRs, against the engine.

The four paths: ``POST /v1/preview``, ``GET /v1/runs/{id}/lr`` after the PUT, a lease
evaluated by the client (``Client(url).run(...).lrs(step)``), and ``lrcast preview --json``
(a subprocess). Metric-driven specs get the same reports on every path (reported to the run
by its one rank, or in the preview body). A step the engine cannot answer (past a
OneCycleLR's total_steps, an LR range test's num_iter) must be refused on every path.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

import lrcast
from lrcast import errors
from lrcast.schedules import ScheduleError, Timeline, example_specs, fold_reports, parse
from tests.support import LRCastServer

EXAMPLES = example_specs()
#: a dense range for the previews, then boundaries and large steps for /lr and the lease
DENSE = range(0, 121)
SPARSE = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 19, 20, 21, 29, 30, 31, 49, 50, 51, 59, 60, 61,
          79, 80, 81, 89, 90, 91, 99, 100, 101, 120, 999, 12_345, 1_000_000, 2**40]
LARGE = [s for s in SPARSE if s not in DENSE]


def _reports() -> list[tuple[int, float]]:
    """A metric that improves, plateaus (with noise), improves again, then worsens."""
    values = [1.0 / (1 + k) for k in range(8)] + [0.2 + 0.01 * math.sin(k) for k in range(10)]
    values += [0.1 / (1 + k) for k in range(6)] + [0.5 + 0.1 * k for k in range(6)]
    return [(2 + 3 * k, v) for k, v in enumerate(values)]


REPORTS = _reports()


def _expected(spec: dict[str, Any]) -> Timeline:
    """The engine's own answer: the spec with the reports folded as the service folds them."""
    schedule = parse(spec)
    if schedule.plateau is None:
        return Timeline.single(schedule)
    segment = Timeline.single(schedule).segments[0]  # on the spec's clock, if it has one
    _, history = fold_reports(schedule.plateau, schedule.base_lrs,
                              [r for r in REPORTS if segment.folds_at(r[0])])
    assert len(history) > 0, "the reports should move the LRs of every metric-driven example"
    return Timeline.single(schedule, history)


def _engine(timeline: Timeline, step: int) -> tuple[list[float], list[float] | None] | None:
    """LRs and momenta at `step`, or None where the engine refuses the step."""
    try:
        lrs, moms = timeline.values(step)
    except ScheduleError:
        return None
    return list(lrs), None if moms is None else list(moms)


def _answered(timeline: Timeline, steps: range) -> range:
    """The prefix of `steps` the engine answers (a preview range fails as a whole)."""
    for i, step in enumerate(steps):
        if _engine(timeline, step) is None:
            return steps[:i]
    return steps


def _preview_body(spec: dict[str, Any], metric: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"schedule": spec}
    if metric:
        body["reports"] = [{"step": s, "value": v} for s, v in REPORTS]
    return body


def _check_range(timeline: Timeline, data: dict[str, Any], steps: range) -> None:
    assert data["steps"] == list(steps)
    for step, lrs in zip(data["steps"], data["lrs"], strict=True):
        assert lrs == _engine(timeline, step)[0], step  # type: ignore[index]
    if data.get("momentum") is not None:
        for step, mom in zip(data["steps"], data["momentum"], strict=True):
            assert mom == _engine(timeline, step)[1][0], step  # type: ignore[index]


@pytest.fixture(scope="module")
def http(service: LRCastServer) -> Any:
    with service.client() as c:
        yield c


@pytest.mark.parametrize("name", EXAMPLES)
def test_preview_matches_the_engine(http: httpx.Client, name: str) -> None:
    spec = EXAMPLES[name]
    timeline = _expected(spec)
    body = _preview_body(spec, timeline.segments[0].schedule.metric_driven)
    dense = _answered(timeline, DENSE)
    r = http.post("/v1/preview", json={**body, "start": 0, "stop": dense[-1] + 1})
    assert r.status_code == 200, r.text
    _check_range(timeline, r.json(), dense)
    for step in LARGE:
        r = http.post("/v1/preview", json={**body, "start": step, "stop": step + 1})
        if _engine(timeline, step) is None:
            assert r.status_code == 422 and r.json()["code"] == "step_out_of_range", r.text
        else:
            assert r.status_code == 200, r.text
            _check_range(timeline, r.json(), range(step, step + 1))


def _put_and_report(url: str, spec: dict[str, Any], metric: bool) -> str:
    """A one-rank run of `spec`, with the reports decided; its id."""
    run_id = f"paths-{uuid.uuid4().hex[:12]}"
    with lrcast.Client(url) as client:
        run = client.run(run_id, spec, world_size=1, rank=0)
        if metric:
            for step, value in REPORTS:
                assert run.report(step, value).decided
    return run_id


@pytest.mark.parametrize("name", EXAMPLES)
def test_get_lr_and_the_lease_match_the_engine(service: LRCastServer, http: httpx.Client,
                                               name: str) -> None:
    spec = EXAMPLES[name]
    timeline = _expected(spec)
    run_id = _put_and_report(service.url, spec, timeline.segments[0].schedule.metric_driven)
    for step in SPARSE:
        expected = _engine(timeline, step)
        r = http.get(f"/v1/runs/{run_id}/lr", params={"step": step})
        if expected is None:
            assert r.status_code == 422 and r.json()["code"] == "step_out_of_range", r.text
            continue
        assert r.status_code == 200, r.text
        assert (r.json()["lrs"], r.json()["momentums"]) == expected, step
    with lrcast.Client(service.url) as client:
        run = client.run(run_id, rank=0)
        for step in SPARSE:
            expected = _engine(timeline, step)
            if expected is None:
                with pytest.raises((errors.StepOutOfRange, ScheduleError)):
                    run.lrs(step)
                continue
            assert (run.lrs(step), run.momentums(step)) == expected, step


@pytest.mark.parametrize("name", EXAMPLES)
def test_cli_preview_matches_the_engine(tmp_path: Path, name: str) -> None:
    """`lrcast preview` evaluates locally (no service), with the same engine."""
    spec = EXAMPLES[name]
    timeline = _expected(spec)
    dense = _answered(timeline, DENSE)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(_preview_body(spec, timeline.segments[0].schedule.metric_driven)))
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "lrcast", "preview", str(path), "--json",
         "--steps", str(len(dense)), "--points", str(len(dense))],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    _check_range(timeline, json.loads(result.stdout), dense)


@pytest.mark.parametrize(("spec", "field", "hint"), [
    ({"type": "StepLR", "lr": 0.1, "step_size": 2, "gama": 0.5}, "schedule.gama",
     "did you mean 'gamma'?"),
    ({"type": "Greedy", "lr": 0.1}, "schedule.type", "did you mean 'greedy'?"),
])
def test_the_service_shows_the_engine_suggestion(http: httpx.Client, spec: dict[str, Any],
                                                 field: str, hint: str) -> None:
    for r in (http.put(f"/v1/runs/paths-{uuid.uuid4().hex[:12]}", json={"schedule": spec}),
              http.post("/v1/preview", json={"schedule": spec, "steps": 3})):
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field and hint in r.json()["detail"]
