"""The run page in headless Chromium against a real service: the "Cool down now" button
amends the run from the first allowed step with transformers' WSD decay, the curve marks
it, and a refused step shows the service's reason; the loss chart marks the autopilot's
spikes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.test_cooldown import reference

from .conftest import screenshot
from .conftest import wait_for_chart as wait_for_curve

pytestmark = pytest.mark.browser

STEP = {"type": "StepLR", "lr": 0.1, "step_size": 100, "gamma": 0.5}


def test_the_cooldown_button_anneals_the_run_from_the_first_allowed_step(
        service: Any, page: Any) -> None:
    with service.client() as http:
        http.put("/v1/runs/dash-cooldown", json={"schedule": STEP})
        http.get("/v1/runs/dash-cooldown/lr", params={"step": 30, "rank": 0})
        floor = http.get("/v1/runs/dash-cooldown").json()["min_amendment_step"]
        page.goto(service.url + "/#/runs/dash-cooldown")
        wait_for_curve(page, "#lr-chart")
        page.fill("#cooldown-steps", "40")
        page.select_option("#cooldown-decay", "cosine")
        page.fill("#cooldown-ratio", "0.1")
        page.click("#cooldown-button")
        page.wait_for_selector(f"#cooldown-state:has-text('cooling down from step {floor}')")
        page.wait_for_selector("#lr-chart .marker.amendment")
        assert page.locator("#events-body tr[data-kind=amendment]").count() == 1
        got = [http.get("/v1/runs/dash-cooldown/lr", params={"step": floor + k}).json()["lrs"]
               for k in range(45)]
        assert got == reference([0.1 * 0.5 ** (floor // 100)], 40, "cosine", 0.1, 45)
        screenshot(page, "run-cooldown")

        page.fill("#cooldown-from", "5")  # long served: the service's reason is shown
        page.click("#cooldown-button")
        page.wait_for_selector("#cooldown-state.error:has-text('amend from step')")
        assert len(http.get("/v1/runs/dash-cooldown").json()["timeline"]) == 2


def test_the_loss_chart_marks_the_autopilot_ledger(service: Any, page: Any) -> None:
    with service.client() as http:
        http.put("/v1/runs/dash-spike", json={"schedule": STEP, "autopilot": {
            "mode": "alert", "spike": {"window": 20, "consecutive": 2}}})
        points = [[k, 1.0 + 0.01 * (k % 5)] for k in range(60)] + [[60, 9.0], [61, 9.0]]
        assert http.post("/v1/runs/dash-spike/losses",
                         json={"rank": 0, "points": points}).json()["events"] == ["spike"]
        page.goto(service.url + "/#/runs/dash-spike")
        assert wait_for_curve(page, "#loss-chart", 62) == 62
        page.wait_for_selector("#loss-chart .marker.spike")
        screenshot(page, "run-loss-spike")
