"""The reference: build the real PyTorch scheduler from a spec and record what it does.

`run_torch(spec, steps)` constructs a fresh optimizer whose groups hold the spec's ``lr``,
builds the scheduler (nested specs become member schedulers on the same optimizer, in
order, as a user would write them), and records every group's ``lr`` (and momentum:
SGD ``momentum`` or Adam ``betas[0]``) after construction and after each ``step()``.
Extend `BUILDERS` with ``type -> (optimizer, kwargs, build_member) -> scheduler`` for types
that are not plain ``torch.optim.lr_scheduler`` classes (e.g. the Hugging Face functions).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim import lr_scheduler

Member = Callable[[dict[str, Any]], Any]
Builder = Callable[[torch.optim.Optimizer, dict[str, Any], Member], Any]


def _sequential(opt: torch.optim.Optimizer, kw: dict[str, Any], member: Member) -> Any:
    members = [member(s) for s in kw["schedulers"]]
    return lr_scheduler.SequentialLR(opt, members, milestones=kw["milestones"])


def _chained(opt: torch.optim.Optimizer, kw: dict[str, Any], member: Member) -> Any:
    return lr_scheduler.ChainedScheduler([member(s) for s in kw["schedulers"]], opt)


def _one_cycle(opt: torch.optim.Optimizer, kw: dict[str, Any], member: Member) -> Any:
    if "pct_start" in kw:  # PyTorch insists on a float
        kw = {**kw, "pct_start": float(kw["pct_start"])}
    return lr_scheduler.OneCycleLR(opt, **kw)


def _hugging_face(name: str) -> Builder:
    """``transformers.get_scheduler(name, ...)``: the two step arguments, the rest as kwargs."""

    def build(opt: torch.optim.Optimizer, kw: dict[str, Any], member: Member) -> Any:
        from transformers import get_scheduler

        kw = dict(kw)
        return get_scheduler(name, opt, num_warmup_steps=kw.pop("num_warmup_steps", None),
                             num_training_steps=kw.pop("num_training_steps", None),
                             scheduler_specific_kwargs=kw)

    return build


def _cooldown(opt: torch.optim.Optimizer, kw: dict[str, Any], member: Member) -> Any:
    """lrcast's ``Cooldown``: transformers' WSD schedule with no warmup and no stable phase."""
    from transformers import get_wsd_schedule

    return get_wsd_schedule(opt, num_warmup_steps=0, num_stable_steps=0,
                            num_decay_steps=kw["num_decay_steps"],
                            decay_type=kw.get("decay_type", "linear"),
                            min_lr_ratio=kw.get("min_lr_ratio", 0))


def _range_test(opt: torch.optim.Optimizer, kw: dict[str, Any], member: Member) -> Any:
    """torch-lr-finder's schedulers, after ``range_test`` set ``start_lr`` on the groups."""
    from torch_lr_finder import lr_finder

    start = kw.get("start_lr")
    if start:
        starts = start if isinstance(start, list) else [start] * len(opt.param_groups)
        for group, lr in zip(opt.param_groups, starts, strict=True):
            group["lr"] = lr
    cls = lr_finder.ExponentialLR if kw.get("step_mode", "exp").lower() == "exp" else (
        lr_finder.LinearLR)
    return cls(opt, kw.get("end_lr", 10), kw.get("num_iter", 100))


HUGGING_FACE = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts",
                "polynomial", "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr",
                "cosine_warmup_with_min_lr", "warmup_stable_decay")

#: spec type -> builder of the PyTorch scheduler; anything else is ``lr_scheduler.<type>``
BUILDERS: dict[str, Builder] = {
    "SequentialLR": _sequential,
    "ChainedScheduler": _chained,
    "OneCycleLR": _one_cycle,
    "LRRangeTest": _range_test,
    "Cooldown": _cooldown,
    **{name: _hugging_face(name) for name in HUGGING_FACE},
}


def num_groups(spec: dict[str, Any]) -> int:
    """Groups implied by the spec: its ``lr`` list, else a per-group list argument, else 1."""
    for key in ("lr", "base_lr", "max_lr", "base_momentum", "max_momentum"):
        if isinstance(spec.get(key), list):
            return len(spec[key])
    return 1


def make_optimizer(lrs: list[float], optimizer: str = "sgd") -> torch.optim.Optimizer:
    """One parameter per group; SGD with momentum, or Adam (momentum is ``betas[0]``)."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    if optimizer == "adam":
        return torch.optim.Adam(groups, lr=lrs[0])
    return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)


def build_torch(spec: dict[str, Any], opt: torch.optim.Optimizer) -> Any:
    """The PyTorch scheduler for a (possibly nested) spec, on `opt`."""
    kwargs = {k: v for k, v in spec.items() if k not in ("type", "lr")}
    builder = BUILDERS.get(spec["type"])
    if builder is not None:
        return builder(opt, kwargs, lambda sub: build_torch(sub, opt))
    return getattr(lr_scheduler, spec["type"])(opt, **kwargs)


@dataclass
class TorchRun:
    """Per-step LRs and momenta (index = number of ``step()`` calls), and any error."""

    lrs: list[tuple[float, ...]] = field(default_factory=list)
    momentums: list[tuple[float, ...]] = field(default_factory=list)
    error: Exception | None = None


def _record(opt: torch.optim.Optimizer, run: TorchRun) -> None:
    run.lrs.append(tuple(float(g["lr"]) for g in opt.param_groups))
    run.momentums.append(tuple(float(g["betas"][0] if "betas" in g else g["momentum"])
                               for g in opt.param_groups))


def run_torch(spec: dict[str, Any], steps: int, optimizer: str = "sgd") -> TorchRun:
    """Construct the scheduler and call ``step()`` `steps` times (fewer if PyTorch raises).

    A top-level ``"interval": "epoch"`` steps the scheduler once per ``steps_per_epoch``
    steps, the way a training loop with an epoch-interval scheduler does.
    """
    spec = dict(spec)
    every = 1
    if spec.pop("interval", "step") == "epoch":
        every = spec["steps_per_epoch"]
        if spec["type"] != "OneCycleLR":
            spec.pop("steps_per_epoch")
    lr = spec.get("lr", 0.01)
    opt = make_optimizer(list(lr) if isinstance(lr, list) else [lr] * num_groups(spec),
                         optimizer)
    run = TorchRun()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = build_torch(spec, opt)
        _record(opt, run)
        for k in range(1, steps + 1):
            if k % every == 0:
                try:
                    sched.step()
                except Exception as exc:  # PyTorch's own refusal, e.g. past total_steps
                    run.error = exc
                    break
            _record(opt, run)
    return run
