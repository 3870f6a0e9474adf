// #/jobs?state=&queue=&kind=&after= : jobs newest first, filtered, one page
// of 50 at a time by the API's keyset cursor (`after` = the page's `next`),
// refreshed every second (one call) unless paused, so a new job shows
// within about a second.
import { api, query } from '/ui/api.js';
import { h, swapIfChanged, hashFor, jobLink, stateBadge, timeCell, tableWrap, errorBox } from '/ui/util.js';

const kIntervalMs = 1000;
const kPageSize = 50;
export const kStates = ['queued', 'running', 'succeeded', 'dead', 'cancelled'];

// The table of a page of jobs; `action(job)` may add a last cell (a button).
export function jobTable(jobs, { id, label, action } = {}) {
  const cut = (text, n) => (text && text.length > n ? `${text.slice(0, n)}…` : text);
  return tableWrap(h('table', { id, class: 'jobs' },
    h('thead', {}, h('tr', {},
      ['ID', 'State', 'Queue', 'Kind', 'Attempts', 'Created', 'Finished', 'Worker', 'Last error', action ? 'Action' : null]
        .map((c) => (c ? h('th', { scope: 'col', class: c === 'Attempts' ? 'num' : null }, c) : null)))),
    h('tbody', {}, jobs.map((j) => h('tr', { dataset: { id: j.id, state: j.state } },
      h('td', {}, jobLink(j.id)),
      h('td', {}, stateBadge(j.state)),
      h('td', {}, j.queue),
      h('td', {}, j.kind),
      h('td', { class: 'num' }, `${j.attempts} / ${j.max_attempts}`),
      h('td', {}, timeCell(j.created_at, { relative: false })),
      h('td', {}, timeCell(j.finished_at, { relative: false })),
      h('td', {}, j.processed_by || j.lease_owner || h('span', { class: 'muted' }, '–')),
      h('td', { class: 'error-cell', title: j.last_error || null }, cut(j.last_error, 80) || h('span', { class: 'muted' }, '–')),
      action ? h('td', {}, action(j)) : null)))), label || 'Jobs');
}

// Filters bound to the hash: selects apply at once, text fields on change.
export function filterForm(path, params, { states = true } = {}) {
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filters' });
  const state = states ? h('select', { id: 'filter-state', name: 'state' },
    h('option', { value: '' }, 'any state'),
    kStates.map((s) => h('option', { value: s }, s))) : null;
  const queue = h('input', { id: 'filter-queue', name: 'queue', list: 'queue-names', autocomplete: 'off', size: 14 });
  const kind = h('input', { id: 'filter-kind', name: 'kind', autocomplete: 'off', size: 14 });
  const names = h('datalist', { id: 'queue-names' });
  const apply = () => {
    location.hash = hashFor(path, { state: state ? state.value : '', queue: queue.value.trim(), kind: kind.value.trim() });
  };
  if (state) state.addEventListener('change', apply);
  queue.addEventListener('change', apply);
  kind.addEventListener('change', apply);
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  const field = (label, control) => h('span', { class: 'field' }, h('label', { for: control.id }, label), control);
  form.append(...[
    state ? field('State', state) : null,
    field('Queue', queue), names,
    field('Kind', kind),
    h('button', { type: 'submit' }, 'Apply'),
    h('a', { href: `#${path}`, class: 'clear' }, 'Clear filters')].filter(Boolean));
  const set = (p) => {
    if (state) state.value = kStates.includes(p.state) ? p.state : '';
    if (document.activeElement !== queue) queue.value = p.queue || '';
    if (document.activeElement !== kind) kind.value = p.kind || '';
  };
  set(params);
  // Queue names for the datalist: once, and a failure only costs the hints.
  api('/v1/queues').then((d) => names.replaceChildren(...(d.queues || []).map((q) => h('option', { value: q.queue }))), () => {});
  return { form, set };
}

export function mount(main, params, ctx) {
  let p = params;
  let paused = false;
  let next = null;
  const filters = filterForm('/jobs', p);
  const pause = h('button', { type: 'button', id: 'pause', 'aria-pressed': 'false' }, 'Pause auto-refresh');
  const first = h('button', { type: 'button', id: 'first-page' }, 'First page');
  const nextButton = h('button', { type: 'button', id: 'next-page' }, 'Next page');
  const where = h('span', { class: 'muted', id: 'page-where' });
  const body = h('div', { class: 'section-body', id: 'jobs-body' }, h('p', { class: 'muted' }, 'Loading…'));
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume auto-refresh' : 'Pause auto-refresh';
    if (paused) { ctx.stop(); ctx.setStatus('Auto-refresh paused.'); }
    else ctx.poke();
  });
  first.addEventListener('click', () => { location.hash = hashFor('/jobs', { ...p, after: '' }); });
  nextButton.addEventListener('click', () => { if (next) location.hash = hashFor('/jobs', { ...p, after: next }); });
  main.append(
    h('h1', {}, 'Jobs'),
    filters.form,
    h('div', { class: 'toolbar' }, pause, first, nextButton, where),
    body);

  function controls() {
    first.disabled = !p.after;
    nextButton.disabled = !next;
    where.textContent = p.after ? 'A later page (older jobs).' : 'Newest jobs first.';
  }
  controls();

  async function refresh() {
    const url = `/v1/jobs${query({ state: p.state, queue: p.queue, kind: p.kind, limit: kPageSize, after: p.after })}`;
    let page;
    try {
      page = await api(url);
    } catch (err) {
      swapIfChanged(body, `error:${err.message}`, () => errorBox(err, 'Jobs could not be loaded'));
      throw err;
    }
    next = page.next || null;
    controls();
    swapIfChanged(body, JSON.stringify(page.jobs), () => (page.jobs.length
      ? jobTable(page.jobs, { id: 'jobs-table', label: 'Jobs' })
      : h('p', { class: 'muted', id: 'jobs-empty' }, 'No jobs match these filters.')));
  }

  return {
    refresh,
    interval: () => (paused ? null : kIntervalMs),
    update(params2) { p = params2; filters.set(p); next = null; controls(); },
  };
}
