// #/jobs/{id} : one job, refreshed every second while it is queued or
// running; Cancel and Retry; for image jobs the input and output images,
// fetched with the bearer token and shown through blob URLs (freed when the
// page is left). The input is requested only for uploaded image jobs (a job
// whose worker fetched an image_url has none) and the output only once the
// job has succeeded, so the page causes no 404 of its own.
import { api, serverNow } from '/ui/api.js';
import { h, swap, stateBadge, timeCell, prettyJson, formatBytes, formatDuration, parseTime, errorText, hashFor } from '/ui/util.js';

const kIntervalMs = 1000;

const kCancelHint = 'only queued or running jobs can be cancelled';
const kRetryHint = 'only dead or cancelled jobs can be retried';

export function mount(main, params, ctx) {
  const id = params.id;
  let job = null;
  let gone = false;
  let left = false;
  const urls = [];
  const images = { input: { key: null }, output: { key: null } };

  const heading = h('h1', {}, `Job ${id}`);
  const answer = h('p', { id: 'action-answer', class: 'answer', role: 'status' });
  const cancel = h('button', { type: 'button', id: 'cancel' }, 'Cancel');
  const retry = h('button', { type: 'button', id: 'retry' }, 'Retry');
  const details = h('div', { id: 'job-details' }, h('p', { class: 'muted' }, 'Loading…'));
  const imageSection = h('section', { id: 'images', 'aria-labelledby': 'h-images', hidden: true },
    h('h2', { id: 'h-images' }, 'Images'),
    h('div', { class: 'images' },
      figure('input', 'Input'),
      figure('output', 'Output')));
  const payload = h('div', { id: 'payload' });
  const result = h('div', { id: 'result' });
  main.append(
    heading,
    h('div', { class: 'toolbar' }, cancel, retry,
      h('span', { class: 'muted hint' }, `Cancel: ${kCancelHint}. Retry: ${kRetryHint}.`)),
    answer,
    details,
    imageSection,
    h('section', { 'aria-labelledby': 'h-payload' }, h('h2', { id: 'h-payload' }, 'Payload'), payload),
    h('section', { 'aria-labelledby': 'h-result' }, h('h2', { id: 'h-result' }, 'Result'), result));

  function figure(role, title) {
    const box = h('div', { class: 'image-box', id: `${role}-box` }, h('p', { class: 'muted' }, 'Not loaded yet.'));
    const caption = h('figcaption', { id: `${role}-size` }, title);
    images[role].box = box;
    images[role].caption = caption;
    images[role].title = title;
    return h('figure', { class: 'image' }, box, caption);
  }

  cancel.addEventListener('click', () => act('cancel'));
  retry.addEventListener('click', () => act('retry'));

  async function act(verb) {
    cancel.disabled = true;
    retry.disabled = true;
    answer.className = 'answer';
    answer.textContent = verb === 'cancel' ? 'Cancelling…' : 'Queueing again…';
    try {
      const after = await api(`/v1/jobs/${id}/${verb}`, { method: 'POST' });
      answer.textContent = verb === 'cancel'
        ? `Cancelled: the job is now ${after.state}.`
        : `Queued again: the job is now ${after.state}, with a fresh set of attempts.`;
      answer.className = 'answer ok';
      draw(after);
    } catch (err) {
      answer.className = 'answer error';
      if (err.status === 409) {
        let state = job ? job.state : 'in another state';
        try { const now = await api(`/v1/jobs/${id}`); state = now.state; draw(now); } catch { /* keep the last known state */ }
        answer.textContent = `This job is ${state}: ${verb === 'cancel' ? kCancelHint : kRetryHint}. (409: ${err.message})`;
      } else {
        answer.textContent = `${verb === 'cancel' ? 'Cancel' : 'Retry'} failed: ${errorText(err)}`;
      }
    } finally {
      cancel.disabled = false;
      retry.disabled = false;
    }
    ctx.poke();
  }

  function row(label, value, attrs) {
    return [h('dt', {}, label), h('dd', attrs || {}, value === null || value === undefined || value === '' ? h('span', { class: 'muted' }, '–') : value)];
  }

  function leaseLeft(j) {
    if (j.state !== 'running' || !j.lease_expires_at) return null;
    const left = (parseTime(j.lease_expires_at) - serverNow()) / 1000;
    return left >= 0 ? formatDuration(left) : `expired ${formatDuration(-left)} ago (the reaper will queue it again)`;
  }

  function draw(j) {
    job = j;
    heading.replaceChildren(`Job ${j.id} `, h('span', { class: 'muted' }, j.kind), ' ', stateBadge(j.state));
    heading.querySelector('.badge').id = 'job-state';
    swap(details, h('dl', { class: 'details' },
      row('State', j.state, { id: 'state' }),
      row('Queue', h('a', { href: hashFor('/jobs', { queue: j.queue }) }, j.queue)),
      row('Kind', j.kind),
      row('Priority', String(j.priority)),
      row('Attempts', `${j.attempts} / ${j.max_attempts}`, { id: 'attempts' }),
      row('Created', timeCell(j.created_at)),
      row('Run at', timeCell(j.run_at)),
      row('Started', timeCell(j.started_at)),
      row('Finished', timeCell(j.finished_at)),
      row('Lease owner', j.lease_owner, { id: 'lease-owner' }),
      row('Lease time left', leaseLeft(j), { id: 'lease-left' }),
      row('Processed by', j.processed_by, { id: 'processed-by' }),
      row('Idempotency key', j.idempotency_key),
      row('Last error', j.last_error ? h('pre', { class: 'last-error' }, j.last_error) : null, { id: 'last-error' })));
    if (payload.dataset.sig !== JSON.stringify(j.payload)) { payload.dataset.sig = JSON.stringify(j.payload); swap(payload, prettyJson(j.payload)); }
    if (result.dataset.sig !== JSON.stringify(j.result)) { result.dataset.sig = JSON.stringify(j.result); swap(result, prettyJson(j.result)); }
    if (String(j.kind).startsWith('image.')) drawImages(j);
  }

  function drawImages(j) {
    imageSection.hidden = false;
    const r = j.result && typeof j.result === 'object' ? j.result : null;
    const fetched = j.payload && typeof j.payload.image_url === 'string';
    if (fetched) {
      note('input', `No stored input: the worker fetches ${j.payload.image_url}.`, 'input-none');
    } else {
      load('input', 'input', r && r.input);
    }
    if (j.state === 'succeeded') {
      load('output', `result:${j.finished_at}`, r);
    } else {
      note('output', j.state === 'dead' || j.state === 'cancelled'
        ? `No output: the job is ${j.state}.`
        : `The output is not ready: the job is ${j.state}.`, `output-${j.state}`);
    }
    caption('input', r && r.input);
    caption('output', j.state === 'succeeded' ? r : null);
  }

  function note(role, text, key) {
    const im = images[role];
    if (im.key === key) return;
    im.key = key;
    im.box.replaceChildren(h('p', { class: 'muted note' }, text));
    im.blob = null;
    im.img = null;
  }

  // Fetches an image once per key (the output again after a retry).
  async function load(role, key, meta) {
    const im = images[role];
    if (im.key === key) return;
    im.key = key;
    im.box.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    let blob;
    try {
      blob = await api(`/v1/jobs/${id}/${role === 'input' ? 'input' : 'result'}`, { blob: true });
    } catch (err) {
      if (left || im.key !== key) return;
      const text = err.code === 'no_image' ? 'No stored input image.'
        : err.code === 'not_ready' ? `Not ready: ${err.message}` : errorText(err);
      im.box.replaceChildren(h('p', { class: 'muted note' }, text));
      im.key = err.code === 'no_image' ? key : null; // not_ready or an outage: try again on the next refresh
      return;
    }
    if (left || im.key !== key) return;
    const url = URL.createObjectURL(blob);
    urls.push(url);
    const img = h('img', { id: `${role}-image`, src: url, alt: `${im.title} image of job ${id}` });
    img.addEventListener('load', () => caption(role, meta));
    im.blob = blob;
    im.img = img;
    im.box.replaceChildren(img);
    caption(role, meta);
  }

  function caption(role, meta) {
    const im = images[role];
    const parts = [im.title];
    const w = meta && meta.width ? meta.width : im.img && im.img.naturalWidth;
    const ht = meta && meta.height ? meta.height : im.img && im.img.naturalHeight;
    if (w && ht) parts.push(`${w} x ${ht}`);
    if (meta && meta.format) parts.push(meta.format);
    const bytes = meta && typeof meta.bytes === 'number' ? meta.bytes : im.blob ? im.blob.size : null;
    if (bytes !== null) parts.push(formatBytes(bytes));
    im.caption.textContent = parts.join(' · ');
    if (bytes !== null) im.caption.dataset.bytes = String(bytes);
  }

  async function refresh() {
    if (gone) return;
    let j;
    try {
      j = await api(`/v1/jobs/${id}`);
    } catch (err) {
      if (err.status === 404) {
        gone = true;
        swap(details, h('p', { class: 'error', id: 'not-found' }, `Job ${id} was not found: ${err.message}`));
        return;
      }
      throw err;
    }
    if (!left) draw(j);
  }

  return {
    refresh,
    interval: () => (job && (job.state === 'queued' || job.state === 'running') && !gone ? kIntervalMs : null),
    leave() { left = true; for (const u of urls) URL.revokeObjectURL(u); },
  };
}
