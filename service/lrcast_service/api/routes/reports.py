"""Plateau reports: one rank's metric for the evaluation round at a step
(`core/rounds.py` decides; `runtime/live.py` commits them in groups)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...core import frontier, membership, timeline
from ...core.errors import StepOutOfRange
from ...core.record import RunRecord
from ..deps import LiveDep, MetricsDep, RangeTestsDep
from ..errors import conflicts
from ..idempotency import KeyDep, encode
from ..models import ReportIn, ReportOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["reports"])


def _answer(rec: RunRecord, step: int, lr_at: Any) -> ReportOut:
    rnd = rec.open_rounds.get(step)
    lr = None
    if rnd is None:
        try:
            lr = lr_at(step)
        except StepOutOfRange:  # the schedule has no LR there; the report still counted
            lr = None
    return ReportOut(step=step, received=len(rnd.reports) if rnd else rec.world_size,
                     expected=rec.world_size, decided=rnd is None, lr=lr, version=rec.version)


#: the timeline of the record a group commit answers its keyed reports from, built once for
#: the batch (held with the record, so an equal id cannot alias another record)
_batch_timeline: tuple[RunRecord | None, Any] = (None, None)


def _lr_in_batch(rec: RunRecord, step: int) -> float:
    global _batch_timeline
    held, built = _batch_timeline
    if held is not rec:
        built = timeline.build_timeline(rec)
        _batch_timeline = (rec, built)
    return timeline.evaluate(built, step)[0][0]


@router.post("/runs/{run_id}/reports", response_model=ReportOut, responses=conflicts(
    "report_conflict", "round_closed", "not_metric_driven", "range_test_stopped",
    "lr_already_served (with served_step, rank)", "idempotency_key_in_flight", "run_unreadable",
    "stale_membership, membership_pending (with epoch, sent_epoch)"))
async def report(run_id: RunId, body: ReportIn, live: LiveDep, metrics: MetricsDep,
                 range_tests: RangeTestsDep, key: KeyDep) -> Any:
    """Record rank `rank`'s value for the round at `step`. When all world_size ranks have
    reported, the values are aggregated and fed to the plateau rule once; the decision applies
    from `step` on. The same report again is a no-op 200; another value is 409
    report_conflict; a step before the latest decided round is 409 round_closed; a schedule
    with no metric-driven part at `step` is 409 not_metric_driven; a step some rank has
    already reached (`at` of its leases and reports, its ``/lr?rank=`` answers), where the
    plateau rule is active, is 409 lr_already_served (with `served_step` and `rank`): an
    LR a rank used never changes. An `epoch` older than the run's membership epoch is 409
    stale_membership, a newer one 409 membership_pending. `version` changes when a
    round is decided: a client's lease must then be refreshed."""
    await range_tests.check_report(run_id, body.step)  # an LR range test ends at divergence
    view = await live.view(run_id)
    membership.check_epoch(view.record, body.epoch)  # again in the write (a change may race)
    frontier.check_at(body.at, view.frontier, "no LR at or beyond the served frontier was used")
    keyed = key.keyed(lambda rec, _: encode(_answer(rec, body.step,
                                                    lambda s: _lr_in_batch(rec, s))))
    done = await live.report(run_id, body.step, body.rank, body.value, body.at, keyed,
                             body.epoch)
    if keyed is not None:
        rec, outcome = done
        if not outcome.replayed:
            _count(metrics, *outcome.result)
        return key.answer(outcome)
    rec, outcomes, counted = done
    _count(metrics, outcomes, counted)
    view = await live.view(run_id)
    return _answer(rec, body.step, lambda s: view.lr_payload(s)["lr"])


def _count(metrics: Any, outcomes: Any, counted: bool) -> None:
    if counted:
        metrics.reports.inc()
    for out in outcomes:
        metrics.decisions.labels("true" if out.changed else "false").inc()
