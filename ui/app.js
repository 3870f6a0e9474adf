// The dashboard's shell: hash routing, one polling loop for the open page,
// the status line and the token prompt.
//
// Each page module exports mount(main, params, ctx) returning a view:
//   refresh()  -> Promise: fetch and draw (errors are shown by the page too)
//   interval() -> ms until the next refresh, or null to stop polling
//   update(params) (optional): new filters for the same page without
//              rebuilding it (keeps the keyboard focus in the filters)
//   leave()    (optional): free what the page holds (blob URLs)
// Polling stops while the tab is hidden and while the token prompt shows;
// a refresh starts at most every interval() ms, start to start.
import { api, onUnauthorized, setToken, forgetToken, getToken } from '/ui/api.js';
import { errorText, formatTime } from '/ui/util.js';
import * as overview from '/ui/pages/overview.js';
import * as jobs from '/ui/pages/jobs.js';
import * as job from '/ui/pages/job.js';
import * as dead from '/ui/pages/dead.js';

const routes = [
  { re: /^\/$/, page: overview, nav: 'overview', title: 'Overview' },
  { re: /^\/jobs$/, page: jobs, nav: 'jobs', title: 'Jobs' },
  { re: /^\/jobs\/(\d+)$/, page: job, nav: 'job', title: 'Job' },
  { re: /^\/dead$/, page: dead, nav: 'dead', title: 'Dead jobs' },
];

const $ = (id) => document.getElementById(id);
const main = $('main');

let current = null; // { route, view, key }
let timer = 0;
let inflight = false;
let again = false;
let needAuth = false;
let firstRoute = true;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  const params = Object.fromEntries(new URLSearchParams(qs));
  for (const r of routes) {
    const m = path.match(r.re);
    if (m) return { route: r, match: m, params };
  }
  return null;
}

function setStatus(text) { $('status-text').textContent = text; }
function setError(err) { $('status-error').textContent = err ? `Error: ${errorText(err)}` : ''; }

function route() {
  const parsed = parseHash();
  if (!parsed) { location.replace('#/'); return; }
  const { route: r, match, params } = parsed;
  if (r.page === job) params.id = match[1];
  for (const a of document.querySelectorAll('a[data-nav]')) {
    if (a.dataset.nav === r.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  $('goto-job').classList.toggle('current', r.nav === 'job');
  document.title = `${r.title}${params.id ? ` ${params.id}` : ''} · jobqueue`;
  setError(null);
  if (current && current.route === r && current.view.update && r.page !== job) {
    current.view.update(params);
  } else {
    if (current && current.view.leave) current.view.leave();
    main.replaceChildren();
    const ctx = { poke: () => tick(), stop: () => { clearTimeout(timer); timer = 0; }, setStatus };
    current = { route: r, view: r.page.mount(main, params, ctx) };
    if (!firstRoute) {
      const heading = main.querySelector('h1');
      if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: false }); }
    }
  }
  firstRoute = false;
  if (!needAuth) tick();
}

async function tick() {
  clearTimeout(timer);
  timer = 0;
  if (!current || needAuth) return;
  if (document.visibilityState === 'hidden') { setStatus('Paused while this tab is hidden.'); return; }
  if (inflight) { again = true; return; }
  inflight = true;
  const view = current.view;
  const started = performance.now();
  try {
    await view.refresh();
    if (view === current.view) {
      setError(null);
      const ms = view.interval();
      setStatus(`Updated ${formatTime(new Date().toISOString())}${ms === null ? '' : `; next in ${Math.round(ms / 1000)} s`}.`);
    }
  } catch (err) {
    if (view === current.view && err.status !== 401) {
      setError(err);
      const ms = view.interval();
      setStatus(`Tried ${formatTime(new Date().toISOString())}${ms === null ? '' : `; again in ${Math.round(ms / 1000)} s`}.`);
    }
  } finally {
    inflight = false;
  }
  if (needAuth) return;
  if (again || view !== current.view) { again = false; tick(); return; }
  const ms = view.interval();
  if (ms === null) {
    if (!$('status-error').textContent) setStatus(`Updated ${formatTime(new Date().toISOString())}; not refreshing.`);
    return;
  }
  timer = setTimeout(tick, Math.max(0, ms - (performance.now() - started)));
}

// Token prompt --------------------------------------------------------------
const kRefused = 'That token was refused (401). Check API_SECRET_KEY.';

function showAuth(message) {
  needAuth = true;
  clearTimeout(timer);
  timer = 0;
  const auth = $('auth');
  $('auth-message').textContent = message;
  if (auth.hidden) {
    auth.hidden = false;
    main.hidden = true;
    $('auth-token').focus();
  }
  setStatus('Waiting for a token.');
  setError(null);
}

function hideAuth() {
  needAuth = false;
  $('auth').hidden = true;
  main.hidden = false;
  $('auth-message').textContent = '';
  updateForget();
}

function updateForget() { $('forget-token').hidden = !getToken(); }

onUnauthorized(() => {
  showAuth(getToken() ? kRefused : 'The API answered 401: enter its token.');
});

$('auth-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('auth-token');
  const value = input.value.trim();
  if (!value) { $('auth-message').textContent = 'Enter the token.'; return; }
  setToken(value);
  try {
    await api('/v1/queues'); // any authenticated route proves the token
  } catch (err) {
    if (err.status === 401) {
      forgetToken();
      showAuth(kRefused);
      input.select();
    } else {
      $('auth-message').textContent = errorText(err);
    }
    return;
  }
  input.value = '';
  hideAuth();
  if (current && current.view.leave) current.view.leave();
  current = null;
  route();
});

$('forget-token').addEventListener('click', () => {
  forgetToken();
  updateForget();
  setStatus('Token forgotten.');
  if (current && current.view.leave) current.view.leave();
  current = null;
  route();
});

$('goto-job').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = $('goto-id').value.trim();
  if (/^\d+$/.test(id)) location.hash = `#/jobs/${id}`;
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') tick();
  else { clearTimeout(timer); timer = 0; setStatus('Paused while this tab is hidden.'); }
});
window.addEventListener('hashchange', route);
updateForget();
route();
