// Handing work on: "Send to…" one of one's own tablets (it opens there, at the same place, now
// or when that tablet is next on), and "Hand to a person…" (a copy, or the thing itself, into
// their files once they accept). Both wait in the box's inbox, not in this page.

import { h, statusLine, say } from './dom.js';
import { api, state } from './api.js';
import { humanTime } from './format.js';
import { baseName } from './paths.js';
import { openDialog } from './dialog.js';
import { whereText } from './kinds.js';

/** What is sent: { path, kind, view } of a file or folder, or { workspace: true }. */
function label(what) {
  if (what.workspace) return 'your workspace';
  const where = whereText(what.kind, what.view);
  return `“${baseName(what.path) || 'Home'}”${where ? `, ${where}` : ''}`;
}

export function openSendDialog(what, onSent) {
  const d = openDialog(what.workspace ? 'Send my workspace to…' : 'Send to…', 'send-dialog');
  const msg = statusLine('send-msg');
  const list = h('ul', { class: 'pick-list', testid: 'send-devices' }, h('li', { class: 'loading', text: 'Loading…' }));
  d.body.append(
    h('p', { class: 'lead', text: `${label(what)} opens on the tablet you pick, at the same place. A tablet that is off opens it when it is next on.` }),
    list,
    msg);
  (async () => {
    const r = await api('GET', '/api/devices/mine');
    if (!d.isOpen()) return;
    if (!r.ok) { list.replaceChildren(); say(msg, r.error, 'error'); return; }
    const others = (Array.isArray(r.data) ? r.data : []).filter((x) => !x.this);
    if (others.length === 0) {
      list.replaceChildren(h('li', { class: 'empty', testid: 'send-none', text: state && state.device
        ? 'You have no other tablet yet. Pair one in Devices.'
        : 'You have no tablet yet. Pair one in Devices.' }));
      return;
    }
    list.replaceChildren(...others.map((x) => deviceChoice(x)));
  })();

  function deviceChoice(x) {
    const name = String(x.name);
    const b = h('button', { type: 'button', class: 'pick', testid: `send-to-${name}` },
      h('span', { class: `dot ${x.online ? 'dot-on' : 'dot-off'}`, 'aria-hidden': 'true' }),
      h('span', { class: 'pick-name', text: name }),
      h('span', { class: 'pick-sub muted', text: x.online ? 'online' : (x.last_seen ? `last seen ${humanTime(x.last_seen)}` : 'not seen yet') }));
    b.addEventListener('click', async () => {
      for (const other of d.body.querySelectorAll('.pick')) other.disabled = true;
      say(msg, 'Sending…', 'busy');
      const body = what.workspace
        ? { device: name, workspace: true }
        : { device: name, path: what.path, view: what.view || {} };
      const r = await api('POST', '/api/send', body);
      for (const other of d.body.querySelectorAll('.pick')) other.disabled = false;
      if (!r.ok) { say(msg, r.error, 'error'); return; }
      say(msg, x.online ? `Sent: it opens on ${name} now.` : `Sent: ${name} opens it when it is next on (it waits 10 days).`, 'ok');
      if (onSent) onSent(r.data);
    });
    return h('li', {}, b);
  }
  return d;
}

export function openHandoffDialog(what, onSent) {
  const d = openDialog(what.workspace ? 'Hand my workspace to a person…' : 'Hand to a person…', 'handoff-dialog');
  const id = 'handoff';
  const user = h('input', { id: `${id}-user`, name: 'user', class: 'input', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', required: true, testid: 'handoff-user' });
  const move = h('input', { type: 'checkbox', id: `${id}-move`, name: 'move', testid: 'handoff-move' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'handoff-submit', text: 'Hand over' });
  const msg = statusLine('handoff-msg');
  const form = h('form', { class: 'form', testid: 'form-handoff' },
    h('p', { class: 'lead', text: `${label(what)} waits in their inbox until they accept it (10 days at most).` }),
    h('div', { class: 'field' }, h('label', { for: `${id}-user`, text: 'Their user name on this box' }), user),
    what.workspace ? null : h('div', { class: 'field field-check' },
      h('label', { class: 'check', for: `${id}-move` }, move, h('span', { text: 'Transfer ownership (move): it leaves your files when they accept' }))),
    h('div', { class: 'actions' }, submit),
    msg);
  d.body.append(form);
  user.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const who = user.value.trim();
    if (!who) { say(msg, 'Type their user name.', 'error'); user.focus(); return; }
    submit.disabled = true;
    say(msg, 'Handing over…', 'busy');
    const body = what.workspace ? { user: who, workspace: true } : { user: who, path: what.path, move: move.checked };
    const r = await api('POST', '/api/handoff', body);
    submit.disabled = false;
    if (!r.ok) { say(msg, r.error, 'error'); return; }
    say(msg, `Handed to ${who}: it waits in their inbox until they accept.`, 'ok');
    if (onSent) onSent(r.data);
  });
  return d;
}
