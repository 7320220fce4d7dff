"""A catalog of example specs: at least one for every type in `schedule_types()`, plus the
forms that change how a spec is evaluated (composites, the epoch interval, sample and token
clocks with a batch that changes, batch scaling, several parameter groups, metric-driven
members). The tests take every entry through every path
(engine, service, lease, CLI); the dashboard can offer them as presets."""

from __future__ import annotations

import copy
from typing import Any

_EXAMPLES: dict[str, dict[str, Any]] = {
    # torch.optim.lr_scheduler
    "ConstantLR": {"type": "ConstantLR", "lr": 0.1, "factor": 0.5, "total_iters": 4},
    "LinearLR": {"type": "LinearLR", "lr": 0.1, "start_factor": 0.25, "end_factor": 1.0,
                 "total_iters": 8},
    "StepLR": {"type": "StepLR", "lr": 0.1, "step_size": 30, "gamma": 0.5},
    "MultiStepLR": {"type": "MultiStepLR", "lr": 0.1, "milestones": [30, 80, 80],
                    "gamma": 0.1},
    "ExponentialLR": {"type": "ExponentialLR", "lr": 0.1, "gamma": 0.99},
    "PolynomialLR": {"type": "PolynomialLR", "lr": 0.1, "total_iters": 50, "power": 2.0},
    "CosineAnnealingLR": {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 50,
                          "eta_min": 0.001},
    "CosineAnnealingWarmRestarts": {"type": "CosineAnnealingWarmRestarts", "lr": 0.1,
                                    "T_0": 10, "T_mult": 2, "eta_min": 0.0001},
    "CyclicLR": {"type": "CyclicLR", "base_lr": 0.001, "max_lr": 0.1, "step_size_up": 20,
                 "step_size_down": 10, "mode": "triangular2"},
    "OneCycleLR": {"type": "OneCycleLR", "max_lr": 0.1, "total_steps": 100,
                   "pct_start": 0.25},
    "ReduceLROnPlateau": {"type": "ReduceLROnPlateau", "lr": 0.1, "factor": 0.5,
                          "patience": 2, "cooldown": 1, "min_lr": 0.001},
    "SequentialLR": {"type": "SequentialLR", "lr": 0.1, "milestones": [10], "schedulers": [
        {"type": "LinearLR", "start_factor": 0.1, "total_iters": 10},
        {"type": "CosineAnnealingLR", "T_max": 90, "eta_min": 0.0}]},
    "ChainedScheduler": {"type": "ChainedScheduler", "lr": 0.1, "schedulers": [
        {"type": "ConstantLR", "factor": 0.5, "total_iters": 5},
        {"type": "ExponentialLR", "gamma": 0.95}]},
    # transformers.get_scheduler types
    "constant": {"type": "constant", "lr": 0.001},
    "constant_with_warmup": {"type": "constant_with_warmup", "lr": 0.001,
                             "num_warmup_steps": 10},
    "linear": {"type": "linear", "lr": 0.001, "num_warmup_steps": 10,
               "num_training_steps": 100},
    "cosine": {"type": "cosine", "lr": 0.001, "num_warmup_steps": 10,
               "num_training_steps": 100},
    "cosine_with_restarts": {"type": "cosine_with_restarts", "lr": 0.001,
                             "num_warmup_steps": 10, "num_training_steps": 100,
                             "num_cycles": 3},
    "polynomial": {"type": "polynomial", "lr": 0.001, "num_warmup_steps": 10,
                   "num_training_steps": 100, "lr_end": 1e-5, "power": 2.0},
    "inverse_sqrt": {"type": "inverse_sqrt", "lr": 0.001, "num_warmup_steps": 10},
    "cosine_with_min_lr": {"type": "cosine_with_min_lr", "lr": 0.001, "num_warmup_steps": 10,
                           "num_training_steps": 100, "min_lr": 1e-5},
    "cosine_warmup_with_min_lr": {"type": "cosine_warmup_with_min_lr", "lr": 0.001,
                                  "num_warmup_steps": 10, "num_training_steps": 100,
                                  "min_lr_rate": 0.1},
    "warmup_stable_decay": {"type": "warmup_stable_decay", "lr": 0.001,
                            "num_warmup_steps": 10, "num_decay_steps": 20,
                            "num_training_steps": 100, "decay_type": "1-sqrt"},
    "reduce_lr_on_plateau": {"type": "reduce_lr_on_plateau", "lr": 0.001, "factor": 0.2,
                             "patience": 1, "threshold_mode": "abs"},
    "greedy": {"type": "greedy", "lr": 0.01, "factor": 0.5, "patience": 1, "cooldown": 1,
               "min_lr": 0.001, "max_lr": 0.05, "reset_start": 3},
    # lrcast's own
    "LRRangeTest": {"type": "LRRangeTest", "lr": 1e-6, "end_lr": 1.0, "num_iter": 100},
    "PiecewiseLinear": {"type": "PiecewiseLinear", "lr": 0.1,
                        "points": [[0, 0.0], [10, 0.1], [60, 0.01], [100, 0.001]]},
    "Cooldown": {"type": "Cooldown", "lr": [0.003, 0.001], "num_decay_steps": 40,
                 "decay_type": "1-sqrt", "min_lr_ratio": 0.1},
    # forms
    "SequentialLR then ReduceLROnPlateau": {
        "type": "SequentialLR", "lr": 0.1, "milestones": [5], "schedulers": [
            {"type": "LinearLR", "start_factor": 0.2, "total_iters": 5},
            {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 1}]},
    "SequentialLR then greedy": {
        "type": "SequentialLR", "lr": 0.01, "milestones": [8], "schedulers": [
            {"type": "ConstantLR", "factor": 0.5, "total_iters": 8},
            {"type": "greedy", "factor": 0.8, "patience": 0, "warmup": 1}]},
    "greedy smoothed two groups per epoch": {
        "type": "greedy", "lr": [0.01, 0.002], "smooth": True, "window_size": 3,
        "patience": 0, "threshold_mode": "rel", "threshold": 0.01,
        "min_lr": [0.001, 0.0001], "max_lr": [0.1, 0.02],
        "interval": "epoch", "steps_per_epoch": 2},
    "SequentialLR nested": {"type": "SequentialLR", "lr": 0.1, "milestones": [20],
                            "schedulers": [
        {"type": "ChainedScheduler", "schedulers": [
            {"type": "LinearLR", "start_factor": 0.5, "total_iters": 10},
            {"type": "StepLR", "step_size": 5, "gamma": 0.9}]},
        {"type": "MultiStepLR", "milestones": [10, 40], "gamma": 0.5}]},
    "StepLR per epoch": {"type": "StepLR", "lr": 0.1, "step_size": 3, "gamma": 0.5,
                         "interval": "epoch", "steps_per_epoch": 7},
    "cosine per step": {"type": "cosine", "lr": 0.001, "num_warmup_steps": 5,
                        "num_training_steps": 50, "interval": "step"},
    "ReduceLROnPlateau per epoch": {"type": "ReduceLROnPlateau", "lr": 0.1, "patience": 0,
                                    "interval": "epoch", "steps_per_epoch": 4},
    "OneCycleLR two groups": {"type": "OneCycleLR", "max_lr": [0.1, 0.01], "epochs": 4,
                              "steps_per_epoch": 25, "three_phase": True,
                              "anneal_strategy": "linear"},
    "CosineAnnealingLR two groups": {"type": "CosineAnnealingLR", "lr": [0.1, 0.02],
                                     "T_max": 30},
    "linear three groups": {"type": "linear", "lr": [0.001, 0.0005, 0.0001],
                            "num_warmup_steps": 10, "num_training_steps": 100},
    "PiecewiseLinear two groups": {"type": "PiecewiseLinear", "lr": [0.1, 0.05],
                                   "points": [[0, 0.1], [50, 0.0]]},
    "ReduceLROnPlateau two groups": {"type": "ReduceLROnPlateau", "lr": [0.1, 0.01],
                                     "mode": "max", "patience": 1, "min_lr": [0.01, 0.001]},
    # clocks (`_clock.py`): lengths in tokens or samples; the batch doubles at step 40 / 30
    "CosineAnnealingLR token clock": {
        "type": "CosineAnnealingLR", "lr": 0.1, "T_max": 100_000, "eta_min": 0.001,
        "clock": "token", "batch": {"samples": 8, "tokens": 1024},
        "batch_schedule": [{"from_step": 40, "samples": 16, "tokens": 2048}]},
    "cosine token clock": {
        "type": "cosine", "lr": 3e-4, "num_warmup_steps": 10_000, "num_training_steps": 200_000,
        "clock": "token", "batch": {"samples": 4, "tokens": 2048},
        "batch_schedule": [{"from_step": 30, "samples": 8, "tokens": 4096}]},
    "linear sqrt batch scaling": {
        "type": "linear", "lr": 0.001, "num_warmup_steps": 10, "num_training_steps": 100,
        "batch_scaling": "sqrt", "reference_batch_size": 256, "batch": {"samples": 256},
        "batch_schedule": [{"from_step": 50, "samples": 1024}]},
    "SequentialLR plateau sample clock": {
        "type": "SequentialLR", "lr": 0.1, "milestones": [160], "clock": "sample",
        "batch": {"samples": 8}, "batch_schedule": [{"from_step": 10, "samples": 16}],
        "schedulers": [{"type": "LinearLR", "start_factor": 0.1, "total_iters": 160},
                       {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 1}]},
}


def example_specs() -> dict[str, dict[str, Any]]:
    """Example specs by name (a fresh copy: callers may change them)."""
    return copy.deepcopy(_EXAMPLES)
