// Small DOM and formatting helpers shared by the pages.

/** `h('div', {class: 'x', onclick: f}, child, 'text')`: build an element (text stays text). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A learning rate or metric, short: 3 significant digits, exponent when tiny or huge. */
export function fmt(x) {
  if (x === null || x === undefined) return '—';
  if (typeof x !== 'number') return String(x);
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e5) return x.toExponential(2).replace('e+', 'e');
  return String(Number(x.toPrecision(4)));
}

/** A time stamp (ISO string or epoch seconds) as local date and time. */
export function fmtTime(t) {
  if (t === null || t === undefined) return '—';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

/** Seconds since a time stamp, or null. */
export function ageSeconds(t) {
  if (t === null || t === undefined) return null;
  const ms = typeof t === 'number' ? t * 1000 : Date.parse(t);
  return Number.isNaN(ms) ? null : (Date.now() - ms) / 1000;
}

/** Call `fn` `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** The hash route's query string as an object. */
export function hashQuery() {
  const hash = location.hash || '';
  const i = hash.indexOf('?');
  return Object.fromEntries(new URLSearchParams(i >= 0 ? hash.slice(i + 1) : ''));
}
