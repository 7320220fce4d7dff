// Compare page: the LR curves of several runs overlaid on one chart (#/compare?runs=a,b,c).
import { api, runPath } from './api.js';
import { plot } from './chart.js';
import { runHorizon } from './horizon.js';
import { eventsAfter, lrsUpTo } from './model.js';
import { fill, h, hashQuery } from './util.js';

const MAX_POINTS = 2000;
const PICKER_LIMIT = 200;
const PALETTE = ['#2962ff', '#e8590c', '#2b8a3e', '#862e9c', '#c92a2a', '#0b7285', '#5c940d', '#d6336c'];

/** The chosen run ids from the page's hash (`runs=a,b`), in order, without repeats. */
export function chosenRuns() {
  const ids = (hashQuery().runs || '').split(',').map((s) => s.trim()).filter(Boolean);
  return [...new Set(ids)];
}

export function renderCompare(root) {
  let alive = true;
  let chosen = chosenRuns();
  const picker = h('div', { class: 'run-picker', id: 'compare-picker' }, h('span', { class: 'muted small' }, 'Loading the runs…'));
  const chartBox = h('div', { id: 'compare-chart' });
  const status = h('p', { class: 'muted small', id: 'compare-status' });
  const logToggle = h('input', { type: 'checkbox', id: 'log-scale' });

  fill(root,
    h('p', { class: 'small' }, h('a', { href: '#/runs' }, '← Runs')),
    h('h1', {}, 'Compare runs'),
    h('div', { class: 'card' }, h('h2', {}, 'Runs'), picker),
    h('div', { class: 'card' },
      h('div', { class: 'row' }, h('h2', { style: 'margin:0' }, 'Learning rate (group 0)'),
        h('label', { class: 'small' }, logToggle, 'log scale')),
      chartBox, status));

  let curves = [];
  function draw() {
    if (!curves.length) {
      fill(chartBox, h('p', { class: 'muted' }, 'Choose runs above to overlay their LR curves.'));
      return;
    }
    // every run is sampled at the same steps (0, stride, 2·stride...), so the columns align
    const horizon = Math.max(...curves.map((c) => c.horizon));
    const stride = Math.max(1, Math.ceil(horizon / MAX_POINTS));
    const x = Array.from({ length: Math.ceil(horizon / stride) }, (_, i) => i * stride);
    plot(chartBox, {
      x, xRange: [0, Math.max(1, horizon - 1)], logY: logToggle.checked,
      series: curves.map((c, i) => {
        const at = new Map(c.steps.map((s, k) => [s, c.lr[k]]));
        return { name: c.id, color: PALETTE[i % PALETTE.length], values: x.map((s) => at.get(s) ?? null) };
      }),
      xLabel: 'step', yLabel: 'lr', height: 360, toolbar: true, name: `compare-${chosen.join('-')}`.slice(0, 120),
    });
  }

  async function load() {
    history.replaceState(null, '', `#/compare?runs=${chosen.map(encodeURIComponent).join(',')}`);
    status.textContent = chosen.length ? 'Loading…' : '';
    const runs = await Promise.all(chosen.map(async (id) => {
      const run = await api(runPath(id));
      return { id, run, horizon: runHorizon(run, await eventsAfter(id)) };
    }));
    const horizon = Math.max(2, ...runs.map((r) => r.horizon));
    const stride = Math.max(1, Math.ceil(horizon / MAX_POINTS));
    const loaded = await Promise.all(runs.map(async (r) => ({ ...r, ...(await lrsUpTo(r.id, 0, r.horizon, stride)) })));
    if (!alive) return;
    curves = loaded;
    draw();
    status.textContent = curves.map((c) => `${c.id}: ${c.steps.length} points${c.cut ? ` (up to step ${c.cut.step})` : ''}`).join(' · ');
  }
  const reload = () => load().catch((err) => { if (alive) status.textContent = `Could not load: ${err.message}`; });

  api(`/v1/runs?limit=${PICKER_LIMIT}`).then((page) => {
    if (!alive) return;
    const ids = [...new Set([...chosen, ...(page.runs || []).map((r) => r.run_id)])];
    fill(picker, ids.length ? ids.map((id) => h('label', { class: 'small' },
      h('input', {
        type: 'checkbox', value: id, 'data-run': id, checked: chosen.includes(id),
        onchange: (event) => {
          chosen = event.target.checked ? [...chosen, id] : chosen.filter((c) => c !== id);
          reload();
        },
      }), id)) : h('span', { class: 'muted' }, 'No runs yet.'),
    page.next ? h('span', { class: 'muted small' }, ` (the first ${PICKER_LIMIT} runs; add others with ?runs=)`) : null);
  }).catch((err) => fill(picker, h('span', { class: 'error' }, `Could not list the runs: ${err.message}`)));
  logToggle.addEventListener('change', draw);
  window.addEventListener('resize', draw);
  reload();
  return () => { alive = false; window.removeEventListener('resize', draw); };
}
