// Picking up on this tablet what another one has open: when another of the user's tablets puts
// something in front of the workspace, a banner offers it here ("Continue: report.pdf, page 7
// (from tablet-1)"). With Follow on (a choice of this tablet, kept in its browser), this tablet
// opens it by itself instead, and keeps up as the other one turns pages.

import { h } from './dom.js';
import { state } from './api.js';
import { onWorkspace, frontItem } from './workspace.js';
import { openItem, onOpen } from './open.js';
import { viewerItem, closeViewer } from './viewer.js';
import { baseName } from './paths.js';
import { whereText, sameView } from './kinds.js';

/** A workspace written this long ago by another tablet is still offered when this one starts. */
const FRESH_SECONDS = 12 * 3600;

const slot = document.getElementById('continue');
const toggle = document.getElementById('follow');

let offered = null; // the item the banner offers
let seen = null; // the other tablets' front item last reacted to, as a key
let stops = [];

function key(item) {
  return item ? `${item.path}\n${JSON.stringify(item.view || {})}` : '';
}

function followKey() {
  const user = state && state.user ? state.user.name : '';
  return `microcloud.follow.${user}.${(state && state.device) || ''}`;
}

function following() {
  try { return localStorage.getItem(followKey()) === '1'; } catch (e) { return false; }
}

function setFollowing(on) {
  try {
    if (on) localStorage.setItem(followKey(), '1');
    else localStorage.removeItem(followKey());
  } catch (e) { /* private browsing: on for this page only */ }
  toggle.setAttribute('aria-pressed', on ? 'true' : 'false');
  toggle.textContent = on ? 'Following' : 'Follow';
}

toggle.addEventListener('click', () => setFollowing(toggle.getAttribute('aria-pressed') !== 'true'));

export function startContinue() {
  stopContinue();
  toggle.hidden = false;
  setFollowing(following());
  toggle.title = 'Open by itself what your other tablets open';
  stops = [
    onWorkspace((ws, remote) => { if (remote) react(ws, false); }),
    onOpen((item) => { if (offered && offered.path === item.path) hide(); }),
  ];
}

export function stopContinue() {
  for (const s of stops) s();
  stops = [];
  seen = null;
  hide();
  toggle.hidden = true;
}

/** The workspace as this tablet found it on start: offered too when another tablet wrote it lately. */
export function continueOnStart(ws) {
  if (!ws || (ws.device ?? null) === ((state && state.device) ?? null)) return;
  const age = Date.now() / 1000 - (Number(ws.updated) || 0);
  if (age > FRESH_SECONDS) return;
  react(ws, true);
}

function react(ws, onStart) {
  const front = frontItem(ws);
  const k = key(front);
  if (k === seen) return;
  seen = k;
  const showing = viewerItem();
  if (following()) {
    if (!front) { if (!onStart && showing) closeViewer(); return; }
    if (showing && showing.path === front.path && sameView(showing.view, front.view)) return;
    openItem(front);
    return;
  }
  if (!front) return;
  if (showing && showing.path === front.path) {
    // The same page of the same PDF needs no offer; nor does the same video or song, whose
    // moment a tablet playing it saves now and then (two playing it would offer each other
    // their moments every few seconds).
    if (sameView(showing.view, front.view) || front.kind === 'video' || front.kind === 'audio') return;
  }
  offer(front, ws.device);
}

function offer(item, device) {
  offered = item;
  const where = whereText(item.kind, item.view);
  const from = device ? String(device) : 'another browser';
  const open = h('button', { type: 'button', class: 'btn btn-small btn-primary', testid: 'continue-open', text: 'Open' });
  const dismiss = h('button', { type: 'button', class: 'btn btn-small btn-quiet', testid: 'continue-dismiss', 'aria-label': 'Dismiss', text: '✕' });
  open.addEventListener('click', () => { const it = offered; hide(); if (it) openItem(it); });
  dismiss.addEventListener('click', hide);
  slot.replaceChildren(h('div', { class: 'continue', role: 'status', testid: 'continue-banner', 'data-path': item.path },
    h('span', { class: 'continue-text', testid: 'continue-text', text: `Continue: ${baseName(item.path) || 'Home'}${where ? `, ${where}` : ''} (from ${from})` }),
    h('span', { class: 'continue-actions' }, open, dismiss)));
  slot.hidden = false;
}

function hide() {
  offered = null;
  slot.replaceChildren();
  slot.hidden = true;
}
