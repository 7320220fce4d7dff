// lrcast dashboard: a hash router over four pages (runs, run, compare, playground). No build step;
// the chart library, uPlot, is a global from vendor/uPlot.iife.min.js (see index.html).
import { forgetToken, showAuthState } from './api.js';
import { renderCompare } from './compare.js';
import { renderPlayground } from './playground.js';
import { renderRun } from './run.js';
import { renderRuns } from './runs.js';
import { fill, h } from './util.js';

const root = document.getElementById('app');
let cleanup = null;

function route() {
  const hash = location.hash.replace(/^#/, '') || '/runs';
  const path = hash.split('?')[0];
  if (cleanup) { cleanup(); cleanup = null; }
  let page = 'runs';
  const run = path.match(/^\/runs\/(.+)$/);
  try {
    if (run) cleanup = renderRun(root, decodeURIComponent(run[1]));
    else if (path === '/compare') { page = 'compare'; cleanup = renderCompare(root); }
    else if (path === '/playground') { page = 'playground'; cleanup = renderPlayground(root); }
    else if (path === '/runs' || path === '/') cleanup = renderRuns(root);
    else { page = ''; fill(root, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/runs' }, 'Back to the runs'))); }
  } catch (err) {
    fill(root, h('div', { class: 'notice error' }, String(err)));
  }
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === page);
}

document.getElementById('forget-token').addEventListener('click', () => { forgetToken(); route(); });
window.addEventListener('hashchange', route);
showAuthState();
route();
