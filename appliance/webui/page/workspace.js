// The user's workspace (GET/PUT /api/workspace): what they have open, with where they are in
// each, shared by all their tablets. This page's changes are operations on the document, kept
// until the box took them: when another tablet wrote first (412), they are applied again to the
// box's current document and sent once more, so neither tablet's change is lost.

import { api, state } from './api.js';
import { sameView } from './kinds.js';

/** Most items kept: the box takes 50; older ones drop off the end. */
const MAX_ITEMS = 30;

/** The box's document as last seen: { version, doc: { items, front }, device, updated }. */
let server = null;
/** This page's changes not yet taken by the box, oldest first: functions doc -> doc. */
let pending = [];
let timer = null;
let sending = false;
const listeners = new Set();

/** Runs fn(ws, remote) after every change: remote is true for another tablet's write. */
export function onWorkspace(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify(remote) {
  const ws = workspace();
  for (const fn of listeners) {
    try { fn(ws, remote); } catch (e) { console.error('workspace listener:', e); }
  }
}

/** The workspace as this page sees it: the box's document with this page's changes applied. */
export function workspace() {
  if (!server) return null;
  return { ...server, doc: pending.reduce((doc, op) => op(doc), copy(server.doc)) };
}

/** The item in front, or null. */
export function frontItem(ws) {
  const doc = ws && ws.doc;
  if (!doc || !Array.isArray(doc.items) || typeof doc.front !== 'number') return null;
  return doc.items[doc.front] || null;
}

function copy(doc) {
  const items = doc && Array.isArray(doc.items) ? doc.items.filter((i) => i && typeof i.path === 'string') : [];
  const front = doc && typeof doc.front === 'number' && doc.front >= 0 && doc.front < items.length ? doc.front : null;
  return { items: items.map((i) => ({ path: i.path, kind: i.kind || 'other', view: i.view && typeof i.view === 'object' ? { ...i.view } : {} })), front };
}

export function resetWorkspace() {
  server = null;
  pending = [];
  if (timer) { clearTimeout(timer); timer = null; }
}

export async function loadWorkspace() {
  const r = await api('GET', '/api/workspace');
  if (!r.ok || !r.data) return null;
  const first = !server;
  server = normal(r.data);
  notify(!first && isRemote(server));
  if (pending.length) schedule(50);
  return workspace();
}

function normal(data) {
  return { version: Number(data.version) || 0, doc: copy(data.doc), device: data.device ?? null, updated: data.updated ?? null, event: Number(data.event) };
}

function isRemote(ws) {
  return (ws.device ?? null) !== ((state && state.device) ?? null);
}

/** A `workspace` event: the box's document after someone's write (this page's own too). */
export function workspaceEvent(data) {
  if (!data || typeof data.version !== 'number') return;
  if (server && data.version <= server.version) return;
  server = normal(data);
  notify(isRemote(server));
}

function change(op, delay) {
  pending.push(op);
  if (!server) return; // sent once the workspace is loaded
  notify(false);
  schedule(delay);
}

function schedule(delay) {
  if (timer) clearTimeout(timer);
  timer = setTimeout(flush, delay);
}

async function flush(keepalive) {
  timer = null;
  if (!server || pending.length === 0) return;
  if (sending) { schedule(100); return; }
  sending = true;
  try {
    for (let attempt = 0; attempt < 5 && pending.length; attempt++) {
      const ops = pending.slice();
      const doc = ops.reduce((d, op) => op(d), copy(server.doc));
      // Nothing to tell the other tablets (this one opened what was in front already).
      if (JSON.stringify(doc) === JSON.stringify(copy(server.doc))) { pending.splice(0, ops.length); return; }
      const r = await api('PUT', '/api/workspace', doc, { headers: { 'If-Match': `"${server.version}"` }, keepalive: !!keepalive });
      if (r.ok) {
        const version = Number(r.data && r.data.version);
        if (!server || Number.isNaN(version)) return;
        if (version > server.version) server = { version, doc, device: (state && state.device) ?? null, updated: Math.floor(Date.now() / 1000) };
        pending.splice(0, ops.length);
        return;
      }
      if (r.status === 412 && r.data && r.data.current) {
        // Another tablet wrote since: our changes go again on top of theirs.
        server = normal(r.data.current);
        notify(isRemote(server));
        continue;
      }
      // Refused (a bad path, too big): these changes cannot be made; drop them, keep the rest.
      if (r.status >= 400 && r.status < 500 && r.status !== 401 && r.status !== 429) pending.splice(0, ops.length);
      else schedule(3000);
      return;
    }
  } finally {
    sending = false;
  }
}

/** Sends what is waiting at once (the tablet is being put away). */
export function flushWorkspace() {
  if (pending.length && !sending) flush(true);
}

/** Opening `item` ({ path, kind, view }): it goes to the front. */
export function touch(item) {
  change((doc) => {
    const items = doc.items.filter((i) => i.path !== item.path);
    items.unshift({ path: item.path, kind: item.kind, view: item.view || {} });
    return { items: items.slice(0, MAX_ITEMS), front: 0 };
  }, 50);
}

/** Where one is in `path` now (a page turned, a video paused). */
export function setView(path, view, delay = 300) {
  const now = workspace();
  const item = now && now.doc.items.find((i) => i.path === path);
  if (item && sameView(item.view, view)) return;
  change((doc) => {
    const it = doc.items.find((i) => i.path === path);
    if (it) it.view = { ...view };
    return doc;
  }, delay);
}

/** Closing `path`: nothing is in front any more (the item stays, with its place). */
export function closeFront(path) {
  change((doc) => {
    const f = doc.front === null ? null : doc.items[doc.front];
    if (f && f.path === path) doc.front = null;
    return doc;
  }, 300);
}

/** A rename or move: items at or below `from` follow it to `to`. */
export function moved(from, to) {
  const now = workspace();
  if (!now || !now.doc.items.some((i) => i.path === from || i.path.startsWith(from + '/'))) return;
  change((doc) => {
    for (const i of doc.items) {
      if (i.path === from) i.path = to;
      else if (i.path.startsWith(from + '/')) i.path = to + i.path.slice(from.length);
    }
    return doc;
  }, 300);
}
