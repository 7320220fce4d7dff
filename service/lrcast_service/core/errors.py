"""The domain errors: what a rule refuses, with the fields a caller needs to act on it.

They carry no HTTP status: `api/errors.py` holds the one table that maps each class to its
status and error code. `fields` is sent along with the message (``{"detail", "code",
**fields}``), so the names here are part of API v1.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmendmentTooEarly",
    "ConsumptionConflict",
    "DomainError",
    "Invalid",
    "LRAlreadyServed",
    "MembershipConflict",
    "MembershipPending",
    "NotMetricDriven",
    "NotRangeTest",
    "RangeTestStopped",
    "RewindDirective",
    "ReportConflict",
    "RoundClosed",
    "RoundPending",
    "RunConflict",
    "RunNotFound",
    "RunUnreadable",
    "StaleMembership",
    "StepOutOfRange",
    "consumption_served",
]


class DomainError(Exception):
    """Base class: a human `detail` and the machine-readable `fields` that go with it."""

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields


class RunNotFound(DomainError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r}")


class RunConflict(DomainError):
    """The run exists with another definition; `fields` names what differs."""

    def __init__(self, run_id: str, differs: list[str]) -> None:
        super().__init__(f"run {run_id!r} exists with a different {', '.join(differs)}",
                         fields=differs)


class RunUnreadable(DomainError):
    """The stored run no longer builds (stored by an older version that accepted what this
    one refuses): its reads say so instead of failing; delete it."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__(f"run {run_id!r} as stored cannot be read by this version ({reason}); "
                         f"delete it and create it again", run_id=run_id)


class Invalid(DomainError):
    """An input the rules refuse, naming the `field` at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)


class StepOutOfRange(DomainError):
    """The schedule has no LR at `step` (the engine raises there, as PyTorch would)."""

    def __init__(self, step: int, detail: str) -> None:
        super().__init__(detail, step=step)


class RoundPending(DomainError):
    """An undecided plateau round at `step` bars every LR at or beyond it."""

    def __init__(self, step: int, missing_ranks: list[int]) -> None:
        super().__init__(f"the plateau round at step {step} waits for ranks {missing_ranks}",
                         step=step, missing_ranks=missing_ranks)


class ReportConflict(DomainError):
    def __init__(self, step: int, rank: int, value: float) -> None:
        super().__init__(f"rank {rank} already reported {value!r} for step {step}",
                         step=step, rank=rank, value=value)


class LRAlreadyServed(DomainError):
    """A report whose plateau decision could change an LR a rank already used: `rank` has
    reached `served_step` >= `step`, and the decision at `step` applies from `step` on."""

    def __init__(self, step: int, served_step: int, rank: int,
                 detail: str | None = None) -> None:
        super().__init__(detail or f"rank {rank} has already passed step {served_step}: a "
                         f"plateau decision at step {step} could change LRs it used; report "
                         f"at a step after {served_step}", step=step, served_step=served_step,
                         rank=rank)


def consumption_served(step: int, served_step: int, rank: int) -> LRAlreadyServed:
    """`LRAlreadyServed` for a consumption entry at `step` while `rank` has reached
    `served_step` > `step`: it would change the clock position (or batch factor) of LRs that
    rank used."""
    return LRAlreadyServed(step, served_step, rank, detail=(
        f"rank {rank} has already reached step {served_step}: what step {step} consumed "
        f"decides the LRs of the steps after it, and rank {rank} used those up to "
        f"{served_step}; report a step's consumption before any rank passes it"))


class ConsumptionConflict(DomainError):
    """A consumption entry for a step whose `unit` (samples or tokens) was recorded as
    another amount (`recorded`)."""

    def __init__(self, step: int, unit: str, recorded: int, given: int) -> None:
        super().__init__(f"step {step} was recorded as consuming {recorded} {unit}, not "
                         f"{given}", step=step, unit=unit, recorded=recorded, given=given)


class RoundClosed(DomainError):
    """A step before the latest decided round; with `epoch`: at or before the step the
    current membership generation resumed from (its rounds are those after it)."""

    def __init__(self, step: int, last_decided_step: int, epoch: int | None = None) -> None:
        if epoch is None:
            super().__init__(f"step {step} is before the latest decided round (step "
                             f"{last_decided_step}); rounds are applied in step order",
                             step=step, last_decided_step=last_decided_step)
            return
        super().__init__(f"step {step} is at or before step {last_decided_step}, from which "
                         f"membership epoch {epoch} resumed: its rounds are those after it",
                         step=step, last_decided_step=last_decided_step, epoch=epoch)


class StaleMembership(DomainError):
    """A report or lease from a generation of the job older than the run's: a straggler
    that must not count in the new generation's rounds."""

    def __init__(self, sent_epoch: int, epoch: int) -> None:
        super().__init__(f"membership epoch {sent_epoch} is older than the run's ({epoch}): "
                         "this process belongs to a generation of the job that was replaced",
                         epoch=epoch, sent_epoch=sent_epoch)


class MembershipPending(DomainError):
    """A report from a generation the run does not know yet: change the membership first."""

    def __init__(self, sent_epoch: int, epoch: int) -> None:
        super().__init__(f"membership epoch {sent_epoch} is newer than the run's ({epoch}): "
                         "POST .../membership first", epoch=epoch, sent_epoch=sent_epoch)


class MembershipConflict(DomainError):
    """A membership change that contradicts the generation in force: its epoch with another
    world_size or from_step, or an older epoch. `fields` names what conflicts."""

    def __init__(self, sent_epoch: int, now: Any, differs: list[str]) -> None:
        what = ("is older than the run's" if differs == ["epoch"] else
                f"is in force with another {' and '.join(differs)}")
        super().__init__(f"membership epoch {sent_epoch} {what} (epoch {now.epoch}: world_size "
                         f"{now.world_size} from step {now.from_step}); a new membership "
                         "needs a greater epoch", fields=differs, epoch=now.epoch,
                         world_size=now.world_size, from_step=now.from_step)


class NotMetricDriven(DomainError):
    def __init__(self, step: int) -> None:
        super().__init__(f"the schedule in force at step {step} has no metric-driven part "
                         "(ReduceLROnPlateau): nothing to report", step=step)


class AmendmentTooEarly(DomainError):
    def __init__(self, min_step: int, from_step: int) -> None:
        super().__init__(f"steps before {min_step} were already served (or leased) to a rank, "
                         f"or have plateau rounds; amend from step {min_step} or later",
                         min_step=min_step, from_step=from_step)


class RewindDirective(DomainError):
    """The autopilot's directive (`core/autopilot.py`): this rank must reload the checkpoint
    at `to_step`, skip `skip_batches` batches and acknowledge before any step >= `step`."""

    def __init__(self, directive: dict[str, Any]) -> None:
        super().__init__(
            f"loss spike at step {directive['spike_step']}: reload the checkpoint at step "
            f"{directive['to_step']}, skip {directive['skip_batches']} batches, then "
            f"POST .../rewind with resume_id {directive['directive_id']!r}",
            step=directive["at_step"], to_step=directive["to_step"],
            skip_batches=directive["skip_batches"], lr_scale=directive["lr_scale"],
            directive_id=directive["directive_id"], spike_step=directive["spike_step"])


class NotRangeTest(DomainError):
    def __init__(self, run_id: str, schedule_type: Any) -> None:
        super().__init__(f"run {run_id!r} is not an LR range test (its schedule is "
                         f"{schedule_type!r})")


class RangeTestStopped(DomainError):
    def __init__(self, step: int, stopped_at: int, suggested_lr: float | None) -> None:
        super().__init__(f"the LR range test stopped at step {stopped_at}: the loss diverged; "
                         f"suggested lr {suggested_lr}", step=step, stopped_at=stopped_at,
                         suggested_lr=suggested_lr)
