// "On this network", on the Devices page: the paired devices (online now, or when last seen) and
// the other devices the discovery agent sees on the LAN, each with an "Invite" that starts a
// pairing. Names and services are announced over mDNS by anyone on the LAN: they are only ever
// set as text, never as markup.

import { h, errorBox } from './dom.js';
import { api } from './api.js';
import { humanAge } from './format.js';

/** How often the section asks again while the page is open. */
const REFRESH_MS = 5000;

/**
 * The section, refreshed every 5 s while alive(). invite() starts a pairing (the same as
 * "Add a tablet"). Returns { el, stop }.
 */
export function lanSection(alive, admin, invite) {
  const body = h('div', { testid: 'lan-body' }, h('p', { class: 'loading', text: 'Loading…' }));
  const el = h('section', { class: 'lan', testid: 'lan-section' }, h('h2', { text: 'On this network' }), body);
  let timer = null;
  let stopped = false;

  const text = (v) => (v === null || v === undefined ? '' : String(v));
  const list = (v) => (Array.isArray(v) ? v.map(text) : []);

  function seen(online, t, now, testid) {
    if (online) return h('span', { class: 'badge state-ok', testid, text: 'online now' });
    if (typeof t !== 'number' || !isFinite(t)) return h('span', { class: 'muted', testid, text: 'never seen' });
    return h('span', { class: 'muted', testid, text: `last seen ${humanAge(now - t)} ago` });
  }

  function pairedTable(paired, now) {
    if (paired.length === 0) {
      return h('p', { class: 'muted', testid: 'lan-no-paired', text: 'No paired devices yet.' });
    }
    return h('table', { class: 'table stack', testid: 'lan-paired' },
      h('thead', {}, h('tr', {},
        admin ? h('th', { text: 'User' }) : null,
        h('th', { text: 'Device' }), h('th', { text: 'Status' }), h('th', { class: 'hide-narrow', text: 'Address' }))),
      h('tbody', {}, paired.map((p) => {
        const user = text(p.user);
        const name = text(p.name);
        return h('tr', { testid: `lan-paired-${user}-${name}` },
          admin ? h('td', { text: user }) : null,
          h('td', { text: name }),
          h('td', {}, seen(!!p.online, p.last_seen_unix, now, `lan-paired-status-${user}-${name}`)),
          h('td', { class: 'hide-narrow mono', text: p.address == null ? '–' : text(p.address) }));
      })));
  }

  function otherRow(o, now) {
    const mac = o.mac == null ? '' : text(o.mac);
    const addresses = list(o.addresses);
    const key = mac || addresses[0] || '';
    const names = list(o.names);
    const services = list(o.services);
    const b = h('button', { type: 'button', class: 'btn btn-small', text: 'Invite', testid: `lan-invite-${key}` });
    b.addEventListener('click', () => invite());
    return h('tr', { testid: `lan-other-${key}` },
      h('td', { testid: `lan-other-names-${key}`, title: services.length ? services.join('\n') : null },
        names.length ? names.join(', ') : h('span', { class: 'muted', text: 'no name announced' })),
      h('td', { class: 'mono', testid: `lan-other-mac-${key}` },
        mac || '–',
        o.randomized_mac ? h('span', { class: 'muted', text: ' (private address)' }) : null),
      h('td', { class: 'hide-narrow mono', text: addresses.join(', ') }),
      h('td', {}, seen(!!o.online, o.last_seen_unix, now)),
      h('td', { class: 'col-actions' }, b));
  }

  function othersTable(others, now) {
    if (others.length === 0) {
      return h('p', { class: 'muted', testid: 'lan-no-others', text: 'No other devices seen on the network.' });
    }
    return h('table', { class: 'table stack', testid: 'lan-others' },
      h('thead', {}, h('tr', {},
        h('th', { text: 'Name' }), h('th', { text: 'MAC' }), h('th', { class: 'hide-narrow', text: 'Addresses' }),
        h('th', { text: 'Status' }), h('th', { class: 'col-actions' }, h('span', { class: 'sr-only', text: 'Actions' })))),
      h('tbody', {}, others.map((o) => otherRow(o, now))));
  }

  function render(d) {
    const now = typeof d.now === 'number' ? d.now : Date.now() / 1000;
    const paired = Array.isArray(d.paired) ? d.paired : [];
    const others = Array.isArray(d.others) ? d.others : [];
    body.replaceChildren(...[
      d.watching ? null : h('p', { class: 'muted', testid: 'lan-not-watching', text: 'The discovery agent is not running: only paired devices are shown.' }),
      h('h3', { text: 'Paired devices' }),
      pairedTable(paired, now),
      d.watching ? h('h3', { text: 'Other devices' }) : null,
      d.watching ? othersTable(others, now) : null].filter(Boolean));
  }

  async function load() {
    timer = null;
    if (stopped || !alive()) return;
    const r = await api('GET', '/api/lan');
    if (stopped || !alive()) return;
    if (r.ok && r.data && typeof r.data === 'object') render(r.data);
    else body.replaceChildren(errorBox(r.error || 'The box sent no answer.', 'lan-error'));
    timer = setTimeout(load, REFRESH_MS);
  }

  load();
  return { el, stop: () => { stopped = true; if (timer) clearTimeout(timer); timer = null; } };
}
