"""The run and compare charts (uPlot) in headless Chromium against a real ``lrcast serve``:
the whole schedule by default with amendments, rewinds, decisions and rank progress marked
and explained in a legend, labels that never overlap, zoom and pan, several runs overlaid,
CSV export equal to the API's LRs, PNG export, the paged event list, /docs and /redoc
offline. Screenshots go to test-artifacts/. (Needs the ``StaticFiles`` mount: conftest.py.)"""

from __future__ import annotations

import csv
import io
import itertools
from typing import Any

import pytest
from PIL import Image

from .conftest import ARTIFACTS, download, screenshot, visible_range, wait_for_chart

pytestmark = pytest.mark.browser

LABELS_DRAWN = "sel => document.querySelectorAll(sel + ' .marker-labels .marker').length"


def _put(http: Any, run_id: str, schedule: dict[str, Any], **extra: Any) -> None:
    answer = http.put(f"/v1/runs/{run_id}", json={"schedule": schedule, **extra})
    assert answer.is_success, answer.text


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def _api_lrs(http: Any, run_id: str, steps: list[int]) -> dict[int, float]:
    """The service's LRs at `steps` (an arithmetic progression), by step."""
    stride = steps[1] - steps[0] if len(steps) > 1 else 1
    body = http.get(f"/v1/runs/{run_id}/lrs", params={"start": steps[0], "stop": steps[-1] + 1,
                                                       "stride": stride}).json()
    return dict(zip(body["steps"], body["lr"], strict=True))


def _drag(page: Any, selector: str, start: float, end: float, *, shift: bool = False) -> None:
    """Drag across the chart's plot area from fraction `start` to `end` of its width."""
    box = page.locator(f"{selector} .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    if shift:
        page.keyboard.down("Shift")
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (start + end) / 2, y, steps=4)
    page.mouse.move(box["x"] + box["width"] * end, y, steps=4)
    page.mouse.up()
    if shift:
        page.keyboard.up("Shift")


def test_whole_schedule_with_amendment_rewind_progress_and_legend(service: Any,
                                                                  page: Any) -> None:
    """StepLR(step_size=100) "ends" at 400 by the spec's length, but the amendment from step
    700 and the ranks' progress are on the chart by default."""
    with service.client() as http:
        _put(http, "steps-amended", {"type": "StepLR", "lr": 0.1, "step_size": 100,
                                     "gamma": 0.5}, world_size=4)
        for rank, step in enumerate((150, 150, 230, 231)):
            assert http.get("/v1/runs/steps-amended/lr",
                            params={"step": step, "rank": rank}).is_success
        assert http.post("/v1/runs/steps-amended/rewind", json={"to_step": 240}).is_success
        assert http.post("/v1/runs/steps-amended/amendments",
                         json={"from_step": 700, "scale": 0.5}).is_success
        run = http.get("/v1/runs/steps-amended").json()
        furthest = max(p["step"] for p in run["progress"])
        current = http.get("/v1/runs/steps-amended/lrs",
                           params={"start": furthest, "stop": furthest + 1}).json()["lr"][0]
    page.goto(service.url + "/#/runs/steps-amended")
    wait_for_chart(page, "#lr-chart", 700)
    low, high = visible_range(page, "#lr-chart")
    assert low == 0 and high >= 700
    amendment = page.locator("#lr-chart .marker.amendment")
    assert amendment.count() == 1 and amendment.is_visible()
    assert amendment.get_attribute("data-x") == "700"
    assert page.locator("#lr-chart .marker.rewind").get_attribute("data-x") == "240"
    progress = page.locator("#lr-chart .marker.progress")
    assert sorted(progress.evaluate_all("ms => ms.map(m => m.textContent)")) == sorted(
        f"{names} @{step}" for names, step in _rank_groups(run["progress"]))
    legend = page.locator("#lr-chart .marker-legend .legend-item")
    assert legend.evaluate_all("ls => ls.map(l => l.dataset.kind)") == [
        "amendment", "rewind", "progress"]
    assert "lr (group 0)" in page.text_content("#lr-chart .u-legend")
    assert float(page.inner_text("#current-lr")) == pytest.approx(current, rel=1e-3)
    screenshot(page, "run-whole-range-legend")


#: 1,000,000 tokens: 200 steps of 1,000 tokens, then 400 of 2,000 (600 steps)
TOKEN_COSINE = {"type": "cosine", "lr": 3e-4, "num_warmup_steps": 10_000,
                "num_training_steps": 1_000_000, "clock": "token",
                "batch": {"samples": 8, "tokens": 1000},
                "batch_schedule": [{"from_step": 200, "tokens": 2000}]}


def test_a_token_clock_s_whole_schedule_is_its_steps(service: Any, page: Any) -> None:
    """The spec's lengths are tokens: by default the chart spans the steps that consume
    them with the spec's batch (600), not 1,000,000 steps."""
    with service.client() as http:
        _put(http, "tokens-whole", TOKEN_COSINE)
        end = http.get("/v1/runs/tokens-whole/lrs",
                       params={"start": 598, "stop": 601}).json()["lr"]
    assert end[0] > end[1] > 0 and end[2] == 0.0  # the service's cosine ends at step 600
    page.goto(service.url + "/#/runs/tokens-whole")
    wait_for_chart(page, "#lr-chart", 300)
    assert visible_range(page, "#lr-chart") == (0, 599)
    assert page.get_attribute("#horizon", "placeholder") == "600"


def test_clock_lengths_in_steps_as_shipped(service: Any, page: Any) -> None:
    """`lengthInSteps` and `runHorizon` on sample and token clocks, run in the browser from
    the served module: the batch log's changes, an amendment's clock counted from its
    origin, and a clock whose batch is not known (the default range then)."""
    page.goto(service.url + "/")
    result = page.evaluate("""async (tokens) => {
      const z = await import('/dashboard/horizon.js');
      const samples = { type: 'CosineAnnealingLR', lr: 0.1, T_max: 1000, clock: 'sample',
        batch: { samples: 64 } };
      const later = { type: 'CosineAnnealingLR', lr: 0.1, T_max: 50000, clock: 'token' };
      return {
        tokens: z.lengthInSteps(tokens),
        samples: z.lengthInSteps(samples),
        steps: z.lengthInSteps({ ...samples, clock: 'step' }),
        unknown: z.lengthInSteps({ ...later, batch: { samples: 8 } }),
        fromOrigin: z.lengthInSteps(later, tokens, 150),
        run: z.runHorizon({ schedule: tokens, metadata: {} }),
        amended: z.runHorizon({ schedule: tokens, metadata: {}, timeline: [{ from_step: 0 },
          { from_step: 700, origin: 700, schedule: { ...later, T_max: 400000 } }] }),
        blind: z.runHorizon({ schedule: { ...later, batch: { samples: 8 } }, metadata: {} }),
      };
    }""", TOKEN_COSINE)
    assert result["tokens"] == 600
    assert result["samples"] == 16  # 1000 samples in batches of 64: the 16th step reaches it
    assert result["steps"] == 1000
    assert result["unknown"] is None  # a token clock with no tokens per step
    assert result["fromOrigin"] == 50  # steps 150..199 consume 50,000 tokens
    assert result["run"] == 600
    assert result["amended"] == 700 + 200  # 400,000 tokens from step 700 at 2,000 a step
    assert result["blind"] == 1000


def _rank_groups(progress: list[dict[str, int]]) -> list[tuple[str, int]]:
    """("r0–1", 150)-style groups of consecutive ranks at the same step."""
    groups = []
    by_step = sorted(progress, key=lambda p: (p["step"], p["rank"]))
    for step, members in itertools.groupby(by_step, key=lambda p: p["step"]):
        ranks = [p["rank"] for p in members]
        parts, i = [], 0
        while i < len(ranks):
            j = i
            while j + 1 < len(ranks) and ranks[j + 1] == ranks[j] + 1:
                j += 1
            parts.append(f"r{ranks[i]}–{ranks[j]}" if j > i else f"r{ranks[i]}")
            i = j + 1
        groups.append((",".join(parts), step))
    return groups


def test_decision_labels_never_overlap(service: Any, page: Any) -> None:
    """Thirty plateau reductions ten steps apart on a 3000-step chart: the labels stack in
    rows instead of overlapping, and a zoom spreads them out again."""
    with service.client() as http:
        _put(http, "crowded", {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.9,
                               "patience": 0}, metadata={"total_steps": 3000})
        for k in range(1, 32):
            assert http.post("/v1/runs/crowded/reports",
                             json={"step": 10 * k, "value": 1.0}).is_success
        decisions = {d["step"] for seg in http.get("/v1/runs/crowded").json()["timeline"]
                     for d in seg["decisions"]}
    assert len(decisions) == 30  # every round after the first reduces
    page.goto(service.url + "/#/runs/crowded")
    wait_for_chart(page, "#lr-chart")
    page.wait_for_function(f"() => ({LABELS_DRAWN})('#lr-chart') > 5")
    _assert_no_overlap(page)
    screenshot(page, "run-crowded-labels")
    shown = page.evaluate(LABELS_DRAWN, "#lr-chart")
    _drag(page, "#lr-chart", 0.0, 0.12)
    page.wait_for_function(f"(n) => ({LABELS_DRAWN})('#lr-chart') > n", arg=shown)
    _assert_no_overlap(page)
    drawn = page.eval_on_selector_all("#lr-chart .marker.decision",
                                      "ms => ms.map(m => +m.dataset.x)")
    low, high = visible_range(page, "#lr-chart")
    assert set(drawn) <= {s for s in decisions if low <= s <= high}


def _assert_no_overlap(page: Any) -> None:
    boxes = page.eval_on_selector_all("#lr-chart .marker-labels .marker", """ms => ms.map(m => {
        const r = m.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    for (a, b) in itertools.combinations(boxes, 2):
        apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        assert apart, f"labels overlap: {a} {b}"


def test_zoom_and_pan_change_the_visible_range(service: Any, page: Any) -> None:
    with service.client() as http:
        _put(http, "zoomed", {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 4000})
    page.goto(service.url + "/#/runs/zoomed")
    wait_for_chart(page, "#lr-chart", 1000)
    assert visible_range(page, "#lr-chart") == (0, 3999)

    _drag(page, "#lr-chart", 0.25, 0.5)  # drag across a quarter: zoom to it
    low, high = visible_range(page, "#lr-chart")
    assert low == pytest.approx(1000, abs=60) and high == pytest.approx(2000, abs=60)

    page.click("#lr-chart [data-action=zoom-in]")
    low2, high2 = visible_range(page, "#lr-chart")
    assert high2 - low2 == pytest.approx(0.6 * (high - low))
    assert (low2 + high2) / 2 == pytest.approx((low + high) / 2)

    page.click("#lr-chart [data-action=pan-right]")
    low3, high3 = visible_range(page, "#lr-chart")
    assert high3 - low3 == pytest.approx(high2 - low2) and low3 > low2

    _drag(page, "#lr-chart", 0.6, 0.4, shift=True)  # shift-drag to the left pans right
    low4, high4 = visible_range(page, "#lr-chart")
    assert high4 - low4 == pytest.approx(high3 - low3)
    assert low4 - low3 == pytest.approx(0.2 * (high3 - low3), rel=0.1)

    box = page.locator("#lr-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 200)  # wheel down zooms out
    low5, high5 = visible_range(page, "#lr-chart")
    assert high5 - low5 > high4 - low4
    page.evaluate("() => { window.drawn = document.querySelector('#lr-chart')._chart; }")
    with service.client() as http:  # a rank moves on: the live refresh redraws, same zoom
        assert http.get("/v1/runs/zoomed/lr", params={"step": 1800, "rank": 0}).is_success
    page.wait_for_function("() => document.querySelector('#lr-chart')._chart !== window.drawn")
    assert visible_range(page, "#lr-chart") == (low5, high5)
    screenshot(page, "run-zoomed")

    page.dblclick("#lr-chart .u-over")
    assert visible_range(page, "#lr-chart") == (0, 3999)
    page.click("#lr-chart [data-action=zoom-in]")
    page.click("#lr-chart [data-action=reset]")
    assert visible_range(page, "#lr-chart") == (0, 3999)


def test_csv_export_is_what_is_shown_and_equals_the_api(service: Any, page: Any) -> None:
    with service.client() as http:
        _put(http, "exported", {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 3000})
        page.goto(service.url + "/#/runs/exported")
        wait_for_chart(page, "#lr-chart", 1000)
        name, data = download(page, "#lr-chart [data-action=csv]")
        assert name == "lr-exported.csv"
        header, *rows = _rows(data)
        assert header == ["step", "lr (group 0)"]
        steps = [int(r[0]) for r in rows]
        assert steps == list(range(0, 3000, 2))  # 3000 steps drawn with stride 2
        api = _api_lrs(http, "exported", steps)
        assert [float(r[1]) for r in rows] == [api[s] for s in steps]  # exactly, no rounding

        _drag(page, "#lr-chart", 0.5, 0.7)
        low, high = visible_range(page, "#lr-chart")
        _, zoomed = download(page, "#lr-chart [data-action=csv]")
        _, *rows = _rows(zoomed)
        assert [int(r[0]) for r in rows] == [s for s in steps if low <= s <= high]
        assert [float(r[1]) for r in rows] == [api[int(r[0])] for r in rows]


def test_png_export_is_a_png_of_the_chart(service: Any, page: Any) -> None:
    with service.client() as http:
        _put(http, "pictured", {"type": "StepLR", "lr": 0.1, "step_size": 100})
        assert http.post("/v1/runs/pictured/amendments",
                         json={"from_step": 250, "scale": 0.5}).is_success
    page.goto(service.url + "/#/runs/pictured")
    wait_for_chart(page, "#lr-chart", 300)
    name, data = download(page, "#lr-chart [data-action=png]")
    assert name == "lr-pictured.png" and data.startswith(b"\x89PNG\r\n\x1a\n")
    screenshot(page, "run-png-page")
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = page.eval_on_selector("#lr-chart canvas", "c => [c.width, c.height]")
    assert image.width == width and image.height > height  # the legend is under the plot
    colors = {color for _, color in image.getcolors(maxcolors=1 << 20)}
    assert (0x29, 0x62, 0xFF) in colors  # the curve
    assert (0x86, 0x2E, 0x9C) in colors  # the amendment marker
    image.save(ARTIFACTS / "dashboard-run-export.png")  # screenshot() made the directory


def test_compare_overlays_the_chosen_runs(service: Any, page: Any) -> None:
    specs = {
        "cmp-cosine": {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 2000},
        "cmp-onecycle": {"type": "OneCycleLR", "max_lr": 0.2, "total_steps": 1000},
        "cmp-step": {"type": "StepLR", "lr": 0.05, "step_size": 500},
    }
    with service.client() as http:
        for run_id, spec in specs.items():
            _put(http, run_id, spec)
        page.goto(service.url + "/#/runs")
        page.check("tr[data-run=cmp-cosine] input.pick")
        page.check("tr[data-run=cmp-onecycle] input.pick")
        page.click("#compare-selected")
        page.wait_for_function("() => location.hash.startsWith('#/compare')")
        page.wait_for_selector("#compare-chart[data-series='2']")
        page.check("#compare-picker input[data-run=cmp-step]")
        page.wait_for_selector("#compare-chart[data-series='3']")
        assert page.locator("#compare-chart .u-legend .u-series").count() == 4  # step + 3
        assert "runs=cmp-cosine,cmp-onecycle,cmp-step" in page.evaluate("location.hash")
        screenshot(page, "compare-three-runs")

        _, data = download(page, "#compare-chart [data-action=csv]")
        header, *rows = _rows(data)
        assert header == ["step", "cmp-cosine", "cmp-onecycle", "cmp-step"]
        steps = [int(r[0]) for r in rows]
        assert steps[0] == 0 and steps[-1] >= 1999
        for column, run_id in enumerate(header[1:], start=1):
            cells = [(s, r[column]) for s, r in zip(steps, rows, strict=True) if r[column]]
            api = _api_lrs(http, run_id, [s for s, _ in cells])
            assert [float(v) for _, v in cells] == [api[s] for s, _ in cells], run_id
        # OneCycleLR ends at its total_steps: nothing is drawn for it past step 999
        assert all(not r[2] for s, r in zip(steps, rows, strict=True) if s >= 1000)


def test_events_are_paged(service: Any, page: Any) -> None:
    with service.client() as http:
        _put(http, "eventful", {"type": "StepLR", "lr": 0.1, "step_size": 100})
        for k in range(44):
            assert http.post("/v1/runs/eventful/amendments",
                             json={"from_step": 100 + 10 * k, "scale": 0.9}).is_success
        pages, after = [], 0
        while after is not None:
            body = http.get("/v1/runs/eventful/events", params={"after": after, "limit": 20}).json()
            pages.append([e["id"] for e in body["events"]])
            after = body["next"]
    assert [len(p) for p in pages] == [20, 20, 5]
    page.goto(service.url + "/#/runs/eventful")

    def shown() -> list[int]:
        return [int(t) for t in page.eval_on_selector_all(
            "#events-body tr td:first-child", "tds => tds.map(td => td.textContent)")]

    page.wait_for_function("() => document.querySelectorAll('#events-body tr').length === 20")
    assert shown() == pages[0] and page.is_disabled("#events-prev")
    for expected in pages[1:]:
        page.click("#events-next")
        page.wait_for_function("(first) => document.querySelector('#events-body td').textContent"
                               " === String(first)", arg=expected[0])
        assert shown() == expected
    assert page.is_disabled("#events-next")
    assert "events 41–45" in page.inner_text("#events-label")
    page.click("#events-prev")
    page.wait_for_function("(first) => document.querySelector('#events-body td').textContent"
                           " === String(first)", arg=pages[1][0])
    # all 44 amendments are on the chart although the table shows a page of events
    assert page.locator("#lr-chart .marker.amendment").count() + int(
        page.get_attribute("#lr-chart .marker-labels", "data-hidden")) >= 44


def test_docs_and_redoc_work_offline(service: Any, page: Any) -> None:
    """The page fixture refuses every request off the machine, so these pages only render
    from the package's assets."""
    page.goto(service.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.locator(".opblock").count() >= 10
    assert "lrcast" in page.inner_text(".swagger-ui .title")
    screenshot(page, "docs-swagger")
    page.goto(service.url + "/redoc")
    page.wait_for_selector("redoc h1")
    assert "lrcast" in page.inner_text("redoc h1")
    assert page.locator("[data-section-id='operation/events_v1_runs__run_id__events_get']"
                        ).count() == 1
    assert page.locator("[data-section-id^='operation/']").count() >= 10
    screenshot(page, "docs-redoc")


def test_chart_helpers_as_shipped(service: Any, page: Any) -> None:
    """The label layout, zoom arithmetic, CSV writer, rank grouping and default range, run
    in the browser from the served modules."""
    page.goto(service.url + "/")
    result = page.evaluate("""async () => {
      const c = await import('/dashboard/chart.js');
      const m = await import('/dashboard/model.js');
      const z = await import('/dashboard/horizon.js');
      const step = { type: 'StepLR', lr: 0.1, step_size: 100 };
      return {
        rows: c.layoutLabels([{ left: 0, width: 50 }, { left: 30, width: 50 },
          { left: 52, width: 10 }, { left: 100, width: 5 }], 6, 2).map((i) => i.row),
        zoom: c.zoomRange([0, 100], 0.5, 80),
        csv: c.toCSV(['step', 'a "b"'], [[0, 1, 2], [0.1, null, 3e-7]], 1, 2),
        ranks: m.rankRanges([0, 1, 2, 3, 7, 9, 10]),
        plain: z.runHorizon({ schedule: step, metadata: {}, timeline: [{ from_step: 0 }] }),
        amended: z.runHorizon({ schedule: step, metadata: { total_steps: 300 },
          timeline: [{ from_step: 0 }, { from_step: 700, origin: 0, schedule: step }] }),
        rewound: z.runHorizon({ schedule: step, metadata: {}, progress: [{ rank: 0, step: 900 }] },
          [{ kind: 'rewind', data: { to_step: 1200 } }]),
      };
    }""")
    assert result["rows"] == [0, 1, None, 0]  # the third fits in neither of the two rows
    assert result["zoom"] == [40, 90]
    assert result["csv"] == 'step,"a ""b"""\n1,\n2,3e-7\n'
    assert result["ranks"] == "r0–3,r7,r9–10"
    assert result["plain"] == 400  # StepLR's own length: four decays
    assert result["amended"] == 770  # the amendment at 700, with room after it
    assert result["rewound"] == 1320
