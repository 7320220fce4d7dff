// Charts on uPlot (vendor/uPlot.iife.min.js, copied from npm by scripts/vendor_assets.py),
// plus what the pages need around it: vertical markers whose labels never overlap, zoom (drag
// a range, mouse wheel, buttons) and pan (shift-drag, buttons), a legend of the marker kinds,
// CSV and PNG export of what is shown.
import { h } from './util.js';

/** How each kind of marker is drawn and named in the legend. */
export const MARKER_KINDS = {
  decision: { color: '#c92a2a', dash: [4, 3], name: 'plateau decision' },
  amendment: { color: '#862e9c', dash: [7, 3], name: 'amendment' },
  rewind: { color: '#e67700', dash: [2, 2], name: 'rewind' },
  progress: { color: '#2b8a3e', dash: [], name: 'rank progress' },
  suggestion: { color: '#2b8a3e', dash: [4, 3], name: 'suggested LR' },
  spike: { color: '#c92a2a', dash: [], name: 'loss spike' },
  directive: { color: '#e67700', dash: [6, 3], name: 'autopilot rewind to' },
  recovery: { color: '#2b8a3e', dash: [2, 3], name: 'recovery' },
};

const LABEL_FONT = '11px system-ui, sans-serif';
const LABEL_ROW = 14;
const LABEL_GAP = 6;
const MAX_LABEL_ROWS = 8;
const ZOOM_STEP = 0.6;

let measurer = null;
function textWidth(text) {
  measurer = measurer || document.createElement('canvas').getContext('2d');
  measurer.font = LABEL_FONT;
  return Math.ceil(measurer.measureText(text).width) + 6;
}

/**
 * Rows for marker labels so that none overlaps another: items `{left, width}` sorted by
 * `left` each get the first row whose last label ends `gap` before them (a new row when none
 * does, up to `maxRows`; past that the label is dropped, `row: null`, its line stays).
 */
export function layoutLabels(items, gap = LABEL_GAP, maxRows = MAX_LABEL_ROWS) {
  const ends = [];
  return items.map((item) => {
    let row = ends.findIndex((end) => end + gap <= item.left);
    if (row < 0 && ends.length < maxRows) { row = ends.length; ends.push(-Infinity); }
    if (row < 0) return { ...item, row: null };
    ends[row] = item.left + item.width;
    return { ...item, row };
  });
}

/** The x scale's visible [min, max] after a zoom by `factor` (<1 zooms in) around `at`. */
export function zoomRange([min, max], factor, at = (min + max) / 2) {
  return [at - (at - min) * factor, at + (max - at) * factor];
}

/** CSV text of aligned columns: the header, then one line per x within [lo, hi]. */
export function toCSV(names, columns, lo = -Infinity, hi = Infinity) {
  const lines = [names.map(csvCell).join(',')];
  const [xs, ...ys] = columns;
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < lo || xs[i] > hi) continue;
    lines.push([xs[i], ...ys.map((col) => col[i])].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

function csvCell(v) {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Save `blob` as a file named `name` (the browser's download). */
export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function tickLabel(v) {
  if (v === null || v === undefined) return '';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return Number(v.toPrecision(6)).toExponential().replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

/**
 * Draw a chart into `container` (replacing what was there); returns its controller.
 *
 * options: {x: [...], series: [{name, color, values: [...] (aligned with x, null for none),
 *   dots, line (default true), dashed, band: {lo: [...], hi: [...]}}], logX, logY, xLabel,
 *   yLabel, height, xRange: [min, max] (the full range; default the data's), markers: [{x,
 *   kind, label, title}], legendKinds: [kind...] (marker kinds listed even when absent),
 *   toolbar: bool (zoom, pan and export buttons), name (export file names)}
 * The container carries data-series, data-points, data-x-min and data-x-max for tests and
 * scripts; a zoom survives a redraw of the same container until reset.
 */
export function plot(container, options) {
  const {
    x = [], series = [], logX = false, logY = false, markers = [], height = 300,
    toolbar = false, legendKinds = [], name = 'chart',
  } = options;
  const previous = container._chart;
  const kept = previous && previous.zoomed ? previous.range() : null;
  if (previous) previous.destroy();

  const clean = (v) => (v === null || v === undefined || !Number.isFinite(v) || (logY && v <= 0) ? null : v);
  const xs = logX ? x.map((v) => (v > 0 ? v : null)) : x;
  const data = [xs];
  const names = [options.xLabel || 'x'];
  const useries = [{ label: options.xLabel || 'x', value: (u, v) => tickLabel(v) }];
  const bands = [];
  for (const ser of series) {
    if (ser.band) {
      const hi = data.push(ser.band.hi.map(clean)) - 1;
      const lo = data.push(ser.band.lo.map(clean)) - 1;
      names.push(`${ser.name} (highest)`, `${ser.name} (lowest)`);
      for (const label of ['highest', 'lowest']) {
        useries.push({ label: `${label} rank`, stroke: `${ser.color}55`, width: 1, value: (u, v) => tickLabel(v) });
      }
      bands.push({ series: [hi, lo], fill: `${ser.color}22` });
    }
    data.push(ser.values.map(clean));
    names.push(ser.name);
    useries.push({
      label: ser.name, stroke: ser.color, width: 1.8, dash: ser.dashed ? [5, 4] : undefined,
      spanGaps: false, value: (u, v) => tickLabel(v),
      points: ser.dots ? { show: true, size: 5, fill: ser.color } : { show: false },
      ...(ser.line === false ? { paths: () => null } : {}),
    });
  }

  const finiteXs = xs.filter((v) => v !== null && Number.isFinite(v));
  const dataEnds = finiteXs.length ? [finiteXs[0], finiteXs[finiteXs.length - 1]] : [null, null];
  const fullRange = () => {
    if (options.xRange) return options.xRange.slice();
    const [lo, hi] = dataEnds;
    if (lo === null) return [0, 1];
    return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
  };

  const wrap = h('div', { class: 'uchart' });
  const labels = h('div', { class: 'marker-labels' });
  const bar = toolbar ? h('div', { class: 'chart-toolbar' }) : null;
  const legend = h('div', { class: 'marker-legend' });
  container.classList.add('chart');
  container.replaceChildren(...[bar, wrap, legend].filter(Boolean));

  let placed = [];
  const chart = {
    zoomed: false,
    range: () => [u.scales.x.min, u.scales.x.max],
    setRange(min, max) {
      const [a, b] = fullRange();
      const span = max - min;
      // never wider than the whole range; a pan stops at its ends
      if (span >= b - a) { [min, max] = [a, b]; } else if (min < a) { [min, max] = [a, a + span]; } else if (max > b) { [min, max] = [b - span, b]; }
      u.setScale('x', { min, max });
    },
    reset() { const [a, b] = fullRange(); u.setScale('x', { min: a, max: b }); },
    zoom(factor, at) { chart.setRange(...zoomRange(chart.range(), factor, at)); },
    pan(fraction) { const [a, b] = chart.range(); const d = (b - a) * fraction; chart.setRange(a + d, b + d); },
    /** What is shown, as CSV: the points inside the visible x range, every series. */
    csv() { const [a, b] = chart.range(); return toCSV(names, data, a, b); },
    /** What is shown, as a PNG Blob: the plot, its marker labels, the legend. */
    png: () => renderPNG(u, placed, legendItems()),
    destroy() { u.destroy(); container._chart = null; },
    get uplot() { return u; },
  };

  function drawMarkers(u) {
    const { ctx } = u;
    const { left, top, width, height: ht } = u.bbox;
    const [a, b] = [u.scales.x.min, u.scales.x.max];
    const visible = markers.filter((m) => Number.isFinite(m.x) && m.x >= a && m.x <= b && (!logX || m.x > 0));
    ctx.save();
    for (const m of visible) {
      const style = MARKER_KINDS[m.kind] || { color: '#888', dash: [] };
      const px = Math.round(u.valToPos(m.x, 'x', true)) + 0.5;
      ctx.strokeStyle = style.color;
      ctx.lineWidth = (m.kind === 'progress' ? 2 : 1.2) * devicePixelRatio;
      ctx.setLineDash(style.dash.map((d) => d * devicePixelRatio));
      ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, top + ht); ctx.stroke();
    }
    ctx.restore();
    // labels in CSS pixels, laid out per side (decisions etc. on top, progress at the bottom)
    const plotW = width / devicePixelRatio;
    // a label starts right of its line, or ends at the plot's right edge
    const items = visible.filter((m) => m.label).map((m) => {
      const w = textWidth(m.label);
      return { marker: m, left: Math.max(0, Math.min(u.valToPos(m.x, 'x') + 3, plotW - w)), width: w };
    }).sort((p, q) => p.left - q.left);
    const top_ = items.filter((it) => it.marker.kind !== 'progress');
    const bottom = items.filter((it) => it.marker.kind === 'progress');
    placed = [...layoutLabels(top_).map((it) => ({ ...it, side: 'top' })),
      ...layoutLabels(bottom, LABEL_GAP, 3).map((it) => ({ ...it, side: 'bottom' }))]
      .filter((it) => it.row !== null);
    labels.replaceChildren(...placed.map((it) => {
      const m = it.marker;
      const color = (MARKER_KINDS[m.kind] || {}).color || '#888';
      const style = `left:${it.left}px;color:${color};` + (it.side === 'top'
        ? `top:${2 + it.row * LABEL_ROW}px` : `bottom:${2 + it.row * LABEL_ROW}px`);
      return h('span', { class: `marker ${m.kind || ''}`, 'data-x': m.x, title: m.title || m.label, style }, m.label);
    }));
    labels.dataset.hidden = String(items.length - placed.length);
  }

  function publish(u) {
    const [a, b] = fullRange();
    chart.zoomed = u.scales.x.min !== a || u.scales.x.max !== b;
    container.dataset.xMin = String(u.scales.x.min);
    container.dataset.xMax = String(u.scales.x.max);
  }

  const width = Math.max(320, Math.round(container.clientWidth || 800));
  const u = new window.uPlot({
    width, height, series: useries, bands,
    scales: {
      // uPlot ranges x to the data's ends (at first, and on its double-click reset); the
      // whole range may be wider (a cut curve, markers past the last point)
      x: { time: false, distr: logX ? 3 : 1, range: (self, min, max) => (min === null || (min === dataEnds[0] && max === dataEnds[1]) ? fullRange() : [min, max]) },
      y: { distr: logY ? 3 : 1 },
    },
    axes: [
      { label: options.xLabel, values: (self, ticks) => ticks.map(tickLabel) },
      { label: options.yLabel, size: 64, values: (self, ticks) => ticks.map(tickLabel) },
    ],
    cursor: { drag: { x: true, y: false, setScale: true } },
    legend: { live: true },
    hooks: {
      draw: [drawMarkers],
      setScale: [publish],
    },
  }, data, wrap);
  u.over.append(labels);
  container._chart = chart;
  container.dataset.series = String(series.length);
  container.dataset.points = String(series.length ? data[data.length - 1].filter((v) => v !== null).length : 0);

  // wheel zooms around the cursor; shift-drag (or the middle button) pans
  u.over.addEventListener('wheel', (event) => {
    event.preventDefault();
    chart.zoom(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP, u.posToVal(event.offsetX, 'x'));
  }, { passive: false });
  wrap.addEventListener('mousedown', (event) => {
    if (!(event.shiftKey || event.button === 1)) return;
    event.preventDefault();
    event.stopPropagation();
    const start = event.clientX;
    const [a, b] = chart.range();
    const perPx = (b - a) / (u.bbox.width / devicePixelRatio);
    const move = (e) => { chart.setRange(a - (e.clientX - start) * perPx, b - (e.clientX - start) * perPx); };
    const up = () => { window.removeEventListener('mousemove', move); window.removeEventListener('mouseup', up); };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  }, true);

  function legendItems() {
    const kinds = [...new Set([...legendKinds, ...markers.map((m) => m.kind)])].filter((k) => MARKER_KINDS[k]);
    return [
      ...series.map((ser) => ({ name: ser.name, color: ser.color, dash: ser.dashed ? [5, 4] : [] })),
      ...kinds.map((k) => ({ kind: k, name: MARKER_KINDS[k].name, color: MARKER_KINDS[k].color, dash: MARKER_KINDS[k].dash, vertical: true })),
    ];
  }
  legend.replaceChildren(...legendItems().filter((it) => it.kind).map((it) => h('span', { class: 'legend-item', 'data-kind': it.kind },
    h('i', { class: 'swatch vertical', style: `border-left: 2px ${it.dash.length ? 'dashed' : 'solid'} ${it.color}` }), it.name)));

  if (bar) {
    const button = (id, text, title, onclick) => h('button', { type: 'button', class: 'small', 'data-action': id, title, onclick }, text);
    bar.append(
      button('zoom-in', '+', 'zoom in (or the mouse wheel; drag across the chart to zoom to a range)', () => chart.zoom(ZOOM_STEP)),
      button('zoom-out', '−', 'zoom out', () => chart.zoom(1 / ZOOM_STEP)),
      button('pan-left', '←', 'pan left (or shift-drag)', () => chart.pan(-0.25)),
      button('pan-right', '→', 'pan right (or shift-drag)', () => chart.pan(0.25)),
      button('reset', 'whole range', 'show the whole range (or double-click the chart)', () => chart.reset()),
      h('span', { class: 'spacer' }),
      button('csv', 'CSV', 'download the points shown as CSV', () => download(`${name}.csv`, new Blob([chart.csv()], { type: 'text/csv' }))),
      button('png', 'PNG', 'download the chart as a PNG image', async () => download(`${name}.png`, await chart.png())));
  }
  if (kept) chart.setRange(...kept);
  return chart;
}

/** The plot canvas with its marker labels and a legend underneath, as a PNG Blob. */
function renderPNG(u, placed, legend) {
  const dpr = devicePixelRatio;
  const src = u.ctx.canvas;
  const legendH = Math.ceil(legend.length / 4) * 18 * dpr + 10 * dpr;
  const out = document.createElement('canvas');
  out.width = src.width;
  out.height = src.height + legendH;
  const ctx = out.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(src, 0, 0);
  ctx.font = LABEL_FONT.replace('11px', `${11 * dpr}px`);
  ctx.textBaseline = 'top';
  const { left, top, height } = u.bbox;
  for (const it of placed) {
    ctx.fillStyle = (MARKER_KINDS[it.marker.kind] || {}).color || '#888';
    const y = it.side === 'top' ? top + (2 + it.row * LABEL_ROW) * dpr : top + height - (2 + (it.row + 1) * LABEL_ROW) * dpr;
    ctx.fillText(it.marker.label, left + it.left * dpr, y);
  }
  legend.forEach((it, i) => {
    const x = (10 + (i % 4) * 200) * dpr;
    const y = src.height + (6 + Math.floor(i / 4) * 18) * dpr;
    ctx.strokeStyle = it.color;
    ctx.lineWidth = 2 * dpr;
    ctx.setLineDash(it.dash.map((d) => d * dpr));
    ctx.beginPath();
    if (it.vertical) { ctx.moveTo(x + 7 * dpr, y); ctx.lineTo(x + 7 * dpr, y + 12 * dpr); } else { ctx.moveTo(x, y + 6 * dpr); ctx.lineTo(x + 16 * dpr, y + 6 * dpr); }
    ctx.stroke();
    ctx.fillStyle = '#1d2330';
    ctx.fillText(it.name, x + 22 * dpr, y);
  });
  return new Promise((resolve) => out.toBlob(resolve, 'image/png'));
}
