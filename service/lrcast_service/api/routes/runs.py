"""Runs: create (idempotent PUT, or POST with a generated id), list, show, delete."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from ...core import autopilot, frontier, membership, rounds
from ...core.changes import Change, History
from ...core.errors import Invalid, RunNotFound
from ...core.record import RunRecord
from ...core.runs import check_same
from ...core.timeline import build_run_schedule
from ...runtime.live import LiveRuns, RunView
from ..deps import LiveDep, StoreDep
from ..errors import conflicts
from ..idempotency import Key, KeyDep, encode
from ..models import (
    MAX_STEP,
    METADATA_MAX_DEPTH,
    PendingRound,
    PlateauInfo,
    RankProgress,
    Run,
    RunCreate,
    RunPage,
    RunSummary,
    check_json,
)
from ..params import RunAfterQ, RunId
from .membership import generations

router = APIRouter(prefix="/v1", tags=["runs"])
log = logging.getLogger("lrcast.service")


def _run(view: RunView, live: LiveRuns) -> Run:
    rec = view.record
    progress, seen = live.progress_of(rec)
    plateau = []
    for inst in rec.instances.values():
        state = rounds.plateau_state(inst)
        if state is not None:
            plateau.append(PlateauInfo(instance=inst.idx, origin=inst.origin,
                                       state=state.to_json()))
    return Run(
        run_id=rec.run_id, schedule=rec.spec, world_size=rec.world_size,
        aggregate=rec.aggregate, metadata=rec.metadata, created_at=rec.created_at,
        version=rec.version, served_frontier=rec.frontier,
        min_amendment_step=frontier.min_amendment_step(rec), metric_driven=view.metric_driven,
        timeline=view.timeline_json(), plateau=plateau,
        pending_rounds=[PendingRound(step=s, received=len(r.reports), expected=rec.world_size,
                                     missing_ranks=view.missing_ranks(s))
                        for s, r in sorted(rec.open_rounds.items())],
        last_decided_step=rec.last_decided.step if rec.last_decided else None,
        progress=[RankProgress(rank=r, step=s, updated_at=seen.get(r))
                  for r, s in sorted(progress.items())],
        epoch=membership.current(rec).epoch, generations=generations(rec))


async def _create(run_id: str, body: RunCreate, live: LiveRuns, response: Response,
                  key: Key) -> Run | Response:
    build_run_schedule(body.schedule)
    if body.from_step is not None and body.epoch is None:
        raise Invalid("from_step", "is the start of a membership epoch: give `epoch` too")
    if body.epoch is not None and await _newer_epoch(run_id, body.epoch, live):
        return await _change_membership(run_id, body, live, key)
    epoch = body.epoch or 0
    keyed = key.keyed(lambda rec, created: encode(_run(RunView(rec), live),
                                                  201 if created else 200))
    if keyed is not None:
        _, outcome = await live.write(run_id, live.store.create_run, run_id, body.schedule,
                                      body.world_size, body.aggregate, body.metadata, keyed,
                                      epoch)
        await _set_policy(run_id, body, live)  # idempotent: again on a replay is a no-op
        return key.answer(outcome)
    _, created = await live.create(run_id, body.schedule, body.world_size,
                                   body.aggregate, body.metadata, epoch)
    await _set_policy(run_id, body, live)
    response.status_code = 201 if created else 200
    return _run(await live.view(run_id), live)


async def _newer_epoch(run_id: str, epoch: int, live: LiveRuns) -> bool:
    """Whether the run exists with a membership epoch older than `epoch`."""
    try:
        view = await live.view(run_id)
    except RunNotFound:
        return False
    return epoch > membership.current(view.record).epoch


async def _change_membership(run_id: str, body: RunCreate, live: LiveRuns,
                             key: Key) -> Response:
    """A PUT with a greater epoch: the run's membership change (`core/membership.py`), from
    the body's `from_step`, else the latest checkpoint the run recorded, else 0; the schedule
    and aggregate must be the run's (409 run_conflict otherwise). Answers the run, 200."""
    assert body.epoch is not None

    def change(rec: RunRecord, history: History) -> tuple[Change, membership.MembershipResult]:
        check_same(rec, body.schedule, rec.world_size, body.aggregate)
        from_step = body.from_step
        if from_step is None:
            from_step = history.latest_checkpoint(MAX_STEP + 1) or 0
        return membership.change(rec, history, body.epoch, body.world_size, from_step)

    answer = await key.apply(run_id, change, lambda rec, _: encode(_run(RunView(rec), live)))
    await _set_policy(run_id, body, live)
    return answer


async def _set_policy(run_id: str, body: RunCreate, live: LiveRuns) -> None:
    """The autopilot policy, set by the first PUT that gives it (`RunConflict` for another)."""
    if body.autopilot is None:
        return
    policy = body.autopilot.model_dump()
    if (await live.view(run_id)).record.autopilot == policy:
        return  # every rank's identical PUT: no write transaction (the rule would change nothing)
    await live.apply(run_id, lambda rec, _: (autopilot.set_policy(rec, policy), None))


@router.put("/runs/{run_id}", response_model=Run, status_code=201,
            responses={200: {"model": Run, "description": "an identical run exists"},
                       **conflicts("run_conflict (with fields: what differs)",
                                   "membership_conflict", "run_unreadable")})
async def put_run(run_id: RunId, body: RunCreate, live: LiveDep, response: Response,
                  key: KeyDep) -> Run | Response:
    """Create the run if absent (201); 200 if an identical one exists, so that every rank may
    call it at start-up; 409 run_conflict naming the field that differs. With an `epoch`
    greater than the run's membership epoch, another world_size is the run's membership
    change from `from_step` (as ``POST .../membership``; 409 membership_conflict as there)."""
    return await _create(run_id, body, live, response, key)


@router.post("/runs", response_model=Run, status_code=201)
async def post_run(body: RunCreate, live: LiveDep, response: Response,
                   key: KeyDep) -> Run | Response:
    """Create a run with a generated id (a retry with the same Idempotency-Key gets the same
    run, not a second one)."""
    return await _create(uuid.uuid4().hex, body, live, response, key)


@router.get("/runs", response_model=RunPage)
async def list_runs(store: StoreDep,
                    after: RunAfterQ = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> RunPage:
    """Runs ordered by id; pass the page's `next` as `after` for the next page."""
    rows = await run_in_threadpool(store.list_runs, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return RunPage(runs=[_summary(r) for r in rows], next=rows[-1]["run_id"] if more else None)


def _summary(row: dict[str, Any]) -> RunSummary:
    """The row as listed; one an older version stored unsendable (metadata that does not
    decode, nests too deep or holds a lone surrogate) is listed with an error marker."""
    try:
        check_json(row["metadata"], "metadata", METADATA_MAX_DEPTH)
        if not isinstance(row["metadata"], dict):
            raise Invalid("metadata", "is not a JSON object")
    except Invalid as exc:
        log.warning("run %r: stored metadata cannot be listed: %s", row["run_id"], exc.detail)
        return RunSummary(**{**row, "metadata": {}, "error": exc.detail})
    return RunSummary(**row)


@router.get("/runs/{run_id}", response_model=Run, responses=conflicts("run_unreadable"))
async def get_run(run_id: RunId, live: LiveDep) -> Run:
    """The run: schedule, version, resolved timeline, plateau state, pending rounds, progress
    per rank (from LR queries and reports)."""
    return _run(await live.view(run_id), live)


@router.delete("/runs/{run_id}", status_code=204)
async def delete_run(run_id: RunId, live: LiveDep, key: KeyDep) -> Response:
    """Delete the run and its history."""
    keyed = key.keyed(lambda _, __: (204, b""))
    if keyed is not None:
        outcome = await live.write(run_id, live.store.delete_run, run_id, keyed)
        live.forget(run_id)
        return key.answer(outcome)
    if not await live.delete(run_id):
        raise RunNotFound(run_id)
    return Response(status_code=204)
