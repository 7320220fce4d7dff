"""Small immutable configuration values with sane defaults (as httpx's `Timeout`/`Limits`)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    """How long the client waits, in seconds.

    `connect`/`read` bound one HTTP exchange; `round` bounds how long `report` (and any LR
    query behind a plateau round) waits for the other ranks; `lease` is how long a rank that
    reached its lease horizon keeps retrying an unreachable service before `LeaseExpired`.
    `poll` is the long-poll a single request asks the service to hold (kept under `read`).
    """

    connect: float = 5.0
    read: float = 30.0
    round: float = 600.0
    lease: float = 300.0
    poll: float = 20.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "round", "lease"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Timeouts.{name} must be > 0 seconds")
        if not self.poll >= 0:
            raise ValueError("Timeouts.poll must be >= 0 seconds")


@dataclass(frozen=True)
class Retries:
    """Retries with exponential backoff and full jitter on connection errors, 5xx and
    `round_pending`. Every write carries an `Idempotency-Key`, the same on each retry of it.

    `attempts` is the number of passes over the base URLs (each pass tries every URL once).
    """

    attempts: int = 5
    backoff: float = 0.1
    max_backoff: float = 5.0
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("Retries.attempts must be >= 1 (one pass over the URLs at least)")
        if not 0 <= self.backoff <= self.max_backoff:
            raise ValueError("Retries needs 0 <= backoff <= max_backoff")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("Retries.jitter must be in [0, 1]")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to sleep before pass `attempt` (1-based after the first failure)."""
        ceiling = min(self.max_backoff, self.backoff * (2 ** max(0, attempt - 1)))
        spread = ceiling * self.jitter
        return ceiling - spread + (rng or random).random() * spread


@dataclass(frozen=True)
class LeasePolicy:
    """How much of the schedule a rank leases at once and when it renews.

    The first lease covers `steps` steps. With `seconds` set, every later lease is sized to
    cover about that much training time at the step rate the rank has shown (between
    `min_steps` and `max_steps`): the horizon is a wall-clock budget, so amendments take effect
    about `seconds` ahead and an outage of up to (1 - `renew_at`) of it costs nothing, however
    fast or slow the steps are. With `seconds=None`, every lease is `steps` long. The rank
    renews once `renew_at` of a lease is used, in the background; `retry_every` spaces
    renewal attempts (in seconds) while the service is unreachable.
    """

    steps: int = 150
    seconds: float | None = 30.0
    #: at least 150 steps: a renewal per 120 steps at most, so <= 10 requests per 1,000
    #: steps at any pace
    min_steps: int = 150
    max_steps: int = 100_000
    renew_at: float = 0.8
    retry_every: float = 1.0
    grow: float = 2.0
    min_elapsed: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_steps <= self.max_steps:
            raise ValueError("LeasePolicy needs 1 <= min_steps <= max_steps")
        if self.steps < 1:
            raise ValueError("LeasePolicy.steps must be >= 1")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError("LeasePolicy.seconds must be > 0 (or None for fixed leases)")
        if not 0.0 < self.renew_at <= 1.0:
            raise ValueError("LeasePolicy.renew_at must be in (0, 1]")
        if not self.grow >= 1.0:
            raise ValueError("LeasePolicy.grow must be >= 1")
        if not self.min_elapsed >= 0:
            raise ValueError("LeasePolicy.min_elapsed must be >= 0 seconds")

    def next_steps(self, done: int, elapsed: float) -> int:
        """The length of the next lease, after `done` steps of the last one in `elapsed` s."""
        if self.seconds is None or done <= 0 or elapsed <= 0:
            return self.steps
        rate = done / max(elapsed, self.min_elapsed)
        return int(min(self.max_steps,
                       max(self.min_steps, min(done * self.grow, rate * self.seconds))))
