// The user's event stream (GET /api/events): workspace changes, inbox entries, resets. One
// EventSource while signed in; it reconnects by itself and the box replays what was missed after
// the Last-Event-ID it sends, so no event is lost to a flaky Wi-Fi.

import { api } from './api.js';

const TYPES = ['workspace', 'inbox', 'reset'];
const handlers = new Map(); // type -> Set of functions
let source = null;
let lastId = null;
let retry = null;
let running = false;

export function onEvent(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}

function deliver(type, data) {
  for (const fn of handlers.get(type) || []) {
    try { fn(data); } catch (e) { console.error(`${type} event:`, e); }
  }
}

/** Opens the stream; `after`: the newest event id the page's state already reflects. */
export function startEvents(after) {
  stopEvents();
  lastId = after === undefined || after === null ? null : String(after);
  running = true;
  connect();
}

export function stopEvents() {
  running = false;
  if (retry) { clearTimeout(retry); retry = null; }
  if (source) { source.close(); source = null; }
}

function connect() {
  retry = null;
  // A new EventSource does not know the last id seen: the box takes it as ?after= (and, on
  // the EventSource's own reconnects, the Last-Event-ID it sends instead).
  const es = new EventSource(lastId === null ? '/api/events' : `/api/events?after=${encodeURIComponent(lastId)}`);
  source = es;
  for (const type of TYPES) {
    es.addEventListener(type, (e) => {
      if (source !== es) return;
      if (e.lastEventId) lastId = e.lastEventId;
      let data = null;
      try { data = e.data ? JSON.parse(e.data) : null; } catch (err) { return; }
      deliver(type, data);
    });
  }
  es.addEventListener('error', () => {
    if (source !== es || es.readyState !== EventSource.CLOSED) return; // it retries by itself
    // Refused outright (a 401, a revoked tablet, the box restarting): a session check tells
    // the page when the session is gone; otherwise try again in a while.
    source = null;
    api('GET', '/api/session').then((r) => {
      if (!running || r.status === 401 || retry || source) return;
      retry = setTimeout(connect, 3000);
    });
  });
}
