"""Every error the client raises, in one hierarchy: catch `LRCastError` or something narrower.

    LRCastError
    ├── ServiceUnavailable         (connection errors / 5xx after every retry and URL)
    │   └── LeaseExpired           (unreachable past the lease horizon for too long)
    ├── AuthError                  (401/403)
    ├── RunNotFound                (404 run_not_found)
    ├── InvalidRequest             (422 invalid: names the field)
    ├── StepOutOfRange             (the schedule has no LR at that step)
    └── Conflict                   (409)
        ├── RunConflict, ReportConflict, RoundClosed, NotMetricDriven, ConsumptionConflict
        ├── AmendmentTooEarly      (min_step)
        ├── LRAlreadyServed        (served_step, rank: a report or a consumption entry would
        │                           change an LR a rank used)
        ├── RangeTestStopped       (an LR range test diverged: stop the sweep)
        ├── Rewind                 (the autopilot's directive: reload a checkpoint)
        ├── StaleMembership        (epoch, sent_epoch: this process's generation was replaced)
        ├── MembershipPending, MembershipConflict (an elastic job's membership epochs)
        └── RoundPending           (step, missing_ranks)
            └── RoundTimeout       (a report's round was not decided in time)
"""

from __future__ import annotations

from typing import Any


class LRCastError(Exception):
    """Base class of every lrcast client error; `code` and `status` as the service sent them."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.body = body or {}


class ServiceUnavailable(LRCastError):
    """The service did not answer (connection errors, timeouts, 5xx) after every retry."""


class LeaseExpired(ServiceUnavailable):
    """A rank reached its lease horizon and could not renew it within the allowed time."""

    def __init__(self, message: str, *, step: int, horizon: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.step = step
        self.horizon = horizon


class AuthError(LRCastError):
    """The service refused the token (missing, unknown or not allowed)."""


class RunNotFound(LRCastError):
    """No run with that id."""


class InvalidRequest(LRCastError):
    """The service rejected the request as invalid (422); `field` names the culprit if known."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class StepOutOfRange(LRCastError):
    """The schedule has no LR at that step (where PyTorch itself would raise)."""


class Conflict(LRCastError):
    """The request conflicts with the run's state (409)."""


class RunConflict(Conflict):
    """A run with that id exists with a different schedule, world size or aggregate."""


class ReportConflict(Conflict):
    """This rank already reported a different value for that step."""


class ConsumptionConflict(Conflict):
    """A consumption entry names another amount for a step whose amount is recorded."""


class RoundClosed(Conflict):
    """The report's step lies before the latest decided round."""


class NotMetricDriven(Conflict):
    """A report to a run whose schedule has no metric-driven part."""


class AmendmentTooEarly(Conflict):
    """An amendment from a step some rank may already have used; `min_step` is allowed."""

    def __init__(self, message: str, *, min_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.min_step = min_step


class LRAlreadyServed(Conflict):
    """A plateau report at a step `rank` has already passed (it reached `served_step`): its
    decision would change LRs that rank used, so the service refuses it."""

    def __init__(self, message: str, *, served_step: int | None = None,
                 rank: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.served_step = served_step
        self.rank = rank


class RoundPending(Conflict):
    """The LR at `step` waits for the plateau round still missing `missing_ranks`."""

    def __init__(self, message: str, *, step: int | None = None,
                 missing_ranks: list[int] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.step = step
        self.missing_ranks = list(missing_ranks or [])


class RoundTimeout(RoundPending):
    """A report's round was not decided in time: `missing_ranks` never reported."""


class RangeTestStopped(Conflict):
    """An LR range test's loss diverged before this report's step: stop the sweep."""


class Rewind(Conflict):
    """The autopilot saw a loss spike: reload the checkpoint at `to_step`, skip
    `skip_batches` batches, then ``run.rewind(to_step, resume_id=directive_id)``; the LR is
    scaled by `lr_scale` from `to_step` on. Every rank gets it at the same `step`."""

    def __init__(self, message: str, *, to_step: int, skip_batches: int, lr_scale: float,
                 directive_id: str, step: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.to_step = to_step
        self.skip_batches = skip_batches
        self.lr_scale = lr_scale
        self.directive_id = directive_id
        self.step = step


class StaleMembership(Conflict):
    """This process belongs to a generation of the job older than the run's membership
    epoch (`epoch`; this process sent `sent_epoch`): a later generation replaced it, so its
    reports count in no round. Set ``LRCAST_EPOCH`` when restarting a job by hand."""


class MembershipPending(Conflict):
    """A report under a membership epoch the run does not know yet (the change first)."""


class MembershipConflict(Conflict):
    """A membership change that contradicts the generation in force: the same epoch with
    another world size or step, or an older epoch."""


_BY_CODE: dict[str, type[LRCastError]] = {
    "run_not_found": RunNotFound,
    "run_conflict": RunConflict,
    "report_conflict": ReportConflict,
    "consumption_conflict": ConsumptionConflict,
    "round_closed": RoundClosed,
    "not_metric_driven": NotMetricDriven,
    "amendment_too_early": AmendmentTooEarly,
    "lr_already_served": LRAlreadyServed,
    "round_pending": RoundPending,
    "invalid": InvalidRequest,
    "step_out_of_range": StepOutOfRange,
    "range_test_stopped": RangeTestStopped,
    "rewind": Rewind,
    "stale_membership": StaleMembership,
    "membership_pending": MembershipPending,
    "membership_conflict": MembershipConflict,
}


def from_response(status: int, body: Any, fallback: str = "") -> LRCastError:
    """The exception for an error response: by `code` first, then by HTTP status."""
    body = body if isinstance(body, dict) else {}
    code = body.get("code")
    detail = body.get("detail", fallback)
    message = detail if isinstance(detail, str) else str(detail)
    cls = _BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        if status in (401, 403):
            cls = AuthError
        elif status == 404:
            cls = RunNotFound
        elif status == 422:
            cls = InvalidRequest
        elif status == 409:
            cls = Conflict
        elif status >= 500:
            cls = ServiceUnavailable
        else:
            cls = LRCastError
    common: dict[str, Any] = {"code": code, "status": status, "body": body}
    if cls is RoundPending:
        return RoundPending(message, step=body.get("step"),
                            missing_ranks=body.get("missing_ranks"), **common)
    if cls is AmendmentTooEarly:
        return AmendmentTooEarly(message, min_step=body.get("min_step"), **common)
    if cls is LRAlreadyServed:
        return LRAlreadyServed(message, served_step=body.get("served_step"),
                               rank=body.get("rank"), **common)
    if cls is Rewind:
        return Rewind(message, to_step=body.get("to_step"), skip_batches=body.get("skip_batches"),
                      lr_scale=body.get("lr_scale"), directive_id=body.get("directive_id"),
                      step=body.get("step"), **common)
    if cls is InvalidRequest:
        return InvalidRequest(message, field=_field_of(body), **common)
    return cls(message, **common)


def _field_of(body: dict[str, Any]) -> str | None:
    """The field a 422 names: `field` if given, else the first pydantic `loc`."""
    if isinstance(body.get("field"), str):
        return body["field"]
    detail = body.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        loc = [str(p) for p in detail[0].get("loc", []) if p not in ("body", "query", "path")]
        return ".".join(loc) or None
    return None
