"""Invalid PyTorch-type specs, and the compositions without a closed form, name the field path."""

from __future__ import annotations

from typing import Any

import pytest

from lrcast.schedules import SpecError, parse

STEP = {"type": "StepLR", "step_size": 3}
COS0 = {"type": "CosineAnnealingLR", "T_max": 10}
CYC = {"type": "CyclicLR", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5}
ONE = {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 100}
PLATEAU = {"type": "ReduceLROnPlateau"}


def seq(*members: dict[str, Any], milestones: list[int] | None = None,
        **extra: Any) -> dict[str, Any]:
    ms = milestones if milestones is not None else [10 * (i + 1) for i in range(len(members) - 1)]
    return {"type": "SequentialLR", "lr": 0.1, "milestones": ms, "schedulers": list(members),
            **extra}


def chain(*members: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "ChainedScheduler", "lr": 0.1, "schedulers": list(members), **extra}


def nested(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "lr"}


# (spec, field path, words in the reason); each also raises in PyTorch's constructor or
# at the first step that reaches it, unless the comment says it is our own restriction
CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"type": "StepLR", "lr": 0.1}, "step_size", "is required"),
    ({"type": "StepLR", "lr": 0.1, "step_size": 0}, "step_size", "positive integer"),
    ({"type": "StepLR", "lr": 0.1, "step_size": 2, "gama": 0.5}, "gama",
     "not an argument of StepLR"),
    ({"type": "ConstantLR", "lr": 0.1, "factor": 1.5}, "factor", "between 0 and 1"),
    ({"type": "ConstantLR", "lr": 0.1, "factor": 0.0}, "factor", "divides by it"),
    ({"type": "LinearLR", "lr": 0.1, "start_factor": 0}, "start_factor", "greater than 0"),
    ({"type": "LinearLR", "lr": 0.1, "end_factor": 2}, "end_factor", "between 0 and 1"),
    ({"type": "MultiStepLR", "lr": 0.1, "milestones": [1, "2"]}, "milestones[1]", "integer"),
    ({"type": "ExponentialLR", "lr": 0.1}, "gamma", "is required"),
    ({"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 0}, "T_max", "positive integer"),
    ({"type": "CosineAnnealingWarmRestarts", "lr": 0.1, "T_0": 5, "T_mult": 0}, "T_mult",
     "T_mult >= 1"),
    ({"type": "CyclicLR", "base_lr": 0.1, "max_lr": 1, "mode": "sine"}, "mode", "one of"),
    ({"type": "CyclicLR", "lr": [0.1, 0.2], "base_lr": [0.1], "max_lr": 1}, "base_lr",
     "expected 2 values"),
    ({"type": "OneCycleLR", "max_lr": 0.1}, "total_steps", "either total_steps OR"),
    ({"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 10, "pct_start": 1.5}, "pct_start",
     "between 0 and 1"),
    ({"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 10, "pct_start": 0.1}, "pct_start",
     "divides by zero"),
    ({"type": "OneCycleLR", "max_lr": 0.1, "epochs": 0, "steps_per_epoch": 5}, "epochs",
     "positive integer"),
    (seq(STEP, {"type": "CosineAnnealingLR", "T_max": 0}), "schedulers[1].T_max",
     "must be a positive integer"),
    (seq(STEP, STEP, milestones=[]), "milestones", "expected 1 milestones"),
    (seq(STEP, STEP, STEP, milestones=[9, 3]), "milestones", "non-decreasing"),  # ours
    (seq(STEP, {**STEP, "lr": 0.3}), "schedulers[1].lr", "set lr on the outer schedule"),
    (seq(STEP, {**STEP, "interval": "epoch", "steps_per_epoch": 2}), "schedulers[1].interval",
     "only at the top level"),
    (chain(STEP, {"type": "ChainedScheduler", "schedulers": [STEP, {"type": "Step"}]}),
     "schedulers[1].schedulers[1].type", "unknown schedule type"),
    (seq(PLATEAU, STEP), "schedulers[0]", "only be the last member"),
    (chain(STEP, PLATEAU), "schedulers[1]", "cannot be part of a ChainedScheduler"),
    (seq(STEP, nested(chain(STEP))), "schedulers[1].type", "NotImplementedError"),
    (seq(STEP, nested(seq(STEP, STEP))), "schedulers[1].type", "NotImplementedError"),
    (seq(nested(seq(STEP, PLATEAU)), STEP), "schedulers[0]", "outermost"),
    (seq(nested(seq(STEP, PLATEAU))), "schedulers[0].schedulers[1]", "outermost"),
    (seq(nested(seq(CYC, STEP)), STEP), "schedulers[0]", "cannot cycle momentum"),
    (chain(STEP, nested(seq(STEP, STEP))), "schedulers[1].type", "SequentialLR inside a Chained"),
    (seq(ONE, STEP, ONE), "schedulers[2]", "follows the OneCycleLR at schedulers[0]"),
    (chain(ONE, CYC), "schedulers[1]", "follows the OneCycleLR"),
    ({"type": "StepLR", "step_size": 2}, "lr", "is required"),
    (seq(CYC, STEP, lr=None), "", ""),  # valid: CyclicLR sets initial_lr for StepLR
    ({"type": "StepLR", "lr": 0.1, "step_size": 2, "interval": "epoch"}, "steps_per_epoch",
     "is required"),
    ({"type": "StepLR", "lr": 0.1, "step_size": 2, "interval": "month"}, "interval", "one of"),
]


@pytest.mark.parametrize(("spec", "path", "words"), CASES)
def test_message_names_the_field(spec: dict[str, Any], path: str, words: str) -> None:
    if not path:
        parse({k: v for k, v in spec.items() if v is not None})
        return
    with pytest.raises(SpecError) as info:
        parse(spec)
    assert info.value.path == path
    assert words in info.value.reason


# ChainedScheduler combinations without a step-independent closed form are refused, naming
# the member and what to use instead
NO_CLOSED_FORM = [
    (chain(STEP, {**COS0, "eta_min": 0.001}), "schedulers[1]", "eta_min=0"),
    (chain(COS0, STEP, COS0), "schedulers[2]", "only CosineAnnealingLR"),
    (chain(CYC, COS0), "schedulers[1]", "put it before that scheduler"),
    (seq(nested(chain(STEP, COS0)), STEP), "schedulers[0]", "plain step at epoch 0"),
    (seq(nested(seq(COS0, STEP)), STEP), "schedulers[0].schedulers[0]", "plain step"),
]


@pytest.mark.parametrize(("spec", "path", "words"), NO_CLOSED_FORM)
def test_compositions_without_closed_form_are_rejected(spec: dict[str, Any], path: str,
                                                       words: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(spec)
    assert info.value.path == path
    assert words in info.value.reason


def test_cosine_before_an_absolute_member_is_fine() -> None:
    # CyclicLR resets the LR every step, so an earlier cosine has no effect at all
    sched = parse(chain(COS0, CYC))
    assert sched.lrs(3) == parse({**CYC, "lr": 0.1}).lrs(3)
