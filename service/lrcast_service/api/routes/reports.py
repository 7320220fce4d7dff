"""Plateau reports: one rank's metric for the evaluation round at a step
(`core/rounds.py` decides; `runtime/live.py` commits them in groups)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...core import frontier, membership, timeline
from ...core.errors import StepOutOfRange
from ...runtime.live import LiveRuns, RunView
from ...runtime.range_tests import RangeTests
from ..deps import LiveDep, MetricsDep, RangeTestsDep
from ..errors import conflicts
from ..idempotency import Key, KeyDep, encode
from ..metrics import Metrics
from ..models import ReportIn, ReportOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["reports"])


def _answer(view: RunView, step: int) -> ReportOut:
    """The round at `step` as `view` (the record the report committed) has it."""
    rec = view.record
    rnd = rec.open_rounds.get(step)
    lr = None
    if rnd is None:
        try:
            lr = timeline.evaluate(view.timeline, step)[0][0]
        except StepOutOfRange:  # the schedule has no LR there; the report still counted
            lr = None
    return ReportOut(step=step, received=len(rnd.reports) if rnd else rec.world_size,
                     expected=rec.world_size, decided=rnd is None, lr=lr, version=rec.version)


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
    status, data, replayed = await submit(run_id, body, live, metrics, range_tests, key)
    return key.response(status, data, replayed)


async def submit(run_id: str, body: ReportIn, live: LiveRuns, metrics: Metrics,
                 range_tests: RangeTests, key: Key) -> tuple[int, bytes, bool]:
    """The report route's work, shared with its fast path (`api/fast_reports.py`): (status,
    body, replayed); a refused report raises its `DomainError`."""
    await range_tests.check_report(run_id, body.step)  # an LR range test ends at divergence
    view = await live.view(run_id)
    if body.at is not None and body.at >= view.frontier and live.replication is not None:
        # replicas: the rank's LRs may have come from another one, whose frontier write this
        # view has not followed yet (its notification in flight): read the run afresh
        await live.refresh(run_id)
        view = await live.view(run_id)
    membership.check_epoch(view.record, body.epoch)  # again in the write (a change may race)
    frontier.check_at(body.at, view.frontier, "no LR at or beyond the served frontier was used")
    keyed = key.keyed(lambda rec, _: encode(_answer(live.view_of(rec), body.step)))
    done = await live.report(run_id, body.step, body.rank, body.value, body.at, keyed,
                             body.epoch)
    if keyed is not None:
        _, outcome = done
        if not outcome.replayed:
            _count(metrics, *outcome.result)
        return outcome.answer.status, outcome.answer.body, outcome.replayed
    view, outcomes, counted = done
    _count(metrics, outcomes, counted)
    return (*encode(_answer(view, body.step)), False)


def _count(metrics: Any, outcomes: Any, counted: bool) -> None:
    if counted:
        metrics.reports.inc()
    for out in outcomes:
        metrics.decisions.labels("true" if out.changed else "false").inc()
