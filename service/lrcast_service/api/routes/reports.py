"""Plateau reports: one rank's metric for the evaluation round at a step
(`core/rounds.py` decides; `runtime/live.py` commits them in groups)."""

from __future__ import annotations

from fastapi import APIRouter

from ...core import frontier
from ...core.errors import StepOutOfRange
from ..deps import LiveDep, MetricsDep, RangeTestsDep
from ..models import ReportIn, ReportOut
from ..params import RunId

router = APIRouter(prefix="/v1", tags=["reports"])


@router.post("/runs/{run_id}/reports", response_model=ReportOut)
async def report(run_id: RunId, body: ReportIn, live: LiveDep, metrics: MetricsDep,
                 range_tests: RangeTestsDep) -> ReportOut:
    """Record rank `rank`'s value for the round at `step`. When all world_size ranks have
    reported, the values are aggregated and fed to the plateau rule once; the decision applies
    from `step` on. The same report again is a no-op 200; another value is 409
    report_conflict; a step before the latest decided round is 409 round_closed; a schedule
    with no metric-driven part at `step` is 409 not_metric_driven; a step some rank has
    already reached (`at` of its leases and reports, its ``/lr?rank=`` answers), where the
    plateau rule is active, is 409 lr_already_served (with `served_step` and `rank`): an
    LR a rank used never changes. `version` changes when a
    round is decided: a client's lease must then be refreshed."""
    await range_tests.check_report(run_id, body.step)  # an LR range test ends at divergence
    frontier.check_at(body.at, (await live.view(run_id)).frontier,
                      "no LR at or beyond the served frontier was used")
    rec, outcomes, counted = await live.report(run_id, body.step, body.rank, body.value,
                                               body.at)
    if counted:
        metrics.reports.inc()
    for out in outcomes:
        metrics.decisions.labels("true" if out.changed else "false").inc()
    rnd = rec.open_rounds.get(body.step)
    lr = None
    if rnd is None:
        try:
            lr = (await live.view(run_id)).lr_payload(body.step)["lr"]
        except StepOutOfRange:  # the schedule has no LR there; the report still counted
            lr = None
    return ReportOut(step=body.step, received=len(rnd.reports) if rnd else rec.world_size,
                     expected=rec.world_size, decided=rnd is None, lr=lr, version=rec.version)
