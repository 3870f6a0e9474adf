// The REST API as the pages use it: every call carries the bearer token kept
// in sessionStorage (never a cookie, never the URL), errors become ApiError
// with the API's own message, a 401 calls the handler app.js installs (the
// token prompt), and the HTTP Date header keeps an estimate of the server's
// clock so "N s ago" and "lease time left" do not depend on this machine's.

const kTokenKey = 'jobqueue.token';

export function getToken() {
  try { return sessionStorage.getItem(kTokenKey) || ''; } catch { return ''; }
}
export function setToken(token) {
  try { sessionStorage.setItem(kTokenKey, token); } catch { /* private mode: the token lives until reload */ }
  memoryToken = token;
}
export function forgetToken() {
  try { sessionStorage.removeItem(kTokenKey); } catch { /* nothing kept */ }
  memoryToken = '';
}
let memoryToken = '';
function token() { return getToken() || memoryToken; }

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

let unauthorizedHandler = () => {};
export function onUnauthorized(handler) { unauthorizedHandler = handler; }

// Server clock = local clock + offset. A Date header of second d, seen on a
// response sent at local time s and received at r, bounds the offset to
// [d - r, d + 1000 - s); the bounds tighten over the polls.
let offsetLo = -Infinity;
let offsetHi = Infinity;
function noteDate(res, sentAt, receivedAt) {
  const d = Date.parse(res.headers.get('Date') || '');
  if (Number.isNaN(d)) return;
  const lo = d - receivedAt;
  const hi = d + 1000 - sentAt;
  if (lo > offsetHi || hi < offsetLo) { offsetLo = lo; offsetHi = hi; return; } // a clock jumped
  offsetLo = Math.max(offsetLo, lo);
  offsetHi = Math.min(offsetHi, hi);
}
export function serverNow() {
  if (!Number.isFinite(offsetLo) || !Number.isFinite(offsetHi)) return Date.now();
  return Date.now() + (offsetLo + offsetHi) / 2;
}

// api('/v1/jobs?state=dead') -> parsed JSON. Options: method, body (sent as
// JSON), signal, blob (answer as a Blob instead of JSON).
export async function api(path, { method = 'GET', body, signal, blob = false } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const sentAt = Date.now();
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `Cannot reach the API (${err.message}).`);
  }
  noteDate(res, sentAt, Date.now());
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = `${res.status} ${res.statusText || 'error'}`;
    let field = null;
    try {
      const e = (await res.json()).error;
      if (e && e.message) { code = e.code || code; message = e.message; field = e.field; }
    } catch { /* not JSON: keep the status line */ }
    const err = new ApiError(res.status, code, message, field);
    if (res.status === 401) unauthorizedHandler(err);
    throw err;
  }
  return blob ? res.blob() : res.json();
}

// Query string from an object, dropping empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
