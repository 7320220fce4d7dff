// Playground: edit a spec, see its curve from POST /v1/preview as you type, create a run.
import { api, ApiError, request } from './api.js';
import { plot } from './chart.js';
import { lengthInSteps } from './horizon.js';
import { lineOf, parseWithSpans, spanOf } from './jsonpos.js';
import { debounce, fill, fmt, h } from './util.js';

const MAX_POINTS = 2000;
export const DRAFT_KEY = 'lrcast.draft';

let presetsCache = null;
export async function loadPresets() {
  if (!presetsCache) presetsCache = fetch(new URL('./presets.json', import.meta.url)).then((r) => r.json());
  return presetsCache;
}

// The engine's catalog (GET /v1/schedule-types): every type the service accepts, with its
// example spec, offered next to the curated presets above (which add notes and loss shapes).
let catalogCache = null;
export async function loadCatalog() {
  if (!catalogCache) catalogCache = api('/v1/schedule-types').then((d) => d.types);
  return catalogCache;
}
const CATALOG_SIMULATE = { every: 50, start: 2.5, floor: 0.8, tau: 300, noise: 0.03 };

/** A catalog entry as a preset: its example over the schedule's own length. */
export function catalogPreset(entry) {
  const steps = lengthInSteps(entry.example);
  return {
    id: `type-${entry.type}`, name: entry.type, schedule: entry.example,
    note: `${entry.type}: the engine's example spec (GET /v1/schedule-types).`,
    steps: Math.min(100000, Math.max(10, steps ? Math.ceil(steps * 1.1) : 1000)),
    simulate: entry.metric_driven ? CATALOG_SIMULATE : null,
  };
}

/** A deterministic simulated validation loss: exponential decay to a floor, plus noise. */
export function simulateReports(sim, steps) {
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const reports = [];
  for (let step = sim.every; step < steps; step += sim.every) {
    const clean = sim.floor + (sim.start - sim.floor) * Math.exp(-step / sim.tau);
    reports.push({ step, value: Number((clean + sim.noise * (rand() - 0.5) * 2).toFixed(5)) });
  }
  return reports;
}

export function renderPlayground(root) {
  let presets = [];
  let simulate = null;
  let logScale = false;
  let seq = 0;
  let lastPreview = null;

  const presetBar = h('div', { class: 'presets' });
  const typeSelect = h('select', { id: 'schedule-type', 'aria-label': 'every schedule type' },
    h('option', { value: '' }, 'Every type…'));
  const gutter = h('div', { class: 'gutter' });
  const backdrop = h('div', { class: 'backdrop', 'aria-hidden': 'true' });
  const textarea = h('textarea', { id: 'spec-editor', spellcheck: 'false', autocomplete: 'off', 'aria-label': 'schedule spec (JSON)' });
  const editor = h('div', { class: 'editor' }, gutter, h('div', { class: 'surface' }, backdrop, textarea));
  const fieldError = h('div', { class: 'field-error', id: 'field-error', hidden: true });
  const stepsInput = h('input', { type: 'number', id: 'steps', min: 1, max: 100000, value: 1000 });
  const stepsError = h('span', { class: 'error small', id: 'steps-error' });
  const simNote = h('p', { class: 'muted small', id: 'sim-note', hidden: true });
  const note = h('p', { class: 'muted small', id: 'preset-note' });
  const chartBox = h('div', { id: 'preview-chart' });
  const lossBox = h('div', { id: 'loss-chart', hidden: true });
  const status = h('p', { class: 'muted small', id: 'preview-status' });
  const logToggle = h('input', { type: 'checkbox', id: 'log-scale' });

  const runId = h('input', { id: 'run-id', placeholder: 'run id', pattern: '[A-Za-z0-9._-]{1,128}', size: 22 });
  const worldSize = h('input', { type: 'number', id: 'world-size', min: 1, value: 1 });
  const aggregate = h('select', { id: 'aggregate' }, ['mean', 'min', 'max'].map((a) => h('option', { value: a }, a)));
  const createBtn = h('button', { class: 'primary', id: 'create-run', type: 'button' }, 'Create run');
  const createStatus = h('div', { id: 'create-status' });

  fill(root,
    h('h1', {}, 'Schedule playground'),
    h('div', { class: 'grid2' },
      h('div', {},
        h('div', { class: 'card' },
          h('h2', {}, 'Presets'), presetBar, h('p', {}, typeSelect), note,
          h('h2', {}, 'Spec'), editor, fieldError,
          h('div', { class: 'row', style: 'margin-top:10px' },
            h('label', {}, 'Steps', stepsInput), stepsError),
          simNote),
        h('div', { class: 'card' },
          h('h2', {}, 'Create a run with this schedule'),
          h('div', { class: 'row' },
            h('label', {}, 'Run id', runId),
            h('label', {}, 'World size', worldSize),
            h('label', {}, 'Aggregate', aggregate),
            createBtn),
          createStatus)),
      h('div', {},
        h('div', { class: 'card' },
          h('div', { class: 'row' }, h('h2', { style: 'margin:0' }, 'Learning rate'),
            h('label', { class: 'small' }, logToggle, 'log scale')),
          chartBox, status),
        lossBox)));

  // Editor chrome: line numbers and the error highlight follow the text and its scrolling.
  function paintEditor(badLine = null, badSpan = null) {
    const text = textarea.value;
    const lines = text.split('\n').length;
    fill(gutter, ...Array.from({ length: lines }, (_, i) => h('div', { class: i + 1 === badLine ? 'bad' : '' }, String(i + 1))));
    if (badSpan) {
      fill(backdrop, text.slice(0, badSpan.start), h('mark', {}, text.slice(badSpan.start, badSpan.end) || ' '), text.slice(badSpan.end) + '\n');
    } else fill(backdrop, text + '\n');
    editor.classList.toggle('invalid', badLine !== null);
    syncScroll();
  }
  function syncScroll() {
    backdrop.scrollTop = textarea.scrollTop;
    backdrop.scrollLeft = textarea.scrollLeft;
    gutter.scrollTop = textarea.scrollTop;
  }
  textarea.addEventListener('scroll', syncScroll);

  function showFieldError(message, path, span) {
    fieldError.hidden = false;
    fieldError.dataset.field = path || '';
    fieldError.textContent = path && !message.startsWith(path) ? `${path}: ${message}` : message;
    chartBox.classList.add('outdated');
    const line = span ? lineOf(textarea.value, span.start) : null;
    paintEditor(line, span);
  }
  function clearErrors() {
    fieldError.hidden = true;
    fieldError.textContent = '';
    fieldError.dataset.field = '';
    stepsError.textContent = '';
    chartBox.classList.remove('outdated');
    paintEditor();
  }

  function currentSteps() {
    const n = Math.floor(Number(stepsInput.value));
    return Number.isFinite(n) && n > 0 ? n : 1000;
  }

  async function preview() {
    const mine = ++seq;
    let parsed;
    try {
      parsed = parseWithSpans(textarea.value);
    } catch (err) {
      const pos = err.pos ?? 0;
      showFieldError(`JSON syntax error: ${err.message} (line ${lineOf(textarea.value, pos)})`, '', { start: pos, end: pos + 1 });
      status.textContent = '';
      return;
    }
    const steps = currentSteps();
    const stride = Math.max(1, Math.ceil(steps / MAX_POINTS));
    const body = { schedule: parsed.value, start: 0, stop: steps, stride };
    // reports only reach a schedule with a plateau part (the service refuses them otherwise)
    const plateau = /"(ReduceLROnPlateau|reduce_lr_on_plateau)"/.test(textarea.value);
    const reports = simulate && plateau ? simulateReports(simulate, steps) : [];
    if (reports.length) body.reports = reports;
    status.textContent = 'computing…';
    try {
      const { data } = await request('/v1/preview', { method: 'POST', body });
      if (mine !== seq) return;
      clearErrors();
      lastPreview = { data, reports, steps, spec: parsed.value };
      draw();
      status.textContent = `${data.steps.length} points, stride ${stride}; LR from ${fmt(Math.min(...data.lr))} to ${fmt(Math.max(...data.lr))}`;
    } catch (err) {
      if (mine !== seq) return;
      status.textContent = '';
      if (err instanceof ApiError && err.field) {
        const path = err.field.replace(/^schedule\.?/, '');
        if (err.field === 'steps' || err.field === 'stop' || err.field === 'stride') {
          clearErrors();
          stepsError.textContent = err.message;
          return;
        }
        const found = err.field.startsWith('schedule') ? spanOf(parsed.spans, path) : null;
        showFieldError(err.message, err.field, found ? found.span : null);
      } else {
        showFieldError(err.message || String(err), '', null);
      }
    }
  }
  const previewSoon = debounce(preview, 300);

  function draw() {
    if (!lastPreview) return;
    const { data, reports, spec } = lastPreview;
    const series = [{ name: 'lr (group 0)', color: '#2962ff', values: data.lr }];
    const groups = data.lrs && data.lrs[0] ? data.lrs[0].length : 1;
    const palette = ['#e8590c', '#2b8a3e', '#862e9c', '#c92a2a'];
    for (let g = 1; g < groups && g <= palette.length; g++) {
      series.push({ name: `group ${g}`, color: palette[g - 1], values: data.lrs.map((row) => row[g]) });
    }
    const decisions = [];
    const plateau = spec.type && /plateau/i.test(spec.type);
    for (let i = 1; i < data.lr.length; i++) if (plateau && data.lr[i] !== data.lr[i - 1]) decisions.push(data.steps[i]);
    plot(chartBox, {
      x: data.steps, series, logY: logScale, xLabel: 'step', yLabel: 'lr', height: 320, toolbar: true, name: 'preview',
      markers: decisions.map((x) => ({ x, label: 'reduce', kind: 'decision' })),
    });
    lossBox.hidden = !reports.length;
    if (reports.length) {
      const box = h('div', {});
      fill(lossBox, h('div', { class: 'card' }, h('h2', {}, 'Simulated validation loss (sent as preview reports)'), box));
      plot(box, { x: reports.map((r) => r.step), series: [{ name: 'loss', color: '#e8590c', values: reports.map((r) => r.value), dots: true }], xLabel: 'step', yLabel: 'loss', height: 200 });
    }
  }

  function choose(preset) {
    for (const b of presetBar.children) b.classList.toggle('active', b.dataset.preset === preset.id);
    typeSelect.value = preset.id === `type-${preset.name}` ? preset.name : '';
    textarea.value = JSON.stringify(preset.schedule, null, 2);
    stepsInput.value = preset.steps || 1000;
    simulate = preset.simulate || null;
    note.textContent = preset.note || '';
    simNote.hidden = !simulate;
    if (simulate) simNote.textContent = `Reports: a simulated loss every ${simulate.every} steps (decays from ${simulate.start} towards ${simulate.floor}, with noise).`;
    runId.value = `${preset.id}-${Math.random().toString(36).slice(2, 7)}`;
    clearErrors();
    preview();
  }

  textarea.addEventListener('input', () => { paintEditor(); previewSoon(); });
  stepsInput.addEventListener('input', previewSoon);
  logToggle.addEventListener('change', () => { logScale = logToggle.checked; draw(); });
  window.addEventListener('resize', draw);

  createBtn.addEventListener('click', async () => {
    fill(createStatus);
    let spec;
    try { spec = JSON.parse(textarea.value); } catch (err) {
      fill(createStatus, h('div', { class: 'notice error' }, `The spec is not valid JSON: ${err.message}`));
      return;
    }
    const id = runId.value.trim();
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(id)) {
      fill(createStatus, h('div', { class: 'notice error' }, 'A run id is 1 to 128 letters, digits, ".", "_" or "-".'));
      return;
    }
    const body = {
      schedule: spec, world_size: Math.max(1, Math.floor(Number(worldSize.value) || 1)),
      aggregate: aggregate.value, metadata: { total_steps: currentSteps(), created_by: 'dashboard' },
    };
    createBtn.disabled = true;
    try {
      const { status: code } = await request(`/v1/runs/${encodeURIComponent(id)}`, { method: 'PUT', body });
      fill(createStatus, h('div', { class: 'notice ok' }, code === 201 ? 'Created ' : 'Already exists: ',
        h('a', { href: `#/runs/${encodeURIComponent(id)}`, id: 'created-link' }, id)));
    } catch (err) {
      if (err instanceof ApiError && err.field && err.field.startsWith('schedule')) {
        const parsed = parseWithSpans(textarea.value);
        const found = spanOf(parsed.spans, err.field.replace(/^schedule\.?/, ''));
        showFieldError(err.message, err.field, found ? found.span : null);
      }
      fill(createStatus, h('div', { class: 'notice error' }, `${err.status ? `HTTP ${err.status}: ` : ''}${err.message}`));
    } finally {
      createBtn.disabled = false;
    }
  });

  loadCatalog().then((types) => {
    fill(typeSelect, h('option', { value: '' }, 'Every type…'),
      ...types.map((t) => h('option', { value: t.type }, t.type)));
    typeSelect.onchange = () => {
      const entry = types.find((t) => t.type === typeSelect.value);
      if (entry) choose(catalogPreset(entry));
    };
  });

  loadPresets().then((list) => {
    presets = list;
    fill(presetBar, ...presets.map((p) => h('button', { type: 'button', 'data-preset': p.id, onclick: () => choose(p) }, p.name)));
    const draft = sessionStorage.getItem(DRAFT_KEY);
    if (draft) {
      sessionStorage.removeItem(DRAFT_KEY);
      const d = JSON.parse(draft);
      choose({ id: d.id || 'draft', name: d.name, note: d.note, steps: d.steps, schedule: d.schedule });
    } else {
      choose(presets[0]);
    }
  });

  return () => window.removeEventListener('resize', draw);
}
