// #/dead?queue=&kind= : dead jobs grouped by their error (GET /v1/errors),
// each group with a "Retry all N" button (POST /v1/jobs/retry, the group's
// error and the page's filters), and below them the dead jobs themselves
// with a Retry button each. Two calls every 5 s.
import { api, query } from '/ui/api.js';
import { h, swapIfChanged, jobLink, timeCell, tableWrap, errorBox, errorText, plural, formatCount } from '/ui/util.js';
import { jobTable, filterForm } from '/ui/pages/jobs.js';

const kIntervalMs = 5000;
const kPageSize = 50;

export function mount(main, params, ctx) {
  let p = params;
  let after = '';
  let next = null;
  const filters = filterForm('/dead', p, { states: false });
  const answer = h('p', { id: 'dead-answer', class: 'answer', role: 'status' });
  const groups = h('div', { class: 'section-body', id: 'groups' }, h('p', { class: 'muted' }, 'Loading…'));
  const list = h('div', { class: 'section-body', id: 'dead-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const first = h('button', { type: 'button', id: 'dead-first-page' }, 'First page');
  const nextButton = h('button', { type: 'button', id: 'dead-next-page' }, 'Next page');
  first.addEventListener('click', () => { after = ''; ctx.poke(); });
  nextButton.addEventListener('click', () => { if (next) { after = next; ctx.poke(); } });
  main.append(
    h('h1', {}, 'Dead jobs'),
    filters.form,
    answer,
    h('section', { 'aria-labelledby': 'h-groups' }, h('h2', { id: 'h-groups' }, 'By error'), groups),
    h('section', { 'aria-labelledby': 'h-dead-list' }, h('h2', { id: 'h-dead-list' }, 'Dead jobs, newest first'),
      h('div', { class: 'toolbar' }, first, nextButton), list));

  function say(text, ok) {
    answer.textContent = text;
    answer.className = `answer ${ok ? 'ok' : 'error'}`;
  }

  async function retryGroup(group, button) {
    button.disabled = true;
    const body = { state: 'dead', error: group.error };
    if (p.queue) body.queue = p.queue;
    if (p.kind) body.kind = p.kind;
    try {
      const r = await api('/v1/jobs/retry', { method: 'POST', body });
      say(`${plural(r.changed, 'job')} queued again${r.more ? '; more dead jobs with this error remain: press again' : ''}.`, true);
    } catch (err) {
      say(`Retry all failed: ${errorText(err)}`, false);
    } finally {
      button.disabled = false;
    }
    ctx.poke();
  }

  async function retryOne(job, button) {
    button.disabled = true;
    try {
      const j = await api(`/v1/jobs/${job.id}/retry`, { method: 'POST' });
      say(`Job ${j.id} queued again (now ${j.state}).`, true);
    } catch (err) {
      say(err.status === 409
        ? `Job ${job.id} is no longer dead: only dead or cancelled jobs can be retried. (409: ${err.message})`
        : `Retry of job ${job.id} failed: ${errorText(err)}`, false);
    } finally {
      button.disabled = false;
    }
    ctx.poke();
  }

  function drawGroups(data) {
    const gs = data.groups || [];
    if (!gs.length) return h('p', { class: 'muted', id: 'groups-empty' }, 'No dead jobs.');
    const note = data.complete === false
      ? h('p', { class: 'muted' }, `Grouped from the newest ${formatCount(data.scanned)} of ${formatCount(data.total)} dead jobs; older ones are not counted here, but "Retry all" takes every dead job with that error.`)
      : null;
    return [note, tableWrap(h('table', { id: 'groups-table' },
      h('thead', {}, h('tr', {}, ['Error', 'Jobs', 'Kinds', 'Queues', 'Latest', 'Action'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, gs.map((g, i) => {
        // The group's error goes back as it came ("" is the group of jobs
        // without an error text); a missing one would mean every error.
        const button = typeof g.error === 'string'
          ? h('button', { type: 'button', class: 'retry-group', dataset: { focus: `group-${i}-${g.error}` } }, data.complete === false ? 'Retry all with this error' : `Retry all ${formatCount(g.jobs)}`)
          : h('span', { class: 'muted' }, '–');
        if (button.tagName === 'BUTTON') button.addEventListener('click', () => retryGroup(g, button));
        return h('tr', { dataset: { error: g.error ?? '' } },
          h('td', {}, g.error ? h('pre', { class: 'last-error' }, g.error) : h('span', { class: 'muted' }, '(no error text)')),
          h('td', { class: 'num' }, formatCount(g.jobs)),
          h('td', {}, (g.kinds || []).join(', ')),
          h('td', {}, (g.queues || []).join(', ')),
          h('td', {}, g.latest_id ? [jobLink(g.latest_id), ' ', timeCell(g.latest_finished_at)] : '–'),
          h('td', {}, button));
      }))), 'Dead jobs by error')];
  }

  async function refresh() {
    const f = { queue: p.queue, kind: p.kind };
    const [g, l] = await Promise.allSettled([
      api(`/v1/errors${query(f)}`),
      api(`/v1/jobs${query({ state: 'dead', ...f, limit: kPageSize, after })}`),
    ]);
    if (g.status === 'fulfilled') swapIfChanged(groups, JSON.stringify(g.value), () => drawGroups(g.value));
    else swapIfChanged(groups, `error:${g.reason.message}`, () => errorBox(g.reason, 'Error groups could not be loaded'));
    if (l.status === 'fulfilled') {
      next = l.value.next || null;
      const jobs = l.value.jobs || [];
      swapIfChanged(list, JSON.stringify(jobs), () => (jobs.length
        ? jobTable(jobs, {
          id: 'dead-table',
          label: 'Dead jobs',
          action: (j) => {
            const b = h('button', { type: 'button', class: 'retry-one', dataset: { focus: `retry-${j.id}` } }, 'Retry');
            b.addEventListener('click', () => retryOne(j, b));
            return b;
          },
        })
        : h('p', { class: 'muted', id: 'dead-empty' }, 'No dead jobs match these filters.')));
    } else {
      swapIfChanged(list, `error:${l.reason.message}`, () => errorBox(l.reason, 'Dead jobs could not be loaded'));
    }
    first.disabled = !after;
    nextButton.disabled = !next;
    const failed = [g, l].find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  return {
    refresh,
    interval: () => kIntervalMs,
    update(params2) { p = params2; after = ''; filters.set(p); },
  };
}
