// Small DOM and formatting helpers shared by the pages. No framework: h()
// builds elements, the format* functions turn the API's numbers and RFC 3339
// timestamps into text for people.
import { serverNow } from '/ui/api.js';

// h('a', {href: '#/'}, 'text', child): attributes starting with "on" become
// listeners; false/null/undefined attributes and children are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// Replaces the children of `container` and gives the focus back to the
// element with the same data-focus key, so a refresh every few seconds
// does not throw a keyboard user back to the top of the page.
export function swap(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focus : undefined;
  container.replaceChildren();
  append(container, children);
  if (key) {
    const again = container.querySelector(`[data-focus="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

// Like swap, but leaves the DOM alone when nothing changed.
export function swapIfChanged(container, signature, build) {
  if (container.dataset.sig === signature) return;
  container.dataset.sig = signature;
  swap(container, build());
}

export function parseTime(s) {
  if (!s) return null;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? null : ms;
}

// 42 -> "42 s", 185 -> "3 min 5 s", 7300 -> "2 h 1 min", 200000 -> "2 d 7 h".
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${s % 3600 >= 60 ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d${s % 86400 >= 3600 ? ` ${Math.floor((s % 86400) / 3600)} h` : ''}`;
}

// "3 s ago" / "in 5 s", measured against the server's clock.
export function formatAgo(iso) {
  const ms = parseTime(iso);
  if (ms === null) return '–';
  const diff = (serverNow() - ms) / 1000;
  return diff >= 0 ? `${formatDuration(diff)} ago` : `in ${formatDuration(-diff)}`;
}

// Local date and time with seconds: 2026-12-01 07:00:00.
export function formatTime(iso) {
  const ms = parseTime(iso);
  if (ms === null) return '–';
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// A <time> element: absolute local time, relative time in parentheses.
export function timeCell(iso, { relative = true } = {}) {
  if (!iso) return h('span', { class: 'muted' }, '–');
  return h('time', { datetime: iso, title: iso }, formatTime(iso), relative ? h('span', { class: 'muted' }, ` (${formatAgo(iso)})`) : null);
}

export function formatBytes(n) {
  if (typeof n !== 'number') return '–';
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]} (${n.toLocaleString('en')} bytes)`;
}

export function formatCount(n) {
  return typeof n === 'number' ? n.toLocaleString('en') : '–';
}

export function plural(n, word, words = `${word}s`) {
  return `${formatCount(n)} ${n === 1 ? word : words}`;
}

export function stateBadge(state) {
  return h('span', { class: `badge state-${state}` }, state);
}

export function prettyJson(value) {
  return h('pre', { class: 'json' }, value === null || value === undefined ? 'null' : JSON.stringify(value, null, 2));
}

// "#/jobs?state=dead&queue=q", dropping empty parameters.
export function hashFor(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

export function jobLink(id, text) {
  return h('a', { href: `#/jobs/${id}`, dataset: { focus: `job-${id}` } }, text ?? `#${id}`);
}

// A horizontally scrolling frame for a table (phones).
export function tableWrap(table, label) {
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': label, dataset: { focus: `wrap-${label}` } }, table);
}

// Message for an error thrown by api(): the API's own message, with its field.
export function errorText(err) {
  if (!err) return '';
  const field = err.field ? ` (field: ${err.field})` : '';
  return `${err.message}${field}`;
}

export function errorBox(err, what) {
  return h('p', { class: 'error' }, what ? `${what}: ` : '', errorText(err));
}
