// The overview's throughput chart, an SVG drawn by hand from
// GET /v1/throughput: completed (succeeded) and failed (dead) jobs per
// second, one step per bucket. The last bucket is the current, partial one:
// its rate counts only the seconds elapsed in it, and it is left out while
// younger than 2 s (too few seconds for a rate).
import { h, formatCount, formatDuration, parseTime } from '/ui/util.js';
import { serverNow } from '/ui/api.js';

const kSvg = 'http://www.w3.org/2000/svg';
const kW = 720;
const kH = 200;
const kPad = { left: 48, right: 12, top: 12, bottom: 28 };
const kSeries = [
  { key: 'succeeded', label: 'completed (succeeded) / s', cls: 'line-succeeded' },
  { key: 'dead', label: 'failed (dead) / s', cls: 'line-dead' },
];

function s(tag, attrs, ...children) {
  const el = document.createElementNS(kSvg, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

// Rounds up to 1, 2 or 5 times a power of ten.
function niceCeil(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function formatRate(v) {
  return v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2);
}

export function throughputChart(data) {
  const step = data.step_seconds || 10;
  const buckets = data.buckets || [];
  if (!buckets.length) return h('p', { class: 'muted' }, 'No data.');
  const now = serverNow();
  const points = [];
  buckets.forEach((b, i) => {
    let seconds = step;
    if (i === buckets.length - 1) {
      const at = parseTime(b.at);
      seconds = at === null ? step : Math.min(step, (now - at) / 1000);
      if (seconds < 2) return;
    }
    points.push({ i, succeeded: (b.succeeded || 0) / seconds, dead: (b.dead || 0) / seconds });
  });
  const max = niceCeil(Math.max(0, ...points.map((p) => Math.max(p.succeeded, p.dead))));
  const plotW = kW - kPad.left - kPad.right;
  const plotH = kH - kPad.top - kPad.bottom;
  const x = (i) => kPad.left + (i / buckets.length) * plotW; // bucket i spans x(i)..x(i + 1)
  const y = (v) => kPad.top + plotH - (v / max) * plotH;

  const grid = [0, max / 2, max].map((v) => s('g', { class: 'grid' },
    s('line', { x1: kPad.left, x2: kW - kPad.right, y1: y(v), y2: y(v) }),
    s('text', { x: kPad.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, `${formatRate(v)}/s`)));
  const span = data.seconds || step * buckets.length;
  const xLabels = [
    s('text', { x: kPad.left, y: kH - 8, 'text-anchor': 'start' }, `${formatDuration(span)} ago`),
    s('text', { x: kPad.left + plotW / 2, y: kH - 8, 'text-anchor': 'middle' }, `${formatDuration(span / 2)} ago`),
    s('text', { x: kW - kPad.right, y: kH - 8, 'text-anchor': 'end' }, 'now'),
  ];
  const lines = kSeries.map((series) => s('polyline', {
    class: series.cls,
    points: points.map((p) => `${x(p.i).toFixed(1)},${y(p[series.key]).toFixed(1)} ${x(p.i + 1).toFixed(1)},${y(p[series.key]).toFixed(1)}`).join(' '),
  }));

  const totals = { succeeded: 0, dead: 0, cancelled: 0 };
  for (const b of buckets) for (const k of Object.keys(totals)) totals[k] += b[k] || 0;
  const full = buckets.length >= 2 ? buckets[buckets.length - 2] : buckets[0];
  const summary = `In the last full ${step} s: ${formatRate((full.succeeded || 0) / step)} completed/s, `
    + `${formatRate((full.dead || 0) / step)} failed/s. In ${formatDuration(span)}: `
    + `${formatCount(totals.succeeded)} succeeded, ${formatCount(totals.dead)} dead, ${formatCount(totals.cancelled)} cancelled.`;

  const svg = s('svg', { viewBox: `0 0 ${kW} ${kH}`, role: 'img', 'aria-label': `Throughput chart. ${summary}`, class: 'chart' },
    ...grid, ...xLabels, ...lines);
  return h('figure', { class: 'chart-figure' },
    svg,
    h('figcaption', {},
      h('ul', { class: 'legend' }, kSeries.map((series) => h('li', {}, h('span', { class: `swatch ${series.cls}`, 'aria-hidden': 'true' }), series.label))),
      h('p', { id: 'throughput-summary' }, summary)));
}
