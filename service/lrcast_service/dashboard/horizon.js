// How many steps "the whole schedule" spans, read from the spec (the engine's types).

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The length of a schedule in steps, or null when the spec does not end by itself. */
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

/**
 * Steps to draw for a run by default: the whole schedule (the recorded total or the spec's
 * length), every amended segment to its own end, every amendment, rewind and decision with
 * room after it, and past the furthest rank; so nothing the run did is off the chart.
 */
export function runHorizon(run, events = []) {
  const recorded = run.metadata && num(run.metadata.total_steps);
  const ends = [recorded ?? scheduleLength(run.schedule) ?? 1000];
  const withRoom = (step) => step + Math.max(50, Math.round(step * 0.1));
  for (const seg of (run.timeline || []).slice(1)) {
    const length = scheduleLength(seg.schedule);
    if (length !== null) ends.push((num(seg.origin) ?? seg.from_step) + length);
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
