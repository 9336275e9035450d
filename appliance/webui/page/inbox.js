// The inbox: what was sent to this tablet or handed to this person (Accept / Decline, Open), and
// what they sent (with its state, and Cancel while it waits). Something sent to this tablet to
// open opens at once, at the sender's place in it, whether it arrives now or was waiting while
// the tablet was off; the navigation's badge counts what waits for a decision.

import { h, main, pageHead, errorBox, statusLine, say } from './dom.js';
import { api, state } from './api.js';
import { humanBytes, exactTime } from './format.js';
import { openItem } from './open.js';
import { openSendDialog, openHandoffDialog } from './send.js';
import { baseName } from './paths.js';
import { kindOf, whereText } from './kinds.js';
import { frontItem } from './workspace.js';

let box = { received: [], sent: [] };
let loaded = false;
/** Entries this page opened by itself already (an event and a reload may both bring one). */
const opened = new Set();
/** Redraws the inbox page while it shows. */
let redraw = null;

const STATE_TEXT = {
  pending: 'waiting',
  opened: 'opened',
  accepted: 'accepted',
  declined: 'declined',
  expired: 'expired',
  gone: 'gone: moved or deleted before it was accepted',
};

function list(x) {
  return Array.isArray(x) ? x.filter((e) => e && e.id != null) : [];
}

function me() {
  return state && state.user ? state.user.name : null;
}

function thisDevice() {
  return (state && state.device) ?? null;
}

export function resetInbox() {
  box = { received: [], sent: [] };
  loaded = false;
  opened.clear();
  changed();
}

/** What waits for this person's decision or this tablet's opening. */
export function inboxCount() {
  return box.received.filter((e) => e.state === 'pending').length;
}

function changed() {
  const badge = document.querySelector('[data-testid="nav-inbox-badge"]');
  if (badge) {
    const n = inboxCount();
    badge.textContent = n ? String(n) : '';
    badge.hidden = n === 0;
  }
  if (redraw) redraw();
}

/** Reads the inbox (and opens what waits for this tablet); returns { event } or null. */
export async function loadInbox() {
  const r = await api('GET', '/api/inbox');
  if (!r.ok || !r.data) return null;
  box = { received: list(r.data.received), sent: list(r.data.sent) };
  loaded = true;
  changed();
  // Sent here while this tablet was off: oldest first, so that the newest ends up in front.
  for (const e of box.received.slice().reverse()) openIfForHere(e);
  return { event: Number(r.data.event) };
}

function upsert(entries, e) {
  const i = entries.findIndex((x) => String(x.id) === String(e.id));
  if (i >= 0) entries[i] = e;
  else entries.unshift(e);
}

/** An `inbox` event: an entry that arrived or whose state changed. */
export function inboxEvent(e) {
  if (!e || e.id == null) return;
  const to = e.to || {};
  const from = e.from || {};
  if (to.user === me() && (e.mode !== 'open' || (to.device ?? null) === thisDevice())) upsert(box.received, e);
  if (from.user === me()) upsert(box.sent, e);
  changed();
  openIfForHere(e);
}

function openIfForHere(e) {
  const to = e.to || {};
  if (e.mode !== 'open' || e.state !== 'pending' || !to.device || to.device !== thisDevice() || to.user !== me()) return;
  if (opened.has(String(e.id))) return;
  opened.add(String(e.id));
  openEntry(e);
  decide(e, 'accept');
}

async function decide(e, what, body) {
  const r = await api('POST', `/api/inbox/${encodeURIComponent(String(e.id))}/${what}`, body || {});
  if (r.ok && r.data && r.data.id != null) inboxEvent(r.data);
  return r;
}

/** Opens what an entry names: the file at the sender's place, the folder, the workspace's front. */
function openEntry(e) {
  if (e.kind === 'workspace') {
    const doc = e.workspace && Array.isArray(e.workspace.items) ? e.workspace : null;
    const item = doc ? (frontItem({ doc }) || doc.items[0]) : null;
    if (item) openItem(item);
    return;
  }
  const path = e.state === 'accepted' && e.result_path ? e.result_path : e.path;
  if (!path) return;
  if (e.kind === 'folder') openItem({ path, kind: 'folder' });
  else openItem({ path, kind: kindOf(e.name || baseName(path), false), view: e.mode === 'open' ? e.view : null });
}

function what(e) {
  if (e.kind === 'workspace') return 'a workspace';
  const where = e.mode === 'open' ? whereText(kindOf(e.name || '', e.kind === 'folder'), e.view) : '';
  return `“${e.name || baseName(e.path || '')}”${where ? `, ${where}` : ''}`;
}

function who(party) {
  if (!party) return 'someone';
  if (party.user === me()) return party.device ? String(party.device) : 'your browser';
  return party.device ? `${party.user} (${party.device})` : String(party.user);
}

function sentence(e, received) {
  if (received) {
    if (e.mode === 'open') return `${who(e.from)} sent ${what(e)} to open here`;
    return `${who(e.from)} handed you ${what(e)}${e.mode === 'move' ? ' to keep (it moves to you)' : ' (a copy)'}`;
  }
  const to = e.to || {};
  if (e.mode === 'open') return `To ${to.device ? String(to.device) : 'a tablet'}: ${what(e)}`;
  return `To ${to.user}: ${what(e)}${e.mode === 'move' ? ' (moves to them)' : ' (a copy)'}`;
}

export function renderInbox(rest, alive) {
  const msg = statusLine('inbox-msg');
  const body = h('div', { testid: 'inbox' }, h('p', { class: 'loading', text: 'Loading…' }));
  const sendWs = h('button', { type: 'button', class: 'btn', testid: 'send-workspace', text: 'Send my workspace to…' });
  const handWs = h('button', { type: 'button', class: 'btn', testid: 'handoff-workspace', text: 'Hand my workspace to a person…' });
  sendWs.addEventListener('click', () => openSendDialog({ workspace: true }));
  handWs.addEventListener('click', () => openHandoffDialog({ workspace: true }));
  main.append(h('section', { testid: 'page-inbox' },
    pageHead('Inbox', h('div', { class: 'actions' }, sendWs, handWs)),
    h('p', { class: 'lead', text: 'What your tablets sent each other and what people hand you, kept here for 10 days.' }),
    msg,
    body));

  function draw() {
    if (!alive()) { redraw = null; return; }
    if (!loaded) return;
    const received = box.received;
    const sent = box.sent;
    body.replaceChildren(
      h('h2', { text: 'Received' }),
      received.length
        ? h('ul', { class: 'entries', testid: 'inbox-received' }, received.map((e) => entry(e, true)))
        : h('p', { class: 'empty', testid: 'inbox-received-empty', text: 'Nothing received.' }),
      h('h2', { text: 'Sent' }),
      sent.length
        ? h('ul', { class: 'entries', testid: 'inbox-sent' }, sent.map((e) => entry(e, false)))
        : h('p', { class: 'empty', testid: 'inbox-sent-empty', text: 'Nothing sent.' }));
  }

  function button(label, testid, kind, run) {
    const b = h('button', { type: 'button', class: `btn btn-small${kind ? ' ' + kind : ''}`, testid, text: label });
    b.addEventListener('click', async () => {
      b.disabled = true;
      await run();
      b.disabled = false;
    });
    return b;
  }

  async function act(e, verb, done) {
    say(msg, '', '');
    const r = await decide(e, verb);
    if (!alive()) return;
    if (!r.ok) { say(msg, r.error, 'error'); loadInbox(); return; }
    if (done) done(r.data || e);
  }

  function entry(e, received) {
    const id = String(e.id);
    const pending = e.state === 'pending';
    const buttons = [];
    if (received && e.mode === 'open') {
      buttons.push(button('Open', `inbox-open-${id}`, 'btn-primary', async () => {
        openEntry(e);
        if (pending) { opened.add(id); await act(e, 'accept'); }
      }));
    } else if (received && pending) {
      buttons.push(button('Accept', `inbox-accept-${id}`, 'btn-primary', () => act(e, 'accept', (x) => {
        say(msg, x.result_path ? `Saved in your files as “${x.result_path}”.` : 'Accepted.', 'ok');
      })));
      buttons.push(button('Decline', `inbox-decline-${id}`, 'btn-danger-quiet', () => act(e, 'decline')));
    } else if (received && e.state === 'accepted' && e.result_path) {
      buttons.push(button('Open', `inbox-open-${id}`, '', async () => openEntry(e)));
    }
    if (!received && pending) buttons.push(button('Cancel', `inbox-cancel-${id}`, 'btn-danger-quiet', () => act(e, 'decline')));
    const facts = [
      e.kind === 'folder' && Number.isFinite(e.files) ? `${e.files} file${e.files === 1 ? '' : 's'}` : null,
      Number.isFinite(e.size) && e.kind !== 'workspace' ? humanBytes(e.size) : null,
      `sent ${exactTime(e.created)}`,
      pending && Number.isFinite(e.expires) ? `waits until ${exactTime(e.expires)}` : null,
      !pending && Number.isFinite(e.decided) ? `${String(e.state)} ${exactTime(e.decided)}` : null,
      e.state === 'accepted' && e.result_path ? `saved as ${e.result_path}` : null,
    ].filter(Boolean);
    const stateText = STATE_TEXT[e.state] || String(e.state);
    return h('li', { class: `entry state-${String(e.state).replace(/[^a-z]/g, '')}`, testid: `inbox-entry-${id}`, 'data-state': String(e.state), 'data-mode': String(e.mode) },
      h('div', { class: 'entry-what' },
        h('span', { class: 'entry-line wrap', testid: `inbox-text-${id}`, text: sentence(e, received) }),
        h('span', { class: 'entry-facts muted' },
          h('span', { class: `badge entry-state`, testid: `inbox-state-${id}`, text: stateText }),
          ' ',
          facts.join(' · '))),
      buttons.length ? h('div', { class: 'row-actions' }, buttons) : null);
  }

  redraw = draw;
  if (loaded) draw();
  loadInbox().then((ok) => {
    if (!alive()) return;
    if (!ok) body.replaceChildren(errorBox('The inbox could not be read. Try again in a moment.', 'inbox-error'));
  });
  return () => { if (redraw === draw) redraw = null; };
}

