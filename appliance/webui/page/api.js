// The JSON API (appliance/webui/API.md): requests, the CSRF token, errors, the box's state.
// Rules kept throughout: server text is only ever set as textContent (never as HTML), no
// password or secret is logged or displayed, secret inputs are cleared after each submit, and
// every request that changes something carries the X-CSRF-Token header.

/** The last answer of GET /api/state (read it through this live binding; set it with setState). */
export let state = null;

export function setState(s) {
  state = s;
}

/** Why the session ended, when the box said (a revoked tablet): the sign-in page shows it. */
export let lostReason = null;

export function clearLostReason() {
  lostReason = null;
}

/** What runs when a request finds the session gone (the router shows the page again). */
let lostHandler = null;

export function onSessionLost(handler) {
  lostHandler = handler;
}

export const OFFLINE = 'The microcloud box did not answer. Check that it is switched on and on the network, then try again.';

/**
 * One JSON request. Returns { ok, status, data, error, field }; never throws.
 * opts.quiet401: a 401 is an answer (wrong password), not a lost session.
 * opts.headers: more request headers (WebDAV's Destination, If-Match).
 * opts.keepalive: the request may outlive the page (the last change as a tablet closes it).
 */
export async function api(method, path, body, opts = {}) {
  const changes = method !== 'GET' && method !== 'HEAD';
  for (let attempt = 0; ; attempt++) {
    const headers = { Accept: 'application/json', ...(opts.headers || {}) };
    const csrf = state && state.csrf;
    if (changes && csrf) headers['X-CSRF-Token'] = csrf;
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store', keepalive: !!opts.keepalive };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    let text = null;
    const pre = method === 'GET' && body === undefined && attempt === 0 && early(path);
    try {
      if (pre) ({ res, text } = await pre);
      else res = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, data: null, error: OFFLINE, field: null };
    }
    let data = null;
    try {
      if (text === null) text = await res.text();
      if (text) data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
    if (res.ok) return { ok: true, status: res.status, data, error: null, field: null };
    // A stale CSRF token (another tab signed in again): fetch the new one and retry once.
    if (changes && res.status === 403 && attempt === 0 && !opts.noRetry) {
      const fresh = await fetchState();
      if (fresh && fresh.csrf && fresh.csrf !== csrf) {
        state = fresh;
        continue;
      }
    }
    return failure(res, data, opts);
  }
}

/** The box's sentences start in lower case ("wrong name or password"): show them as sentences. */
function sentence(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function failure(res, data, opts) {
  let error = data && typeof data.error === 'string' && data.error
    ? sentence(data.error)
    : `The request failed (HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}).`;
  const field = data && typeof data.field === 'string' ? data.field : null;
  if (res.status === 429) {
    const after = res.headers.get('Retry-After');
    if (after && !/\d/.test(error)) error += ` Try again in ${after} seconds.`;
  }
  if (res.status === 401 && field === 'device') lostReason = error;
  if (res.status === 401 && !opts.quiet401) sessionLost();
  return { ok: false, status: res.status, data, error, field };
}

/** A GET of url, read whole: { res, text }. */
function getText(url) {
  return fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
    .then((res) => res.text().then((text) => ({ res, text })));
}

/**
 * The answer boot.js asked for early for this very GET, as { res, text }, taken once (later asks
 * go to the box), or null. A failed early request counts as none: the page asks again.
 */
function early(url) {
  const m = globalThis.microcloudEarly;
  const p = m && m.get(url);
  if (!p) return null;
  m.delete(url);
  return p.catch(() => getText(url));
}

export async function fetchState() {
  try {
    const { res, text } = await (early('/api/state') || getText('/api/state'));
    if (!res.ok) return null;
    return JSON.parse(text);
  } catch (e) {
    return null;
  }
}

export async function loadState() {
  const s = await fetchState();
  if (s) state = s;
  return s;
}

let losing = false;
export async function sessionLost() {
  if (losing) return;
  losing = true;
  try {
    await loadState();
    if (lostHandler) lostHandler();
  } finally {
    losing = false;
  }
}
