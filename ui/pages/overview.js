// #/ : every queue, the throughput of the last five minutes and the workers
// seen recently. Three calls every 3 s (one a second on average); each
// section shows its own error, so a route the server lacks costs only its
// section.
import { api } from '/ui/api.js';
import { h, swapIfChanged, formatDuration, formatCount, hashFor, tableWrap, errorBox, formatAgo, timeCell } from '/ui/util.js';
import { throughputChart } from '/ui/pages/chart.js';

const kIntervalMs = 3000;
const kWindowSeconds = 300;
const kStates = ['queued', 'running', 'succeeded', 'dead', 'cancelled'];

export function mount(main, _params, _ctx) {
  const queues = h('div', { class: 'section-body', id: 'queues' }, h('p', { class: 'muted' }, 'Loading…'));
  const chart = h('div', { class: 'section-body', id: 'throughput' }, h('p', { class: 'muted' }, 'Loading…'));
  const workers = h('div', { class: 'section-body', id: 'workers' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(
    h('h1', {}, 'Overview'),
    h('section', { 'aria-labelledby': 'h-queues' }, h('h2', { id: 'h-queues' }, 'Queues'), queues),
    h('section', { 'aria-labelledby': 'h-throughput' },
      h('h2', { id: 'h-throughput' }, 'Throughput, last 5 minutes'), chart),
    h('section', { 'aria-labelledby': 'h-workers' },
      h('h2', { id: 'h-workers' }, 'Workers seen in the last 5 minutes'), workers),
  );
  let marked = false;

  // Each section is drawn as soon as its own answer arrives.
  const part = (url, container, what, draw, after) => api(url).then(
    (value) => { show(container, { status: 'fulfilled', value }, what, draw); if (after) after(); },
    (reason) => { show(container, { status: 'rejected', reason }, what, draw); throw reason; });

  async function refresh() {
    const results = await Promise.allSettled([
      part('/v1/queues', queues, 'Queues', drawQueues, () => {
        if (!marked) { marked = true; performance.mark('jq:queues-rendered'); } // tests/ui reads it: first render
      }),
      part(`/v1/throughput?seconds=${kWindowSeconds}`, chart, 'Throughput', throughputChart),
      part(`/v1/workers?within_seconds=${kWindowSeconds}`, workers, 'Workers', drawWorkers),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  return { refresh, interval: () => kIntervalMs };
}

function show(container, settled, what, draw) {
  if (settled.status === 'fulfilled') {
    swapIfChanged(container, JSON.stringify(settled.value), () => draw(settled.value));
  } else {
    swapIfChanged(container, `error:${settled.reason.message}`, () => errorBox(settled.reason, `${what} could not be loaded`));
  }
}

function drawQueues(data) {
  const list = data.queues || [];
  if (!list.length) return h('p', { class: 'muted', id: 'queues-empty' }, 'No jobs yet: submit one with POST /v1/jobs.');
  const stateLink = (queue, state, n) => (n
    ? h('a', { href: state === 'dead' ? hashFor('/dead', { queue }) : hashFor('/jobs', { queue, state }),
      dataset: { focus: `q-${queue}-${state}` } }, formatCount(n))
    : h('span', { class: 'muted' }, '0'));
  return tableWrap(h('table', { id: 'queues-table' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Queue'),
      kStates.map((s) => h('th', { scope: 'col', class: 'num' }, s)),
      h('th', { scope: 'col', class: 'num', title: 'Queued jobs that are due now' }, 'Due'),
      h('th', { scope: 'col', class: 'num' }, 'Oldest queued'),
      h('th', { scope: 'col', class: 'num' }, 'Succeeded / min'),
      h('th', { scope: 'col', class: 'num' }, 'Dead / min'))),
    h('tbody', {}, list.map((q) => h('tr', {},
      h('th', { scope: 'row' }, h('a', { href: hashFor('/jobs', { queue: q.queue }), dataset: { focus: `q-${q.queue}` } }, q.queue)),
      kStates.map((s) => h('td', { class: `num state-count-${s}` }, stateLink(q.queue, s, (q.states || {})[s] || 0))),
      h('td', { class: 'num' }, formatCount(q.depth)),
      h('td', { class: 'num' }, q.oldest_queued_age_seconds == null ? h('span', { class: 'muted' }, '–') : formatDuration(q.oldest_queued_age_seconds)),
      h('td', { class: 'num' }, formatCount(q.succeeded_last_minute)),
      h('td', { class: 'num' }, formatCount(q.dead_last_minute)))))), 'Queues');
}

function drawWorkers(data) {
  const list = (data.workers || []).slice().sort((a, b) => String(a.id).localeCompare(String(b.id)));
  if (!list.length) return h('p', { class: 'muted' }, 'No worker has reported in the last 5 minutes.');
  return tableWrap(h('table', { id: 'workers-table' },
    h('thead', {}, h('tr', {},
      ['Worker', 'Status', 'Queues', 'Concurrency', 'Running', 'Last heartbeat', 'Started'].map((c, i) => h('th', { scope: 'col', class: i >= 3 && i <= 4 ? 'num' : null }, c)))),
    h('tbody', {}, list.map((w) => h('tr', { class: w.stopped_at ? 'stopped' : null },
      h('th', { scope: 'row' }, w.id),
      h('td', {}, w.stopped_at
        ? h('span', { class: 'badge state-cancelled' }, `stopped ${formatAgo(w.stopped_at)}`)
        : h('span', { class: 'badge state-running' }, 'running')),
      h('td', {}, (w.queues || []).join(', ')),
      h('td', { class: 'num' }, formatCount(w.concurrency)),
      h('td', { class: 'num' }, formatCount(w.running)),
      h('td', {}, typeof w.seen_seconds_ago === 'number' ? `${Math.round(w.seen_seconds_ago)} s ago` : formatAgo(w.seen_at)),
      h('td', {}, timeCell(w.started_at, { relative: false })))))), 'Workers');
}
