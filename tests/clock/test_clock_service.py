"""Sample and token clocks through a real server (SQLite and PostgreSQL): a training loop whose
batch doubles mid-run gets, at each step, the closed form at the tokens consumed so far, and
every path (GET /lr, /lrs, /timeline, the preview, a lease, the CLI preview) agrees; the
promise on consumption entries, idempotent repeats, conflicts and the 422s."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

import lrcast
import lrcast.torch
from lrcast import errors
from lrcast.schedules import Timeline
from tests.support import LRCastServer

#: tokens per step (the global batch): 1024, from step 40 on 2048, from step 90 on 1536
CHANGES = {40: (16, 2048), 90: (12, 1536)}
FIRST = (8, 1024)
STEPS = 130


def batch_of(step: int) -> tuple[int, int]:
    """(samples, tokens) the training loop consumes at `step`."""
    current = FIRST
    for at in sorted(CHANGES):
        if step >= at:
            current = CHANGES[at]
    return current


def tokens_before(step: int) -> int:
    return sum(batch_of(t)[1] for t in range(step))


def torch_cosine(position: int, t_max: int, eta_min: float) -> float:
    """torch's CosineAnnealingLR (lr 0.1) at epoch `position`, by its own closed form."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    sched.last_epoch = position
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(sched._get_closed_form_lr()[0])


def hf_cosine(position: int, warmup: int, total: int) -> float:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=3e-4)
    return 3e-4 * get_cosine_schedule_with_warmup(opt, warmup, total).lr_lambdas[0](position)


SPECS = {
    "CosineAnnealingLR": ({"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 150_000,
                           "eta_min": 0.001, "clock": "token", "batch": {"samples": 8,
                                                                         "tokens": 1024}},
                          lambda tokens: torch_cosine(tokens, 150_000, 0.001)),
    "cosine": ({"type": "cosine", "lr": 3e-4, "num_warmup_steps": 20_000,
                "num_training_steps": 200_000, "clock": "token", "batch": {"tokens": 1024}},
               lambda tokens: hf_cosine(tokens, 20_000, 200_000)),
}


def _writes(server: LRCastServer) -> dict[str, float]:
    """POST requests answered so far, by route (the service's own counter)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(server.url + "/metrics").text):
        for sample in family.samples:
            if sample.name == "lrcast_http_requests_total" and \
                    sample.labels["method"] == "POST":
                route = sample.labels["route"]
                out[route] = out.get(route, 0.0) + sample.value
    return out


def test_telling_every_step_is_no_call_per_step(server: LRCastServer, run_id: str) -> None:
    """130 steps each telling its batch, three changes: a handful of lease requests (each
    carrying what changed), no consumption call at all."""
    before = _writes(server)
    _train(server.url, run_id, SPECS["CosineAnnealingLR"][0])
    after = _writes(server)
    sent = {route: after[route] - before.get(route, 0.0) for route in after}
    assert sent.get("/v1/runs/{run_id}/consumption", 0.0) == 0.0, sent
    assert sent["/v1/runs/{run_id}/leases"] <= 8, sent


def _declared(spec: dict[str, Any]) -> dict[str, Any]:
    """The same spec with the batch changes declared in it (for the previews)."""
    return {**spec, "batch_schedule": [{"from_step": at, "samples": s, "tokens": t}
                                       for at, (s, t) in sorted(CHANGES.items())]}


def _train(url: str, run_id: str, spec: dict[str, Any]) -> list[float]:
    """A training loop on a RemoteScheduler telling each step's tokens; the LR of each step."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    used = []
    with lrcast.Client(url) as client:
        run = client.run(run_id, spec, world_size=1, rank=0)
        sched = lrcast.torch.RemoteScheduler(opt, run)
        for step in range(STEPS):
            used.append(opt.param_groups[0]["lr"])
            opt.step()
            samples, tokens = batch_of(step)
            if step % 7 == 3:  # the amounts in force: the same as not giving them
                sched.step()
            else:
                sched.step(samples=samples, tokens=tokens)
        run.close()
    return used


@pytest.mark.parametrize("name", SPECS)
def test_a_doubling_batch_gives_the_closed_form_at_the_tokens_consumed_on_every_path(
        server: LRCastServer, client: httpx.Client, run_id: str, name: str,
        tmp_path: Path) -> None:
    spec, reference = SPECS[name]
    expected = [reference(tokens_before(step)) for step in range(STEPS)]
    used = _train(server.url, run_id, spec)
    assert used == pytest.approx(expected, rel=1e-12)

    lrs = client.get(f"/v1/runs/{run_id}/lrs", params={"start": 0, "stop": STEPS}).json()
    assert lrs["lr"] == pytest.approx(expected, rel=1e-12)
    for step in (0, 1, 39, 40, 41, 42, 90, 91, 129):
        r = client.get(f"/v1/runs/{run_id}/lr", params={"step": step})
        assert r.json()["lr"] == lrs["lr"][step], step
    data = client.get(f"/v1/runs/{run_id}/timeline").json()
    assert data["consumption"] == [  # the spec's batch, then what the loop told
        {"from_step": 0, "samples": 8, "tokens": 1024},
        {"from_step": 40, "samples": 16, "tokens": 2048},
        {"from_step": 90, "samples": 12, "tokens": 1536}]
    local = Timeline.from_json(data["timeline"], data["consumption"])
    assert [local.lr(k) for k in range(STEPS)] == lrs["lr"]

    preview = client.post("/v1/preview", json={"schedule": _declared(spec), "steps": STEPS})
    assert preview.status_code == 200, preview.text
    assert preview.json()["lr"] == lrs["lr"]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"schedule": _declared(spec)}))
    cli = subprocess.run([sys.executable, "-m", "lrcast", "preview", str(path), "--json",
                          "--steps", str(STEPS), "--points", str(STEPS)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["lr"] == lrs["lr"]


@pytest.mark.parametrize("scaling", ["linear", "sqrt"])
def test_batch_scaling_through_a_lease(server: LRCastServer, client: httpx.Client, run_id: str,
                                       scaling: str) -> None:
    spec = {"type": "linear", "lr": 0.001, "num_warmup_steps": 10, "num_training_steps": 200,
            "batch_scaling": scaling, "reference_batch_size": 8, "batch": {"samples": 8}}
    used = _train(server.url, run_id, spec)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.001)
    hf = get_linear_schedule_with_warmup(opt, 10, 200).lr_lambdas[0]
    for step, lr in enumerate(used):
        plain = 0.001 * hf(step)
        ratio = batch_of(max(step - 1, 0))[0] / 8
        factor = ratio if scaling == "linear" else math.sqrt(ratio)
        assert lr == pytest.approx(plain * factor, rel=1e-12, abs=1e-18), step
    lrs = client.get(f"/v1/runs/{run_id}/lrs", params={"start": 0, "stop": STEPS}).json()
    assert lrs["lr"] == pytest.approx(used, rel=1e-12, abs=1e-18)


def _put(client: httpx.Client, run_id: str, spec: dict[str, Any], world_size: int = 1) -> None:
    r = client.put(f"/v1/runs/{run_id}", json={"schedule": spec, "world_size": world_size})
    assert r.status_code == 201, r.text


def _consume(client: httpx.Client, run_id: str, *entries: dict[str, int]) -> httpx.Response:
    return client.post(f"/v1/runs/{run_id}/consumption", json={"entries": list(entries)})


def test_the_promise_repeats_and_conflicts(client: httpx.Client, run_id: str) -> None:
    spec, _ = SPECS["CosineAnnealingLR"]
    _put(client, run_id, spec, world_size=2)
    assert client.get(f"/v1/runs/{run_id}/lr", params={"step": 50, "rank": 1}).status_code == 200
    r = _consume(client, run_id, {"from_step": 20, "tokens": 2048})
    assert r.status_code == 409, r.text
    assert r.json() | {"detail": None} == {"detail": None, "code": "lr_already_served",
                                           "step": 20, "served_step": 50, "rank": 1}
    before = client.get(f"/v1/runs/{run_id}/lr", params={"step": 50}).json()["lr"]
    r = _consume(client, run_id, {"from_step": 50, "tokens": 2048})  # LR(50) does not depend
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert client.get(f"/v1/runs/{run_id}/lr", params={"step": 50}).json()["lr"] == before
    assert client.get(f"/v1/runs/{run_id}/lr", params={"step": 51}).json()["lr"] == \
        pytest.approx(torch_cosine(50 * 1024 + 2048, 150_000, 0.001), rel=1e-12)
    for _ in range(2):  # another rank's copy, a retry, the amount in force: no-ops, even late
        r = _consume(client, run_id, {"from_step": 50, "tokens": 2048},
                     {"from_step": 10, "samples": 8})
        assert r.status_code == 200 and r.json()["accepted"] == 0, r.text
    r = _consume(client, run_id, {"from_step": 50, "tokens": 4096})
    assert r.status_code == 409 and r.json()["code"] == "consumption_conflict", r.text
    assert r.json()["recorded"] == 2048
    with pytest.raises(errors.ConsumptionConflict):  # the client's class for it
        raise errors.from_response(409, r.json())
    # the same through a lease body: refused before the lease, which is then not served
    r = client.post(f"/v1/runs/{run_id}/leases", json={
        "rank": 0, "step": 60, "steps": 10, "consumption": [{"from_step": 30, "tokens": 1}]})
    assert r.status_code == 409 and r.json()["code"] == "lr_already_served", r.text
    r = client.post(f"/v1/runs/{run_id}/leases", json={
        "rank": 0, "step": 60, "at": 60, "steps": 10,
        "consumption": [{"from_step": 55, "tokens": 512}]})
    assert r.status_code == 200, r.text
    assert r.json()["consumption"][-1] == {"from_step": 55, "tokens": 512}


def test_a_rewind_drops_the_consumption_from_its_step(client: httpx.Client,
                                                       run_id: str) -> None:
    spec, _ = SPECS["CosineAnnealingLR"]
    _put(client, run_id, spec)
    assert _consume(client, run_id, {"from_step": 10, "tokens": 2048},
                    {"from_step": 30, "tokens": 4096},
                    {"from_step": 40, "tokens": 512}).json()["accepted"] == 3
    lr30 = client.get(f"/v1/runs/{run_id}/lr", params={"step": 30}).json()["lr"]
    # the checkpoint was saved with the scheduler at step 30 (steps 0..29 ran): the resumed
    # job runs step 30 first, so what step 30 consumed is told again (as the client assumes)
    assert client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 30}).status_code == 200
    log = client.get(f"/v1/runs/{run_id}/timeline").json()["consumption"]
    assert log == [{"from_step": 0, "samples": 8, "tokens": 1024},
                   {"from_step": 10, "tokens": 2048}]
    assert client.get(f"/v1/runs/{run_id}/lr", params={"step": 30}).json()["lr"] == lr30
    # the resumed job may consume another amount from the checkpoint's step on
    assert _consume(client, run_id, {"from_step": 30, "tokens": 1024}).status_code == 200
    conflict = _consume(client, run_id, {"from_step": 30, "tokens": 4096})
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["code"] == "consumption_conflict"


@pytest.mark.parametrize(("spec", "field"), [
    ({"type": "StepLR", "lr": 0.1, "step_size": 3, "clock": "minute"}, "schedule.clock"),
    ({"type": "StepLR", "lr": 0.1, "step_size": 3, "batch_scaling": "sqrt",
      "batch": {"samples": 8}}, "schedule.reference_batch_size"),
    ({"type": "StepLR", "lr": 0.1, "step_size": 3, "clock": "token"}, "schedule.batch"),
    ({"type": "StepLR", "lr": 0.1, "step_size": 3, "batch_scaling": "linear",
      "reference_batch_size": 8, "batch": {"tokens": 8}}, "schedule.batch"),
    ({"type": "StepLR", "lr": 0.1, "step_size": 3, "clock": "token",
      "batch": {"tokens": -1}}, "schedule.batch.tokens"),
])
def test_invalid_clock_specs_are_422_naming_the_field(client: httpx.Client, run_id: str,
                                                       spec: dict[str, Any], field: str) -> None:
    for r in (client.put(f"/v1/runs/{run_id}", json={"schedule": spec}),
              client.post("/v1/preview", json={"schedule": spec, "steps": 5})):
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field, r.text


@pytest.mark.parametrize(("entries", "field"), [
    ([{"from_step": 3}], "entries[0]"),
    ([{"from_step": 3, "tokens": 0}], "entries[0].tokens"),
    ([{"from_step": 3, "tokens": 2.5}], "entries[0].tokens"),
    ([{"from_step": -1, "tokens": 2}], "entries[0].from_step"),
    ([{"from_step": 3, "tokens": 2, "steps": 1}], "entries[0].steps"),
])
def test_invalid_entries_are_422(client: httpx.Client, run_id: str, entries: list[Any],
                                 field: str) -> None:
    _put(client, run_id, SPECS["cosine"][0])
    r = client.post(f"/v1/runs/{run_id}/consumption", json={"entries": entries})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.text


def test_an_amendment_carries_no_batch(client: httpx.Client, run_id: str) -> None:
    spec, _ = SPECS["CosineAnnealingLR"]
    _put(client, run_id, spec)
    r = client.post(f"/v1/runs/{run_id}/amendments", json={"from_step": 100, "schedule": spec})
    assert r.status_code == 422 and r.json()["field"] == "schedule.batch", r.text
    amendment = {k: v for k, v in spec.items() if k != "batch"}
    r = client.post(f"/v1/runs/{run_id}/amendments", json={"from_step": 100,
                                                           "schedule": amendment})
    assert r.status_code == 200, r.text
    # from step 100 the new cosine counts the tokens since step 100
    lr = client.get(f"/v1/runs/{run_id}/lr", params={"step": 110}).json()["lr"]
    assert lr == pytest.approx(torch_cosine(10 * 1024, 150_000, 0.001), rel=1e-12)


def test_bad_amounts_in_the_client_raise_clearly(server: LRCastServer, run_id: str) -> None:
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0)
    with lrcast.Client(server.url) as c:
        sched = lrcast.torch.RemoteScheduler(opt, c.run(run_id, SPECS["cosine"][0], rank=0))
        for bad in ({"tokens": -5}, {"tokens": 2.5}, {"samples": True}, {"tokens": "8"}):
            with pytest.raises(errors.InvalidRequest, match="must be an integer"):
                sched.step(**bad)
        assert sched.last_epoch == 0  # a refused call moves nothing


def test_two_ranks_warmup_then_plateau_in_tokens(server: LRCastServer, run_id: str) -> None:
    """Two ranks (threads), a token-clock warmup then ReduceLROnPlateau, the batch doubling
    mid-warmup: both ranks use the same LRs, equal to torch's LinearLR at the tokens consumed,
    then torch's ReduceLROnPlateau fed the ranks' mean from the round the warmup ends at."""
    import threading

    warmup = 60 * 1024  # tokens: reached at step 50 (40 x 1024, then 2048 a step)
    spec = {"type": "SequentialLR", "lr": 0.1, "milestones": [warmup], "clock": "token",
            "batch": {"samples": 8, "tokens": 1024}, "schedulers": [
                {"type": "LinearLR", "start_factor": 0.1, "total_iters": warmup},
                {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 1}]}
    every = 10

    def metric(step: int, rank: int) -> float:
        return 1.0 / (1 + min(step // every, 6)) + 0.01 * rank

    used: dict[int, list[float]] = {}
    failures: list[BaseException] = []

    def train(rank: int) -> None:
        try:
            opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0)
            with lrcast.Client(server.url) as c:
                run = c.run(run_id, spec, world_size=2, rank=rank)
                sched = lrcast.torch.RemoteScheduler(opt, run)
                lrs = used[rank] = []
                for step in range(STEPS):
                    lrs.append(opt.param_groups[0]["lr"])
                    samples, tokens = batch_of(step)
                    if (step + 1) % every == 0:
                        sched.step(metric(step + 1, rank), samples=samples, tokens=tokens)
                    else:
                        sched.step(samples=samples, tokens=tokens)
                run.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=train, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    assert used[0] == used[1]

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    expected = []
    for step in range(STEPS):
        tokens = tokens_before(step)
        if step % every == 0 and step > 0 and tokens >= warmup:  # the round at `step` folds
            plateau.step((metric(step, 0) + metric(step, 1)) / 2)
        if tokens < warmup:
            expected.append(0.1 * (0.1 + 0.9 * tokens / warmup))
        else:
            expected.append(opt.param_groups[0]["lr"])
    assert used[0] == pytest.approx(expected, rel=1e-9)
    assert min(expected) < 0.1 * 0.5  # the plateau part did reduce


def test_a_membership_change_drops_this_rank_s_consumption_from_its_step(
        server: LRCastServer, client: httpx.Client, run_id: str) -> None:
    """A membership change is a rewind: the steps from its `from_step` on run again, so the
    rank forgets what it told of them and has not sent yet, as the service drops what it
    holds; the entries before it still leave with the next lease, and the rank's local LRs
    stay the service's."""
    spec, _ = SPECS["CosineAnnealingLR"]
    _put(client, run_id, spec)
    with lrcast.Client(server.url) as lc:
        run = lc.run(run_id, spec, rank=0, world_size=1)
        run.record_consumption(10, tokens=2048)
        run.record_consumption(50, tokens=4096)  # neither sent yet
        run.membership(world_size=1, from_step=40, epoch=1)
        lrs = {step: run.lr(step) for step in (41, 60, 90)}
        served = client.get(f"/v1/runs/{run_id}/timeline").json()["consumption"]
        assert served == [{"from_step": 0, "samples": 8, "tokens": 1024},
                          {"from_step": 10, "tokens": 2048}]
        for step, lr in lrs.items():
            assert lr == client.get(f"/v1/runs/{run_id}/lr",
                                    params={"step": step}).json()["lr"], step
