"""One generation of an elastic job on token-clock runs, run by torchrun (CPU, no process group).

Each rank trains `PER_RANK_SAMPLES` sequences of `SEQUENCE` tokens a step, so the global batch
(what every rank tells `sched.step(samples=..., tokens=...)`) is `WORLD_SIZE` times that: 4
ranks consume twice the tokens of 2. The job drives one run per entry of `VARIANTS` in
lockstep (one optimizer and `RemoteScheduler` each; run ids ``<--run-id>-<variant>``): a
token-clock cosine, a warmup-then-cosine with square-root batch scaling, and a warmup (in
tokens) then ReduceLROnPlateau fed rank-local metrics (`elastic_job.metric`) every `EVERY`
steps. Rank 0 saves every optimizer's and scheduler's state when the schedulers reach
`--checkpoint-at`; the job trains steps ``[start, --stop)`` (start: 0, or the checkpoint's
step with `--resume`; the membership epoch comes from `LRCAST_EPOCH`). Each rank writes
``rank<R>.jsonl`` to `--out`: the LR each optimizer used at every step, and its reports.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch

import lrcast.torch
from tests.elastic.elastic_job import EVERY, metric
from tests.elastic.job_args import job_client, job_parser

PER_RANK_SAMPLES, SEQUENCE = 4, 128
#: generation 0's global batch (4 ranks), the spec's `batch`: 16 samples, 2,048 tokens
FIRST_WORLD = 4
FIRST_BATCH = {"samples": PER_RANK_SAMPLES * FIRST_WORLD,
               "tokens": PER_RANK_SAMPLES * SEQUENCE * FIRST_WORLD}
WARMUP_TOKENS = 40 * FIRST_BATCH["tokens"]  # reached at step 40 with 4 ranks
REFERENCE_BATCH = 16  # samples: generation 0's batch, so its scaling factor is 1
COSINE = {"lr": 0.1, "T_max": 250_000, "eta_min": 0.001}
WARMUP_COSINE = {"lr": 3e-4, "num_warmup_steps": 20 * FIRST_BATCH["tokens"],
                 "num_training_steps": 300_000}
PLATEAU_LR = 0.05
CLOCK = {"clock": "token", "batch": FIRST_BATCH}
VARIANTS: dict[str, dict[str, Any]] = {
    "cosine": {"type": "CosineAnnealingLR", **COSINE, **CLOCK},
    "warmup-cosine-sqrt": {"type": "cosine", **WARMUP_COSINE, **CLOCK, "batch_scaling": "sqrt",
                           "reference_batch_size": REFERENCE_BATCH},
    "plateau": {
        "type": "SequentialLR", "lr": PLATEAU_LR, "milestones": [WARMUP_TOKENS], **CLOCK,
        "schedulers": [
            {"type": "LinearLR", "start_factor": 0.1, "end_factor": 1.0,
             "total_iters": WARMUP_TOKENS},
            {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 1, "threshold": 0.01},
        ],
    },
}


def global_batch(world_size: int) -> tuple[int, int]:
    """(samples, tokens) one step of a job of `world_size` ranks consumes."""
    return PER_RANK_SAMPLES * world_size, PER_RANK_SAMPLES * SEQUENCE * world_size


def reports_at(step: int) -> bool:
    """Whether the plateau run reports a metric for the round at `step` (from the warmup's end)."""
    return step >= 40 and step % EVERY == 0


def main() -> None:
    p = job_parser(__doc__)
    args = p.parse_args()
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    samples, tokens = global_batch(world_size)
    client = job_client()
    jobs = {}
    for name, spec in VARIANTS.items():
        run = client.run(f"{args.run_id}-{name}", schedule=spec)  # world size, rank, epoch
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(4))], lr=0.1, momentum=0.9)
        jobs[name] = (run, optimizer, lrcast.torch.RemoteScheduler(optimizer, run))
    if args.resume:
        state = torch.load(args.checkpoint, weights_only=False)
        for name, (_, optimizer, sched) in jobs.items():
            optimizer.load_state_dict(state[name]["optimizer"])
            sched.load_state_dict(state[name]["scheduler"])  # this generation's change
    start = {sched.last_epoch for _, _, sched in jobs.values()}
    assert len(start) == 1, start
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"rank{rank}.jsonl", "w") as log:
        for step in range(start.pop(), args.stop):
            lrs = {}
            for name, (_, optimizer, sched) in jobs.items():
                lrs[name] = optimizer.param_groups[0]["lr"]
                for param in optimizer.param_groups[0]["params"]:
                    param.grad = torch.full_like(param, 0.01)
                optimizer.step()
                if name == "plateau" and reports_at(step + 1):
                    value = metric(rank, step + 1)
                    sched.step(value, samples=samples, tokens=tokens)
                    log.write(json.dumps({"report": step + 1, "value": value}) + "\n")
                else:
                    sched.step(samples=samples, tokens=tokens)
            log.write(json.dumps({"step": step, "lr": lrs}) + "\n")
            log.flush()
            if rank == 0 and step + 1 == args.checkpoint_at:
                torch.save({name: {"optimizer": optimizer.state_dict(),
                                   "scheduler": sched.state_dict()}
                            for name, (_, optimizer, sched) in jobs.items()}, args.checkpoint)
    info = {name: {"epoch": run.epoch, "world_size": run.world_size}
            for name, (run, _, _) in jobs.items()}
    (args.out / f"info{rank}.json").write_text(json.dumps(info))
    client.close()


if __name__ == "__main__":
    main()
