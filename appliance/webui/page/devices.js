// Devices: each tablet or WebDAV app with a password of its own, revocable one by one.
// Everyone sees their own; an administrator sees everyone's. A device's password is shown once.

import { h, main, pageHead, errorBox } from './dom.js';
import { api, state } from './api.js';
import { humanTime } from './format.js';
import { startPairing } from './pair.js';
import { lanSection } from './lan.js';
import { field, messageLine, clearMessages, showError, value, onSubmit, requireFields } from './forms.js';

export function renderDevices(rest, alive) {
  const admin = !!(state && state.user && state.user.admin);
  const list = h('div', { class: 'list', testid: 'device-list' }, h('p', { class: 'loading', text: 'Loading…' }));
  const shown = h('div', { testid: 'device-password-box' });

  async function load() {
    const r = await api('GET', '/api/devices');
    if (!alive()) return;
    if (!r.ok) { list.replaceChildren(errorBox(r.error, 'devices-error')); return; }
    const devices = Array.isArray(r.data) ? r.data : [];
    if (devices.length === 0) {
      list.replaceChildren(h('p', { class: 'muted', testid: 'no-devices', text: 'No devices yet.' }));
      return;
    }
    list.replaceChildren(h('table', { class: 'table' },
      h('thead', {}, h('tr', {},
        admin ? h('th', { text: 'User' }) : null,
        h('th', { text: 'Device' }), h('th', { class: 'hide-narrow', text: 'Kind' }), h('th', { class: 'hide-narrow', text: 'Added' }),
        h('th', { text: 'Last seen' }), h('th', { class: 'hide-narrow', text: 'From' }),
        h('th', { class: 'col-actions' }, h('span', { class: 'sr-only', text: 'Actions' })))),
      h('tbody', {}, devices.map((d) => deviceRow(d)))));
  }

  function deviceRow(d) {
    const user = String(d.user);
    const name = String(d.name);
    const cell = h('td', { class: 'col-actions' });
    const b = h('button', { type: 'button', class: 'btn btn-small btn-danger', text: 'Revoke', testid: `revoke-${user}-${name}` });
    b.addEventListener('click', async () => {
      b.disabled = true;
      const r = await api('DELETE', `/api/devices/${encodeURIComponent(user)}/${encodeURIComponent(name)}`);
      if (!alive()) return;
      if (!r.ok) { b.disabled = false; cell.append(errorBox(r.error, `revoke-error-${name}`)); return; }
      load();
    });
    cell.replaceChildren(b);
    return h('tr', { testid: `device-row-${user}-${name}` },
      admin ? h('td', { text: user }) : null,
      h('td', {}, name, d.this ? h('span', { class: 'muted', text: ' (this tablet)' }) : null),
      h('td', { class: 'hide-narrow', text: String(d.kind || '') }),
      h('td', { class: 'hide-narrow', text: humanTime(d.created) }),
      h('td', { text: d.last_seen == null ? 'never' : humanTime(d.last_seen) }),
      h('td', { class: 'hide-narrow', text: d.last_address == null ? '–' : String(d.last_address) }),
      cell);
  }

  const id = 'device';
  const form = h('form', { id, class: 'form card', testid: 'form-device' },
    h('div', { class: 'grid' },
      field(id, { name: 'name', label: 'Device name (e.g. Anna’s iPad)', required: true, autocomplete: 'off' }),
      admin ? field(id, { name: 'user', label: 'For user (empty: you)', autocomplete: 'off' }) : null),
    messageLine(id),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Add device', testid: 'device-submit' })));
  onSubmit(form, async (f) => {
    clearMessages(f);
    if (!requireFields(f, ['name'])) return;
    const body = { name: value(f, 'name').trim() };
    if (admin && value(f, 'user').trim()) body.user = value(f, 'user').trim();
    const r = await api('POST', '/api/devices', body);
    if (!alive()) return;
    if (!r.ok) { showError(f, r.error, r.field); return; }
    f.reset();
    const address = `${location.origin}/dav/`;
    shown.replaceChildren(h('div', { class: 'card', role: 'status', testid: 'device-password' },
      h('p', { text: `Device “${r.data.name}” of ${r.data.user} added. In its WebDAV app use:` }),
      h('dl', {},
        h('dt', { text: 'Address' }), h('dd', { class: 'mono', testid: 'device-address', text: address }),
        h('dt', { text: 'User' }), h('dd', { class: 'mono', text: String(r.data.user) }),
        h('dt', { text: 'Password' }), h('dd', { class: 'mono', testid: 'device-password-value', text: String(r.data.password) })),
      h('p', { class: 'muted', text: 'The password is shown only now. Revoke the device here when it is lost.' })));
    load();
  });

  const pairing = h('div', {});
  let stopPairing = null;
  const addTablet = h('button', { type: 'button', class: 'btn btn-primary', text: 'Add a tablet', testid: 'add-tablet' });
  // "Add a tablet", and "Invite" beside a device on the network: the same pairing card.
  function pair() {
    if (stopPairing) stopPairing();
    addTablet.disabled = true;
    stopPairing = startPairing(pairing, alive, () => { addTablet.disabled = false; load(); });
    pairing.scrollIntoView({ block: 'nearest' });
  }
  addTablet.addEventListener('click', pair);
  const lan = lanSection(alive, admin, pair);

  main.append(h('section', { testid: 'page-devices' },
    pageHead('Devices', addTablet),
    pairing,
    list,
    shown,
    lan.el,
    h('h2', { text: 'Add a device for a WebDAV app' }),
    form));
  load();
  // A page that stays open sees new devices and their last use.
  const timer = setInterval(() => { if (alive()) load(); }, 10000);
  return () => { clearInterval(timer); lan.stop(); if (stopPairing) stopPairing(); };
}
