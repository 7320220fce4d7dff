"""`Store` on SQLAlchemy Core (sync): SQLite and PostgreSQL with the same code.

Every write is one transaction that first takes the run's write lock, then reads the run,
applies the rule (a function of ``core/``, `SqlStore.apply`) and writes its change, so
reports for one round are counted once and a round is decided exactly once, whichever
process or replica receives them:

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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from ..core import idempotency
from ..core.changes import Change
from ..core.errors import DomainError, RunNotFound
from ..core.idempotency import Answer, KeyedRequest
from ..core.record import Instance, Round, RunRecord, copy_record
from ..core.runs import check_same
from . import notify
from . import schema as t
from .base import Keyed, Outcome, R, Rule, Store, T

#: the oldest keys of a scope beyond `idempotency.KEEP` are trimmed on one keyed write in this
#: many (by the row's id), so the trim's index scan is amortised
_TRIM_EVERY = 128
#: keys looked up in one ``IN (...)`` (well under SQLite's limit on bound parameters)
_IN_CHUNK = 500


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


def _run_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """A change's run fields as the runs table's columns."""
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "frontier":
            columns["served_frontier"] = value
        elif name == "progress":
            columns["progress"] = _dump_progress(value, fields.get("seen", {}))
        elif name == "seen":
            continue  # stored with the progress
        elif name == "last_rewind":
            columns["last_rewind"] = _dumps(value) if value is not None else None
        elif name == "generations":
            columns["membership"] = _dumps([list(g) for g in value])
        else:
            columns[name] = value
    return columns


def _dump_progress(progress: dict[int, int], seen: dict[int, float]) -> str:
    """rank -> [step, last-seen time or null]; `_load_progress` reads it."""
    return _dumps({str(r): [s, seen.get(r)] for r, s in progress.items()})


def _load_progress(text: str) -> tuple[dict[int, int], dict[int, float]]:
    """(steps, last-seen times); a bare step per rank is how older versions stored it."""
    steps: dict[int, int] = {}
    seen: dict[int, float] = {}
    for key, value in json.loads(text).items():
        step, when = value if isinstance(value, list) else (value, None)
        steps[int(key)] = int(step)
        if when is not None:
            seen[int(key)] = float(when)
    return steps, seen


class _History:
    """`core.changes.History` on the rule's own transaction."""

    def __init__(self, conn: Connection, run_id: str) -> None:
        self.conn = conn
        self.run_id = run_id

    def earlier_report(self, step: int, rank: int) -> float | None:
        c = t.reports.c
        row = self.conn.execute(sa.select(c.value).where(
            c.run_id == self.run_id, c.step == step, c.rank == rank)).first()
        return None if row is None else row.value

    def states_at(self, step: int) -> dict[int, dict[str, Any] | None]:
        c = t.rounds.c
        states: dict[int, dict[str, Any] | None] = {}
        for row in self.conn.execute(
                sa.select(c.instance, c.state).where(
                    c.run_id == self.run_id, c.step <= step, c.decided.is_(True),
                    c.state.is_not(None)).order_by(c.step)):
            states[row.instance] = json.loads(row.state)  # the latest round's wins
        return states

    def losses(self, low: int, high: int) -> dict[int, dict[int, float]]:
        c = t.losses.c
        out: dict[int, dict[int, float]] = {}
        for row in self.conn.execute(sa.select(c.step, c.rank, c.value).where(
                c.run_id == self.run_id, c.step >= low, c.step <= high)):
            out.setdefault(row.step, {})[row.rank] = row.value
        return out

    def latest_checkpoint(self, before: int) -> int | None:
        c = t.checkpoints.c
        return self.conn.execute(sa.select(sa.func.max(c.step)).where(
            c.run_id == self.run_id, c.step < before)).scalar()


def _each(rule: Rule[R]) -> Rule[list[R]]:
    """A rule as a batch of one."""
    def run(rec: RunRecord, history: Any) -> tuple[Change, list[R]]:
        change, result = rule(rec, history)
        return change, [result]
    return run


def _loads_or_none(text: str) -> Any:
    """Stored JSON, or None where an older version stored what no longer decodes (the list of
    runs shows such a row with an error marker instead of failing for everyone)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


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
                    if run_id is not None:
                        if not self.sqlite:
                            conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)
                                         .with_for_update())
                        # bump the change counter under the lock (a group commit's check of
                        # its known record); replicas: tell the others on commit (a rollback
                        # drops both; store/notify.py)
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
        progress, seen = _load_progress(row.progress)
        pilot = conn.execute(sa.select(t.autopilot).where(t.autopilot.c.run_id == run_id)).first()
        consumption = [(r.from_step, r.samples, r.tokens) for r in conn.execute(
            sa.select(t.consumption).where(t.consumption.c.run_id == run_id)
            .order_by(t.consumption.c.from_step))]
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
            progress=progress, seen=seen,
            last_rewind=json.loads(row.last_rewind) if row.last_rewind else None,
            instances=instances, segments=segments, decisions=decisions,
            open_rounds=open_rounds, last_decided=last_decided,
            last_round_step=max(steps) if steps else None, seq=row.seq,
            autopilot=json.loads(pilot.policy) if pilot else None,
            autopilot_state=json.loads(pilot.state) if pilot else {}, consumption=consumption,
            generations=[tuple(g) for g in json.loads(row.membership)] if row.membership
            else [])

    def _must_load(self, conn: Connection, run_id: str) -> RunRecord:
        rec = self._load(conn, run_id)
        if rec is None:
            raise RunNotFound(run_id)
        return rec

    def load(self, run_id: str) -> RunRecord | None:
        with self._read() as conn:
            return self._load(conn, run_id)

    def _event(self, conn: Connection, run_id: str, kind: str, data: dict[str, Any]) -> None:
        conn.execute(sa.insert(t.events).values(run_id=run_id, time=time.time(), kind=kind,
                                                data=_dumps(data)))

    # runs ---------------------------------------------------------------------------------------
    def create_run(self, run_id: str, spec: dict[str, Any], world_size: int, aggregate: str,
                   metadata: dict[str, Any], keyed: Keyed[bool] | None = None,
                   epoch: int = 0) -> tuple[RunRecord, Any]:
        try:
            return self._create(run_id, spec, world_size, aggregate, metadata, keyed, epoch)
        except sa.exc.IntegrityError:
            # another replica created the run, or kept the key, first: once more, on its commit
            return self._create(run_id, spec, world_size, aggregate, metadata, keyed, epoch)

    def _create(self, run_id: str, spec: dict[str, Any], world_size: int, aggregate: str,
                metadata: dict[str, Any], keyed: Keyed[bool] | None,
                epoch: int = 0) -> tuple[Any, Any]:
        with self._write() as conn:
            if keyed is not None:
                kept = self._kept(conn, keyed.request)
                if kept is not None:  # POST /v1/runs: the run may have another id than this
                    return None, Outcome(kept, True)
            existing = self._load(conn, run_id)
            created = existing is None
            if created:
                conn.execute(sa.insert(t.runs).values(
                    id=run_id, spec=_dumps(spec), world_size=world_size,
                    aggregate=aggregate, metadata=_dumps(metadata), created_at=time.time(),
                    version=1, served_frontier=0, progress="{}", last_rewind=None,
                    membership=_dumps([[epoch, 0, world_size]]) if epoch else None))
                conn.execute(sa.insert(t.instances).values(run_id=run_id, idx=0, origin=0,
                                                           spec=_dumps(spec), state=None))
                conn.execute(sa.insert(t.segments).values(run_id=run_id, from_step=0,
                                                          instance=0, scale=1.0))
                self._event(conn, run_id, "created", {
                    "schedule": spec, "world_size": world_size, "aggregate": aggregate,
                    **({"epoch": epoch} if epoch else {})})
                rec = self._must_load(conn, run_id)
            else:
                check_same(existing, spec, world_size, aggregate)
                rec = existing
            if keyed is None:
                return rec, created
            return rec, self._keep_answer(conn, keyed, rec, created)

    def delete_run(self, run_id: str, keyed: Keyed[bool] | None = None) -> Any:
        with self._write(run_id) as conn:
            if keyed is not None:
                kept = self._kept(conn, keyed.request)
                if kept is not None:
                    return Outcome(kept, True)
            gone = bool(conn.execute(sa.delete(t.runs).where(t.runs.c.id == run_id)).rowcount)
            for table in t.PER_RUN:
                conn.execute(sa.delete(table).where(table.c.run_id == run_id))
            keys = t.idempotency_keys
            conn.execute(sa.delete(keys).where(keys.c.scope == run_id))
            if keyed is None:
                return gone
            if not gone:  # a refused write keeps no key
                raise RunNotFound(run_id)
            return self._keep_answer(conn, keyed, None, gone)

    def list_runs(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        query = sa.select(t.runs.c.id, t.runs.c.world_size, t.runs.c.aggregate,
                          t.runs.c.created_at, t.runs.c.version, t.runs.c.metadata)
        if after is not None:
            query = query.where(t.runs.c.id > after)
        with self._read() as conn:
            rows = conn.execute(query.order_by(t.runs.c.id).limit(limit)).all()
        return [{"run_id": r.id, "world_size": r.world_size, "aggregate": r.aggregate,
                 "created_at": r.created_at, "version": r.version,
                 "metadata": _loads_or_none(r.metadata)} for r in rows]

    # applying a rule ----------------------------------------------------------------------
    def apply(self, run_id: str, rule: Rule[R]) -> tuple[RunRecord, R]:
        with self._write(run_id) as conn:
            return self._run_rule(conn, run_id, rule)

    def _run_rule(self, conn: Connection, run_id: str, rule: Rule[R],
                  known: RunRecord | None = None) -> tuple[RunRecord, R]:
        rec = self._current(conn, run_id, known)
        change, result = rule(rec, _History(conn, run_id))
        if "progress" in change.run:  # the last-seen times are stored with it
            change.run.setdefault("seen", rec.seen)
        if change:
            self._commit(conn, run_id, change)
        return change.record or self._must_load(conn, run_id), result

    def _current(self, conn: Connection, run_id: str, known: RunRecord | None) -> RunRecord:
        """The run as committed, in a write transaction: a copy of `known` if no other write
        came since (this one bumped ``seq`` once), else loaded."""
        if known is not None and known.run_id == run_id:
            seq = conn.execute(sa.select(t.runs.c.seq).where(t.runs.c.id == run_id)).scalar()
            if seq is not None and seq == known.seq + 1:
                rec = copy_record(known)
                rec.seq = seq
                return rec
        return self._must_load(conn, run_id)

    def apply_keyed(self, run_id: str, rule: Rule[R],
                    keyed: Keyed[R]) -> tuple[RunRecord, Outcome[R]]:
        rec, outcomes = self.apply_each(run_id, lambda _: _each(rule), [None], [keyed])
        if isinstance(outcomes[0], DomainError):
            raise outcomes[0]
        return rec, outcomes[0]

    def apply_each(self, run_id: str, rule: Callable[[list[T]], Rule[list[Any]]],
                   items: Sequence[T], keys: Sequence[Keyed[Any] | None],
                   known: RunRecord | None = None) -> tuple[RunRecord, list[Any]]:
        with self._write(run_id) as conn:
            outcomes: list[Any] = [None] * len(items)
            # answered before the rule: replays, key reuse, a key twice in the batch (in flight)
            kept = self._answers(conn, [k.request for k in keys if k is not None])
            fresh: set[tuple[str, str]] = set()
            now = time.time()
            for i, keyed in enumerate(keys):
                if keyed is None:
                    continue
                name = (keyed.request.scope, keyed.request.key)
                try:
                    if name in fresh:
                        raise idempotency.KeyInFlight(keyed.request.key)
                    answer = idempotency.replay(kept.get(name), keyed.request, now)
                except DomainError as exc:
                    outcomes[i] = exc
                    continue
                if answer is not None:
                    outcomes[i] = Outcome(answer, True)
                else:
                    fresh.add(name)
            todo = [i for i, out in enumerate(outcomes) if out is None]
            if not todo:  # all replayed or refused: nothing to run
                return self._must_load(conn, run_id), outcomes
            rec, results = self._run_rule(conn, run_id, rule([items[i] for i in todo]), known)
            answered = []
            for i, result in zip(todo, results, strict=True):
                keyed = keys[i]
                if keyed is None or isinstance(result, DomainError):
                    outcomes[i] = result
                else:
                    answered.append((i, result, (keyed.request, *keyed.respond(rec, result))))
            kept_now = self._keep_many(conn, [row for *_, row in answered])
            for (i, result, _), answer in zip(answered, kept_now, strict=True):
                outcomes[i] = Outcome(answer, False, result)
            return rec, outcomes

    # idempotency keys (core/idempotency.py) -----------------------------------------------------
    def _kept(self, conn: Connection, request: KeyedRequest) -> Answer | None:
        """The live answer to replay for `request` (`KeyReused` for another request)."""
        return idempotency.replay(self._answer(conn, request.scope, request.key), request,
                                  time.time())

    def _answer(self, conn: Connection, scope: str, key: str) -> Answer | None:
        c = t.idempotency_keys.c
        row = conn.execute(sa.select(c.fingerprint, c.status, c.body, c.created_at).where(
            c.scope == scope, c.key == key)).first()
        return None if row is None else Answer(row.fingerprint, row.status, bytes(row.body),
                                               row.created_at)

    def _keep_answer(self, conn: Connection, keyed: Keyed[R], rec: RunRecord | None,
                     result: R) -> Outcome[R]:
        status, body = keyed.respond(rec, result)  # type: ignore[arg-type]
        return Outcome(self._keep(conn, keyed.request, status, body), False, result)

    def _keep(self, conn: Connection, request: KeyedRequest, status: int,
              body: bytes) -> Answer:
        """Insert the answer; first drop the scope's expired keys (that one's too, if so)."""
        return self._keep_many(conn, [(request, status, body)])[0]

    def _answers(self, conn: Connection,
                 requests: Sequence[KeyedRequest]) -> dict[tuple[str, str], Answer]:
        """The answers kept for these requests' keys, by (scope, key): one query a scope."""
        c = t.idempotency_keys.c
        out: dict[tuple[str, str], Answer] = {}
        by_scope: dict[str, list[str]] = {}
        for request in requests:
            by_scope.setdefault(request.scope, []).append(request.key)
        for scope, names in by_scope.items():
            for at in range(0, len(names), _IN_CHUNK):
                for row in conn.execute(sa.select(c.key, c.fingerprint, c.status, c.body,
                                                  c.created_at).where(
                        c.scope == scope, c.key.in_(names[at:at + _IN_CHUNK]))):
                    out[(scope, row.key)] = Answer(row.fingerprint, row.status, bytes(row.body),
                                                   row.created_at)
        return out

    def _keep_many(self, conn: Connection,
                   answers: Sequence[tuple[KeyedRequest, int, bytes]]) -> list[Answer]:
        """Insert the answers in one statement; first drop their scopes' expired keys (theirs
        too, if so). The oldest keys of a scope beyond `idempotency.KEEP` are trimmed once
        the row ids pass a multiple of `_TRIM_EVERY`."""
        if not answers:
            return []
        now = time.time()
        keys = t.idempotency_keys
        scopes = sorted({request.scope for request, *_ in answers})
        for scope in scopes:
            conn.execute(sa.delete(keys).where(keys.c.scope == scope,
                                               keys.c.created_at <= now - idempotency.TTL))
        conn.execute(sa.insert(keys), [
            {"scope": request.scope, "key": request.key, "fingerprint": request.fingerprint,
             "status": status, "body": body, "created_at": now}
            for request, status, body in answers])
        last = conn.execute(sa.select(sa.func.max(keys.c.id))).scalar_one()
        if last // _TRIM_EVERY != (last - len(answers)) // _TRIM_EVERY:
            for scope in scopes:
                newest = (sa.select(keys.c.id).where(keys.c.scope == scope)
                          .order_by(keys.c.id.desc()).offset(idempotency.KEEP).limit(1)
                          .scalar_subquery())
                conn.execute(sa.delete(keys).where(keys.c.scope == scope,
                                                   keys.c.id <= newest))
        return [Answer(request.fingerprint, status, body, now)
                for request, status, body in answers]

    def answer(self, scope: str, key: str) -> Answer | None:
        with self._read() as conn:
            return self._answer(conn, scope, key)

    def keep(self, request: KeyedRequest, status: int, body: bytes) -> Outcome[None]:
        try:
            with self._write() as conn:  # unique (scope, key) settles a race between replicas
                kept = self._kept(conn, request)
                if kept is not None:
                    return Outcome(kept, True)
                return Outcome(self._keep(conn, request, status, body), False)
        except sa.exc.IntegrityError:  # another replica kept it first: replay that one
            with self._read() as conn:
                kept = self._kept(conn, request)
            if kept is None:
                raise
            return Outcome(kept, True)

    def _commit(self, conn: Connection, run_id: str, change: Change) -> None:
        """Write `change` (in its documented order: drops, inserts, updates)."""
        if change.drop_after is not None:
            for table in (t.reports, t.rounds, t.decisions, t.losses, t.checkpoints):
                conn.execute(sa.delete(table).where(table.c.run_id == run_id,
                                                    table.c.step > change.drop_after))
            # the steps from the checkpoint's on run again: their consumption is told again
            # (a checkpoint at step r is saved after step r - 1 ran and its report made the
            # round at r; the resumed job runs step r first, as the client's rewind assumes)
            conn.execute(sa.delete(t.consumption).where(
                t.consumption.c.run_id == run_id,
                t.consumption.c.from_step >= change.drop_after))
        if change.drop_rounds:
            for table in (t.reports, t.rounds):
                conn.execute(sa.delete(table).where(table.c.run_id == run_id,
                                                    table.c.step.in_(change.drop_rounds)))
        if change.replace_segments_from is not None:
            conn.execute(sa.delete(t.segments).where(
                t.segments.c.run_id == run_id,
                t.segments.c.from_step >= change.replace_segments_from))
        rows: list[tuple[sa.Table, list[dict[str, Any]]]] = [
            (t.instances, [{"run_id": run_id, "idx": i.idx, "origin": i.origin,
                            "spec": _dumps(i.spec), "state": None}
                           for i in change.new_instances]),
            (t.segments, [{"run_id": run_id, "from_step": f, "instance": i, "scale": sc}
                          for f, i, sc in change.segments]),
            (t.rounds, [{"run_id": run_id, "step": step, "decided": False}
                        for step in change.new_rounds]),
            (t.reports, [{"run_id": run_id, "step": step, "rank": rank, "value": value}
                         for step, rank, value in change.new_reports]),
            (t.decisions, [{"run_id": run_id, "instance": i, "step": step,
                            "lrs": _dumps(list(lrs))} for i, step, lrs in change.new_decisions]),
        ]
        for table, values in rows:
            if values:  # one statement for the batch (a group commit's reports), in order
                conn.execute(sa.insert(table), values)
        if change.new_losses:  # a batch: one executemany
            conn.execute(sa.insert(t.losses), [
                {"run_id": run_id, "step": step, "rank": rank, "value": value}
                for step, rank, value in change.new_losses])
        for step in change.new_checkpoints:
            conn.execute(sa.insert(t.checkpoints).values(run_id=run_id, step=step))
        if change.consumption:
            c = t.consumption.c
            conn.execute(sa.delete(t.consumption).where(
                c.run_id == run_id, c.from_step.in_([e[0] for e in change.consumption])))
            conn.execute(sa.insert(t.consumption), [
                {"run_id": run_id, "from_step": step, "samples": samples, "tokens": tokens}
                for step, samples, tokens in change.consumption])
        now = time.time()
        for rnd in change.decided:
            conn.execute(sa.update(t.rounds).where(t.rounds.c.run_id == run_id,
                                                   t.rounds.c.step == rnd.step).values(
                decided=True, value=rnd.value, instance=rnd.instance,
                state=_dumps(rnd.state) if rnd.state else None, decided_at=now))
        for idx, state in change.instance_states.items():
            conn.execute(sa.update(t.instances).where(t.instances.c.run_id == run_id,
                                                      t.instances.c.idx == idx)
                         .values(state=_dumps(state) if state is not None else None))
        if change.autopilot is not None:
            conn.execute(sa.delete(t.autopilot).where(t.autopilot.c.run_id == run_id))
            conn.execute(sa.insert(t.autopilot).values(
                run_id=run_id, policy=_dumps(change.autopilot["policy"]),
                state=_dumps(change.autopilot["state"])))
        for kind, data in change.events:
            self._event(conn, run_id, kind, data)
        if change.run:
            conn.execute(sa.update(t.runs).where(t.runs.c.id == run_id)
                         .values(**_run_columns(change.run)))

    # rounds as reported (routes/rounds.py, routes/suggestion.py) -------------------------------
    def rounds(self, run_id: str, after: int,
               limit: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Each round with every rank's value, the count and the spread; two range scans."""
        with self._read() as conn:
            run = conn.execute(sa.select(t.runs.c.id, t.runs.c.world_size, t.runs.c.aggregate)
                               .where(t.runs.c.id == run_id)).first()
            if run is None:
                raise RunNotFound(run_id)
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

    def loss_means(self, run_id: str, world_sizes: list[tuple[int, int]], after: int,
                   limit: int) -> list[tuple[int, float]]:
        c = t.losses.c
        expected: Any = world_sizes[0][1]
        if len(world_sizes) > 1:  # the latest generation that starts before the step
            expected = sa.case(*((c.step > start, size) for start, size in
                                 reversed(world_sizes[1:])), else_=expected)
        query = (sa.select(c.step, sa.func.avg(c.value).label("mean"))
                 .where(c.run_id == run_id, c.step > after).group_by(c.step)
                 .having(sa.func.count() == expected).order_by(c.step).limit(limit))
        with self._read() as conn:
            return [(int(r.step), float(r.mean)) for r in conn.execute(query)]

    # events and health --------------------------------------------------------------------------
    def events(self, run_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
                raise RunNotFound(run_id)
            rows = conn.execute(sa.select(t.events).where(t.events.c.run_id == run_id,
                                                          t.events.c.id > after)
                                .order_by(t.events.c.id).limit(limit)).all()
        return [{"id": r.id, "time": r.time, "kind": r.kind, "data": json.loads(r.data)}
                for r in rows]

    def census(self) -> tuple[int, list[tuple[str, int]]]:
        with self._read() as conn:
            runs = conn.execute(sa.select(sa.func.count()).select_from(t.runs)).scalar_one()
            open_rounds = conn.execute(sa.select(t.rounds.c.run_id, t.rounds.c.step).where(
                t.rounds.c.decided.is_(False))).all()
        return int(runs), [(r.run_id, int(r.step)) for r in open_rounds]

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self.engine.dispose()
