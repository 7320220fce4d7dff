// How many steps "the whole schedule" spans, read from the spec (the engine's types; a
// sample or token clock's lengths turned into steps with the spec's batch).

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The length of a schedule in its clock's unit (steps, or samples or tokens on such a
 * clock), or null when the spec does not end by itself.
 */
export function scheduleLength(spec) {
  if (!spec || typeof spec !== 'object') return null;
  const last = (xs) => (Array.isArray(xs) && xs.length ? num(xs[xs.length - 1]) : null);
  switch (spec.type) {
    case 'OneCycleLR':
      return num(spec.total_steps) ?? ((num(spec.epochs) ?? 0) * (num(spec.steps_per_epoch) ?? 0) || null);
    case 'LRRangeTest':
      return num(spec.num_iter) ?? 100;
    case 'SequentialLR': {
      const m = last(spec.milestones);
      const members = Array.isArray(spec.schedulers) ? spec.schedulers : [];
      const tail = scheduleLength(members[members.length - 1]);
      if (m === null) return tail;
      return m + (tail ?? Math.max(100, Math.round(m * 0.25)));
    }
    case 'ChainedScheduler': {
      const ls = (spec.schedulers || []).map(scheduleLength).filter((x) => x !== null);
      return ls.length ? Math.max(...ls) : null;
    }
    case 'CosineAnnealingLR': return num(spec.T_max);
    case 'MultiStepLR': { const m = last(spec.milestones); return m === null ? null : Math.round(m * 1.125) + 1; }
    case 'StepLR': return num(spec.step_size) === null ? null : spec.step_size * 4;
    case 'LinearLR': case 'ConstantLR': case 'PolynomialLR':
      return num(spec.total_iters) === null ? null : spec.total_iters * (spec.type === 'PolynomialLR' ? 1.25 : 2);
    case 'CyclicLR': {
      const up = num(spec.step_size_up) ?? 2000;
      return (up + (num(spec.step_size_down) ?? up)) * 3;
    }
    case 'CosineAnnealingWarmRestarts': {
      const t0 = num(spec.T_0); const mult = num(spec.T_mult) ?? 1;
      return t0 === null ? null : t0 * (mult === 1 ? 4 : 1 + mult + mult * mult);
    }
    case 'PiecewiseLinear': {
      const pts = Array.isArray(spec.points) ? spec.points : [];
      const s = pts.length ? num(pts[pts.length - 1][0]) : null;
      return s === null ? null : Math.round(s * 1.1) + 1;
    }
    case 'warmup_stable_decay': {
      const w = num(spec.num_warmup_steps) ?? 0, d = num(spec.num_decay_steps) ?? 0;
      const st = num(spec.num_stable_steps);
      return st !== null ? w + st + d : num(spec.num_training_steps);
    }
    default:
      return num(spec.num_training_steps) ?? (num(spec.num_warmup_steps) ? spec.num_warmup_steps * 10 : null);
  }
}

/** The log's unit of each clock (`lrcast/schedules/_clock.py`); the step clock has none. */
const UNIT = { sample: 'samples', token: 'tokens' };

/**
 * One unit's run-length log from a spec's `batch` (from step 0) and `batch_schedule`:
 * [[from_step, amount], ...] by step; an entry that does not name the unit leaves the amount
 * in force.
 */
function unitLog(spec, unit) {
  const byStep = new Map();
  const put = (step, entry) => {
    const amount = entry && typeof entry === 'object' ? num(entry[unit]) : null;
    if (num(step) !== null && amount !== null && amount >= 0) byStep.set(step, amount);
  };
  put(0, spec && spec.batch);
  for (const e of Array.isArray(spec && spec.batch_schedule) ? spec.batch_schedule : []) put(e && e.from_step, e);
  return [...byStep].sort((a, b) => a[0] - b[0]);
}

/**
 * How many steps from `origin` consume `amount` by `log` (the first n with C(origin + n) -
 * C(origin) >= amount, C the clock position: what the steps before consumed); null where the
 * log does not say (no amount at step 0, or nothing consumed from some step on).
 */
function stepsConsuming(log, origin, amount) {
  if (!log.length || log[0][0] !== 0) return null;
  let left = amount;
  for (let i = 0; i < log.length; i++) {
    const [start, batch] = log[i];
    const end = i + 1 < log.length ? log[i + 1][0] : Infinity;
    const from = Math.max(start, origin);
    if (from >= end || batch === 0) continue;
    if (end === Infinity || left <= (end - from) * batch) return from - origin + Math.ceil(left / batch);
    left -= (end - from) * batch;
  }
  return null;
}

/**
 * A schedule's length in steps from `origin`: `scheduleLength`, which is in the unit of the
 * spec's clock, turned into steps on a sample or token clock with the batch the run's spec
 * (`logSpec`: its `batch` and `batch_schedule`) gives each step; null when not known.
 */
export function lengthInSteps(schedule, logSpec = schedule, origin = 0) {
  const length = scheduleLength(schedule);
  const unit = schedule && typeof schedule === 'object' ? UNIT[schedule.clock] : undefined;
  if (length === null || unit === undefined) return length;
  return stepsConsuming(unitLog(logSpec, unit), origin, length);
}

/**
 * Steps to draw for a run by default: the whole schedule (the recorded total or the spec's
 * length, in steps whatever its clock: `lengthInSteps`), every amended segment to its own end, every amendment, rewind and decision with
 * room after it, and past the furthest rank; so nothing the run did is off the chart.
 */
export function runHorizon(run, events = []) {
  const recorded = run.metadata && num(run.metadata.total_steps);
  const ends = [recorded ?? lengthInSteps(run.schedule) ?? 1000];
  const withRoom = (step) => step + Math.max(50, Math.round(step * 0.1));
  for (const seg of (run.timeline || []).slice(1)) {
    const origin = num(seg.origin) ?? seg.from_step;
    const length = lengthInSteps(seg.schedule, run.schedule, origin);
    if (length !== null) ends.push(origin + length);
    ends.push(withRoom(seg.from_step));
  }
  for (const e of events) {
    const d = e.data || {};
    const step = num(d.from_step ?? d.to_step ?? (e.kind === 'decision' ? d.step : null));
    if (step !== null && e.kind !== 'created') ends.push(withRoom(step));
  }
  for (const p of run.progress || []) ends.push(p.step + 1);
  return Math.max(2, ...ends.map(Math.ceil));
}
