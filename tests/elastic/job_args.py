"""What the torchrun job scripts (`elastic_job.py`, `elastic_clock_job.py`) share: their
command line and their client. Imported from the repository root (the tests put it on the
scripts' ``PYTHONPATH``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import lrcast

__all__ = ["job_client", "job_parser"]


def job_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The arguments of one generation of a job: the run, where its logs go, the steps it
    trains (up to `--stop`, from the checkpoint's step with `--resume`), and the checkpoint
    rank 0 saves when the schedulers reach `--checkpoint-at`."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-id", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--stop", type=int, required=True)
    p.add_argument("--checkpoint-at", type=int, default=None)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--resume", action="store_true")
    return p


def job_client() -> lrcast.Client:
    """The client every rank uses: `LRCAST_URL`, short timeouts and few retries, so a test
    fails fast instead of waiting out the defaults."""
    return lrcast.Client(timeouts=lrcast.Timeouts(connect=1.0, read=10.0, round=60.0),
                         retries=lrcast.Retries(attempts=3, backoff=0.05, max_backoff=0.2))
