"""A training loop under lrcast's autopilot: every rank sends its loss (buffered, in batches),
announces checkpoints, and on a loss spike reloads the checkpoint the service names, skips
the bad batches and goes on with the scaled LR. Run one process per rank, e.g.:

    lrcast serve &
    for r in 0 1; do RANK=$r WORLD_SIZE=2 python examples/autopilot_train.py & done; wait

(torchrun sets RANK/WORLD_SIZE itself). A tiny linear model on synthetic data, CPU only.
``SPIKE_AT=600`` corrupts 30 batches from batch 600 on (their targets scaled by 30, as a bad
shard would be), to watch the autopilot act; ``STEPS`` sets the run's length (default 2000).
"""

from __future__ import annotations

import copy
import os

import torch

import lrcast
import lrcast.torch

STEPS, CHECKPOINT_EVERY = int(os.environ.get("STEPS", "2000")), 100
#: the first of 30 corrupt batches (-1: none), to see the autopilot rewind past them
SPIKE_AT = int(os.environ.get("SPIKE_AT", "-1"))
POLICY = {"mode": "act", "spike": {"window": 50, "threshold": 6.0, "consecutive": 3,
                                   "lr_scale": 0.5, "skip_batches": 50}}


def batch(index: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch `index` of this rank's data stream (deterministic, so skipping is reproducible)."""
    gen = torch.Generator().manual_seed(index * 1000 + rank)
    x = torch.randn(32, 8, generator=gen)
    corrupt = SPIKE_AT >= 0 and SPIKE_AT <= index < SPIKE_AT + 30
    return x, x.sum(dim=1, keepdim=True) * (30.0 if corrupt else 1.0)


def main() -> None:
    client = lrcast.Client(os.environ.get("LRCAST_URL", "http://127.0.0.1:8000"))
    run = client.run(os.environ.get("RUN_ID", "autopilot-demo"),
                     schedule={"type": "warmup_stable_decay", "lr": 0.05,
                               "num_warmup_steps": 100, "num_decay_steps": 400,
                               "num_training_steps": STEPS},
                     autopilot=POLICY)
    model = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = lrcast.torch.RemoteScheduler(opt, run)
    saved: dict[int, dict] = {}
    step, data_index = 0, 0
    while step < STEPS:
        x, y = batch(data_index, run.rank)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log_loss(step, loss.item())
        if step % CHECKPOINT_EVERY == 0:
            saved[step] = copy.deepcopy({"model": model.state_dict(), "opt": opt.state_dict(),
                                         "data_index": data_index})
            run.checkpoint(step)
        try:
            sched.step()
        except lrcast.errors.Rewind as directive:  # every rank gets it at the same step
            ckpt = saved[directive.to_step]
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["opt"])
            run.rewind(directive.to_step, resume_id=directive.directive_id)
            print(f"rank {run.rank}: loss spike; rewound to step {directive.to_step}, "
                  f"skipping {directive.skip_batches} batches, LR x{directive.lr_scale}",
                  flush=True)
            # the next step trained is to_step + 1, with that step's (scaled) LR
            sched.load_state_dict({**sched.state_dict(), "last_epoch": directive.to_step + 1})
            step, data_index = directive.to_step, ckpt["data_index"] + directive.skip_batches
        step, data_index = step + 1, data_index + 1
    client.close()  # sends the last buffered losses


if __name__ == "__main__":
    main()
