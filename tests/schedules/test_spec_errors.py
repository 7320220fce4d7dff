"""Invalid specs of the Hugging Face, plateau, range-test and piecewise types name the field."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from lrcast.schedules import SpecError, parse
from lrcast.schedules._context import BuildContext
from lrcast.schedules._registry import build

# (spec without lr, field path, words the message must contain, does transformers raise too?)
CASES: list[tuple[dict[str, Any], str, str, bool]] = [
    ({"type": "linear", "num_training_steps": 10}, "num_warmup_steps", "requires", True),
    ({"type": "cosine", "num_warmup_steps": 1}, "num_training_steps", "requires", True),
    ({"type": "constant_with_warmup"}, "num_warmup_steps", "requires", True),
    ({"type": "polynomial", "num_warmup_steps": 1, "num_training_steps": 9, "lr_end": 0.1},
     "lr_end", "smaller than initial lr", True),
    ({"type": "polynomial", "num_warmup_steps": 0, "num_training_steps": 0},
     "num_training_steps", "divides by zero", True),
    ({"type": "cosine_with_min_lr", "num_warmup_steps": 1, "num_training_steps": 9,
      "min_lr": 0.01, "min_lr_rate": 0.1}, "min_lr", "only one", True),
    ({"type": "cosine_warmup_with_min_lr", "num_warmup_steps": 1, "num_training_steps": 9},
     "min_lr_rate", "one of min_lr or min_lr_rate", True),
    ({"type": "warmup_stable_decay", "num_warmup_steps": 1, "num_decay_steps": 3},
     "num_stable_steps", "either num_training_steps or num_stable_steps", True),
    ({"type": "warmup_stable_decay", "num_warmup_steps": 1, "num_decay_steps": 3,
      "num_stable_steps": 3, "warmup_type": "exp"}, "warmup_type", "one of", True),
    ({"type": "warmup_stable_decay", "num_warmup_steps": 1, "num_decay_steps": 3,
      "num_stable_steps": 3, "decay_type": "step"}, "decay_type", "one of", True),
    ({"type": "warmup_stable_decay", "num_warmup_steps": 1, "num_stable_steps": 3},
     "num_decay_steps", "is required", False),
    ({"type": "inverse_sqrt", "num_warmup_steps": 0, "timescale": 0}, "timescale",
     "positive integer", True),
    ({"type": "linear", "num_warmup_steps": -1, "num_training_steps": 9}, "num_warmup_steps",
     "non-negative integer", False),
    ({"type": "linear", "num_warmup_steps": 2.5, "num_training_steps": 9}, "num_warmup_steps",
     "non-negative integer", False),
    ({"type": "cosine", "num_warmup_steps": 1, "num_training_steps": 9, "num_cycles": "half"},
     "num_cycles", "number", False),
    ({"type": "linear", "num_warmup_steps": 1, "num_training_steps": 9, "last_epoch": 3},
     "last_epoch", "not an argument of linear", False),
    ({"type": "constant_with_warmup", "num_warmup_steps": 1, "power": 2}, "power",
     "not an argument", False),
    ({"type": "greedy", "factor": 1.0}, "factor", "Factor should be < 1.0", True),
    ({"type": "greedy", "factor": 0}, "factor", "divides by it", False),
    ({"type": "greedy", "max_lr": [1.0, 1.0]}, "max_lr", "expected 1 values", True),
    ({"type": "greedy", "smooth": True, "window_size": 0}, "window_size", ">= 1", False),
    ({"type": "greedy", "patience": 1.5}, "patience", "integer", False),
    ({"type": "ReduceLROnPlateau", "factor": 1.5}, "factor", "< 1", True),
    ({"type": "ReduceLROnPlateau", "mode": "up"}, "mode", "one of", True),
    ({"type": "ReduceLROnPlateau", "min_lr": [0.0, 0.0]}, "min_lr", "expected 1 values", True),
    ({"type": "ReduceLROnPlateau", "patience": "ten"}, "patience", "integer", False),
    ({"type": "reduce_lr_on_plateau", "threshold_mode": "pct"}, "threshold_mode", "one of",
     True),
    ({"type": "reduce_lr_on_plateau", "verbose": True}, "verbose", "not an argument", False),
]


@pytest.mark.parametrize(("spec", "path", "words", "hf_raises"), CASES)
def test_message_names_the_field(spec: dict[str, Any], path: str, words: str,
                                 hf_raises: bool) -> None:
    with pytest.raises(SpecError, match=words) as err:
        parse({"lr": 0.1, **spec})
    assert err.value.path == path
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize(("spec", "path", "words", "hf_raises"),
                         [c for c in CASES if c[3] and c[0]["type"] != "ReduceLROnPlateau"])
def test_transformers_rejects_the_same_specs(spec: dict[str, Any], path: str, words: str,
                                             hf_raises: bool) -> None:
    torch = pytest.importorskip("torch", reason="needs torch")
    transformers = pytest.importorskip("transformers", reason="needs transformers")
    kw = dict(spec)
    name = kw.pop("type")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with warnings.catch_warnings(), pytest.raises((ValueError, ZeroDivisionError)):
        warnings.simplefilter("ignore")
        transformers.get_scheduler(name, opt, num_warmup_steps=kw.pop("num_warmup_steps", None),
                                   num_training_steps=kw.pop("num_training_steps", None),
                                   scheduler_specific_kwargs=kw)


def test_lr_is_required() -> None:
    with pytest.raises(SpecError) as err:
        parse({"type": "cosine", "num_warmup_steps": 1, "num_training_steps": 9})
    assert err.value.path == "lr"


@pytest.mark.parametrize(("spec", "field"), [
    ({"type": "cosine", "num_warmup_steps": 1}, "num_training_steps"),
    ({"type": "ReduceLROnPlateau", "factor": 2}, "factor"),
    ({"type": "LRRangeTest", "num_iter": 0}, "num_iter"),
    ({"type": "PiecewiseLinear", "points": [[3, 0.1]]}, "points[0][0]"),
    ({"type": "linear", "lr": 0.1, "num_warmup_steps": 1, "num_training_steps": 9}, "lr"),
])
def test_nested_paths_carry_the_parent_path(spec: dict[str, Any], field: str) -> None:
    """Inside SequentialLR/ChainedScheduler the path starts at the member (and lr is the
    parent's, so a member's own lr is rejected)."""
    ctx = BuildContext(build=build, path="schedulers[1]", lrs=(0.1,), nested=True)
    with pytest.raises(SpecError) as err:
        build(spec, ctx)
    assert err.value.path == f"schedulers[1].{field}"


@pytest.mark.parametrize(("spec", "path", "suggestion"), [
    ({"type": "StepLR", "step_size": 2, "gama": 0.5}, "gama", "gamma"),
    ({"type": "cosine", "num_warmup_steps": 1, "num_training_steps": 9, "num_cycle": 2},
     "num_cycle", "num_cycles"),
    ({"type": "greedy", "windowsize": 3}, "windowsize", "window_size"),
    ({"type": "SequentialLR", "milestones": [2], "schedulers": [
        {"type": "ConstantLR"}, {"type": "StepLR", "step_size": 2, "gammma": 0.9}]},
     "schedulers[1].gammma", "gamma"),
    ({"type": "StepLr", "step_size": 2}, "type", "StepLR"),
    ({"type": "cosine_with_restart"}, "type", "cosine_with_restarts"),
    ({"type": "GreedyLR"}, "type", "greedy"),
    ({"type": "LambdaLr"}, "type", "LambdaLR"),
])
def test_a_misspelled_key_or_type_gets_a_suggestion(spec: dict[str, Any], path: str,
                                                    suggestion: str) -> None:
    with pytest.raises(SpecError) as err:
        parse({"lr": 0.1, **spec})
    assert err.value.path == path
    assert f"did you mean {suggestion!r}?" in str(err.value)


def test_an_unknown_key_far_from_any_argument_is_named_without_a_guess() -> None:
    with pytest.raises(SpecError) as err:
        parse({"type": "StepLR", "lr": 0.1, "step_size": 2, "xyzzy": 1})
    assert str(err.value) == "xyzzy: is not an argument of StepLR"


@pytest.mark.parametrize(("spec", "message"), [
    ({"type": "CosineAnnealingLR", "t_max": 10},
     "T_max: is required; the spec has 't_max': did you mean 'T_max'?"),
    ({"type": "cosine", "num_warmup_step": 1, "num_training_steps": 9},
     "num_warmup_steps: is required: cosine requires `num_warmup_steps`; the spec has "
     "'num_warmup_step': did you mean 'num_warmup_steps'?"),
])
def test_a_required_key_given_misspelled_names_both(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse({"lr": 0.1, **spec})
    assert str(err.value) == message
