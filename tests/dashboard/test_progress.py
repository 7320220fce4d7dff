"""Where ranks really are, in the dashboard (issue 15): a real 50-step training loop with
`RemoteScheduler` shows rank 0 at step 49 with when it was last heard from; a rank silent
while others are heard is marked stale; decision events read the fields the service sends."""

from __future__ import annotations

from typing import Any

import pytest

import lrcast

from .conftest import screenshot

torch = pytest.importorskip("torch")
import lrcast.torch  # noqa: E402

pytestmark = pytest.mark.browser


def _train(url: str, run_id: str, spec: dict, steps: int, report_every: int = 0) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    with lrcast.Client(url) as client, client.run(run_id, schedule=spec, world_size=1) as run:
        sched = lrcast.torch.RemoteScheduler(opt, run)
        for step in range(steps):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if report_every and (step + 1) % report_every == 0:
                sched.step(5.0 if step > report_every else 1.0)  # worse from round 2 on
            else:
                sched.step()


def test_a_finished_job_shows_its_rank_at_its_last_step(service: Any, page: Any) -> None:
    _train(service.url, "progress-50", {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 50},
           50)
    page.goto(service.url + "/#/runs/progress-50")
    pill = page.locator("#rank-progress [data-rank='0']")
    pill.wait_for()
    assert pill.inner_text().startswith("rank 0: step 49 · ") and "s ago" in pill.inner_text()
    assert "stale" not in pill.get_attribute("class")
    screenshot(page, "progress-finished-job")
    page.goto(service.url + "/#/runs")
    row = page.locator("tr[data-run=progress-50]")
    row.locator(".pill[data-rank='0']").wait_for()
    assert "r0: 49" in row.inner_text()


def test_decisions_read_the_services_fields(service: Any, page: Any) -> None:
    _train(service.url, "progress-plateau", {"type": "ReduceLROnPlateau", "lr": 0.1,
                                             "factor": 0.5, "patience": 0}, 30, 10)
    with service.client() as http:
        decisions = [e["data"] for e in http.get("/v1/runs/progress-plateau/events").json()[
            "events"] if e["kind"] == "decision"]
    assert [d["reduced"] for d in decisions] == [False, True, True]
    page.goto(service.url + "/#/runs/progress-plateau")
    rows = page.locator("#events-body tr[data-kind=decision]")
    rows.nth(2).wait_for()
    details = rows.evaluate_all("rs => rs.map(r => r.lastElementChild.textContent)")
    assert details == ["LR stays 0.1; aggregated metric 1",
                       "LR 0.1 → 0.05; aggregated metric 5",
                       "LR 0.05 → 0.025; aggregated metric 5"]
    assert page.locator("#rank-progress [data-rank='0']").inner_text().startswith(
        "rank 0: step 29")


def test_a_rank_silent_while_others_are_heard_is_stale(service: Any, page: Any) -> None:
    """`updated_at` as the service sends it, aged by a minute for rank 1 (the service's own
    clock cannot be moved): the shipped model marks it, and no other rank."""
    with service.client() as http:
        http.put("/v1/runs/progress-stale", json={"schedule": {"type": "StepLR", "lr": 0.1,
                                                               "step_size": 10}, "world_size": 2})
        for rank in (0, 1):
            http.get("/v1/runs/progress-stale/lr", params={"step": 5, "rank": rank})
        run = http.get("/v1/runs/progress-stale").json()
    assert all(isinstance(p["updated_at"], float) for p in run["progress"])
    page.goto(service.url + "/")
    stale = page.evaluate("""async (run) => {
      const m = await import('/dashboard/model.js');
      const fresh = [...m.staleRanks(run)];
      run.progress[1].updated_at -= m.STALE_SECONDS + 1;
      return { fresh, aged: [...m.staleRanks(run)] };
    }""", run)
    assert stale == {"fresh": [], "aged": [1]}
