"""Fixtures for the dashboard tests: a real lrcast service and Debian's headless Chromium
driven by Playwright for Python (never a downloaded browser).

The vendored libraries live in ``dashboard/vendor/`` and are served under
``/dashboard/vendor/`` by Starlette's ``StaticFiles`` mounted at ``/dashboard``; ``/docs`` and
``/redoc`` load their bundles from there. Every test that loads a page needs that mount.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
#: the dashboard's files as the installed package holds them
DASHBOARD_DIR = Path(str(files("lrcast_service") / "dashboard"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless; the test skips with the reason when it is missing."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (Python) is not installed (pip install playwright)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own sessionStorage) and page, offline: a request to
    anything but the loopback service is refused and fails the test, as do page errors."""
    context = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    context.route("**/*", _loopback_only(errors))
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"errors on the page: {errors}"


# ReDoc's "API docs by Redocly" logo: the bundle hides it when it fails to load, so it is
# refused quietly (the only request off the machine any page makes)
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _loopback_only(errors: list[str]) -> Callable[[Any], None]:
    def handle(route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        elif url == REDOCLY_LOGO:
            route.abort()
        else:
            errors.append(f"request off the machine: {url}")
            route.abort()
    return handle


def wait_for_chart(page: Any, selector: str, min_points: int = 50) -> int:
    """Wait until the chart `selector` (a uPlot container) draws at least `min_points` points
    of its last series; how many it draws."""
    page.wait_for_function("([sel, n]) => { const c = document.querySelector(sel);"
                           " return c !== null && c.querySelector('canvas') !== null"
                           " && Number(c.dataset.points) >= n; }", arg=[selector, min_points])
    return int(page.get_attribute(selector, "data-points"))


def visible_range(page: Any, selector: str) -> tuple[float, float]:
    """The chart's visible x range, as uPlot's scale has it."""
    low, high = page.eval_on_selector(selector, "c => [c.dataset.xMin, c.dataset.xMax]")
    return float(low), float(high)


def download(page: Any, button: str) -> tuple[str, bytes]:
    """Click an export button; the downloaded file's suggested name and bytes."""
    with page.expect_download() as info:
        page.click(button)
    path = info.value.path()
    return info.value.suggested_filename, Path(path).read_bytes()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (test-artifacts/, gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
