"""The dashboard in a real headless Chromium against a real lrcast service: the playground
draws presets and creates runs, validation errors land at the field, the runs list and run
page show progress, decisions and the range test, and the token prompt works with auth on.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.support import TEST_TOKEN as TOKEN

from .conftest import screenshot
from .conftest import wait_for_chart as wait_for_curve

pytestmark = pytest.mark.browser


def test_playground_draws_a_preset_and_creates_the_run(service: Any, page: Any) -> None:
    page.goto(service.url + "/#/playground")
    page.click("[data-preset=warmup-cosine]")
    assert wait_for_curve(page, "#preview-chart") >= 1000
    page.check("#log-scale")
    wait_for_curve(page, "#preview-chart")
    screenshot(page, "playground-warmup-cosine")

    page.fill("#run-id", "from-playground")
    page.fill("#world-size", "4")
    page.click("#create-run")
    page.wait_for_selector("#created-link")
    assert "Created" in page.inner_text("#create-status")
    with service.client() as http:
        run = http.get("/v1/runs/from-playground").json()
    spec = json.loads(page.input_value("#spec-editor"))
    assert run["schedule"] == spec and spec["type"] == "SequentialLR"
    assert run["world_size"] == 4

    page.click("#created-link")
    page.wait_for_selector("#run-title")
    assert wait_for_curve(page, "#lr-chart") > 1000
    assert page.inner_text("#run-type") == "SequentialLR"
    assert "steps 0–9999" in page.inner_text("#lr-status")  # the playground's 10,000 steps
    screenshot(page, "run-from-playground")
    page.fill("#horizon", "600")
    page.dispatch_event("#horizon", "change")
    page.wait_for_function("() => document.querySelector('#lr-status').textContent"
                           ".includes('steps 0–599')")


def test_a_validation_error_is_shown_at_its_field(service: Any, page: Any) -> None:
    page.goto(service.url + "/#/playground")
    page.click("[data-preset=warmup-cosine]")
    wait_for_curve(page, "#preview-chart")
    text = page.input_value("#spec-editor")
    page.fill("#spec-editor", text.replace('"T_max": 9500', '"T_max": "soon"'))
    page.wait_for_selector("#field-error:not([hidden])")
    assert page.get_attribute("#field-error", "data-field") == "schedule.schedulers[1].T_max"
    assert "positive integer" in page.inner_text("#field-error")
    bad_line = 1 + text.splitlines().index(next(line for line in text.splitlines()
                                                 if '"T_max"' in line))
    assert page.inner_text(".editor .gutter .bad") == str(bad_line)
    assert page.inner_text(".editor .backdrop mark").startswith('"T_max"')
    screenshot(page, "playground-field-error")

    page.fill("#spec-editor", text.replace('"T_max": 9500,', '"T_max": 9500'))  # bad JSON
    page.wait_for_function("() => document.querySelector('#field-error').textContent"
                           ".includes('JSON syntax error')")
    page.fill("#spec-editor", text)
    page.wait_for_selector("#field-error", state="hidden")


def test_every_preset_draws_a_curve(service: Any, page: Any) -> None:
    page.goto(service.url + "/#/playground")
    page.wait_for_selector("[data-preset]")
    for preset in page.eval_on_selector_all("[data-preset]", "bs => bs.map(b => b.dataset.preset)"):
        page.click(f"[data-preset={preset}]")
        page.wait_for_function("(id) => document.querySelector('#run-id').value.startsWith(id)"
                               " && document.querySelector('#preview-status').textContent"
                               ".includes('points')", arg=preset)
        assert page.is_hidden("#field-error"), preset
        wait_for_curve(page, "#preview-chart")
        if preset == "plateau":  # the simulated loss is sent as reports: the LR is reduced
            assert page.locator("#preview-chart .marker.decision").count() >= 1
            wait_for_curve(page, "#loss-chart .chart", 5)
            screenshot(page, "playground-plateau")


def _plateau_run(http: Any, run_id: str, rounds: int) -> None:
    """A 3-rank plateau run whose loss stalls: with patience 1 the LR is halved at rounds
    4, 6, 8, ..."""
    spec = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 1}
    assert http.put(f"/v1/runs/{run_id}", json={"schedule": spec, "world_size": 3,
                                                "metadata": {"total_steps": 2000}}).is_success
    for k in range(1, rounds + 1):
        step = 100 * k
        for rank in range(3):
            value = (2.0 if k == 1 else 1.5) + 0.05 * rank  # stalls from round 2 on
            assert http.post(f"/v1/runs/{run_id}/reports",
                             json={"step": step, "value": value, "rank": rank}).is_success
            http.get(f"/v1/runs/{run_id}/lr", params={"step": step, "rank": rank})


def test_runs_list_shows_progress_lr_and_decisions(service: Any, page: Any) -> None:
    with service.client() as http:
        _plateau_run(http, "list-plateau", 6)
        http.post("/v1/runs/list-plateau/reports", json={"step": 700, "value": 1.0, "rank": 0})
        http.put("/v1/runs/list-cosine", json={"schedule": {
            "type": "OneCycleLR", "max_lr": 0.1, "total_steps": 1000}, "world_size": 2})
        http.get("/v1/runs/list-cosine/lr", params={"step": 500, "rank": 0})
        http.get("/v1/runs/list-cosine/lr", params={"step": 20, "rank": 1})
    page.goto(service.url + "/#/runs")
    row = page.locator("tr[data-run=list-plateau]")
    row.locator(".pill.reduce").wait_for()
    assert "ReduceLROnPlateau" in row.inner_text()
    # the LR at the furthest rank's step (600: a report alone does not move a rank), which
    # the round opened at 700 does not bar
    assert "r2: 600" in row.inner_text() and "0.025" in row.inner_text()
    cosine = page.locator("tr[data-run=list-cosine]")
    cosine.locator(".pill[data-rank='1']").wait_for()  # both heard from: neither stale
    assert cosine.locator(".pill.stale").count() == 0
    assert "r0: 500" in cosine.inner_text() and "OneCycleLR" in cosine.inner_text()
    page.fill("#runs-filter", "OneCycle")
    assert page.locator("tr[data-run=list-plateau]").count() == 0
    assert page.locator("tr[data-run=list-cosine]").count() == 1
    page.fill("#runs-filter", "")
    screenshot(page, "runs-list")

    with service.client() as http:  # more runs than a page holds (20): a next page
        for k in range(22):
            http.put(f"/v1/runs/page-{k:02d}", json={"schedule": {"type": "StepLR", "lr": 0.1,
                                                                  "step_size": 10}})
    page.click("#runs-prev") if page.is_enabled("#runs-prev") else page.reload()
    page.wait_for_selector("tr[data-run=page-00]")
    assert page.locator("#runs-body tr").count() == 20
    page.click("#runs-next")
    page.wait_for_function("() => !document.querySelector('tr[data-run=page-00]')")
    assert page.locator("#runs-body tr").count() >= 2
    page.click("#runs-prev")
    page.wait_for_selector("tr[data-run=page-00]")


def test_run_page_marks_decisions_and_refreshes_live(service: Any, page: Any) -> None:
    with service.client() as http:
        _plateau_run(http, "live-plateau", 4)
        page.goto(service.url + "/#/runs/live-plateau")
        wait_for_curve(page, "#lr-chart")
        wait_for_curve(page, "#metric-chart", 3)
        reductions = page.locator("#lr-chart .marker.decision").count()
        assert reductions >= 1
        events = page.locator("#events-body tr").count()
        for k in (5, 6, 7):  # the job goes on: more stalled rounds, more reductions
            for rank in range(3):
                http.post("/v1/runs/live-plateau/reports",
                          json={"step": 100 * k, "value": 1.2 + 0.01 * rank, "rank": rank})
        http.post("/v1/runs/live-plateau/amendments", json={"from_step": 1500, "scale": 0.5})
    page.wait_for_function("(n) => document.querySelectorAll('#events-body tr').length >= n + 4",
                           arg=events, timeout=20_000)
    page.wait_for_selector("#lr-chart .marker.amendment")
    assert page.locator("#lr-chart .marker.decision").count() == reductions + 1  # step 700
    assert page.locator("#events-body tr[data-kind=amendment]").count() == 1
    screenshot(page, "run-plateau-live")

    with service.client() as http:  # resumed from a checkpoint at 650: the 700 cut is undone
        assert http.post("/v1/runs/live-plateau/rewind", json={"to_step": 650}).is_success
    page.wait_for_selector("#lr-chart .marker.rewind", timeout=20_000)
    page.wait_for_function("(n) => document.querySelectorAll('#lr-chart .marker.decision')"
                           ".length === n", arg=reductions)
    screenshot(page, "run-plateau-rewound")


def test_range_test_page_suggests_and_offers_a_follow_up_run(service: Any, page: Any) -> None:
    spec = {"type": "LRRangeTest", "lr": 1e-6, "end_lr": 10, "num_iter": 80}
    with service.client() as http:
        assert http.put("/v1/runs/range-ui", json={"schedule": spec}).is_success
        for step in range(80):
            lr = http.get("/v1/runs/range-ui/lr", params={"step": step}).json()["lr"]
            x = math.log10(lr)
            loss = 2.0 - 1.0 / (1 + math.exp(-3 * (x + 3))) + (math.exp(3 * (x + 0.5)) if x > -2
                                                               else 0.0)
            if not http.post("/v1/runs/range-ui/reports",
                             json={"step": step, "value": loss}).is_success:
                break
        suggested = http.get("/v1/runs/range-ui/suggestion").json()["suggested_lr"]
    page.goto(service.url + "/#/runs/range-ui")
    page.wait_for_selector("#suggested-lr")
    wait_for_curve(page, "#suggestion-chart")
    assert page.locator("#suggestion-chart .marker.suggestion").count() == 1
    screenshot(page, "run-range-test")
    page.click("#make-one-cycle")
    page.wait_for_function("() => location.hash === '#/playground'")
    wait_for_curve(page, "#preview-chart")
    spec = json.loads(page.input_value("#spec-editor"))
    assert spec["type"] == "OneCycleLR" and spec["max_lr"] == pytest.approx(suggested)


def test_token_prompt_with_auth_on(auth_service: Any, page: Any) -> None:
    with auth_service.client() as http:
        http.put("/v1/runs/secret-run", json={"schedule": {"type": "StepLR", "lr": 0.1,
                                                           "step_size": 100}})
    page.goto(auth_service.url + "/#/runs")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token-input", "wrong-token")
    page.click("#token-submit")
    page.wait_for_function("() => document.querySelector('#token-message').textContent"
                           ".includes('refused')")
    assert page.is_visible("#token-dialog")
    screenshot(page, "token-prompt")
    page.fill("#token-input", TOKEN)
    page.click("#token-submit")
    page.wait_for_selector("tr[data-run=secret-run]")
    assert page.evaluate("sessionStorage.getItem('lrcast.token')") == TOKEN
    assert page.is_visible("#auth-state")

    page.reload()  # the token is kept for the browser session: no prompt again
    page.wait_for_selector("tr[data-run=secret-run]")
    assert not page.is_visible("#token-dialog")
    page.goto(auth_service.url + "/#/runs/secret-run")
    wait_for_curve(page, "#lr-chart")
    screenshot(page, "run-with-token")

    page.click("#forget-token")
    page.wait_for_selector("#token-dialog[open]")


def test_json_field_spans(service: Any, page: Any) -> None:
    """The editor's field locator, run in the browser as shipped."""
    page.goto(service.url + "/")
    result = page.evaluate("""async () => {
      const j = await import('/dashboard/jsonpos.js');
      const text = '{\\n  "a": [1, {"b": "x"}],\\n  "c": {"d": 2}\\n}';
      const { value, spans } = j.parseWithSpans(text);
      const at = (p) => text.slice(spans.get(p).start, spans.get(p).end);
      let error = null;
      try { j.parseWithSpans('{"a": 1,}'); } catch (e) { error = [e.message, e.pos]; }
      return {
        value, b: at('a[1].b'), c: at('c'), line: j.lineOf(text, spans.get('c.d').start),
        fallback: j.spanOf(spans, 'c.d.e[3]').path, missing: j.spanOf(spans, 'zz').path,
        error,
      };
    }""")
    assert result["value"] == {"a": [1, {"b": "x"}], "c": {"d": 2}}
    assert result["b"] == '"b": "x"' and result["c"] == '"c": {"d": 2}'
    assert result["line"] == 3 and result["fallback"] == "c.d" and result["missing"] == ""
    assert result["error"] == ["expected a string", 8]
