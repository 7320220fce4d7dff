// Runs list: GET /v1/runs (paged with `after`), each row completed from GET /v1/runs/{id}.
import { api, runPath } from './api.js';
import { ago, furthestStep, lastDecision, lrsUpTo, scheduleType, staleRanks } from './model.js';
import { fill, fmt, fmtTime, h, hashQuery } from './util.js';

const PAGE = 20;

export function renderRuns(root) {
  const query = hashQuery();
  const filter = h('input', { id: 'runs-filter', placeholder: 'filter by id, type or metadata', value: query.q || '', size: 32 });
  const tbody = h('tbody', { id: 'runs-body' });
  const status = h('p', { class: 'muted small', id: 'runs-status' }, 'Loading…');
  const prev = h('button', { type: 'button', id: 'runs-prev', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', id: 'runs-next', disabled: true }, 'Next →');
  const pageLabel = h('span', { class: 'muted small' });
  const picked = new Set();
  const compareBtn = h('button', { type: 'button', id: 'compare-selected', disabled: true,
    onclick: () => { location.hash = `#/compare?runs=${[...picked].map(encodeURIComponent).join(',')}`; } }, 'Compare selected');
  const cursors = [null];
  let index = 0;
  let rows = [];
  let alive = true;

  fill(root,
    h('div', { class: 'row', style: 'justify-content: space-between' },
      h('h1', {}, 'Runs'),
      h('span', {}, compareBtn, ' ', h('a', { href: '#/playground' }, 'New run from the playground →'))),
    h('div', { class: 'card' },
      h('div', { class: 'row' }, filter, h('button', { type: 'button', onclick: () => load() }, 'Refresh')),
      h('table', { id: 'runs-table' },
        h('thead', {}, h('tr', {},
          ['', 'Run', 'Schedule', 'World', 'Step per rank', 'Current LR', 'Last plateau decision', 'Created']
            .map((c) => h('th', {}, c)))),
        tbody),
      status,
      h('div', { class: 'pager' }, prev, pageLabel, next)));

  function matches(row) {
    const q = filter.value.trim().toLowerCase();
    if (!q) return true;
    const hay = [row.summary.run_id, row.run ? scheduleType(row.run) : '', JSON.stringify(row.summary.metadata || {})].join(' ').toLowerCase();
    return hay.includes(q);
  }

  function draw() {
    const shown = rows.filter(matches);
    fill(tbody, ...shown.map(rowView));
    status.textContent = shown.length ? '' : (rows.length ? 'No run on this page matches the filter.' : 'No runs yet. Create one in the playground.');
  }

  function rowView(row) {
    const { summary, run, lr, decision } = row;
    const id = summary.run_id;
    const stale = run ? staleRanks(run) : new Set();
    const progress = run ? (run.progress || []) : [];
    return h('tr', { 'data-run': id },
      h('td', {}, h('input', {
        type: 'checkbox', class: 'pick', title: 'compare this run', checked: picked.has(id),
        onchange: (event) => { if (event.target.checked) picked.add(id); else picked.delete(id); compareBtn.disabled = !picked.size; },
      })),
      h('td', {}, h('a', { href: `#/runs/${encodeURIComponent(id)}` }, id)),
      h('td', {}, run ? scheduleType(run) : '…', run && run.timeline && run.timeline.length > 1 ? h('span', { class: 'pill', title: 'amended' }, ` +${run.timeline.length - 1}`) : null),
      h('td', { class: 'num' }, String(summary.world_size)),
      h('td', {}, progress.length
        ? h('div', { class: 'ranks' }, progress.map((p) => h('span', {
          class: `pill${stale.has(p.rank) ? ' stale' : ''}`, 'data-rank': p.rank,
          title: `rank ${p.rank}${stale.has(p.rank) ? ' is stale' : ''}${p.updated_at ? `, last heard from ${ago(p.updated_at)}` : ''}`,
        }, `r${p.rank}: ${p.step}${stale.has(p.rank) ? ' ⚠' : ''}`)))
        : h('span', { class: 'muted' }, run ? 'not started' : '…')),
      h('td', { class: 'num' }, lr === undefined ? '…' : (typeof lr === 'number' ? fmt(lr) : h('span', { class: 'muted small' }, lr))),
      h('td', {}, decisionView(decision, run)),
      h('td', { class: 'small muted' }, fmtTime(summary.created_at)));
  }

  function decisionView(decision, run) {
    if (run && !run.metric_driven) return h('span', { class: 'muted' }, '—');
    if (decision === undefined) return '…';
    if (!decision) return h('span', { class: 'muted' }, 'none yet');
    return h('span', {},
      h('span', { class: `pill ${decision.reduced ? 'reduce' : 'keep'}` }, decision.reduced ? 'reduce' : 'keep'),
      ` step ${decision.step}`,
      decision.reduced ? `: ${decision.previous !== null ? `${fmt(decision.previous)} → ` : '→ '}${fmt(decision.lr)}` : '',
      decision.value !== null ? h('span', { class: 'muted small' }, ` (metric ${fmt(decision.value)})`) : null);
  }

  async function complete(row) {
    try {
      row.run = await api(runPath(row.summary.run_id));
      if (!alive) return;
      draw();
      const top = furthestStep(row.run) ?? 0;
      const [lrs, decision] = await Promise.all([
        lrsUpTo(row.summary.run_id, top, top + 1, 1).catch((err) => ({ error: err })),
        row.run.metric_driven ? lastDecision(row.run).catch(() => null) : Promise.resolve(null),
      ]);
      row.lr = lrs.error ? 'n/a' : (lrs.lr.length ? lrs.lr[0] : (lrs.cut ? `waits for round ${lrs.cut.step}` : 'n/a'));
      row.decision = decision;
    } catch (err) {
      row.lr = 'n/a';
      row.decision = null;
      row.error = err;
    }
    if (alive) draw();
  }

  async function load() {
    status.textContent = 'Loading…';
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (cursors[index]) q.set('after', cursors[index]);
    try {
      const page = await api(`/v1/runs?${q}`);
      if (!alive) return;
      rows = (page.runs || []).map((summary) => ({ summary }));
      cursors[index + 1] = page.next || null;
      prev.disabled = index === 0;
      next.disabled = !page.next;
      pageLabel.textContent = `page ${index + 1}`;
      draw();
      await Promise.all(rows.map(complete));
    } catch (err) {
      if (alive) fill(status, h('span', { class: 'error' }, `Could not list the runs: ${err.message}`));
    }
  }

  filter.addEventListener('input', draw);
  prev.addEventListener('click', () => { if (index > 0) { index -= 1; load(); } });
  next.addEventListener('click', () => { if (cursors[index + 1]) { index += 1; load(); } });
  load();
  return () => { alive = false; };
}
