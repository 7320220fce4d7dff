"""Cooldown amendments: transformers' WSD decay phase from the LRs in force at a step of a
live run, through GET .../lr, a client lease and ``lrcast cooldown``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import httpx
import pytest
import torch
from transformers import get_wsd_schedule

import lrcast
from lrcast.schedules import parse

from ._specs import PLATEAU, STEP, run_body

TWO_GROUPS = {"type": "CosineAnnealingLR", "lr": [0.1, 0.02], "T_max": 1000, "eta_min": 0.001}


def reference(lrs: list[float], steps: int, decay_type: str, ratio: float,
              count: int) -> list[list[float]]:
    """transformers' get_wsd_schedule (no warmup, no stable phase) on an optimizer whose
    groups hold `lrs`: the groups' LRs after 0..count-1 scheduler steps."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    opt = torch.optim.SGD(groups, lr=lrs[0])
    sched = get_wsd_schedule(opt, num_warmup_steps=0, num_stable_steps=0, num_decay_steps=steps,
                             decay_type=decay_type, min_lr_ratio=ratio)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()"
        for _ in range(count):
            out.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
    return out


def lrs_at(client: httpx.Client, run_id: str, step: int) -> list[float]:
    r = client.get(f"/v1/runs/{run_id}/lr", params={"step": step})
    assert r.status_code == 200, r.text
    return r.json()["lrs"]


def cooldown(client: httpx.Client, run_id: str, from_step: int | None = None,
             **body: object) -> httpx.Response:
    amendment = {"cooldown": body} if from_step is None else {"from_step": from_step,
                                                                "cooldown": body}
    return client.post(f"/v1/runs/{run_id}/amendments", json=amendment)


@pytest.mark.parametrize("decay_type", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("ratio", [0.0, 0.25, 1.0])
def test_cooldown_is_transformers_decay_from_the_lr_in_force(
        client: httpx.Client, run_id: str, decay_type: str, ratio: float) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(TWO_GROUPS))
    start = 600  # beyond the chunk the first query reserves
    before = [lrs_at(client, run_id, k) for k in (0, 5)]
    r = cooldown(client, run_id, from_step=start, steps=50, decay_type=decay_type,
                 min_lr_ratio=ratio)
    assert r.status_code == 200, r.text
    assert r.json()["from_step"] == start
    in_force = r.json()["timeline"][-1]["schedule"]["lr"]
    # the LRs in force at S are CosineAnnealingLR's there (the engine is tested against torch)
    assert in_force == list(parse(TWO_GROUPS).lrs(start))
    expected = reference(in_force, 50, decay_type, ratio, 70)
    got = [lrs_at(client, run_id, start + k) for k in range(70)]
    assert got == expected  # bit for bit
    assert [lrs_at(client, run_id, k) for k in (0, 5)] == before
    assert lrs_at(client, run_id, start - 1) == list(parse(TWO_GROUPS).lrs(start - 1))
    assert lrs_at(client, run_id, 10**9) == expected[-1]


def test_from_step_defaults_to_the_first_step_an_amendment_may_take(
        client: httpx.Client, run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    lrs_at(client, run_id, 40)
    floor = client.get(f"/v1/runs/{run_id}").json()["min_amendment_step"]
    assert floor > 40
    r = cooldown(client, run_id, steps=10)
    assert r.status_code == 200, r.text
    assert r.json()["from_step"] == floor
    in_force = 0.1 * 0.5 ** (floor // 10)
    assert lrs_at(client, run_id, floor - 1) == [0.1 * 0.5 ** ((floor - 1) // 10)]
    assert [lrs_at(client, run_id, floor + k)[0] for k in range(12)] == [
        row[0] for row in reference([in_force], 10, "linear", 0.0, 12)]
    events = client.get(f"/v1/runs/{run_id}/events").json()["events"]
    assert events[-1]["kind"] == "amendment"
    assert events[-1]["data"]["cooldown"] == {"steps": 10, "decay_type": "linear",
                                              "min_lr_ratio": 0.0}


def test_a_cooldown_below_what_was_served_is_refused(client: httpx.Client,
                                                     run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    lrs_at(client, run_id, 5)
    floor = client.get(f"/v1/runs/{run_id}").json()["min_amendment_step"]
    r = cooldown(client, run_id, from_step=5, steps=10)
    assert r.status_code == 409 and r.json()["code"] == "amendment_too_early"
    assert r.json()["min_step"] == floor
    assert lrs_at(client, run_id, floor + 3) == [0.1 * 0.5 ** ((floor + 3) // 10)]


def test_a_cooldown_waits_for_the_plateau_round_it_decays_from(client: httpx.Client,
                                                               run_id: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body(PLATEAU, world_size=2))
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 10, "value": 1.0, "rank": 0})
    r = cooldown(client, run_id, from_step=20, steps=10)
    assert r.status_code == 409 and r.json()["code"] == "round_pending"
    assert r.json()["missing_ranks"] == [1]
    client.post(f"/v1/runs/{run_id}/reports", json={"step": 10, "value": 1.0, "rank": 1})
    assert cooldown(client, run_id, from_step=20, steps=10).status_code == 200
    assert lrs_at(client, run_id, 25) == [0.1 * 0.5]


@pytest.mark.parametrize(("body", "field"), [
    ({"cooldown": {}}, "steps"),
    ({"cooldown": {"steps": 0}}, "steps"),
    ({"cooldown": {"steps": 5, "decay_type": "exp"}}, "decay_type"),
    ({"cooldown": {"steps": 5, "min_lr_ratio": 2}}, "min_lr_ratio"),
    ({"cooldown": {"steps": 5}, "scale": 0.5}, "schedule"),
    ({"cooldown": {"steps": 5, "n": 1}}, "n"),
])
def test_bad_cooldowns_name_the_field(client: httpx.Client, run_id: str, body: dict,
                                      field: str) -> None:
    client.put(f"/v1/runs/{run_id}", json=run_body())
    r = client.post(f"/v1/runs/{run_id}/amendments", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
    assert lrs_at(client, run_id, 1000) == [0.1 * 0.5 ** 100]


def test_a_lease_evaluates_the_cooldown_locally(server: object, run_id: str) -> None:
    with lrcast.Client(server.url) as client:  # type: ignore[attr-defined]
        run = client.run(run_id, schedule=STEP)
        assert run.lr(0) == 0.1
        horizon = run.lease.horizon
        done = run.cooldown(20, decay_type="cosine", min_lr_ratio=0.1)
        start = done["from_step"]
        assert start >= horizon  # never inside what this rank already holds
        expected = reference([0.1 * 0.5 ** (start // 10)], 20, "cosine", 0.1, 30)
        assert [run.lrs(start + k) for k in range(30)] == expected
        assert run.lease.timeline.segments[-1].schedule.spec["type"] == "Cooldown"
        with pytest.raises(lrcast.errors.AmendmentTooEarly) as early:
            run.cooldown(5, from_step=1)
        assert early.value.min_step >= start


def test_the_cli_cools_a_run_down(server: object, run_id: str) -> None:
    url = server.url  # type: ignore[attr-defined]
    httpx.put(f"{url}/v1/runs/{run_id}", json=run_body())
    env = {**os.environ, "LRCAST_URL": url}
    cmd = [sys.executable, "-m", "lrcast", "cooldown", run_id, "--steps", "8",
           "--from-step", "400", "--decay-type", "1-sqrt", "--min-lr-ratio", "0.5"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"run {run_id} cools down from step 400 over 8 steps" in done.stdout
    expected = reference([0.1 * 0.5 ** 40], 8, "1-sqrt", 0.5, 10)
    assert [httpx.get(f"{url}/v1/runs/{run_id}/lr", params={"step": 400 + k}).json()["lrs"]
            for k in range(10)] == expected
    early = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert early.returncode == 1 and "amend from step" in early.stderr  # 400.. were served
    floor = httpx.get(f"{url}/v1/runs/{run_id}").json()["min_amendment_step"]
    now = subprocess.run([*cmd[:7], "--json"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert now.returncode == 0, now.stderr
    assert json.loads(now.stdout)["from_step"] == floor
