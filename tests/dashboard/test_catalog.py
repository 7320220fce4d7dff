"""The playground offers every type of the engine's catalog (GET /v1/schedule-types) next to
the curated presets, and draws each one's example spec, in a real headless Chromium."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lrcast.schedules import example_specs, schedule_types

from .conftest import screenshot
from .conftest import wait_for_chart as wait_for_curve

pytestmark = pytest.mark.browser


def test_every_catalog_type_is_offered_and_drawn(service: Any, page: Any) -> None:
    page.goto(service.url + "/#/playground")
    page.locator("#schedule-type option[value=CyclicLR]").wait_for(state="attached")
    offered = page.locator("#schedule-type option").evaluate_all(
        "os => os.map(o => o.value).filter(Boolean)")
    assert offered == schedule_types()
    for name in ("CyclicLR", "warmup_stable_decay"):
        page.select_option("#schedule-type", name)
        page.wait_for_function("(n) => document.querySelector('#preset-note').textContent"
                               ".startsWith(n + ':')", arg=name)
        assert json.loads(page.input_value("#spec-editor")) == example_specs()[name]
        wait_for_curve(page, "#preview-chart", 10)
    page.select_option("#schedule-type", "ReduceLROnPlateau")
    page.locator("#sim-note").wait_for()  # metric-driven: fed a simulated loss
    wait_for_curve(page, "#preview-chart", 10)
    screenshot(page, "playground-catalog-plateau")
    page.click("[data-preset=one-cycle]")  # the curated presets stay
    assert page.input_value("#schedule-type") == ""
