"""A small real DDP job (gloo, CPU) whose LR schedule lives in an lrcast service.

Run it with torchrun; every rank asks the same run for its LRs and, for metric-driven
schedules, passes its rank-local validation loss to `sched.step(val_loss)` every
`--report-every` steps (the service aggregates the ranks' values and decides the plateau round
once for all of them):

    LRCAST_URL=http://127.0.0.1:8000 torchrun --nproc_per_node=4 examples/ddp_train.py \
        --run-id demo --out /tmp/demo

Each rank writes `rank<R>.jsonl` to `--out`: the LR it applied at every step, and its reports.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import lrcast
import lrcast.torch

WARMUP_THEN_PLATEAU = {
    "type": "SequentialLR", "lr": 0.05, "milestones": [40],
    "schedulers": [
        {"type": "LinearLR", "start_factor": 0.1, "end_factor": 1.0, "total_iters": 40},
        {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 1, "threshold": 0.01},
    ],
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-id", default=None,
                   help="the run (default: torchrun's job id, TORCHELASTIC_RUN_ID)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--schedule", type=json.loads, default=WARMUP_THEN_PLATEAU,
                   help="the schedule spec as JSON (default: LinearLR warmup, then plateau)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--report-every", type=int, default=20)
    p.add_argument("--report-from", type=int, default=40,
                   help="first step that may carry a report (the end of the warmup)")
    p.add_argument("--lease-steps", type=int, default=None,
                   help="fixed lease length in steps (default: leases sized in time)")
    p.add_argument("--step-sleep", type=float, default=0.0,
                   help="seconds to sleep per step (to make a short job last)")
    p.add_argument("--lease-timeout", type=float, default=120.0)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # the same initial weights on every rank
    model = DistributedDataParallel(torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)))
    gen = torch.Generator().manual_seed(1000 + rank)  # rank-local data
    w_true = torch.linspace(-1.0, 1.0, 8).unsqueeze(1)
    x_train = torch.randn(512, 8, generator=gen)
    y_train = x_train @ w_true + 0.3 * torch.randn(512, 1, generator=gen)
    x_val = torch.randn(128, 8, generator=gen)
    y_val = x_val @ w_true + 0.3 * torch.randn(128, 1, generator=gen)

    client = lrcast.Client(
        lease=lrcast.LeasePolicy(retry_every=0.2) if args.lease_steps is None else
        lrcast.LeasePolicy(steps=args.lease_steps, seconds=None, retry_every=0.2),
        timeouts=lrcast.Timeouts(connect=1.0, read=10.0, lease=args.lease_timeout, poll=5.0),
        retries=lrcast.Retries(attempts=2, backoff=0.05, max_backoff=0.2))
    run = client.run(args.run_id, schedule=args.schedule)  # every rank: idempotent
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = lrcast.torch.RemoteScheduler(optimizer, run)
    metric_driven = run.metric_driven

    args.out.mkdir(parents=True, exist_ok=True)
    loss_fn = torch.nn.MSELoss()
    with open(args.out / f"rank{rank}.jsonl", "w") as log:
        for step in range(args.steps):
            log.write(json.dumps({"step": step, "lr": optimizer.param_groups[0]["lr"],
                                  "t": time.time()}) + "\n")
            idx = torch.randint(0, 512, (32,), generator=gen)
            optimizer.zero_grad()
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            optimizer.step()
            nxt = sched.last_epoch + 1  # the step about to be trained: a report applies from it
            if (metric_driven and nxt >= args.report_from and nxt % args.report_every == 0
                    and nxt < args.steps):
                with torch.no_grad():
                    val = loss_fn(model(x_val), y_val).item()
                # ReduceLROnPlateau's idiom: one step, reporting this rank's value for the
                # round at it (blocks until every rank has reported; the mean decides)
                sched.step(val)
                log.write(json.dumps({"report": nxt, "value": val,
                                      "lr": optimizer.param_groups[0]["lr"]}) + "\n")
            else:
                sched.step()
            log.flush()
            if args.step_sleep:
                time.sleep(args.step_sleep)
    log_requests = {"rank": rank, "requests": client.requests_sent, "world": world}
    (args.out / f"requests{rank}.json").write_text(json.dumps(log_requests))
    client.close()
    dist.barrier()  # every rank done with collectives before any tears gloo down
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
