// Run page: the LR curve over the whole schedule with its events (zoom, pan, export), the
// metric per round, the range-test suggestion, the event history in pages; refreshed live.
import { api, ApiError, runPath } from './api.js';
import { plot } from './chart.js';
import { runHorizon } from './horizon.js';
import { ago, decisionNew, decisionOld, decisionValue, eventStep, eventsAfter, furthestStep, isReduction, lrsUpTo, progressMarkers, scheduleType, staleRanks, timelineDecisions } from './model.js';
import { DRAFT_KEY } from './playground.js';
import { fill, fmt, fmtTime, h } from './util.js';

const MAX_POINTS = 2000;
const REFRESH_MS = 3000;
const EVENTS_PAGE = 20;

export function renderRun(root, id) {
  let alive = true;
  let timer = null;
  let logScale = false;
  // the event table shows one page (GET .../events?after=&limit=); `cursors[i]` opens page i
  const cursors = [0];
  let eventPage = 0;
  let state = { run: null, curve: null, events: [], page: null, rounds: null, suggestion: null, version: null, horizon: null, currentLR: null };

  const title = h('h1', {}, 'Run ', h('span', { class: 'mono', id: 'run-title' }, id));
  const facts = h('div', { id: 'run-facts' });
  const notices = h('div', { id: 'run-notices' });
  const lrBox = h('div', { id: 'lr-chart' });
  const lrStatus = h('p', { class: 'muted small', id: 'lr-status' });
  const metricCard = h('div', { class: 'card', id: 'metric-card', hidden: true });
  const suggestionCard = h('div', { class: 'card', id: 'suggestion-card', hidden: true });
  const lossCard = h('div', { class: 'card', id: 'loss-card', hidden: true });
  const eventsBody = h('tbody', { id: 'events-body' });
  const eventsPrev = h('button', { type: 'button', id: 'events-prev', disabled: true }, '← Older');
  const eventsNext = h('button', { type: 'button', id: 'events-next', disabled: true }, 'Newer →');
  const eventsLabel = h('span', { class: 'muted small', id: 'events-label' });
  const eventsPager = h('div', { class: 'pager' }, eventsPrev, eventsLabel, eventsNext);
  const logToggle = h('input', { type: 'checkbox', id: 'log-scale' });
  const liveToggle = h('input', { type: 'checkbox', id: 'live', checked: true });
  const horizonInput = h('input', { type: 'number', id: 'horizon', min: 2, step: 1, title: 'steps drawn (the schedule\'s length by default)' });
  const liveState = h('span', { class: 'muted small', id: 'live-state' });
  // Cooldown now: transformers' WSD decay from the LRs in force at the first step an
  // amendment may take (or the step given), via POST .../amendments {"cooldown"}
  const coolSteps = h('input', { type: 'number', id: 'cooldown-steps', min: 1, step: 1, value: 1000 });
  const coolFrom = h('input', { type: 'number', id: 'cooldown-from', min: 0, step: 1, placeholder: 'first allowed' });
  const coolDecay = h('select', { id: 'cooldown-decay' }, ['linear', 'cosine', '1-sqrt'].map((d) => h('option', { value: d }, d)));
  const coolRatio = h('input', { type: 'number', id: 'cooldown-ratio', min: 0, max: 1, step: 0.01, value: 0 });
  const coolButton = h('button', { type: 'button', id: 'cooldown-button' }, 'Cool down now');
  const coolState = h('span', { class: 'small', id: 'cooldown-state' });

  fill(root,
    h('p', { class: 'small' }, h('a', { href: '#/runs' }, '← Runs')),
    h('div', { class: 'row', style: 'justify-content: space-between' }, title,
      h('span', {}, h('label', { class: 'small' }, liveToggle, 'live refresh'), ' ', liveState)),
    notices,
    h('div', { class: 'card' }, facts),
    h('div', { class: 'card' },
      h('div', { class: 'row' }, h('h2', { style: 'margin:0' }, 'Learning rate over the schedule'),
        h('label', { class: 'small' }, logToggle, 'log scale'),
        h('label', { class: 'small' }, 'steps', horizonInput),
        h('a', { class: 'small', id: 'compare-link', href: `#/compare?runs=${encodeURIComponent(id)}` }, 'compare with other runs')),
      lrBox, lrStatus),
    h('div', { class: 'card row', id: 'cooldown-card' }, h('b', {}, 'Cooldown'),
      h('label', { class: 'small' }, 'steps ', coolSteps), h('label', { class: 'small' }, 'from step ', coolFrom),
      h('label', { class: 'small' }, 'decay ', coolDecay), h('label', { class: 'small' }, 'min LR ratio ', coolRatio),
      coolButton, coolState),
    suggestionCard,
    lossCard,
    metricCard,
    h('div', { class: 'card' }, h('h2', {}, 'Event history'),
      h('table', { id: 'events-table' }, h('thead', {}, h('tr', {}, ['#', 'Time', 'Event', 'Step', 'Details'].map((c) => h('th', {}, c)))), eventsBody), eventsPager));

  function drawFacts() {
    const run = state.run;
    const stale = staleRanks(run);
    const top = furthestStep(run);
    fill(facts, h('dl', { class: 'facts' },
      h('dt', {}, 'Schedule'), h('dd', {}, h('b', { id: 'run-type' }, scheduleType(run)),
        run.timeline && run.timeline.length > 1 ? ` (${run.timeline.length - 1} amendment${run.timeline.length > 2 ? 's' : ''})` : ''),
      h('dt', {}, 'Spec'), h('dd', {}, h('code', { class: 'small' }, JSON.stringify(run.schedule))),
      h('dt', {}, 'World size'), h('dd', {}, `${run.world_size} rank${run.world_size > 1 ? 's' : ''}, aggregate ${run.aggregate}`),
      h('dt', {}, 'Version'), h('dd', {}, String(run.version)),
      h('dt', {}, 'Created'), h('dd', {}, fmtTime(run.created_at)),
      h('dt', {}, 'Progress'), h('dd', {}, (run.progress || []).length
        ? h('div', { class: 'ranks', id: 'rank-progress' }, run.progress.map((p) => h('span', {
          class: `pill${stale.has(p.rank) ? ' stale' : ''}`, 'data-rank': p.rank,
          title: p.updated_at ? `last heard from ${fmtTime(p.updated_at)}` : '',
        }, `rank ${p.rank}: step ${p.step}${p.updated_at ? ` · ${ago(p.updated_at)}` : ''}${stale.has(p.rank) ? ' (stale)' : ''}`)))
        : h('span', { class: 'muted' }, 'no rank has used an LR yet')),
      top !== null ? [h('dt', {}, 'Furthest step'), h('dd', {}, String(top))] : null,
      top !== null ? [h('dt', {}, 'Current LR'), h('dd', { id: 'current-lr', title: `group 0's LR at step ${top}, the furthest rank's step` },
        state.currentLR === null ? '…' : fmt(state.currentLR))] : null,
      run.metric_driven ? [h('dt', {}, 'Last decided round'), h('dd', {}, run.last_decided_step ?? 'none')] : null,
      Object.keys(run.metadata || {}).length ? [h('dt', {}, 'Metadata'), h('dd', {}, h('code', { class: 'small' }, JSON.stringify(run.metadata)))] : null));
    fill(notices, ...(run.pending_rounds || []).map((r) => h('div', { class: 'notice', 'data-pending': r.step },
      `Round at step ${r.step} waits for ranks ${r.missing_ranks.join(', ')} (${r.received}/${r.expected} reported); LRs from step ${r.step} on wait for it.`)));
  }

  function markers() {
    // Plateau decisions in force come from the resolved timeline (a rewind drops later ones);
    // amendments and rewinds from the event history.
    const out = timelineDecisions(state.run).map((d) => ({
      x: d.step, label: `→ ${fmt(d.lrs[0])}`, kind: 'decision', title: `plateau decision at step ${d.step}: lr ${fmt(d.lrs[0])}`,
    }));
    for (const e of state.events) {
      const step = eventStep(e);
      if (step === null) continue;
      if (e.kind === 'amendment') {
        out.push({ x: step, label: e.data && e.data.cooldown ? 'cooldown' : e.data && e.data.scale ? `× ${e.data.scale}` : 'amended', kind: 'amendment', title: `amendment from step ${step}` });
      } else if (e.kind === 'rewind') {
        out.push({ x: step, label: `rewind to ${step}`, kind: 'rewind', title: `rewound to step ${step}` });
      }
    }
    return out;
  }

  function drawCurve() {
    const c = state.curve;
    if (!c) return;
    plot(lrBox, {
      x: c.steps, series: [{ name: 'lr (group 0)', color: '#2962ff', values: c.lr }],
      logY: logScale, xLabel: 'step', yLabel: 'lr', height: 320, toolbar: true, name: `lr-${id}`,
      xRange: [0, Math.max(1, state.horizon - 1)],
      markers: [...markers(), ...progressMarkers(state.run)],
      legendKinds: [...(state.run.metric_driven ? ['decision'] : []), 'amendment', 'rewind', 'progress'],
    });
    const parts = [`${c.steps.length} points over steps 0–${state.horizon - 1} (stride ${c.stride})`];
    if (c.cut) parts.push(c.cut.code === 'round_pending'
      ? `; drawn up to step ${c.cut.step}: the plateau round there is still open`
      : `; the schedule ends at step ${c.cut.step}`);
    lrStatus.textContent = parts.join('');
  }

  function drawMetric() {
    const rounds = state.rounds;
    if (!rounds || !rounds.length) { metricCard.hidden = !(state.run && state.run.metric_driven); if (!metricCard.hidden) fill(metricCard, h('h2', {}, 'Reported metric per round'), h('p', { class: 'muted' }, rounds === null ? 'Per-round values are not available.' : 'No round reported yet.')); return; }
    metricCard.hidden = false;
    const box = h('div', { id: 'metric-chart' });
    fill(metricCard, h('h2', {}, 'Reported metric per round'),
      h('p', { class: 'muted small' }, `${state.run.aggregate} over ${state.run.world_size} rank(s); the band spans the lowest and highest rank value`), box);
    const value = (v) => (v === undefined ? null : v);
    plot(box, {
      x: rounds.map((r) => r.step),
      series: [{
        name: `${state.run.aggregate} across ranks`, color: '#e8590c', dots: true,
        values: rounds.map((r) => (r.decided ? value(r.value) : null)),
        band: { lo: rounds.map((r) => value(r.min)), hi: rounds.map((r) => value(r.max)) },
      }],
      xLabel: 'step', yLabel: 'metric', height: 220, toolbar: true, name: `metric-${id}`,
      markers: markers().filter((m) => m.kind === 'decision'), legendKinds: ['decision'],
    });
  }

  // the training loss the ranks send (GET .../losses: the mean over ranks), with the
  // autopilot's ledger: spikes, the rewinds it directed, recoveries
  function drawLosses() {
    const l = state.losses;
    lossCard.hidden = !l || !l.steps.length;
    if (lossCard.hidden) return;
    const box = h('div', { id: 'loss-chart' });
    fill(lossCard, h('h2', {}, 'Training loss (mean over ranks)'), box);
    const ledger = [];
    for (const e of state.events) {
      const d = e.data || {};
      if (e.kind === 'spike') ledger.push({ x: d.step, label: d.directive_id ? 'spike: rewind' : 'spike', kind: 'spike', title: `loss spike from step ${d.step} (${d.mode})` });
      else if (e.kind === 'directive') ledger.push({ x: d.to_step, label: `rewind to ${d.to_step}, skip ${d.skip_batches}, lr × ${d.lr_scale}`, kind: 'directive', title: `directive ${d.directive_id}: every rank at step ${d.at_step}` });
      else if (e.kind === 'recovery') ledger.push({ x: d.step, label: d.recovered ? 'recovered' : 'not recovered', kind: 'recovery', title: `directive ${d.directive_id}` });
    }
    plot(box, {
      x: l.steps, series: [{ name: 'loss', color: '#5f3dc4', values: l.mean }],
      xLabel: 'step', yLabel: 'loss', height: 220, toolbar: true, name: `loss-${id}`,
      markers: ledger, legendKinds: ['spike', 'directive', 'recovery'],
    });
  }

  function drawSuggestion() {
    const s = state.suggestion;
    if (!s) { suggestionCard.hidden = true; return; }
    suggestionCard.hidden = false;
    const box = h('div', { id: 'suggestion-chart' });
    const lr = s.suggested_lr;
    const make = (kind) => () => {
      const steps = 10000;
      const schedule = kind === 'one-cycle'
        ? { type: 'OneCycleLR', max_lr: lr, total_steps: steps }
        : { type: 'SequentialLR', lr, schedulers: [
          { type: 'LinearLR', start_factor: 0.01, end_factor: 1.0, total_iters: 500 },
          { type: 'CosineAnnealingLR', T_max: steps - 500, eta_min: lr / 100 }], milestones: [500] };
      sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ id: `${kind}-from-${id}`.slice(0, 100), name: kind, steps, schedule,
        note: `From the LR range test ${id}: suggested LR ${fmt(lr)}.` }));
      location.hash = '#/playground';
    };
    fill(suggestionCard, h('h2', {}, 'LR range test'),
      h('p', { id: 'suggestion-text' }, lr !== null && lr !== undefined
        ? ['Suggested LR (steepest descent of the smoothed loss): ', h('b', { id: 'suggested-lr' }, fmt(lr))]
        : 'Not enough losses yet for a suggestion.',
      s.diverged ? h('span', { class: 'pill reduce', style: 'margin-left:8px' }, `stopped: loss diverged at step ${s.stopped_at ?? '?'}`) : (s.done ? h('span', { class: 'pill keep', style: 'margin-left:8px' }, 'complete') : h('span', { class: 'pill', style: 'margin-left:8px' }, 'running'))),
      box,
      lr !== null && lr !== undefined ? h('div', { class: 'row' },
        h('button', { type: 'button', id: 'make-one-cycle', onclick: make('one-cycle') }, 'Create a one-cycle run from it'),
        h('button', { type: 'button', id: 'make-warmup-cosine', onclick: make('warmup-cosine') }, 'Create a warmup+cosine run from it')) : null);
    const smooth = s.smoothed || [];
    // torch-lr-finder plots the smoothed loss; raw losses are shown where they share its range
    const top = Math.max(...smooth.filter(Number.isFinite)) * 1.05;
    plot(box, {
      x: s.lrs || [],
      series: [
        { name: 'smoothed loss', color: '#2962ff', values: smooth },
        { name: 'loss', color: '#adb5bd', dots: true, line: false, values: (s.losses || []).map((v) => (v <= top ? v : null)) },
      ],
      logX: true, xLabel: 'lr', yLabel: 'loss', height: 260, toolbar: true, name: `range-test-${id}`,
      markers: lr ? [{ x: lr, label: `suggested ${fmt(lr)}`, kind: 'suggestion' }] : [],
    });
  }

  async function loadEventPage() {
    const page = await api(`${runPath(id, '/events')}?after=${cursors[eventPage]}&limit=${EVENTS_PAGE}`);
    if (page.next !== null) cursors[eventPage + 1] = page.next;
    state.page = page;
  }

  function drawEvents() {
    const page = state.page;
    if (!page) return;
    const shown = page.events;
    eventsPrev.disabled = eventPage === 0;
    eventsNext.disabled = page.next === null;
    eventsLabel.textContent = shown.length ? `events ${eventPage * EVENTS_PAGE + 1}–${eventPage * EVENTS_PAGE + shown.length}, oldest first` : '';
    fill(eventsBody, ...shown.map((e) => h('tr', { 'data-kind': e.kind },
      h('td', { class: 'num muted' }, String(e.id)),
      h('td', { class: 'small' }, fmtTime(e.time)),
      h('td', {}, h('span', { class: `pill ${e.kind === 'decision' ? (isReduction(e) ? 'reduce' : 'keep') : ''}` }, eventLabel(e))),
      h('td', { class: 'num' }, eventStep(e) ?? ''),
      h('td', { class: 'small' }, describeEvent(e)))));
    if (!shown.length) fill(eventsBody, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No events.')));
  }

  function eventLabel(e) {
    if (e.kind !== 'decision') return e.kind;
    if (e.data && e.data.folded === false) return 'round';
    return isReduction(e) ? 'reduce' : 'plateau: keep';
  }

  function describeEvent(e) {
    const d = e.data || {};
    if (e.kind === 'decision' && d.folded === false) return `round decided; aggregated value ${fmt(decisionValue(e))}`;
    if (e.kind === 'decision') {
      const v = decisionValue(e);
      return `${isReduction(e) ? `LR ${fmt(decisionOld(e))} → ${fmt(decisionNew(e))}` : `LR stays ${fmt(decisionNew(e))}`}${v !== null ? `; aggregated metric ${fmt(v)}` : ''}`;
    }
    if (e.kind === 'amendment' && d.cooldown) return `cooldown over ${d.cooldown.steps} steps (${d.cooldown.decay_type}) to ${fmt(d.cooldown.min_lr_ratio)} × the LR`;
    if (e.kind === 'amendment') return d.scale ? `scale × ${d.scale}` : `new schedule: ${JSON.stringify(d.schedule ?? d)}`;
    if (e.kind === 'rewind') return `resumed from step ${d.to_step ?? eventStep(e)}`;
    return Object.keys(d).length ? JSON.stringify(d) : '';
  }

  async function refresh() {
    let run;
    try {
      run = await api(runPath(id));
    } catch (err) {
      if (!alive) return;
      if (err instanceof ApiError && err.status === 404) fill(root, h('h1', {}, 'No such run'), h('p', {}, `There is no run ${id}. `, h('a', { href: '#/runs' }, 'Back to the runs')));
      else fill(notices, h('div', { class: 'notice error' }, `Could not load the run: ${err.message}`));
      return 'stop';
    }
    if (!alive) return;
    const first = state.run === null;
    const progressKey = JSON.stringify([run.progress, run.pending_rounds, run.version]);
    const changed = first || progressKey !== state.progressKey;
    state.run = run;
    state.progressKey = progressKey;
    if (first && run.schedule.type === 'LRRangeTest') { logScale = true; logToggle.checked = true; }
    drawFacts();
    if (!changed) return;
    const top = furthestStep(run);
    const [events, rounds, suggestion, current, , losses] = await Promise.all([
      eventsAfter(id, state.events.length ? state.events[state.events.length - 1].id : 0)
        .then((fresh) => state.events.concat(fresh)).catch(() => state.events),
      run.metric_driven || run.schedule.type === 'LRRangeTest'
        ? api(runPath(id, '/rounds')).then((r) => r.rounds || []).catch(() => null) : Promise.resolve(null),
      run.schedule.type === 'LRRangeTest' ? api(runPath(id, '/suggestion')).catch(() => null) : Promise.resolve(null),
      top === null ? null : lrsUpTo(id, top, top + 1, 1)
        .then((r) => (r.lr.length ? r.lr[0] : (r.cut && r.cut.code === 'round_pending' ? `waits for the round at step ${r.cut.step}` : null))).catch(() => null),
      loadEventPage().catch(() => null),
      api(runPath(id, '/losses')).catch(() => null),
    ]);
    state.losses = losses;
    if (!alive) return;
    state.events = events;
    state.currentLR = current;
    drawFacts();
    const chosen = Math.floor(Number(horizonInput.value));
    const horizon = chosen >= 2 ? chosen : runHorizon(run, events);
    if (!horizonInput.value) horizonInput.placeholder = String(horizon);
    state.rounds = run.schedule.type === 'LRRangeTest' ? null : rounds;
    state.suggestion = suggestion;
    if (run.version !== state.version || horizon !== state.horizon || (state.curve && state.curve.cut)) {
      const stride = Math.max(1, Math.ceil(horizon / MAX_POINTS));
      try {
        const curve = await lrsUpTo(id, 0, horizon, stride);
        state.curve = { ...curve, stride };
        state.version = run.version;
        state.horizon = horizon;
      } catch (err) {
        lrStatus.textContent = `Could not read the LRs: ${err.message}`;
      }
    }
    if (!alive) return;
    drawCurve();
    drawMetric();
    drawSuggestion();
    drawLosses();
    drawEvents();
  }

  // One refresh chain at a time: `kick` starts a new one and retires the previous.
  let chain = 0;
  async function loop(mine) {
    const result = await refresh().catch((err) => { liveState.textContent = `refresh failed: ${err.message}`; });
    if (!alive || result === 'stop' || mine !== chain) return;
    liveState.textContent = liveToggle.checked ? `updated ${new Date().toLocaleTimeString()}` : 'paused';
    if (liveToggle.checked) timer = setTimeout(() => loop(mine), REFRESH_MS);
  }
  function kick() { chain += 1; clearTimeout(timer); loop(chain); }

  coolButton.addEventListener('click', async () => {
    const cooldown = { steps: Math.floor(Number(coolSteps.value)), decay_type: coolDecay.value, min_lr_ratio: Number(coolRatio.value) };
    const body = coolFrom.value === '' ? { cooldown } : { from_step: Math.floor(Number(coolFrom.value)), cooldown };
    coolButton.disabled = true;
    try {
      const done = await api(runPath(id, '/amendments'), { method: 'POST', body });
      coolState.textContent = `cooling down from step ${done.from_step} (version ${done.version})`;
      coolState.className = 'small';
      state.progressKey = null; kick();
    } catch (err) {
      coolState.textContent = err.message;
      coolState.className = 'small error';
    } finally { coolButton.disabled = false; }
  });
  logToggle.addEventListener('change', () => { logScale = logToggle.checked; drawCurve(); });
  horizonInput.addEventListener('change', () => { state.progressKey = null; kick(); });
  const turnPage = (delta) => { eventPage += delta; loadEventPage().then(drawEvents).catch((err) => { eventsLabel.textContent = err.message; }); };
  eventsPrev.addEventListener('click', () => { if (eventPage > 0) turnPage(-1); });
  eventsNext.addEventListener('click', () => { if (cursors[eventPage + 1] !== undefined) turnPage(1); });
  liveToggle.addEventListener('change', () => {
    if (liveToggle.checked) kick();
    else { chain += 1; clearTimeout(timer); liveState.textContent = 'paused'; }
  });
  const onResize = () => { drawCurve(); drawMetric(); drawSuggestion(); drawLosses(); };
  window.addEventListener('resize', onResize);
  kick();
  return () => { alive = false; clearTimeout(timer); window.removeEventListener('resize', onResize); };
}
