"""One generation of an elastic job, run by torchrun (CPU, no process group: lrcast is HTTP).

Warmup, then ReduceLROnPlateau (a `SequentialLR`); every `--every` steps from the warmup's
end each rank reports a rank-local metric (`metric(rank, step)`: deterministic), and rank 0
saves the optimizer and scheduler state when the scheduler reaches `--checkpoint-at`. The
job trains steps ``[start, --stop)``: start is 0, or the checkpoint's step with `--resume`
(a later generation: its membership epoch comes from `LRCAST_EPOCH`, or with `--elastic` from
torchrun's restart count). Each rank writes ``rank<R>.jsonl`` to `--out` (with `--elastic`,
to ``restart<N>/``): the LR its optimizer used at every step, and its reports.
"""

from __future__ import annotations

import json
import os
import time

import torch

import lrcast.torch
from tests.elastic.job_args import job_client, job_parser

WARMUP, EVERY, LR = 40, 10, 0.05
SCHEDULE = {
    "type": "SequentialLR", "lr": LR, "milestones": [WARMUP],
    "schedulers": [
        {"type": "LinearLR", "start_factor": 0.1, "end_factor": 1.0, "total_iters": WARMUP},
        {"type": "ReduceLROnPlateau", "factor": 0.5, "patience": 1, "threshold": 0.01},
    ],
}


def metric(rank: int, step: int) -> float:
    """Improves until step 90, then stalls; ranks 2 and 3 get worse after step 60 (so the
    mean depends on which ranks there are), each rank with a fixed pseudo-random offset."""
    noise = ((rank * 7919 + step * 104729) % 1000) / 1000 * 0.01 - 0.005
    worse = 0.5 if rank >= 2 and 60 < step <= 100 else 0.0
    return max(0.4, 1.0 - step / 150) + worse + noise


def main() -> None:
    p = job_parser(__doc__)
    p.add_argument("--elastic", action="store_true",
                   help="one torchrun agent among several: in the first generation a gloo "
                        "barrier every step (so a peer's death fails the step and torchrun "
                        "restarts the workers; later ones need no process group: lrcast is "
                        "HTTP), logs per restart, and a restart resumes from the checkpoint")
    p.add_argument("--hold-at", type=int, default=None,
                   help="with --elastic: the first generation waits at this step (until a "
                        "peer dies)")
    args = p.parse_args()
    rank = int(os.environ["RANK"])
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    collective = args.elastic and restarts == 0
    if collective:  # the first generation only: how its survivors learn a peer died
        import datetime

        import torch.distributed as dist
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=30))
    if args.elastic:
        args.out = args.out / f"restart{restarts}"
        args.resume = restarts > 0
    client = job_client()
    run = client.run(args.run_id, schedule=SCHEDULE)  # world size, rank, epoch: the launcher's
    param = torch.nn.Parameter(torch.zeros(4))
    optimizer = torch.optim.SGD([param], lr=LR, momentum=0.9)
    sched = lrcast.torch.RemoteScheduler(optimizer, run)
    if args.resume:
        state = torch.load(args.checkpoint, weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])  # this generation's membership change
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"rank{rank}.jsonl", "w") as log:
        for step in range(sched.last_epoch, args.stop):
            if collective:
                while step == args.hold_at:  # until a peer dies
                    dist.barrier()
                    time.sleep(0.05)
                dist.barrier()
            log.write(json.dumps({"step": step, "lr": optimizer.param_groups[0]["lr"]}) + "\n")
            param.grad = torch.full_like(param, 0.01)
            optimizer.step()
            nxt = step + 1
            if nxt >= WARMUP and nxt % EVERY == 0:
                value = metric(rank, nxt)
                sched.step(value)
                log.write(json.dumps({"report": nxt, "value": value}) + "\n")
            else:
                sched.step()
            log.flush()
            if rank == 0 and sched.last_epoch == args.checkpoint_at:
                torch.save({"optimizer": optimizer.state_dict(),
                            "scheduler": sched.state_dict()}, args.checkpoint)
    log_info = {"rank": rank, "epoch": run.epoch, "world_size": run.world_size}
    (args.out / f"info{rank}.json").write_text(json.dumps(log_info))
    client.close()


if __name__ == "__main__":
    main()
