"""`Store` on SQLAlchemy Core (sync): SQLite and PostgreSQL with the same code.

Every write is one transaction that first takes the run's write lock, then reads the run,
applies the rule (``domain.rules``) and writes, so reports for one round are counted once
and a round is decided exactly once, whichever process or replica receives them:

- SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock at the start of the
  transaction (a deferred BEGIN would read first and could fail to upgrade to a write lock,
  or decide on stale reads); writers are serialised, readers go on (WAL). Within this process
  a lock also serialises writer threads so they queue instead of spinning on SQLITE_BUSY.
  ``synchronous=FULL``: a commit is on disk before the 2xx goes out.
- PostgreSQL: ``SELECT ... FOR UPDATE`` on the run's row is the first statement of every
  write transaction on that run: writers on one run (on any replica) queue on that row lock
  and each sees the previous one's commit (READ COMMITTED re-reads after the lock), so
  a report's round check and the decision happen on the latest committed state.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from ..domain import rules
from ..domain.record import Instance, Round, RunRecord
from ..errors import ApiError, run_not_found
from . import notify
from . import schema as t
from .base import Store


def normalize_url(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) mean psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """An engine with the durability settings of each backend."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                  pool_size=pool_size, max_overflow=pool_size * 2)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see `_begin`)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("lrcast_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2,
                            pool_pre_ping=True)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class SqlStore(Store):
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.engine = make_engine(url, pool_size)
        self.sqlite = self.engine.dialect.name == "sqlite"
        self._writer = threading.Lock() if self.sqlite else None
        #: this store's id in change notifications, to skip its own (store/notify.py)
        self.origin = notify.new_origin()

    # transactions -------------------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self, run_id: str | None = None) -> Iterator[Connection]:
        """A write transaction holding the run's lock (see the module docstring)."""
        if self._writer is not None:
            self._writer.acquire()
        try:
            with self.engine.connect() as conn:
                conn.execution_options(lrcast_write=True)
                with conn.begin():
                    if run_id is not None and not self.sqlite:
                        conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)
                                     .with_for_update())
                        # replicas: bump the change counter under the row lock, and tell the
                        # other replicas on commit (a rollback drops both; store/notify.py)
                        conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id)
                                     .values(seq=t.runs.c.seq + 1))
                    yield conn
                    if run_id is not None and not self.sqlite:
                        notify.publish(conn, run_id, self.origin)
        finally:
            if self._writer is not None:
                self._writer.release()

    # reading a run --------------------------------------------------------------------------
    def _load(self, conn: Connection, run_id: str) -> RunRecord | None:
        row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
        if row is None:
            return None
        instances = {
            r.idx: Instance(r.idx, r.origin, json.loads(r.spec),
                            json.loads(r.state) if r.state else None)
            for r in conn.execute(sa.select(t.instances).where(t.instances.c.run_id == run_id))
        }
        segments = [(r.from_step, r.instance, r.scale) for r in conn.execute(
            sa.select(t.segments).where(t.segments.c.run_id == run_id)
            .order_by(t.segments.c.from_step))]
        decisions: dict[int, list[tuple[int, tuple[float, ...]]]] = {}
        for r in conn.execute(sa.select(t.decisions).where(t.decisions.c.run_id == run_id)
                              .order_by(t.decisions.c.step)):
            decisions.setdefault(r.instance, []).append((r.step, tuple(json.loads(r.lrs))))
        open_rounds = {r.step: Round(r.step, False) for r in conn.execute(
            sa.select(t.rounds.c.step).where(t.rounds.c.run_id == run_id,
                                             t.rounds.c.decided.is_(False)))}
        last = conn.execute(sa.select(t.rounds.c.step, t.rounds.c.value)
                            .where(t.rounds.c.run_id == run_id, t.rounds.c.decided.is_(True))
                            .order_by(t.rounds.c.step.desc()).limit(1)).first()
        last_decided = Round(last.step, True, value=last.value) if last else None
        steps = list(open_rounds) + ([last.step] if last else [])
        if steps:
            for r in conn.execute(sa.select(t.reports).where(t.reports.c.run_id == run_id,
                                                             t.reports.c.step.in_(steps))):
                target = open_rounds.get(r.step) or last_decided
                if target is not None and target.step == r.step:
                    target.reports[r.rank] = r.value
        return RunRecord(
            run_id=row.id, spec=json.loads(row.spec), world_size=row.world_size,
            aggregate=row.aggregate, metadata=json.loads(row.metadata),
            created_at=row.created_at, version=row.version, frontier=row.served_frontier,
            progress={int(k): v for k, v in json.loads(row.progress).items()},
            last_rewind=json.loads(row.last_rewind) if row.last_rewind else None,
            instances=instances, segments=segments, decisions=decisions,
            open_rounds=open_rounds, last_decided=last_decided,
            last_round_step=max(steps) if steps else None, seq=row.seq)

    def _must_load(self, conn: Connection, run_id: str) -> RunRecord:
        rec = self._load(conn, run_id)
        if rec is None:
            raise run_not_found(run_id)
        return rec

    def load(self, run_id: str) -> RunRecord | None:
        with self._read() as conn:
            return self._load(conn, run_id)

    def _event(self, conn: Connection, run_id: str, kind: str, data: dict[str, Any]) -> None:
        conn.execute(sa.insert(t.events).values(run_id=run_id, time=time.time(), kind=kind,
                                                data=_dumps(data)))

    def _bump(self, conn: Connection, rec: RunRecord, **values: Any) -> None:
        conn.execute(sa.update(t.runs).where(t.runs.c.id == rec.run_id)
                     .values(version=rec.version + 1, **values))

    # runs ---------------------------------------------------------------------------------------
    def create_run(self, run_id: str, spec: dict[str, Any], world_size: int, aggregate: str,
                   metadata: dict[str, Any]) -> tuple[RunRecord, bool]:
        try:
            with self._write() as conn:
                existing = self._load(conn, run_id)
                if existing is None:
                    conn.execute(sa.insert(t.runs).values(
                        id=run_id, spec=_dumps(spec), world_size=world_size,
                        aggregate=aggregate, metadata=_dumps(metadata), created_at=time.time(),
                        version=1, served_frontier=0, progress="{}", last_rewind=None))
                    conn.execute(sa.insert(t.instances).values(run_id=run_id, idx=0, origin=0,
                                                               spec=_dumps(spec), state=None))
                    conn.execute(sa.insert(t.segments).values(run_id=run_id, from_step=0,
                                                              instance=0, scale=1.0))
                    self._event(conn, run_id, "created", {
                        "schedule": spec, "world_size": world_size, "aggregate": aggregate})
                    return self._must_load(conn, run_id), True
        except sa.exc.IntegrityError:  # another replica created it first: compare with it
            existing = self.load(run_id)
            if existing is None:
                raise
        differs = [name for name, mine, theirs in (
            ("schedule", spec, existing.spec), ("world_size", world_size, existing.world_size),
            ("aggregate", aggregate, existing.aggregate)) if mine != theirs]
        if differs:
            raise ApiError(409, "run_conflict",
                           f"run {run_id!r} exists with a different {', '.join(differs)}",
                           fields=differs)
        return existing, False

    def delete_run(self, run_id: str) -> bool:
        with self._write(run_id) as conn:
            gone = conn.execute(sa.delete(t.runs).where(t.runs.c.id == run_id)).rowcount
            for table in t.PER_RUN:
                conn.execute(sa.delete(table).where(table.c.run_id == run_id))
            return bool(gone)

    def list_runs(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        query = sa.select(t.runs.c.id, t.runs.c.world_size, t.runs.c.aggregate,
                          t.runs.c.created_at, t.runs.c.version, t.runs.c.metadata)
        if after is not None:
            query = query.where(t.runs.c.id > after)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.runs.c.id).limit(limit)).all()
        return [{"run_id": r.id, "world_size": r.world_size, "aggregate": r.aggregate,
                 "created_at": r.created_at, "version": r.version,
                 "metadata": json.loads(r.metadata)} for r in rows]

    # the served frontier -----------------------------------------------------------------------
    def extend_frontier(self, run_id: str, at_least: int,
                        progress: dict[int, int]) -> RunRecord:
        with self._write(run_id) as conn:
            rec = self._must_load(conn, run_id)
            merged = dict(rec.progress)
            for rank, step in progress.items():
                merged[rank] = max(merged.get(rank, -1), step)
            frontier = max(rec.frontier, at_least)
            if frontier != rec.frontier or merged != rec.progress:
                conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(
                    served_frontier=frontier, progress=_dumps({str(k): v for k, v in
                                                               merged.items()})))
                rec.frontier, rec.progress = frontier, merged
            return rec

    # reports ------------------------------------------------------------------------------------
    def report(self, run_id: str, step: int, rank: int,
               value: float) -> tuple[RunRecord, list[rules.Outcome], bool]:
        rec, results = self.report_many(run_id, [(step, rank, value)])
        if isinstance(results[0], Exception):
            raise results[0]
        return rec, *results[0]

    def report_many(self, run_id: str, items: list[tuple[int, int, float]]
                    ) -> tuple[RunRecord, list[tuple[list[rules.Outcome], bool] | ApiError]]:
        """Several reports to one run in one transaction (one commit, one fsync): each
        gets its own result, (outcomes, counted) or the ApiError that refused it alone."""
        with self._write(run_id) as conn:
            rec = self._must_load(conn, run_id)
            progress = dict(rec.progress)
            version = rec.version
            results: list[tuple[list[rules.Outcome], bool] | ApiError] = []
            for step, rank, value in items:
                try:
                    results.append(self._report_one(conn, rec, step, rank, value))
                except ApiError as exc:  # raised before this report wrote anything
                    results.append(exc)
                    continue
                progress[rank] = max(progress.get(rank, -1), step)
            values: dict[str, Any] = {"progress": _dumps({str(k): v for k, v in
                                                          progress.items()})}
            counted = any(not isinstance(r, Exception) and r[1] for r in results)
            if counted and rec.last_rewind is not None and rec.last_rewind.get(
                    "resume_id") is None:
                values["last_rewind"] = None  # a repeat of that rewind is a real one again
            if any(not isinstance(r, Exception) and r[0] for r in results):
                values["version"] = version + 1
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id).values(**values))
            # the record was kept in step with every write above: no second read
            rec.version = values.get("version", version)
            rec.progress = progress
            if "last_rewind" in values:
                rec.last_rewind = None
            return rec, results

    def _report_one(self, conn: Connection, rec: RunRecord, step: int, rank: int,
                    value: float) -> tuple[list[rules.Outcome], bool]:
        run_id = rec.run_id
        if rank >= rec.world_size:
            raise ApiError(422, "invalid", f"rank: must be in 0..{rec.world_size - 1}",
                           field="rank")
        inst = rules.instance_at(rec, step)
        # an LR range test takes the loss as reports too (routes/suggestion.py reads them)
        range_test = inst.spec.get("type") == "LRRangeTest"
        if not (rules.schedule_of(inst.spec).metric_driven or range_test):
            raise ApiError(409, "not_metric_driven",
                           f"the schedule in force at step {step} has no metric-driven "
                           "part (ReduceLROnPlateau): nothing to report", step=step)
        rnd = rec.open_rounds.get(step)
        last = rec.last_decided
        if rnd is None and last is not None and last.step == step:
            rnd = last
        if rnd is None and last is not None and step < last.step:
            old = conn.execute(sa.select(t.reports.c.value).where(
                t.reports.c.run_id == run_id, t.reports.c.step == step,
                t.reports.c.rank == rank)).first()
            if old is not None:  # a retry of a report to an older decided round
                rnd = Round(step, True, {rank: old.value})
        if rnd is not None and rank in rnd.reports:
            if rnd.reports[rank] != value:
                raise ApiError(409, "report_conflict",
                               f"rank {rank} already reported {rnd.reports[rank]!r} for "
                               f"step {step}", step=step, rank=rank,
                               value=rnd.reports[rank])
            return [], False  # the same report again: nothing counted twice
        if rnd is None and last is not None and step < last.step:
            raise ApiError(409, "round_closed",
                           f"step {step} is before the latest decided round (step "
                           f"{last.step}); rounds are applied in step order", step=step,
                           last_decided_step=last.step)
        if rnd is None:
            conn.execute(sa.insert(t.rounds).values(run_id=run_id, step=step,
                                                    decided=False))
            rnd = rec.open_rounds[step] = Round(step, False)
            rec.last_round_step = max(rec.last_round_step or step, step)
        conn.execute(sa.insert(t.reports).values(run_id=run_id, step=step, rank=rank,
                                                 value=value))
        rnd.reports[rank] = value
        return self._decide_ready(conn, rec), True

    def _decide_ready(self, conn: Connection, rec: RunRecord) -> list[rules.Outcome]:
        """Decide complete rounds in step order, stopping at the first incomplete one."""
        outcomes = []
        for step in sorted(rec.open_rounds):
            rnd = rec.open_rounds[step]
            if len(rnd.reports) < rec.world_size:
                break
            out = rules.decide(rec, step, [rnd.reports[r] for r in sorted(rnd.reports)])
            state = out.new_state.to_json() if out.new_state else None
            conn.execute(sa.update(t.rounds).where(t.rounds.c.run_id == rec.run_id,
                                                   t.rounds.c.step == step).values(
                decided=True, value=out.value, instance=out.instance,
                state=_dumps(state) if state else None, decided_at=time.time()))
            if state is not None:
                conn.execute(sa.update(t.instances).where(
                    t.instances.c.run_id == rec.run_id, t.instances.c.idx == out.instance)
                    .values(state=_dumps(state)))
                rec.instances[out.instance].state = state
            if out.changed:
                conn.execute(sa.insert(t.decisions).values(
                    run_id=rec.run_id, instance=out.instance, step=step,
                    lrs=_dumps(list(out.new_state.lrs))))
                rec.decisions.setdefault(out.instance, []).append((step, out.new_state.lrs))
            self._event(conn, rec.run_id, "decision", {
                "step": step, "value": out.value, "folded": out.folded, "reduced": out.changed,
                "old_lrs": list(out.old_lrs) if out.old_lrs else None,
                "new_lrs": list(out.new_state.lrs) if out.new_state else None,
                "instance": out.instance})
            del rec.open_rounds[step]
            rnd.decided, rnd.value = True, out.value
            rec.last_decided = rnd
            outcomes.append(out)
        return outcomes

    # amendments ---------------------------------------------------------------------------------
    def amend(self, run_id: str, from_step: int, spec: dict[str, Any] | None,
              scale: float | None) -> RunRecord:
        with self._write(run_id) as conn:
            rec = self._must_load(conn, run_id)
            min_step = rules.min_amendment_step(rec)
            if from_step < min_step:
                raise ApiError(409, "amendment_too_early",
                               f"steps before {min_step} were already served (or leased) to a "
                               f"rank, or have plateau rounds; amend from step {min_step} or "
                               "later", min_step=min_step, from_step=from_step)
            _, in_force, old_scale = rules.segment_at(rec, from_step)
            if spec is not None:
                idx, new_scale = max(rec.instances) + 1, 1.0
                conn.execute(sa.insert(t.instances).values(run_id=run_id, idx=idx,
                                                           origin=from_step, spec=_dumps(spec),
                                                           state=None))
            else:
                idx, new_scale = in_force, old_scale * float(scale or 1.0)
                if not math.isfinite(new_scale) or new_scale <= 0:
                    raise ApiError(422, "invalid", "scale: the compounded scale must be a "
                                   "positive finite number", field="scale")
            # the amendment replaces everything from from_step on (nobody was served it yet)
            conn.execute(sa.delete(t.segments).where(t.segments.c.run_id == run_id,
                                                     t.segments.c.from_step >= from_step))
            conn.execute(sa.insert(t.segments).values(run_id=run_id, from_step=from_step,
                                                      instance=idx, scale=new_scale))
            self._event(conn, run_id, "amendment", {
                "from_step": from_step, "schedule": spec, "scale": scale,
                "scale_in_force": new_scale, "instance": idx})
            self._bump(conn, rec)
            return self._must_load(conn, run_id)

    # rewind ------------------------------------------------------------------------------------
    def rewind(self, run_id: str, to_step: int, resume_id: str | None) -> tuple[RunRecord, bool]:
        with self._write(run_id) as conn:
            rec = self._must_load(conn, run_id)
            if rec.last_rewind == {"to_step": to_step, "resume_id": resume_id}:
                return rec, False  # the same rewind again (see `report` for what resets it)
            c = t.rounds.c
            for table in (t.reports, t.rounds, t.decisions):
                conn.execute(sa.delete(table).where(table.c.run_id == run_id,
                                                    table.c.step > to_step))
            for idx in rec.instances:
                row = conn.execute(sa.select(c.state).where(
                    c.run_id == run_id, c.instance == idx, c.decided.is_(True),
                    c.state.is_not(None)).order_by(c.step.desc()).limit(1)).first()
                conn.execute(sa.update(t.instances).where(t.instances.c.run_id == run_id,
                                                          t.instances.c.idx == idx)
                             .values(state=row.state if row else None))
            progress = {str(k): min(v, to_step) for k, v in rec.progress.items()}
            self._event(conn, run_id, "rewind", {"to_step": to_step, "resume_id": resume_id,
                                                 "served_frontier_before": rec.frontier})
            self._bump(conn, rec, served_frontier=to_step, progress=_dumps(progress),
                       last_rewind=_dumps({"to_step": to_step, "resume_id": resume_id}))
            return self._must_load(conn, run_id), True

    # rounds as reported (routes/rounds.py, routes/suggestion.py) -------------------------------
    def rounds(self, run_id: str, after: int,
               limit: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Each round with every rank's value, the count and the spread; two range scans."""
        with self._read() as conn:
            run = conn.execute(sa.select(t.runs.c.id, t.runs.c.world_size, t.runs.c.aggregate)
                               .where(t.runs.c.id == run_id)).first()
            if run is None:
                raise run_not_found(run_id)
            rows = conn.execute(sa.select(t.rounds.c.step, t.rounds.c.decided, t.rounds.c.value)
                                .where(t.rounds.c.run_id == run_id, t.rounds.c.step > after)
                                .order_by(t.rounds.c.step).limit(limit)).all()
            rounds = [{"step": r.step, "decided": bool(r.decided), "value": r.value,
                       "reports": {}} for r in rows]
            if rounds:
                by_step = {r["step"]: r for r in rounds}
                for rep in conn.execute(sa.select(t.reports.c.step, t.reports.c.rank,
                                                  t.reports.c.value)
                                        .where(t.reports.c.run_id == run_id,
                                               t.reports.c.step >= rounds[0]["step"],
                                               t.reports.c.step <= rounds[-1]["step"])):
                    target = by_step.get(rep.step)
                    if target is not None:
                        target["reports"][rep.rank] = rep.value
        for r in rounds:
            values = list(r["reports"].values())
            r.update(received=len(values), expected=run.world_size,
                     min=min(values) if values else None, max=max(values) if values else None,
                     reports=dict(sorted(r["reports"].items())))
        return {"run_id": run.id, "world_size": run.world_size, "aggregate": run.aggregate}, rounds

    def decided_values(self, run_id: str) -> list[tuple[int, float]]:
        """Empty for an unknown run (rounds are decided in step order: the curve ends at the
        first open one)."""
        with self._read() as conn:
            rows = conn.execute(sa.select(t.rounds.c.step, t.rounds.c.decided, t.rounds.c.value)
                                .where(t.rounds.c.run_id == run_id)
                                .order_by(t.rounds.c.step)).all()
        out = []
        for row in rows:
            if not row.decided or row.value is None:
                break
            out.append((int(row.step), float(row.value)))
        return out

    # events and health --------------------------------------------------------------------------
    def events(self, run_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
                raise run_not_found(run_id)
            rows = conn.execute(sa.select(t.events).where(t.events.c.run_id == run_id,
                                                          t.events.c.id > after)
                                .order_by(t.events.c.id).limit(limit)).all()
        return [{"id": r.id, "time": r.time, "kind": r.kind, "data": json.loads(r.data)}
                for r in rows]

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self.engine.dispose()
