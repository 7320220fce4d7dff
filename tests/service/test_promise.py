"""The promise: an LR a rank used never changes. A plateau report at a step some rank has
reached is refused (409 lr_already_served) where the plateau rule is active there; leased
steps a rank has not reached do not count (issue 10)."""

from __future__ import annotations

import httpx

from ._specs import PLATEAU, WARMUP_PLATEAU, run_body


def _put(client: httpx.Client, run_id: str, schedule: dict = PLATEAU,
         world_size: int = 1) -> None:
    r = client.put(f"/v1/runs/{run_id}", json=run_body(schedule, world_size=world_size))
    assert r.status_code == 201, r.text


def _report(client: httpx.Client, run_id: str, step: int, value: float, rank: int = 0,
            **extra: int) -> httpx.Response:
    return client.post(f"/v1/runs/{run_id}/reports",
                       json={"step": step, "value": value, "rank": rank, **extra})


def _lr(client: httpx.Client, run_id: str, step: int, **params: int) -> float:
    r = client.get(f"/v1/runs/{run_id}/lr", params={"step": step, **params})
    assert r.status_code == 200, r.text
    return r.json()["lr"]


def test_a_report_below_a_step_the_rank_was_served_is_refused(client: httpx.Client,
                                                              run_id: str) -> None:
    """The issue's example: it used to be decided, and step 20 then answered 0.05."""
    _put(client, run_id)
    assert _report(client, run_id, 10, 1.0).json()["decided"]
    assert _lr(client, run_id, 20, rank=0) == 0.1
    r = _report(client, run_id, 15, 5.0)
    assert r.status_code == 409
    assert r.json() | {"detail": None} == {"detail": None, "code": "lr_already_served",
                                           "step": 15, "served_step": 20, "rank": 0}
    assert "step 20" in r.json()["detail"]
    assert _lr(client, run_id, 20) == _lr(client, run_id, 20, rank=0) == 0.1
    rounds = client.get(f"/v1/runs/{run_id}/rounds").json()["rounds"]
    assert [r["step"] for r in rounds] == [10]  # nothing of the refused report was stored
    assert _report(client, run_id, 21, 5.0).json()["lr"] == 0.05  # after it: decided


def test_leased_steps_the_rank_has_not_reached_do_not_count(client: httpx.Client,
                                                            run_id: str) -> None:
    _put(client, run_id)
    _report(client, run_id, 10, 1.0)
    lease = client.post(f"/v1/runs/{run_id}/leases",
                        json={"rank": 0, "step": 11, "steps": 100, "at": 10}).json()
    assert lease["horizon"] == 111
    r = _report(client, run_id, 15, 5.0, at=14)
    assert r.status_code == 200 and r.json()["decided"] and r.json()["lr"] == 0.05
    # a lease without `at` says the rank is at its first step
    client.post(f"/v1/runs/{run_id}/leases", json={"rank": 0, "step": 30, "steps": 10})
    r = _report(client, run_id, 25, 5.0)
    assert r.status_code == 409 and r.json()["served_step"] == 30


def test_a_report_whose_own_rank_is_past_its_step_is_refused(client: httpx.Client,
                                                             run_id: str) -> None:
    _put(client, run_id)
    client.post(f"/v1/runs/{run_id}/leases", json={"rank": 0, "step": 0, "steps": 100})
    r = _report(client, run_id, 40, 5.0, at=40)
    assert r.status_code == 409 and r.json()["code"] == "lr_already_served"
    assert (r.json()["served_step"], r.json()["rank"]) == (40, 0)
    # the rank said it is at 40 (a rank's step never goes back, but by a rewind)
    assert _report(client, run_id, 40, 5.0, at=39).status_code == 409
    assert _report(client, run_id, 41, 5.0, at=40).json()["decided"]


def test_another_ranks_step_refuses_the_round(client: httpx.Client, run_id: str) -> None:
    _put(client, run_id, world_size=2)
    assert _lr(client, run_id, 20, rank=1) == 0.1
    r = _report(client, run_id, 15, 5.0, rank=0, at=14)
    assert r.status_code == 409 and (r.json()["served_step"], r.json()["rank"]) == (20, 1)
    # rounds after every rank's step are the normal flow
    for step, value in ((21, 1.0), (22, 5.0)):
        for rank in (0, 1):  # each rank trains the step before the round, then reports
            _lr(client, run_id, step - 1, rank=rank)
        answers = [_report(client, run_id, step, value, rank=rank, at=step - 1)
                   for rank in (0, 1)]
        assert [a.json()["decided"] for a in answers] == [False, True]
    assert _lr(client, run_id, 22, rank=0) == 0.05 and _lr(client, run_id, 21) == 0.1


def test_a_retried_report_stays_a_no_op_after_the_rank_moved_on(client: httpx.Client,
                                                               run_id: str) -> None:
    _put(client, run_id)
    first = _report(client, run_id, 10, 5.0).json()
    assert _lr(client, run_id, 50, rank=0) == first["lr"]
    again = _report(client, run_id, 10, 5.0)
    assert again.status_code == 200 and again.json() == first


def test_a_report_where_the_plateau_rule_is_not_active_yet_is_accepted(
        client: httpx.Client, run_id: str) -> None:
    """Warmup until 20, then the plateau: a round at 10 cannot change any LR."""
    _put(client, run_id, WARMUP_PLATEAU)
    lr_18 = _lr(client, run_id, 18, rank=0)
    assert _report(client, run_id, 10, 5.0).json()["decided"]
    assert _lr(client, run_id, 18) == lr_18
    assert _report(client, run_id, 18, 5.0).status_code == 200  # 18 < plateau start 20
    assert _lr(client, run_id, 22, rank=0) == 0.1
    assert _report(client, run_id, 21, 5.0).json()["code"] == "lr_already_served"


def test_a_rewind_brings_the_ranks_back_to_the_checkpoint(client: httpx.Client,
                                                          run_id: str) -> None:
    _put(client, run_id)
    _report(client, run_id, 10, 1.0)
    _lr(client, run_id, 20, rank=0)
    assert _report(client, run_id, 15, 5.0).status_code == 409
    client.post(f"/v1/runs/{run_id}/rewind", json={"to_step": 12})
    assert _report(client, run_id, 15, 5.0).json()["lr"] == 0.05


def test_anonymous_reads_promise_only_what_a_rank_or_a_decision_fixed(
        client: httpx.Client, run_id: str) -> None:
    """README: an LR read without `rank` is final up to the furthest rank's step and the
    latest decided round; beyond, a round the ranks open below it may still change it."""
    _put(client, run_id)
    _report(client, run_id, 10, 1.0)
    assert _lr(client, run_id, 200) == 0.1
    assert _report(client, run_id, 150, 5.0, at=149).json()["decided"]
    assert _lr(client, run_id, 200) == 0.05 and _lr(client, run_id, 149) == 0.1


def test_at_is_validated(client: httpx.Client, run_id: str) -> None:
    _put(client, run_id)
    r = client.post(f"/v1/runs/{run_id}/leases", json={"rank": 0, "step": 5, "at": 6})
    assert r.status_code == 422 and r.json()["field"] == "at"
    r = _report(client, run_id, 5, 1.0, at=4)  # nothing was served: no step was used
    assert r.status_code == 422 and r.json()["field"] == "at"
    for bad in (-1, 2**53):
        r = _report(client, run_id, 5, 1.0, at=bad)
        assert r.status_code == 422 and "at" in r.text, bad
