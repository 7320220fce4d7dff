"""The evaluated state of each run, cached in this process, and the barrier's waiters.

A `RunView` is an immutable snapshot built from a committed `RunRecord`: its `Timeline`,
version, persisted served frontier and open rounds. The LR of a step is computed from the
view alone, so the hot path touches no database and costs O(log segments + log decisions)
whatever the number of steps, reports or runs. Every write in this process goes through
`LiveRuns.write`, which holds the run's asyncio lock across the write and the install of
its result, so views are installed in commit order; installing a view wakes the run's
long-polls, which then re-check the barrier. Reports are committed in groups
(`LiveRuns.report`): those that arrive while a run's previous write is in flight share one
transaction and one fsync, their rule run on a copy of the run as last committed here
(`Store.apply_each`'s `known`); the batch that decides a round reserves the frontier its
long-polls need, so they are all answered from the new view with no write of their own.
The served frontier is reserved ahead of the queries at the
job's pace (`Pace`, `core.frontier.ahead`) and extended in the background before it is
reached, so queries do not wait for it. The cache is an LRU bounded by count and by bytes
(`MAX_VIEWS`, `MAX_VIEW_BYTES`, each view's memo of encoded answers included, that memo
bounded by `MEMO_BYTES`): a cold
run leaves it and is reloaded from the store when asked again. The rules themselves are
`core/`'s; this module only schedules them.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from lrcast.schedules import Timeline

from ..core import frontier, membership, rounds, timeline
from ..core.changes import Change, History
from ..core.errors import RoundPending, RunNotFound
from ..core.record import RunRecord
from ..store.base import Keyed, R, Rule, Store

T = TypeVar("T")
#: the cache's bounds: views held, and their estimated bytes (memo included)
MAX_VIEWS = 16384
MAX_VIEW_BYTES = 64 << 20
#: a view's memo of encoded LR answers, in bytes (cleared when full)
MEMO_BYTES = 16 << 10
#: views `LiveRuns.view_of` keeps for the records of the writes in flight
BUILT_VIEWS = 4


def _extend(at_least: int, progress: dict[int, int], seen: dict[int, float], rec: RunRecord,
            _: History) -> tuple[Change, None]:
    """`core.frontier.extend` as a store rule."""
    return frontier.extend(rec, at_least, progress, seen), None


def encode(payload: dict[str, Any]) -> bytes:
    """The JSON of an LR answer (`RunView.lr_body` writes the same bytes from
    `lr_template`; the fast path and the route both send those)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _reprs(values: list[float]) -> tuple[str, str]:
    """The JSON of the first value and of them all (one repr for a single value: most runs
    have one group)."""
    first = repr(values[0])
    return first, first if len(values) == 1 else ",".join(map(float.__repr__, values))


def lr_template(run_id: str, version: int) -> Callable[[int, list[float], list[float] | None],
                                                       bytes]:
    """`encode` of `RunView.lr_payload` for one run and version, as a string template: the
    same bytes (json writes a finite float as its repr) for a fraction of the cost."""
    head = '{"run_id":' + json.dumps(run_id) + ',"step":'
    tail = f',"version":{int(version)}}}'

    def body(step: int, lrs: list[float], moms: list[float] | None) -> bytes:
        lr, values = _reprs(lrs)
        if moms is None:
            momentum = "null,\"momentums\":null"
        else:
            mom, moms_json = _reprs(moms)
            momentum = f'{mom},"momentums":[{moms_json}]'
        return f'{head}{step},"lr":{lr},"lrs":[{values}],"momentum":{momentum}{tail}'.encode()
    return body


class RunView:
    """A run as committed, evaluated: what LR queries, leases and the barrier read."""

    def __init__(self, rec: RunRecord, cache: LiveRuns | None = None) -> None:
        #: the cache that counts this view's bytes (its memo's growth too)
        self.cache = cache
        self.record = rec
        self.run_id = rec.run_id
        self.version = rec.version
        self.frontier = rec.frontier
        self.world_size = rec.world_size
        #: the membership epoch in force (`core.membership`): a rank's older one is fenced
        self.epoch = membership.current(rec).epoch
        self.timeline: Timeline = timeline.build_timeline(rec)
        self.metric_driven = timeline.metric_driven(rec)
        #: the first undecided round: no LR at or beyond it is answered until it is decided
        self.barrier = frontier.barrier(rec)
        #: LRs below this step are answered as they are (`core.frontier.servable`)
        self.servable_below = frontier.servable_below(rec.frontier, self.barrier)
        #: the autopilot's directive ranks must act on, if any (`core.autopilot`)
        self.directive = rec.autopilot_state.get("directive")
        #: the step from which a query extends the frontier in the background (`LiveRuns`)
        self.extend_at = rec.frontier
        self._bodies: dict[int, bytes] = {}
        self._encode = lr_template(rec.run_id, rec.version)
        self._memo_bytes = 0
        self._timeline_json: list[dict[str, Any]] | None = None
        #: an estimate of the view's memory, its memo included
        self.weight = 2048 + 256 * (
            len(rec.segments) + len(rec.instances) + len(json.dumps(rec.spec)) // 64
            + sum(len(d) for d in rec.decisions.values())
            + sum(len(r.reports) for r in rec.open_rounds.values()))

    def missing_ranks(self, step: int) -> list[int]:
        rnd = self.record.open_rounds.get(step)
        got = rnd.reports if rnd else {}
        return [r for r in range(self.world_size) if r not in got]

    def lr_payload(self, step: int) -> dict[str, Any]:
        """``GET .../lr`` for `step` (`StepOutOfRange` where the schedule has no LR)."""
        lrs_out, moms_out = timeline.evaluate(self.timeline, step)
        return {"run_id": self.run_id, "step": step, "lr": lrs_out[0], "lrs": lrs_out,
                "momentum": moms_out[0] if moms_out else None, "momentums": moms_out,
                "version": self.version}

    def lr_body(self, step: int) -> bytes:
        """The encoded answer for `step`, memoised (the view is immutable)."""
        body = self._bodies.get(step)
        if body is None:
            body = self._encode(step, *timeline.evaluate(self.timeline, step))
            size = len(body) + 64
            if self._memo_bytes + size > MEMO_BYTES:
                self._bodies.clear()
                self._grow(-self._memo_bytes)
            self._bodies[step] = body
            self._grow(size)
        return body

    def _grow(self, size: int) -> None:
        self._memo_bytes += size
        self.weight += size
        if self.cache is not None and self.cache.views.get(self.run_id) is self:
            self.cache.view_bytes += size
            if size > 0:
                self.cache.evict()

    def timeline_json(self) -> list[dict[str, Any]]:
        if self._timeline_json is None:
            self._timeline_json = self.timeline.to_json()
        return self._timeline_json

    def consumption_json(self) -> list[dict[str, int]]:
        """The run's consumption log, as leases and the timeline carry it."""
        return self.timeline.consumption.to_json()

    def pending(self, step: int) -> RoundPending:
        return RoundPending(step, self.missing_ranks(step))


class Pace:
    """A run's furthest step asked and its pace, as this process saw them (sampled when the
    frontier is extended, so the hot path does not pay for it)."""

    __slots__ = ("first", "furthest", "at", "rate")

    def __init__(self, step: int, now: float) -> None:
        self.first = self.furthest = step
        self.at = now
        self.rate = 0.0  # steps per second

    def observe(self, step: int, now: float) -> None:
        if step > self.furthest:
            self.rate = (step - self.furthest) / max(now - self.at, 1e-3)
            self.furthest, self.at = step, now

    def ahead(self, cap: int) -> int:
        return frontier.ahead(self.rate, self.furthest - self.first, cap)


class LiveRuns:
    """Per-process cache of `RunView`s (an LRU), progress per rank, per-run write locks and
    waiters, and the background extensions of the frontier."""

    def __init__(self, store: Store, reserve_chunk: int, max_wait: float, *,
                 max_views: int = MAX_VIEWS, max_bytes: int = MAX_VIEW_BYTES) -> None:
        self.store = store
        #: the most steps reserved ahead of the furthest step asked
        self.reserve_chunk = reserve_chunk
        self.max_wait = max_wait
        self.max_views = max_views
        self.max_bytes = max_bytes
        self.views: OrderedDict[str, RunView] = OrderedDict()
        self.view_bytes = 0
        #: rank -> the step it reached, per run, as seen here (persisted with frontier
        #: writes, reports and leases that move it; `core.frontier`'s promise reads it)
        self.progress: dict[str, dict[int, int]] = {}
        #: rank -> when this process last heard from it, per run (persisted likewise)
        self.seen: dict[str, dict[int, float]] = {}
        self.paces: dict[str, Pace] = {}
        #: LR queries waiting on a round now (the `lrcast_longpolls_waiting` gauge)
        self.longpolls = 0
        #: (run, step) -> when this process first saw the round open (a gauge's age)
        self._opened: dict[tuple[str, int], float] = {}
        self._ahead: dict[str, asyncio.Task[None]] = {}
        #: the extension of the frontier in flight, per run (`_extend_to`)
        self._extending: dict[str, asyncio.Future[None]] = {}
        # a lock lives while someone holds or awaits it; an idle run keeps none
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = \
            weakref.WeakValueDictionary()
        #: (step, rank, value, at, key, epoch, waiter) per run, for the next group commit
        self._queued: dict[str, list[tuple[int, int, float, int | None, Keyed[Any] | None,
                                          int | None, asyncio.Future[Any]]]] = {}
        #: runs whose reports are being committed (`_commit_reports`)
        self.committing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        #: per run, the future its long-polls wait on (one per change of the barrier)
        self._changed: dict[str, asyncio.Future[None]] = {}
        #: per run, the furthest step a long-poll waits at: the group commit that decides the
        #: round reserves the frontier past it, so the waiters are answered without a write
        self._awaited: dict[str, int] = {}
        #: set on PostgreSQL by `runtime.replication.attach`: other replicas' writes refresh views,
        #: and views of metric-driven runs are checked current before passing the barrier
        self.replication: Any = None
        #: the views last built by `view_of`, so a group commit's answers (built in its write
        #: transaction) and its install share one timeline
        self._built: list[RunView] = []

    def _lock(self, run_id: str) -> asyncio.Lock:
        lock = self._locks.get(run_id)
        if lock is None:
            lock = self._locks[run_id] = asyncio.Lock()
        return lock

    def cached(self, run_id: str) -> RunView | None:
        """The run's view if cached (marked as recently used)."""
        view = self.views.get(run_id)
        if view is not None:
            self.views.move_to_end(run_id)
        return view

    def view_of(self, rec: RunRecord) -> RunView:
        """The view of `rec`, built once for that record object (any thread may ask)."""
        built = self._built
        for view in built:
            if view.record is rec:
                return view
        view = RunView(rec, self)
        self._built = [view, *built[:BUILT_VIEWS - 1]]
        return view

    def install(self, rec: RunRecord) -> RunView:
        """Cache the view of a committed record and wake the run's waiters."""
        view = self.view_of(rec)
        pace = self.paces.get(rec.run_id)
        if pace is not None:
            view.extend_at = frontier.extend_at(rec.frontier, pace.ahead(self.reserve_chunk))
        old = self.views.pop(rec.run_id, None)
        if old is not None:
            self.view_bytes -= old.weight
            self._forget_rounds(old, keep=rec.open_rounds)
            self._went_back(old, view)
        self.views[rec.run_id] = view
        self.view_bytes += view.weight
        if rec.open_rounds:
            now = time.time()
            for step in rec.open_rounds:
                self._opened.setdefault((rec.run_id, step), now)
        self.evict()
        # waiters only care about the barrier: a report that decides nothing wakes nobody
        if old is None or old.barrier != view.barrier or old.version != view.version:
            self._wake(rec.run_id)
        return view

    def _went_back(self, old: RunView, new: RunView) -> None:
        """A record that went back, committed by this process or by another replica: after
        a membership change (a newer epoch) or a rewind (a frontier below the view's), this
        process's progress of the run's ranks goes back as the persisted progress did
        (`rewound`), so no later write of it carries a rank's step from before."""
        if new.epoch > old.epoch:
            gen = membership.current(new.record)
            self.rewound(new.run_id, gen.from_step, gen.world_size)
        elif new.frontier < old.frontier:
            self.rewound(new.run_id, new.frontier)

    def _wake(self, run_id: str) -> None:
        changed = self._changed.pop(run_id, None)
        if changed is not None and not changed.done():
            changed.set_result(None)

    def evict(self) -> None:
        """Drop the least recently used views past the bounds (never the most recent one)."""
        while len(self.views) > 1 and (len(self.views) > self.max_views
                                       or self.view_bytes > self.max_bytes):
            run_id, view = self.views.popitem(last=False)
            self.view_bytes -= view.weight
            # what this process saw of the run since its last write leaves with it: a cold
            # run keeps nothing here, so memory does not grow with the runs ever seen
            self.progress.pop(run_id, None)
            self.paces.pop(run_id, None)
            self.seen.pop(run_id, None)

    def _forget_rounds(self, view: RunView, keep: Any = ()) -> None:
        """Forget when the view's open rounds were first seen, but those in `keep` (still
        open): what `_opened` holds is bounded by the rounds open now, scraped or not."""
        for step in view.record.open_rounds:
            if step not in keep:
                self._opened.pop((view.run_id, step), None)

    def forget(self, run_id: str) -> None:
        view = self.views.pop(run_id, None)
        if view is not None:
            self.view_bytes -= view.weight
            self._forget_rounds(view)
        self.progress.pop(run_id, None)
        self.paces.pop(run_id, None)
        self.seen.pop(run_id, None)
        self._awaited.pop(run_id, None)
        self._wake(run_id)

    def rounds_opened(self, open_rounds: list[tuple[str, int]]) -> list[float]:
        """When this process first saw each of these open rounds (now, for one it had not
        seen); forgets the rounds no longer open."""
        now = time.time()
        opened = {key: self._opened.get(key, now) for key in open_rounds}
        self._opened = opened
        return list(opened.values())

    async def write(self, run_id: str, fn: Callable[..., T], *args: Any,
                    hold_answers: bool = False) -> T:
        """Run a store write in the threadpool under the run's lock; install the record it
        returns first, if any (the rest of the result goes to the caller). `hold_answers`:
        no rank is answered an LR on the old view until the record is installed (the rule
        reads the ranks' progress for the promise, as reports do: `committing`)."""
        async with self._lock(run_id):
            if hold_answers:
                self.committing.add(run_id)
            try:
                result = await run_in_threadpool(fn, *args)
            finally:
                if hold_answers:
                    self.committing.discard(run_id)
            rec = result[0] if isinstance(result, tuple) else result
            if isinstance(rec, RunRecord):
                self.install(rec)
            return result

    async def create(self, run_id: str, spec: dict[str, Any], world_size: int,
                     aggregate: str, metadata: dict[str, Any],
                     epoch: int = 0) -> tuple[RunView, bool]:
        """(the run's view, created): `Store.create_run`, idempotent."""
        _, created = await self.write(run_id, self.store.create_run, run_id, spec,
                                      world_size, aggregate, metadata, None, epoch)
        return await self.view(run_id), created

    async def delete(self, run_id: str) -> bool:
        """Delete the run everywhere; False if there was none."""
        gone = await self.write(run_id, self.store.delete_run, run_id)
        self.forget(run_id)
        return gone

    def progress_of(self, rec: RunRecord) -> tuple[dict[int, int], dict[int, float]]:
        """Each rank's step and last-seen time: as persisted, and as seen here since."""
        return (frontier.merge_progress(rec.progress, self.progress.get(rec.run_id, {})),
                frontier.merge_seen(rec.seen, self.seen.get(rec.run_id, {})))

    async def apply(self, run_id: str, rule: Rule[R]) -> tuple[RunRecord, R]:
        """`Store.apply` the rule under the run's lock; install the committed record."""
        return await self.write(run_id, self.store.apply, run_id, rule)

    async def report(self, run_id: str, step: int, rank: int, value: float,
                     at: int | None = None, keyed: Keyed[Any] | None = None,
                     epoch: int | None = None) -> Any:
        """One report (`at`: the step the rank is at, if known; `epoch`: its membership
        epoch, fenced in the write), committed together with the
        reports to the same run that arrived while the previous write was running (group
        commit: one transaction and one fsync for many ranks; `Store.apply_each` keeps their
        keys in it). Returns (view, outcomes, counted) once committed, or (view, `Outcome`)
        with a key: the view installed from the record the batch committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.note_progress(run_id, rank, None)
        queue = self._queued.setdefault(run_id, [])
        queue.append((step, rank, value, at, keyed, epoch, future))
        if len(queue) == 1:  # the first in an empty queue commits the batch
            task = asyncio.ensure_future(self._commit_reports(run_id))
            self._tasks.add(task)  # a reference, so the task is not collected mid-way
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _commit_reports(self, run_id: str) -> None:
        async with self._lock(run_id):
            batch = self._queued.pop(run_id, [])
            if not batch:
                return
            # until the batch is installed, no rank is answered a step on the old view: the
            # rule's snapshot of the ranks' steps below stays complete (the promise)
            self.committing.add(run_id)
            try:
                items = [(s, r, v, e) for s, r, v, _, _, e, _ in batch]
                reached = frontier.merge_progress(
                    self.progress.get(run_id, {}),
                    {r: at for _, r, _, at, *_ in batch if at is not None})
                seen = dict(self.seen.get(run_id, {}))
                awaited = self._awaited.get(run_id)
                pace = self.paces.get(run_id)
                reserve = 0 if awaited is None else frontier.reservation(
                    awaited, awaited + 1, pace.ahead(self.reserve_chunk) if pace else 0)
                cached = self.views.get(run_id)
                rec, results = await run_in_threadpool(
                    self.store.apply_each, run_id,
                    lambda todo: partial(rounds.report, items=todo, reached=reached, seen=seen,
                                         reserve=reserve),
                    items, [b[4] for b in batch], cached.record if cached else None)
            except BaseException as exc:  # the whole batch failed: each waiter gets it
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            finally:
                self.committing.discard(run_id)
            old = self.views.get(run_id)
            view = self.install(rec)
            if old is None or old.barrier != view.barrier:
                self._awaited.pop(run_id, None)  # those still waiting say so again
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result((view, *result) if isinstance(result, tuple) else (view, result))

    async def view(self, run_id: str) -> RunView:
        """The run's view, loaded from the store on a cache miss (404 if no such run)."""
        view = self.cached(run_id)
        if view is not None:
            return view
        async with self._lock(run_id):
            view = self.cached(run_id)
            if view is None:
                rec = await run_in_threadpool(self.store.load, run_id)
                if rec is None:
                    raise RunNotFound(run_id)
                view = self.install(rec)
        return view

    async def refresh(self, run_id: str) -> None:
        """Reload a run another replica wrote (runtime/replication.py); installing the fresh view
        wakes its waiters. Under the run's lock, so it lands after any write of this process
        in flight. A run neither cached nor awaited here is left alone."""
        if run_id not in self.views and run_id not in self._changed:
            return
        async with self._lock(run_id):
            rec = await run_in_threadpool(self.store.load, run_id)
            if rec is None:
                self.forget(run_id)
            else:
                self.install(rec)

    def note_progress(self, run_id: str, rank: int | None, step: int | None) -> None:
        """`rank` was heard from now, at `step` (None: its step is not known)."""
        if rank is not None:
            self.seen.setdefault(run_id, {})[rank] = time.time()
            ranks = self.progress.setdefault(run_id, {})
            if step is not None and ranks.get(rank, -1) < step:
                ranks[rank] = step

    async def past_barrier(self, run_id: str, step: int, wait: float) -> RunView:
        """The view once no undecided round lies at or before `step`, waiting up to `wait`
        seconds for the deciding report; `RoundPending` past that."""
        deadline = time.monotonic() + min(max(wait, 0.0), self.max_wait)
        while True:
            view = await self.view(run_id)
            replication = self.replication if view.metric_driven else None
            if view.barrier is None or step < view.barrier:
                # replicas: the round may have opened on another one (runtime/replication.py)
                if replication is None or await replication.current(view):
                    return view
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if replication is None or await replication.current(view):
                    raise view.pending(view.barrier)
                continue
            changed = self._changed.get(run_id)
            if changed is None:
                changed = self._changed[run_id] = asyncio.get_running_loop().create_future()
            self._awaited[run_id] = max(self._awaited.get(run_id, step), step)
            self.longpolls += 1
            try:
                # replicas: notifications wake us; polling bounds the wait if one is lost
                await asyncio.wait((changed,), timeout=remaining if replication is None else
                                   min(remaining, replication.poll_interval))
            finally:
                self.longpolls -= 1
            if not changed.done() and replication is not None:
                await replication.current(view)

    async def served(self, run_id: str, step: int, span: int, rank: int | None,
                     wait: float, at: int | None = None,
                     persist_progress: bool | None = None) -> tuple[RunView, int]:
        """(view, horizon) to answer steps ``[step, horizon)`` from: past the barrier at
        `step`, the horizon of `core.frontier.horizon`, and the persisted frontier at or
        beyond it (extended by one write when it is not; in the background once half of
        the reservation ahead is used). `rank` has reached `at` (default: `step`) once
        answered. `persist_progress`: write that step if it moved, True before answering,
        False after (in the background); None: only with a frontier write."""
        while True:
            view = await self.past_barrier(run_id, step, wait)
            if run_id in self.committing:  # reports in flight: answer on their outcome
                async with self._lock(run_id):
                    continue
            self.note_progress(run_id, rank, step if at is None else at)
            end = frontier.horizon(step, span, view.barrier)
            # read in place: copied only for a write (a decision wakes every rank's query)
            ranks = self.progress.get(run_id, {})
            moved = persist_progress is not None and rank is not None and \
                ranks.get(rank, -1) > view.record.progress.get(rank, -1)
            if end <= view.frontier and not (moved and persist_progress):
                if moved:
                    self._persist_progress(run_id, view.frontier)
                if step >= view.extend_at:
                    self.extend_ahead(run_id, step)
                return view, end
            if end <= view.frontier:  # the rank's step is written before the answer
                await self.apply(run_id, partial(_extend, view.frontier, dict(ranks),
                                                 dict(self.seen.get(run_id, {}))))
                continue
            await self._extend_to(run_id, self._target(run_id, step, end), end)

    def _target(self, run_id: str, step: int, end: int) -> int:
        """The frontier to reserve for a query at `step` that needs ``[.., end)``."""
        now = time.monotonic()
        pace = self.paces.get(run_id)
        if pace is None:
            pace = self.paces[run_id] = Pace(step, now)
        pace.observe(step, now)
        return frontier.reservation(pace.furthest, end, pace.ahead(self.reserve_chunk))

    def extend_ahead(self, run_id: str, step: int) -> None:
        """Extend the run's frontier ahead of `step` in the background (one write at a time
        per run; the queries go on being answered meanwhile)."""
        if run_id in self._ahead:
            return
        task = asyncio.ensure_future(self._extend_ahead(run_id, step))
        self._ahead[run_id] = task
        task.add_done_callback(lambda _: self._ahead.pop(run_id, None))

    async def _extend_ahead(self, run_id: str, step: int) -> None:
        target = self._target(run_id, step, step + 1)
        view = self.views.get(run_id)
        if view is not None and target <= view.frontier:
            # nothing to add at this pace yet: look again halfway to the frontier
            view.extend_at = max(view.extend_at, step + 1 + (view.frontier - step) // 2)
            return
        try:
            await self._extend_to(run_id, target, target)
        except Exception:  # noqa: BLE001 - best effort: a query past the frontier extends it
            return

    async def _extend_to(self, run_id: str, target: int, needed: int) -> None:
        """Persist frontier >= `target`, unless the frontier reaches `needed` by then. One
        extension of a run is in flight at a time: the queries that reach the frontier
        meanwhile (the many waiters a decision wakes at once, a walking job's ranks) wait
        for it, all woken together when it lands (not one by one through the run's lock),
        and write again only if it did not reach them; they share its error if it failed."""
        while True:
            view = self.views.get(run_id)
            if view is not None and view.frontier >= needed:
                return
            flight = self._extending.get(run_id)
            if flight is None:
                break
            await asyncio.shield(flight)
        flight = self._extending[run_id] = asyncio.get_running_loop().create_future()
        try:
            async with self._lock(run_id):
                view = self.views.get(run_id)
                if view is None or view.frontier < needed:
                    ranks = self.progress.get(run_id)
                    if ranks:  # sized from where the ranks are now, not when it was asked
                        target = max(target, self._target(run_id, max(ranks.values()), needed))
                    rec, _ = await run_in_threadpool(self.store.apply, run_id, partial(
                        _extend, target, dict(self.progress.get(run_id, {})),
                        dict(self.seen.get(run_id, {}))))
                    self.install(rec)
        except Exception as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: nobody may be waiting
            raise
        finally:
            if not flight.done():  # written, or cancelled: the waiters look again
                flight.set_result(None)
            if self._extending.get(run_id) is flight:
                del self._extending[run_id]

    def _persist_progress(self, run_id: str, at_least: int) -> None:
        """Write the ranks' progress in the background (a lease renewal need not wait)."""
        async def write() -> None:
            progress = dict(self.progress.get(run_id, {}))
            seen = dict(self.seen.get(run_id, {}))
            try:
                await self.apply(run_id, partial(_extend, at_least, progress, seen))
            except Exception:  # noqa: BLE001 - the next frontier write or report carries it
                pass
        task = asyncio.ensure_future(write())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def rewound(self, run_id: str, to_step: int, world_size: int | None = None) -> None:
        """Bring this process's progress of the run's ranks back to `to_step`; with a
        `world_size` (a membership change), forget the ranks beyond it."""
        progress = self.progress.get(run_id, {})
        for rank, step in list(progress.items()):
            progress[rank] = min(step, to_step)
            if world_size is not None and rank >= world_size:
                del progress[rank]
                self.seen.get(run_id, {}).pop(rank, None)
        self.paces.pop(run_id, None)  # the pace is measured afresh from the rewound step
