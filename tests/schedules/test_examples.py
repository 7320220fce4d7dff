"""The example catalog: it covers every schedule type, every entry matches its reference
library, and no built schedule hides a `Schedule` method behind an attribute."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from lrcast.schedules import Schedule, StepOutOfRange, example_specs, parse, schedule_types

from ._oracle import run_torch

EXAMPLES = example_specs()
#: the public methods and properties of the contract
CONTRACT = [name for name, _ in inspect.getmembers(Schedule)
            if not name.startswith("_") and (inspect.isfunction(_) or isinstance(_, property))]


def test_the_catalog_covers_every_type_exactly() -> None:
    assert {spec["type"] for spec in EXAMPLES.values()} == set(schedule_types())


def test_example_specs_returns_a_fresh_copy() -> None:
    example_specs()["StepLR"]["gamma"] = 99
    assert example_specs()["StepLR"]["gamma"] != 99


def _parts(schedule: Any) -> list[Any]:
    """The schedule and every schedule inside it (composite members, the interval's inner)."""
    found = [schedule]
    for attr in ("members", "inner"):
        inner = getattr(schedule, attr, None)
        for member in inner if isinstance(inner, list) else [inner] if inner else []:
            found += _parts(member)
    return found


@pytest.mark.parametrize("name", EXAMPLES)
def test_no_attribute_shadows_a_schedule_method(name: str) -> None:
    assert {"lrs", "lr", "momentums", "values", "metric_driven"} <= set(CONTRACT)
    for part in _parts(parse(EXAMPLES[name])):
        shadowed = [m for m in CONTRACT if m in vars(part)
                    or not isinstance(inspect.getattr_static(type(part), m),
                                      type(inspect.getattr_static(Schedule, m)))]
        assert not shadowed, f"{type(part).__name__} hides {shadowed}"


@pytest.mark.parametrize("name", EXAMPLES)
def test_values_is_lrs_and_momentums(name: str) -> None:
    schedule = parse(EXAMPLES[name])
    for step in (0, 1, 9, 10, 50, 99):
        assert schedule.values(step) == (schedule.lrs(step), schedule.momentums(step))


#: clock examples count samples or tokens, not steps: tests/clock compares them with torch
REFERENCE = [n for n, s in EXAMPLES.items()
             if not parse(s).metric_driven and s["type"] != "PiecewiseLinear"
             and "batch" not in s]


@pytest.mark.parametrize("name", REFERENCE)
def test_every_example_matches_its_reference_library(name: str) -> None:
    spec = EXAMPLES[name]
    ref = run_torch(spec, spec["num_iter"] - 1 if spec["type"] == "LRRangeTest" else 150)
    schedule = parse(spec)
    for step, lrs in enumerate(ref.lrs):
        assert schedule.lrs(step) == pytest.approx(lrs, rel=1e-12, abs=1e-15), step
    if ref.error is not None:  # where PyTorch refuses to step on, the engine refuses too
        with pytest.raises(StepOutOfRange):
            schedule.lrs(len(ref.lrs))


@pytest.mark.parametrize("name", [n for n, s in EXAMPLES.items()
                                  if s["type"] == "PiecewiseLinear"])
def test_piecewise_examples_interpolate_like_numpy(name: str) -> None:
    spec = EXAMPLES[name]
    steps, lrs = zip(*spec["points"], strict=True)
    groups = spec["lr"] if isinstance(spec["lr"], list) else [spec["lr"]]
    schedule = parse(spec)
    for step in range(0, 130):
        expected = float(np.interp(step, steps, lrs))
        assert schedule.lrs(step) == pytest.approx([expected * g / groups[0] for g in groups],
                                                   rel=1e-12, abs=1e-15)
