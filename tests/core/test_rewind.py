"""`core/rewind.py`: what a rewind drops and restores, and its idempotence."""

from __future__ import annotations

from lrcast_service.core import rewind, rounds
from tests.core.records import History, new_record

PLATEAU = {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5, "patience": 0}


def test_a_rewind_drops_what_followed_and_restores_the_state_at_the_checkpoint() -> None:
    rec = new_record(PLATEAU, world_size=1)
    rounds.report(rec, History(), [(10, 0, 1.0)])
    rec.progress = {0: 40}
    rec.frontier = 300
    state_at_10 = {"lrs": [0.1], "best": 1.0, "num_bad_epochs": 0, "cooldown_counter": 0,
                   "last_epoch": 1}
    history = History(states={10: {0: state_at_10}, 20: {0: {"later": True}}})
    change, applied = rewind.rewind(rec, history, 15, "resume-1")
    assert applied
    assert change.drop_after == 15
    assert change.instance_states == {0: state_at_10}
    assert change.run == {"version": rec.version + 1, "frontier": 15,
                          "last_rewind": {"to_step": 15, "resume_id": "resume-1"},
                          "progress": {0: 15}}
    assert change.events == [("rewind", {"to_step": 15, "resume_id": "resume-1",
                                         "served_frontier_before": 300})]


def test_an_instance_with_no_round_before_the_checkpoint_starts_afresh() -> None:
    rec = new_record(PLATEAU)
    change, _ = rewind.rewind(rec, History(states={50: {0: {"x": 1}}}), 20, None)
    assert change.instance_states == {0: None}


def test_the_same_rewind_again_is_a_no_op() -> None:
    rec = new_record(PLATEAU)
    rec.last_rewind = {"to_step": 15, "resume_id": "r"}
    change, applied = rewind.rewind(rec, History(), 15, "r")
    assert not applied and not change
    _, applied = rewind.rewind(rec, History(), 15, "other")
    assert applied


def test_a_report_after_a_rewind_without_resume_id_makes_its_repeat_real() -> None:
    rec = new_record(PLATEAU)
    rec.last_rewind = {"to_step": 15, "resume_id": None}
    change, _ = rounds.report(rec, History(), [(20, 0, 1.0)])
    assert change.run["last_rewind"] is None
    _, applied = rewind.rewind(rec, History(), 15, None)
    assert applied
