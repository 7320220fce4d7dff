// A small SVG line chart: linear or log axes, several series, spread bands, vertical markers,
// a progress line and a hover read-out. No dependencies.
const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Round-number ticks covering [lo, hi] on a linear axis. */
export function linearTicks(lo, hi, count = 6) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) || 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Powers of ten (with 2 and 5 when the range spans few decades) within [lo, hi] (lo > 0). */
export function logTicks(lo, hi) {
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const mult = b - a <= 2 ? [1, 2, 5] : [1];
  const ticks = [];
  for (let e = a; e <= b; e++) {
    for (const m of mult) {
      const t = m * 10 ** e;
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(Number(t.toPrecision(12)));
    }
  }
  return ticks.length ? ticks : [lo, hi];
}

function tickLabel(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return Number(v.toPrecision(6)).toExponential().replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

function scale(lo, hi, a, b, log) {
  if (log) {
    const l0 = Math.log10(lo), l1 = Math.log10(hi);
    const span = l1 - l0 || 1;
    return (v) => a + ((Math.log10(v) - l0) / span) * (b - a);
  }
  const span = hi - lo || 1;
  return (v) => a + ((v - lo) / span) * (b - a);
}

function extent(values, log) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return log ? [1e-4, 1] : [0, 1];
  if (lo === hi) return log ? [lo / 2, hi * 2] : [lo - (Math.abs(lo) || 1) * 0.1, hi + (Math.abs(hi) || 1) * 0.1];
  return [lo, hi];
}

/**
 * Draw a chart into `container` (its contents are replaced).
 *
 * options: {series: [{name, color, points: [[x, y]...], band: [[x, lo, hi]...], className}],
 *   logX, logY, xLabel, yLabel, markers: [{x, color, label}], progress: x|null, height,
 *   yFrom0: bool, formatX, formatY}
 * Returns the <svg> element. Paths carry `data-points` (how many points they draw).
 */
export function lineChart(container, options) {
  const { series = [], logX = false, logY = false, markers = [], progress = null } = options;
  const width = options.width || Math.max(320, Math.round(container.clientWidth || 800));
  const height = options.height || 300;
  const m = { left: 62, right: 16, top: 14, bottom: 38 };
  const xs = [], ys = [];
  for (const ser of series) {
    for (const [x, y] of ser.points || []) { xs.push(x); ys.push(y); }
    for (const [x, lo, hi] of ser.band || []) { xs.push(x); ys.push(lo, hi); }
  }
  for (const mk of markers) xs.push(mk.x);
  if (progress !== null && progress !== undefined) xs.push(progress);
  let [x0, x1] = options.xDomain || extent(xs, logX);
  let [y0, y1] = extent(ys, logY);
  if (options.yFrom0 && !logY && y0 > 0) y0 = 0;
  if (!logY) { const pad = (y1 - y0) * 0.05; y1 += pad; if (!options.yFrom0 || y0 < 0) y0 -= pad; }
  const X = scale(x0, x1, m.left, width - m.right, logX);
  const Y = scale(y0, y1, height - m.bottom, m.top, logY);
  const fx = options.formatX || tickLabel;
  const fy = options.formatY || tickLabel;

  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': options.title || 'chart' });
  const grid = s('g', { class: 'grid' });
  const axis = s('g', { class: 'axis' });
  for (const t of (logY ? logTicks(y0, y1) : linearTicks(y0, y1, 5))) {
    const y = Y(t);
    grid.append(s('line', { x1: m.left, x2: width - m.right, y1: y, y2: y }));
    axis.append(s('text', { x: m.left - 6, y: y + 4, 'text-anchor': 'end' }, fy(t)));
  }
  for (const t of (logX ? logTicks(x0, x1) : linearTicks(x0, x1, Math.max(3, Math.floor(width / 110))))) {
    const x = X(t);
    grid.append(s('line', { x1: x, x2: x, y1: m.top, y2: height - m.bottom }));
    axis.append(s('text', { x, y: height - m.bottom + 15, 'text-anchor': 'middle' }, fx(t)));
  }
  axis.append(s('line', { x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom }));
  axis.append(s('line', { x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom }));
  if (options.xLabel) axis.append(s('text', { x: (m.left + width - m.right) / 2, y: height - 4, 'text-anchor': 'middle' }, options.xLabel));
  if (options.yLabel) axis.append(s('text', { x: 12, y: m.top + (height - m.top - m.bottom) / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${m.top + (height - m.top - m.bottom) / 2})` }, options.yLabel));
  svg.append(grid, axis);

  const ok = (x, y) => Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0) && (!logY || y > 0);
  for (const ser of series) {
    if (ser.band && ser.band.length) {
      const pts = ser.band.filter(([x, lo, hi]) => ok(x, lo) && ok(x, hi));
      if (pts.length) {
        const top = pts.map(([x, , hi]) => `${X(x).toFixed(1)},${Y(hi).toFixed(1)}`);
        const bottom = pts.slice().reverse().map(([x, lo]) => `${X(x).toFixed(1)},${Y(lo).toFixed(1)}`);
        svg.append(s('polygon', { class: 'band', fill: ser.color, points: top.concat(bottom).join(' ') }));
      }
    }
    let d = '', n = 0, pen = false;
    for (const [x, y] of ser.points || []) {
      if (!ok(x, y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`;
      pen = true;
      n++;
    }
    if (ser.dots) {
      const g = s('g', { class: `dots ${ser.className || ''}` });
      for (const [x, y] of ser.points || []) if (ok(x, y)) g.append(s('circle', { cx: X(x).toFixed(1), cy: Y(y).toFixed(1), r: 2.5, fill: ser.color }));
      svg.append(g);
    }
    svg.append(s('path', { class: `curve ${ser.className || ''}`, d, stroke: ser.color, 'data-points': n, 'stroke-dasharray': ser.dashed ? '5 4' : undefined }));
  }

  const top = m.top;
  for (const mk of markers) {
    if (!Number.isFinite(mk.x) || (logX && mk.x <= 0)) continue;
    const x = X(mk.x);
    const g = s('g', { class: `marker ${mk.kind || ''}` });
    g.append(s('line', { x1: x, x2: x, y1: top, y2: height - m.bottom, stroke: mk.color || '#888' }));
    if (mk.label) g.append(s('text', { x: x + 3, y: top + 9 + (mk.row || 0) * 11, fill: mk.color || '#888' }, mk.label));
    g.append(s('title', {}, mk.title || mk.label || ''));
    svg.append(g);
  }
  if (progress !== null && progress !== undefined && Number.isFinite(progress)) {
    const x = X(progress);
    const g = s('g', { class: 'progress' });
    g.append(s('line', { x1: x, x2: x, y1: top, y2: height - m.bottom }));
    g.append(s('text', { x: x - 3, y: height - m.bottom - 4, 'text-anchor': 'end', fill: '#2b8a3e' }, `step ${progress}`));
    svg.append(g);
  }

  // Hover read-out: the nearest point of the first series with points.
  const main = series.find((ser) => (ser.points || []).length);
  const tip = document.createElement('div');
  tip.className = 'tip';
  tip.hidden = true;
  const hover = s('g', { class: 'hover' });
  hover.style.display = 'none';
  const dot = s('circle', { r: 4, stroke: main ? main.color : '#000' });
  hover.append(dot);
  svg.append(hover);
  if (main) {
    const pts = main.points.filter(([x, y]) => ok(x, y));
    const px = pts.map(([x]) => X(x));
    svg.addEventListener('mousemove', (event) => {
      const rect = svg.getBoundingClientRect();
      const sx = ((event.clientX - rect.left) / rect.width) * width;
      let lo = 0, hi = px.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (px[mid] < sx) lo = mid + 1; else hi = mid; }
      if (lo > 0 && Math.abs(px[lo - 1] - sx) < Math.abs(px[lo] - sx)) lo -= 1;
      const p = pts[lo];
      if (!p) return;
      dot.setAttribute('cx', X(p[0])); dot.setAttribute('cy', Y(p[1]));
      hover.style.display = '';
      tip.hidden = false;
      tip.textContent = `${options.xLabel || 'x'} ${fx(p[0])}: ${fy(p[1])}`;
      const left = (X(p[0]) / width) * rect.width;
      tip.style.left = `${Math.min(left + 10, rect.width - 160)}px`;
      tip.style.top = `${(Y(p[1]) / height) * rect.height - 28}px`;
    });
    svg.addEventListener('mouseleave', () => { hover.style.display = 'none'; tip.hidden = true; });
  }

  container.classList.add('chart');
  container.replaceChildren(svg, tip);
  if (options.legend !== false && series.length > 1) {
    const legend = document.createElement('div');
    legend.className = 'legend';
    for (const ser of series) {
      const item = document.createElement('span');
      const sw = document.createElement('i');
      sw.style.background = ser.color;
      item.append(sw, ser.name || '');
      legend.append(item);
    }
    container.append(legend);
  }
  return svg;
}
