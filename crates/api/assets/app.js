// couponrush pages: the event page and the admin console, one small script with no
// dependencies, served from the binary. Everything it shows comes from the public API
// (the same calls any client makes), so the pages never know more than the contract.
'use strict';

// ---------------------------------------------------------------------------------
// Session: held in this script's memory only, never in localStorage or a cookie, so
// an injected script finds no token in storage (ARCHITECTURE.md, "The pages"). A
// reload asks to log in again.
const session = { access: null, refresh: null, username: null, role: null };
// Server clock minus this device's clock, from the `Date` header (countdowns follow
// the server, which decides when a coupon opens).
let skewMs = 0;
// Timers of the view on screen, stopped when the view changes.
let viewTimers = [];
let viewGeneration = 0;

// ---------------------------------------------------------------------------------
// Words for the API's stable error codes (the message is the fallback).
const WORDS = {
  NETWORK: 'The server cannot be reached. Check your connection; we keep trying.',
  INVALID_CREDENTIALS: 'Wrong username or password.',
  USERNAME_TAKEN: 'That username is taken. Pick another one.',
  TOO_MANY_ATTEMPTS: 'Too many attempts. Wait a moment before trying again.',
  AUTH_BUSY: 'Signing in is busy right now. Try again in a moment.',
  UNAUTHORIZED: 'Please log in.',
  TOKEN_EXPIRED: 'Your session has ended. Please log in again.',
  TOKEN_INVALID: 'Your session is not valid any more. Please log in again.',
  REFRESH_TOKEN_INVALID: 'Your session has ended. Please log in again.',
  FORBIDDEN: 'Only administrators can do that.',
  COUPON_NOT_FOUND: 'This event does not exist.',
  COUPON_NOT_ACTIVE: 'This event is not active.',
  COUPON_NOT_OPEN: 'This event has not opened yet.',
  COUPON_EXPIRED: 'This event has ended.',
  NOT_ISSUED: 'You do not hold this coupon.',
  ALREADY_USED: 'This coupon has already been used.',
  SERVER_BUSY: 'The server is very busy. Trying again…',
  ISSUE_UNAVAILABLE: 'Issuing is briefly unavailable. Trying again…',
  STORE_UNAVAILABLE: 'The server cannot reach its database. Try again in a moment.',
  ISSUE_OUTCOME_UNKNOWN: 'We could not confirm your request. Checking again…',
  NOT_REPLAYABLE: 'This failed event cannot be replayed.',
  FAILED_EVENT_NOT_FOUND: 'This failed event does not exist.',
  INTERNAL_ERROR: 'Something went wrong on our side. Try again in a moment.',
};
// Answers worth retrying by themselves: nothing happened, and the server says when.
const RETRYABLE = new Set(['SERVER_BUSY', 'ISSUE_UNAVAILABLE', 'ISSUE_OUTCOME_UNKNOWN', 'NETWORK']);

class Problem extends Error {
  constructor(status, code, message, body, retryAfter) {
    super(WORDS[code] || message || ('Unexpected answer ' + status));
    this.status = status; this.code = code || 'UNKNOWN'; this.body = body || {};
    this.retryAfterMs = retryAfter ? Number(retryAfter) * 1000 : 1000;
    // VALIDATION_FAILED and friends: the server's message names the rule broken.
    if (!WORDS[code] && message) this.message = message;
  }
}

// ---------------------------------------------------------------------------------
// The API.
async function api(method, path, body, headers, retried) {
  const h = Object.assign({ Accept: 'application/json' }, headers || {});
  if (session.access) h.Authorization = 'Bearer ' + session.access;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new Problem(0, 'NETWORK');
  }
  noteServerClock(res.headers.get('Date'));
  const data = await res.json().catch(() => null);
  if (res.status === 401 && !retried && session.refresh && data && data.code === 'TOKEN_EXPIRED') {
    if (await refreshSession()) return api(method, path, body, headers, true);
  }
  if (!res.ok) {
    const p = new Problem(res.status, data && data.code, data && data.message, data, res.headers.get('Retry-After'));
    if (res.status === 401 && path !== '/api/auth/login') { endSession(); show(p.message); }
    throw p;
  }
  return { status: res.status, data, headers: res.headers };
}

function noteServerClock(date) {
  if (!date) return;
  // `Date` has whole seconds: +500 ms is its expected truncation; smaller skews are noise.
  const skew = Date.parse(date) + 500 - Date.now();
  skewMs = Math.abs(skew) > 1500 ? skew : 0;
}
const serverNow = () => Date.now() + skewMs;

async function refreshSession() {
  try {
    const r = await api('POST', '/api/auth/refresh', { refreshToken: session.refresh }, {}, true);
    startSession(r.data);
    return true;
  } catch (e) {
    return false;
  }
}

function startSession(tokens) {
  session.access = tokens.accessToken;
  session.refresh = tokens.refreshToken;
  // The access token's claims say who and which role; the server checks its
  // signature on every call, the page only reads it to choose what to show.
  try {
    const claims = JSON.parse(atob(tokens.accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    session.role = claims.role;
  } catch (e) {
    session.role = null;
  }
}

function endSession() {
  session.access = null; session.refresh = null; session.username = null; session.role = null;
}

const isAdmin = () => (session.role || '').toUpperCase() === 'ADMIN';

// ---------------------------------------------------------------------------------
// Small DOM helpers: text always goes in as text, never as HTML.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}
const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const jitter = (ms) => ms + Math.floor(Math.random() * Math.min(1000, ms / 5 + 1));

function show(message) {
  const b = $('banner');
  b.textContent = message || '';
  b.hidden = !message;
}

function setMessage(node, text, kind) {
  node.textContent = text || '';
  node.className = 'message' + (kind ? ' ' + kind : '');
}

// A fresh key per attempt at a coupon: a retry after a lost answer gets the first
// answer again instead of a second try (the API's Idempotency-Key).
function attemptKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function every(ms, fn) {
  const t = setInterval(fn, ms);
  viewTimers.push(t);
  return t;
}

// ---------------------------------------------------------------------------------
// Formatting.
function discountText(c) {
  return c.discountType === 'PERCENTAGE' ? c.discountValue + ' % off' : c.discountValue.toLocaleString() + ' off';
}
function typeText(t) { return t.charAt(0) + t.slice(1).toLowerCase(); }
function phaseOf(c) {
  const now = serverNow();
  if (c.status === 'EXPIRED' || Date.parse(c.expiresAt) <= now) return 'ended';
  if (c.status === 'DISABLED') return 'disabled';
  if (c.opensAt && Date.parse(c.opensAt) > now) return 'upcoming';
  return 'open';
}
const PHASE_WORDS = { ended: 'Ended', disabled: 'Disabled', upcoming: 'Upcoming', open: 'Open now' };
function duration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
  const hms = [h, m, sec].map((n) => String(n).padStart(2, '0')).join(':');
  return d > 0 ? d + 'd ' + hms : hms;
}
function when(iso) { return iso ? new Date(iso).toLocaleString() : '—'; }
function etaText(seconds) {
  if (seconds === null || seconds === undefined) return 'unknown';
  if (seconds < 60) return 'about ' + Math.max(1, seconds) + ' s';
  return 'about ' + Math.round(seconds / 60) + ' min';
}

// ---------------------------------------------------------------------------------
// Routing: #/, #/events/<id>, #/me, #/admin, #/admin/coupons/<id>, #/login.
const ROUTES = [
  [/^#\/login$/, () => viewLogin()],
  [/^#\/?$/, () => viewEvents()],
  [/^#\/events\/([0-9a-f-]{36})$/, (m) => viewEvent(m[1])],
  [/^#\/me$/, () => viewMine()],
  [/^#\/admin$/, () => viewAdmin()],
  [/^#\/admin\/coupons\/([0-9a-f-]{36})$/, (m) => viewAdminCoupon(m[1])],
];

function route() {
  viewTimers.forEach(clearInterval); viewTimers = [];
  viewGeneration += 1;
  show('');
  const hash = location.hash || '#/';
  if (!session.access && hash !== '#/login') { sessionStorage.setItem('after-login', hash); location.hash = '#/login'; return; }
  const nav = $('nav');
  nav.hidden = !session.access;
  $('nav-admin').hidden = !isAdmin();
  $('whoami').textContent = session.username ? session.username + (isAdmin() ? ' (admin)' : '') : '';
  for (const a of nav.querySelectorAll('a')) {
    const target = a.getAttribute('href');
    if (target === hash || (target !== '#/' && hash.startsWith(target))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = $('main');
  main.replaceChildren();
  for (const [re, view] of ROUTES) {
    const m = hash.match(re);
    if (m) { view(m).catch((e) => show(e.message)); return; }
  }
  main.append(el('h1', {}, 'Not found'), el('p', {}, el('a', { href: '#/' }, 'Back to the events')));
}

// A view still on screen: async work of a view the user left must not touch the page.
function stillOn(generation) { return generation === viewGeneration; }

// ---------------------------------------------------------------------------------
// Log in / sign up.
async function viewLogin() {
  if (session.access) { location.hash = '#/'; return; }
  const msg = el('p', { class: 'message', id: 'login-message', role: 'status', 'aria-live': 'polite' });
  const username = el('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, maxlength: 50 });
  const password = el('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, minlength: 8, maxlength: 128 });
  async function logIn() {
    const r = await api('POST', '/api/auth/login', { username: username.value, password: password.value });
    startSession(r.data);
    session.username = username.value;
    const saved = sessionStorage.getItem('after-login');
    sessionStorage.removeItem('after-login');
    const next = !saved || saved === '#/login' ? '#/' : saved;
    // A changed hash routes by itself (hashchange).
    if (location.hash === next) route(); else location.hash = next;
  }
  const form = el('form', {
    id: 'login-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      setMessage(msg, 'Logging in…');
      try { await logIn(); } catch (e) { setMessage(msg, e.message, 'error'); }
    },
  },
  el('label', {}, 'Username', username),
  el('label', {}, 'Password (8 to 128 characters)', password),
  el('div', { class: 'buttons' },
    el('button', { type: 'submit', class: 'primary', id: 'login' }, 'Log in'),
    el('button', {
      type: 'button', id: 'signup',
      onclick: async () => {
        if (!form.reportValidity()) return;
        setMessage(msg, 'Creating your account…');
        try {
          await api('POST', '/api/users/signup', { username: username.value, password: password.value });
          await logIn();
        } catch (e) { setMessage(msg, e.message, 'error'); }
      },
    }, 'Sign up')),
  msg);
  $('main').append(el('h1', {}, 'Log in or sign up'), el('div', { class: 'card' }, form));
  username.focus();
}

// ---------------------------------------------------------------------------------
// The events.
async function viewEvents() {
  const gen = viewGeneration;
  const list = el('ul', { class: 'events', id: 'events' });
  const more = el('button', { type: 'button', id: 'more-events', hidden: true }, 'More events');
  $('main').append(el('h1', {}, 'Events'), list, more);
  let cursor = null;
  async function load() {
    const q = new URLSearchParams({ limit: '20' });
    if (!isAdmin()) q.set('status', 'ACTIVE');
    if (cursor) q.set('cursor', cursor);
    const r = await api('GET', '/api/coupons?' + q);
    if (!stillOn(gen)) return;
    for (const c of r.data.coupons) list.append(el('li', {}, eventCard(c)));
    if (!list.children.length) list.append(el('li', { class: 'muted' }, 'No events right now. Come back soon.'));
    cursor = r.data.nextCursor;
    more.hidden = !cursor;
  }
  more.addEventListener('click', () => load().catch((e) => show(e.message)));
  await load();
}

function eventCard(c) {
  const phase = phaseOf(c);
  return el('a', { class: 'card', href: '#/events/' + c.id, 'data-coupon': c.id },
    el('div', { class: 'row' }, el('strong', {}, c.name), el('span', { class: 'badge ' + phase }, PHASE_WORDS[phase])),
    el('div', { class: 'muted' }, typeText(c.couponType) + ' · ' + discountText(c) + ' · ' + c.totalQuantity.toLocaleString() + ' coupons'),
    el('div', { class: 'muted' }, phase === 'upcoming' ? 'Opens ' + when(c.opensAt) : 'Ends ' + when(c.expiresAt)));
}

// One event: the countdown, the button, the line, the result.
async function viewEvent(id) {
  const gen = viewGeneration;
  const r = await api('GET', '/api/coupons/' + id);
  if (!stillOn(gen)) return;
  const c = r.data;
  const countdown = el('p', { class: 'countdown', id: 'countdown', 'aria-live': 'off' });
  const button = el('button', { type: 'button', class: 'primary big', id: 'get-coupon' }, 'Get coupon');
  const result = el('div', { class: 'result', id: 'result', role: 'status', 'aria-live': 'polite', hidden: true });
  $('main').append(
    el('h1', {}, c.name),
    el('div', { class: 'card' },
      el('p', {}, typeText(c.couponType) + ' · ', el('strong', {}, discountText(c)), ' · ' + c.totalQuantity.toLocaleString() + ' coupons, one per person'),
      el('p', { class: 'muted' }, (c.opensAt ? 'Opens ' + when(c.opensAt) + ' · ' : '') + 'Ends ' + when(c.expiresAt)),
      countdown, button),
    result);
  let opensAt = c.opensAt ? Date.parse(c.opensAt) : 0;
  // Before the opening only a room that is always on takes people (its pre-queue).
  const prequeue = c.waitingRoom === 'ALWAYS';
  let busy = false;
  function tick() {
    const phase = phaseOf(Object.assign({}, c, { opensAt: opensAt ? new Date(opensAt).toISOString() : null }));
    const left = opensAt - serverNow();
    if (phase === 'upcoming') {
      countdown.textContent = 'Opens in ' + duration(left);
      button.textContent = prequeue ? 'Join the line' : 'Get coupon';
      button.disabled = busy || !prequeue;
    } else if (phase === 'open') {
      countdown.textContent = 'Open now';
      button.textContent = 'Get coupon';
      button.disabled = busy;
    } else {
      countdown.textContent = PHASE_WORDS[phase];
      button.disabled = true;
    }
    countdown.dataset.phase = phase;
  }
  tick();
  every(250, tick);
  button.addEventListener('click', async () => {
    busy = true; tick();
    try {
      const outcome = await getCoupon(c, result, gen, (at) => { opensAt = at; });
      if (outcome === 'RETRY_ALLOWED') busy = false;
    } catch (e) {
      showResult(result, 'ERROR', e.message);
      busy = false;
    }
    tick();
  });
}

function showResult(node, result, text, detail) {
  node.hidden = false;
  node.dataset.result = result;
  node.replaceChildren(el('strong', { id: 'result-text' }, text), detail ? el('div', {}, detail) : null);
}

// Takes the caller from the button to a definite answer, following the API: QUEUED
// means wait in line (polling as told), ACCEPTED means reserved and being recorded
// (confirmed as ISSUED), SOLD_OUT and ALREADY_ISSUED are final.
async function getCoupon(c, result, gen, setOpensAt) {
  const key = attemptKey();
  let admission = null;
  // The latest place ticket (QUEUED and WAITING hand out a fresh one), sent back with
  // every issue request and poll: a server that lost its line puts us back with it.
  // In memory only, like the tokens.
  const place = { ticket: null };
  for (;;) {
    if (!stillOn(gen)) return 'LEFT';
    const headers = { 'Idempotency-Key': key };
    if (admission) headers['Admission-Token'] = admission;
    if (place.ticket) headers['Place-Ticket'] = place.ticket;
    let r;
    try {
      showResult(result, 'SENDING', 'Sending…');
      r = await api('POST', '/api/coupons/' + c.id + '/issue', undefined, headers);
    } catch (e) {
      if (e.code === 'COUPON_NOT_OPEN') {
        if (e.body.opensAt) setOpensAt(Date.parse(e.body.opensAt));
        showResult(result, 'NOT_OPEN', e.message, 'Press the button again when the countdown ends.');
        return 'RETRY_ALLOWED';
      }
      if (RETRYABLE.has(e.code)) {
        showResult(result, 'RETRYING', e.message);
        await sleep(jitter(e.retryAfterMs));
        continue;
      }
      throw e;
    }
    admission = null;
    switch (r.data.result) {
      case 'ACCEPTED':
        showResult(result, 'ACCEPTED', 'Got it! Your coupon is being issued…');
        return confirmIssued(c, result, gen);
      case 'ALREADY_ISSUED':
        showResult(result, 'ALREADY_ISSUED', 'You already have this coupon.', el('a', { href: '#/me' }, 'See my coupons'));
        return 'DONE';
      case 'SOLD_OUT':
        showResult(result, 'SOLD_OUT', 'Sold out. Every coupon of this event has been taken.');
        return 'DONE';
      case 'QUEUED': {
        if (r.data.placeTicket) place.ticket = r.data.placeTicket;
        const line = await waitInLine(c, r.data, result, gen, place);
        if (line.status === 'ADMITTED') { admission = line.admissionToken; continue; }
        if (line.status === 'REJOIN') continue;
        return 'DONE';
      }
      default:
        throw new Problem(r.status, 'UNKNOWN', 'Unexpected answer ' + r.data.result);
    }
  }
}

function showPlace(result, place) {
  result.hidden = false;
  result.dataset.result = 'QUEUED';
  const eta = place.beyondStock
    ? 'More people are ahead of you than there are coupons left: you may not get one.'
    : 'Estimated wait: ' + etaText(place.etaSeconds) + '.';
  result.replaceChildren(
    el('strong', { id: 'result-text' }, place.position === 0 ? 'Your turn is coming…' : 'You are in line'),
    el('span', { class: 'big-number', id: 'queue-position' }, String(place.position)),
    el('div', { id: 'queue-eta' }, eta),
    el('div', { class: 'muted' }, 'Keep this page open: your place is kept while it is.'));
}

// The poll is the heartbeat: a waiter who stops polling loses the place.
async function waitInLine(c, first, result, gen, place) {
  showPlace(result, first);
  let wait = first.pollAfterMs || 1000;
  for (;;) {
    await sleep(jitter(wait));
    if (!stillOn(gen)) return { status: 'LEFT' };
    let q;
    try {
      const headers = place.ticket ? { 'Place-Ticket': place.ticket } : {};
      q = (await api('GET', '/api/coupons/' + c.id + '/queue', undefined, headers)).data;
    } catch (e) {
      if (RETRYABLE.has(e.code)) { wait = e.retryAfterMs; continue; }
      throw e;
    }
    switch (q.status) {
      case 'WAITING':
        if (q.placeTicket) place.ticket = q.placeTicket;
        showPlace(result, q);
        wait = q.pollAfterMs || 1000;
        break;
      case 'ADMITTED':
        showResult(result, 'ADMITTED', 'Your turn! Getting your coupon…');
        return q;
      case 'SOLD_OUT':
        showResult(result, 'SOLD_OUT', 'Sold out. Every coupon of this event has been taken.');
        return q;
      default:
        // EXPIRED (the turn passed unused) or NOT_IN_QUEUE (the place was dropped):
        // asking again joins at the back.
        return { status: 'REJOIN' };
    }
  }
}

// ACCEPTED is durable; ISSUED is when the coupon is in the user's list.
async function confirmIssued(c, result, gen) {
  for (let i = 0; i < 120; i += 1) {
    if (!stillOn(gen)) return 'LEFT';
    try {
      const s = (await api('GET', '/api/coupons/' + c.id + '/issue')).data;
      if (s.state === 'ISSUED' || s.state === 'USED') {
        showResult(result, 'ISSUED', 'Issued! The coupon is yours.', el('a', { href: '#/me', id: 'to-my-coupons' }, 'Use it in My coupons'));
        return 'DONE';
      }
    } catch (e) {
      if (!RETRYABLE.has(e.code)) throw e;
    }
    await sleep(500);
  }
  showResult(result, 'ACCEPTED', 'Accepted. It will appear in My coupons shortly.', el('a', { href: '#/me' }, 'My coupons'));
  return 'DONE';
}

// ---------------------------------------------------------------------------------
// My coupons.
async function viewMine() {
  const gen = viewGeneration;
  const r = await api('GET', '/api/me/coupons');
  if (!stillOn(gen)) return;
  const list = el('ul', { class: 'events', id: 'my-coupons' });
  $('main').append(el('h1', {}, 'My coupons'), list);
  if (!r.data.length) list.append(el('li', { class: 'muted' }, 'No coupons yet. ', el('a', { href: '#/' }, 'See the events')));
  for (const o of r.data) {
    const msg = el('p', { class: 'message', role: 'status' });
    const state = el('span', { class: 'badge ' + (o.usedAt ? 'ended' : 'open'), 'data-state': o.usedAt ? 'USED' : 'ISSUED' }, o.usedAt ? 'Used' : 'Ready to use');
    const use = el('button', {
      type: 'button', class: 'primary', 'data-use': o.coupon.id, hidden: !!o.usedAt,
      onclick: async () => {
        use.disabled = true;
        try {
          await api('POST', '/api/coupons/' + o.coupon.id + '/use');
          state.textContent = 'Used'; state.className = 'badge ended'; state.dataset.state = 'USED';
          use.hidden = true;
          setMessage(msg, 'Used. Enjoy!', 'ok');
        } catch (e) {
          use.disabled = false;
          setMessage(msg, e.message, 'error');
        }
      },
    }, 'Use');
    list.append(el('li', { class: 'card', 'data-coupon': o.coupon.id },
      el('div', { class: 'row' }, el('strong', {}, o.coupon.name), state),
      el('div', { class: 'muted' }, discountText(o.coupon) + ' · issued ' + when(o.issuedAt) + (o.usedAt ? ' · used ' + when(o.usedAt) : ' · valid until ' + when(o.coupon.expiresAt))),
      use, msg));
  }
}

// ---------------------------------------------------------------------------------
// Admin console: create, switch on and off, figures, failed events.
function localInput(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

async function viewAdmin() {
  if (!isAdmin()) { $('main').append(el('h1', {}, 'Admin'), el('p', {}, WORDS.FORBIDDEN)); return; }
  const gen = viewGeneration;
  const msg = el('p', { class: 'message', id: 'create-message', role: 'status', 'aria-live': 'polite' });
  const f = {
    name: el('input', { id: 'c-name', required: true, maxlength: 100 }),
    couponType: el('select', { id: 'c-type' }, ['CHICKEN', 'HAMBURGER', 'PIZZA'].map((t) => el('option', { value: t }, typeText(t)))),
    discountType: el('select', { id: 'c-discount-type' }, el('option', { value: 'FIXED' }, 'Fixed amount'), el('option', { value: 'PERCENTAGE' }, 'Percentage')),
    discountValue: el('input', { id: 'c-discount-value', type: 'number', min: 1, required: true, value: 1000 }),
    totalQuantity: el('input', { id: 'c-quantity', type: 'number', min: 1, required: true, value: 100 }),
    opensAt: el('input', { id: 'c-opens-at', type: 'datetime-local' }),
    expiresAt: el('input', { id: 'c-expires-at', type: 'datetime-local', required: true, value: localInput(new Date(Date.now() + 86400000)) }),
    waitingRoom: el('select', { id: 'c-room' }, el('option', { value: 'AUTO' }, 'Auto: on under load'), el('option', { value: 'ALWAYS' }, 'Always on'), el('option', { value: 'OFF' }, 'Off')),
    prequeue: el('select', { id: 'c-prequeue' }, el('option', { value: 'FIFO' }, 'In order of arrival'), el('option', { value: 'SHUFFLED' }, 'Shuffled at opening')),
    status: el('select', { id: 'c-status' }, el('option', { value: 'ACTIVE' }, 'Active'), el('option', { value: 'DISABLED' }, 'Disabled')),
  };
  const table = el('tbody', { id: 'admin-coupons' });
  const failed = el('tbody', { id: 'failed-events' });
  const form = el('form', {
    id: 'create-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {
        name: f.name.value, couponType: f.couponType.value, discountType: f.discountType.value,
        discountValue: Number(f.discountValue.value), totalQuantity: Number(f.totalQuantity.value),
        expiresAt: new Date(f.expiresAt.value).toISOString(),
        waitingRoom: f.waitingRoom.value, prequeue: f.prequeue.value, status: f.status.value,
      };
      if (f.opensAt.value) body.opensAt = new Date(f.opensAt.value).toISOString();
      try {
        const r = await api('POST', '/api/coupons', body);
        setMessage(msg, 'Created “' + r.data.name + '”.', 'ok');
        location.hash = '#/admin/coupons/' + r.data.id;
      } catch (e) { setMessage(msg, e.message, 'error'); }
    },
  },
  el('label', {}, 'Name', f.name),
  el('div', { class: 'grid2' },
    el('label', {}, 'Type', f.couponType),
    el('label', {}, 'Discount', f.discountType),
    el('label', {}, 'Value (amount or %)', f.discountValue),
    el('label', {}, 'Quantity', f.totalQuantity),
    el('label', {}, 'Opens at (empty: now)', f.opensAt),
    el('label', {}, 'Expires at', f.expiresAt),
    el('label', {}, 'Waiting room', f.waitingRoom),
    el('label', {}, 'Early arrivals', f.prequeue),
    el('label', {}, 'Status', f.status)),
  el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary', id: 'create' }, 'Create coupon')),
  msg);
  $('main').append(
    el('h1', {}, 'Admin console'),
    el('h2', {}, 'New coupon'), el('div', { class: 'card' }, form),
    el('h2', {}, 'Coupons'),
    el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Status'), el('th', {}, 'Opens'), el('th', {}, 'Quantity'), el('th', {}, ''))), table)),
    el('h2', {}, 'Failed events'),
    el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'When'), el('th', {}, 'Error'), el('th', {}, 'Status'), el('th', {}, ''))), failed)));
  const coupons = (await api('GET', '/api/coupons?limit=100')).data.coupons;
  if (!stillOn(gen)) return;
  for (const c of coupons) table.append(adminRow(c));
  if (!coupons.length) table.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No coupons yet.')));
  await loadFailed(failed);
}

function adminRow(c) {
  const status = el('span', { class: 'badge ' + phaseOf(c), 'data-status': c.status }, c.status);
  const toggle = el('button', {
    type: 'button', 'data-toggle': c.id,
    onclick: async () => {
      const next = c.status === 'ACTIVE' ? 'DISABLED' : 'ACTIVE';
      try {
        const r = await api('PATCH', '/api/coupons/' + c.id + '/status', { status: next });
        c.status = r.data.status;
        status.textContent = c.status; status.dataset.status = c.status; status.className = 'badge ' + phaseOf(c);
        toggle.textContent = c.status === 'ACTIVE' ? 'Disable' : 'Activate';
      } catch (e) { show(e.message); }
    },
  }, c.status === 'ACTIVE' ? 'Disable' : 'Activate');
  return el('tr', { 'data-coupon': c.id },
    el('td', {}, el('a', { href: '#/admin/coupons/' + c.id }, c.name)),
    el('td', {}, status), el('td', {}, c.opensAt ? when(c.opensAt) : 'at once'),
    el('td', {}, c.totalQuantity.toLocaleString()),
    el('td', {}, c.status === 'EXPIRED' ? '' : toggle));
}

async function loadFailed(tbody) {
  const events = (await api('GET', '/api/admin/failed-events?limit=50')).data;
  tbody.replaceChildren();
  if (!events.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'muted' }, 'None: every accepted request was persisted.')));
  for (const e of events) {
    const replay = el('button', {
      type: 'button', hidden: e.status !== 'FAILED',
      onclick: async () => {
        try { await api('POST', '/api/admin/failed-events/' + e.id + '/replay'); await loadFailed(tbody); } catch (err) { show(err.message); }
      },
    }, 'Replay');
    tbody.append(el('tr', {}, el('td', {}, when(e.createdAt)), el('td', {}, e.error), el('td', {}, e.status), el('td', {}, replay)));
  }
}

// One coupon's live figures, refreshed every second.
async function viewAdminCoupon(id) {
  if (!isAdmin()) { $('main').append(el('h1', {}, 'Admin'), el('p', {}, WORDS.FORBIDDEN)); return; }
  const gen = viewGeneration;
  const c = (await api('GET', '/api/coupons/' + id)).data;
  if (!stillOn(gen)) return;
  const figure = (key, label) => el('div', {}, el('dt', {}, label), el('dd', { id: 'fig-' + key }, '—'));
  const updated = el('p', { class: 'muted', id: 'fig-updated' });
  const mode = el('select', { id: 'room-mode' }, ['AUTO', 'ALWAYS', 'OFF'].map((m) => el('option', { value: m, selected: m === c.waitingRoom }, m)));
  const roomMsg = el('p', { class: 'message', role: 'status' });
  $('main').append(
    el('h1', {}, c.name),
    el('p', {}, el('a', { href: '#/events/' + c.id }, 'Event page'), ' · ', el('a', { href: '#/admin' }, 'All coupons')),
    el('p', { class: 'muted' }, discountText(c) + ' · ' + c.totalQuantity.toLocaleString() + ' coupons · ' + (c.opensAt ? 'opens ' + when(c.opensAt) + ' · ' : '') + 'ends ' + when(c.expiresAt)),
    el('h2', {}, 'Issuing'),
    el('dl', { class: 'figures' },
      figure('persisted', 'Issued (persisted)'), figure('reserved', 'Held in the gate'), figure('remaining', 'Left'),
      figure('backlog', 'Waiting to persist'), figure('lag', 'Consumer lag, all coupons')),
    el('h2', {}, 'Waiting room'),
    el('dl', { class: 'figures' },
      figure('room-state', 'State'), figure('waiting', 'In line'), figure('admitted-rate', 'Admitted per second'),
      figure('rate', 'Admission rate'), figure('admitted-total', 'Admitted in all'), figure('p95', 'Issue p95 (ms)')),
    el('div', { class: 'card' },
      el('form', {
        onsubmit: async (ev) => {
          ev.preventDefault();
          try { await api('PUT', '/api/admin/coupons/' + id + '/waiting-room', { mode: mode.value }); setMessage(roomMsg, 'Saved.', 'ok'); } catch (e) { setMessage(roomMsg, e.message, 'error'); }
        },
      }, el('label', {}, 'Waiting room mode', mode), el('div', { class: 'buttons' }, el('button', { type: 'submit' }, 'Save')), roomMsg)),
    updated);
  const set = (key, v) => { $('fig-' + key).textContent = v === null || v === undefined ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString() : v.toFixed(1)) : v; };
  async function refresh() {
    if (!stillOn(gen)) return;
    try {
      const [stats, room, pipeline] = await Promise.all([
        api('GET', '/api/admin/coupons/' + id + '/stats'),
        api('GET', '/api/admin/coupons/' + id + '/waiting-room'),
        api('GET', '/api/admin/pipeline'),
      ]);
      if (!stillOn(gen)) return;
      const s = stats.data, w = room.data;
      set('persisted', s.persisted); set('reserved', s.reservedInGate); set('remaining', s.remainingInGate);
      set('backlog', s.reservedInGate === null ? null : Math.max(0, s.reservedInGate - s.persisted));
      // Embedded mode has no consumers: ACCEPTED is answered once the row is stored.
      set('lag', pipeline.data.consumerLag === null ? 'n/a' : pipeline.data.consumerLag);
      set('room-state', w.state); set('waiting', w.waiting); set('admitted-rate', w.admittedPerSecond);
      set('rate', w.admissionRate); set('admitted-total', w.admittedTotal); set('p95', w.p95Ms);
      updated.textContent = 'Updated ' + new Date().toLocaleTimeString();
    } catch (e) { updated.textContent = e.message; }
  }
  await refresh();
  every(1000, refresh);
}

// ---------------------------------------------------------------------------------
window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  $('logout').addEventListener('click', async () => {
    const refresh = session.refresh;
    endSession();
    if (refresh) api('POST', '/api/auth/logout', { refreshToken: refresh }).catch(() => {});
    location.hash = '#/login';
    route();
  });
  route();
});
