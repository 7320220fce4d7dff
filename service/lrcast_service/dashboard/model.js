// Reading the service's run shapes (see service/lrcast_service/models.py) for the pages.
import { api, ApiError, runPath } from './api.js';

/** The schedule type shown for a run: the spec's type (with an amendment count). */
export function scheduleType(run) {
  const spec = run.schedule || {};
  return spec.type || '?';
}

/** The furthest step any rank reached, or null. */
export function furthestStep(run) {
  const steps = (run.progress || []).map((p) => p.step);
  return steps.length ? Math.max(...steps) : null;
}

/** One chart marker per step some rank is at ("r0–3" when ranks 0 to 3 are all there). */
export function progressMarkers(run) {
  const byStep = new Map();
  for (const p of run.progress || []) byStep.set(p.step, [...(byStep.get(p.step) || []), p.rank]);
  return [...byStep.entries()].map(([step, ranks]) => {
    const names = rankRanges(ranks.sort((a, b) => a - b));
    return { x: step, kind: 'progress', label: `${names} @${step}`, title: `${ranks.length} rank(s) at step ${step}: ${names}` };
  });
}

/** "r0–3,r7" for ranks [0, 1, 2, 3, 7] (sorted). */
export function rankRanges(ranks) {
  const parts = [];
  for (let i = 0; i < ranks.length;) {
    let j = i;
    while (j + 1 < ranks.length && ranks[j + 1] === ranks[j] + 1) j++;
    parts.push(j > i ? `r${ranks[i]}–${ranks[j]}` : `r${ranks[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Ranks considered stale: missing from a pending round the others reported to, or not heard
 * from for STALE_SECONDS while others were (`updated_at`: when the service last heard from the
 * rank, with its step). */
export const STALE_SECONDS = 60;
export function staleRanks(run) {
  const stale = new Set();
  const progress = run.progress || [];
  const latest = Math.max(-Infinity, ...progress.map((p) => p.updated_at ?? -Infinity));
  for (const p of progress) {
    if (typeof p.updated_at === 'number' && latest - p.updated_at > STALE_SECONDS) stale.add(p.rank);
  }
  for (const round of run.pending_rounds || []) {
    if (round.received > 0) for (const r of round.missing_ranks || []) stale.add(r);
  }
  return stale;
}

/** "12 s ago" for a unix time (the rank's `updated_at`), or '' if unknown. */
export function ago(when, now = Date.now() / 1000) {
  if (typeof when !== 'number') return '';
  const s = Math.max(0, Math.round(now - when));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

/** Field readers for event data (decision / amendment / rewind / created). */
export function eventStep(e) {
  const d = e.data || {};
  return d.step ?? d.from_step ?? d.to_step ?? null;
}
export const firstOf = (v) => (Array.isArray(v) ? v[0] : v);
// a decision event's data, as the service sends it: step, value, folded, reduced, old_lrs,
// new_lrs (null when not folded), instance
export function decisionOld(e) { return firstOf((e.data || {}).old_lrs ?? null); }
export function decisionNew(e) { return firstOf((e.data || {}).new_lrs ?? null); }
export function decisionValue(e) { return (e.data || {}).value ?? null; }
export function isReduction(e) { return (e.data || {}).reduced === true; }

/** The run's events with id > `after` (following `next` pages), oldest first. */
export async function eventsAfter(id, after = 0) {
  const events = [];
  let cursor = after;
  for (;;) {
    const page = await api(`${runPath(id, '/events')}?limit=10000&after=${cursor}`);
    events.push(...page.events);
    if (page.next === null || page.next === undefined || !page.events.length) return events;
    cursor = page.next;
  }
}

/** The plateau decisions in force (global step, lrs), from the resolved timeline; a scale
 * amendment repeats the decisions of the schedule it scales, so they are deduplicated. */
export function timelineDecisions(run) {
  const seen = new Map();
  for (const seg of run.timeline || []) for (const d of seg.decisions || []) seen.set(d.step, d.lrs);
  return [...seen.entries()].sort((a, b) => a[0] - b[0]).map(([step, lrs]) => ({ step, lrs }));
}

/** The latest decided plateau round: {step, value, reduced, lr, previous} (lr and previous
 * are group 0's LR after and before a reduction), or null. */
export async function lastDecision(run) {
  const s = run.last_decided_step;
  if (s === null || s === undefined) return null;
  const page = await api(`${runPath(run.run_id, '/rounds')}?after=${s - 1}&limit=1`);
  const round = (page.rounds || [])[0];
  const decisions = timelineDecisions(run);
  const i = decisions.findIndex((d) => d.step === s);
  const base = Array.isArray(run.schedule.lr) ? run.schedule.lr[0] : run.schedule.lr;
  return {
    step: s, value: round ? round.value : null, reduced: i >= 0,
    lr: i >= 0 ? decisions[i].lrs[0] : null,
    previous: i > 0 ? decisions[i - 1].lrs[0] : (i === 0 && typeof base === 'number' ? base : null),
  };
}

/**
 * LRs over [start, stop) with a stride, as far as the service can answer now: a pending
 * plateau round (409 round_pending) or the schedule's end (422 step_out_of_range) cut the
 * range short instead of failing. Returns {steps, lr, lrs, momentum, version, cut}.
 */
export async function lrsUpTo(id, start, stop, stride) {
  let end = stop;
  let cut = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    if (end <= start) return { steps: [], lr: [], lrs: [], momentum: null, cut };
    try {
      const data = await api(`${runPath(id, '/lrs')}?start=${start}&stop=${end}&stride=${stride}`);
      return { ...data, cut };
    } catch (err) {
      if (!(err instanceof ApiError) || typeof err.body.step !== 'number') throw err;
      cut = { step: err.body.step, code: err.code, missing: err.body.missing_ranks || [], message: err.message };
      end = err.body.step;
    }
  }
  throw new Error('could not read the LR curve');
}
