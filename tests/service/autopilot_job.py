"""One rank of a synthetic training job for the autopilot tests (run as a process):
``python autopilot_job.py URL RUN_ID RANK WORLD SPIKE OUT``. Its loss decays with noise and,
on the first pass only, spikes at step SPIKE (-1: never); it announces a checkpoint every
100 steps and, on `lrcast.errors.Rewind`, reloads the checkpoint, skips the batches and
acknowledges, as a training loop would. Writes what it saw as JSON to OUT."""

from __future__ import annotations

import json
import math
import random
import sys
import time

import lrcast

STEPS, SCHEDULE = 1500, {"type": "CosineAnnealingLR", "lr": 0.1, "T_max": 2000}
POLICY = {"mode": "act", "spike": {"window": 50, "threshold": 6.0, "consecutive": 3,
                                   "lr_scale": 0.5, "skip_batches": 7}}


def main() -> None:
    url, run_id, rank, world, spike, out = sys.argv[1:7]
    rank, world, spike = int(rank), int(world), int(spike)
    rng = random.Random(rank)
    policy = lrcast.LeasePolicy(steps=20, seconds=None, min_steps=20)
    seen: dict = {"rewinds": [], "lrs": {}}
    with lrcast.Client(url, lease=policy) as client:
        run = client.run(run_id, schedule=SCHEDULE, world_size=world, rank=rank,
                         autopilot=POLICY)
        step, batch, spiked = 0, 0, False
        while step < STEPS:
            try:
                lr = run.lr(step)
            except lrcast.errors.Rewind as directive:
                seen["rewinds"].append({"at": step, "to_step": directive.to_step,
                                        "skip": directive.skip_batches,
                                        "scale": directive.lr_scale,
                                        "id": directive.directive_id})
                run.rewind(directive.to_step, resume_id=directive.directive_id)
                step, batch = directive.to_step + 1, batch + directive.skip_batches
                spiked = True  # the bad batches are skipped: no second spike
                continue
            seen["lrs"][step] = lr
            loss = 2.0 + 3.0 * math.exp(-step / 300) + rng.gauss(0, 0.05)
            if not spiked and spike >= 0 and spike <= step < spike + 30:
                loss += 4.0
            run.log_loss(step, loss)
            if step % 100 == 0:
                run.checkpoint(step)
            step, batch = step + 1, batch + 1
            time.sleep(0.003)
    with open(out, "w") as f:
        json.dump(seen, f)


if __name__ == "__main__":
    main()
