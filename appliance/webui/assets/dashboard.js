// The dashboard: the cache, what waits for the cloud, each destination, recent activity.

import { h, main, pageHead } from './dom.js';
import { humanBytes, humanAge, timeFormat, activityTime, percent, percentText } from './format.js';
import { api } from './api.js';

const STATE_TEXT = { ok: 'ok', retrying: 'retrying', down: 'down' };

export function renderDashboard(rest, alive) {
  const body = h('div', { class: 'dash', testid: 'dashboard' }, h('p', { class: 'loading', text: 'Loading…' }));
  const updated = h('span', { class: 'updated', testid: 'dashboard-updated' });
  main.append(h('section', { testid: 'page-dashboard' }, pageHead('Dashboard', updated), body));
  let timer = null;
  let running = false;
  async function tick() {
    timer = null;
    if (!alive()) return;
    if (document.visibilityState === 'visible' && !running) {
      running = true;
      const r = await api('GET', '/api/status');
      running = false;
      if (!alive()) return;
      if (r.ok && r.data) {
        body.replaceChildren(...statusView(r.data));
        updated.textContent = `updated ${timeFormat.format(new Date())}`;
        updated.classList.remove('stale');
      } else if (r.status !== 401) {
        updated.textContent = `not updated: ${r.error}`;
        updated.classList.add('stale');
      }
    }
    if (alive()) timer = setTimeout(tick, 1000);
  }
  const onVisible = () => {
    if (document.visibilityState === 'visible' && timer) { clearTimeout(timer); tick(); }
  };
  document.addEventListener('visibilitychange', onVisible);
  tick();
  return () => {
    if (timer) clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}

function bar(fraction, testid, label, kind) {
  const p = percent(fraction);
  const fill = h('div', { class: 'bar-fill' });
  fill.style.width = `${p.toFixed(1)}%`; // through the CSSOM: allowed by a strict style-src policy
  return h('div', { class: 'bar' + (kind ? ' bar-' + kind : ''), role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': p.toFixed(1), testid, 'data-value': (typeof fraction === 'number' ? fraction : 0).toFixed(4) },
    fill);
}

function statusView(s) {
  const dests = Array.isArray(s.destinations) ? s.destinations : [];
  const activity = Array.isArray(s.activity) ? s.activity : [];
  const cacheUsed = typeof s.cache_used_fraction === 'number' ? s.cache_used_fraction : 0;
  const summary = h('div', { class: 'tiles' },
    h('div', { class: 'tile' },
      h('div', { class: 'tile-label', text: 'Files kept' }),
      h('div', { class: 'tile-value', testid: 'total-files', text: String(s.files ?? '–') }),
      h('div', { class: 'tile-sub', testid: 'total-bytes', text: humanBytes(s.bytes) })),
    h('div', { class: 'tile tile-wide' },
      h('div', { class: 'tile-label', text: 'Cache on this box' }),
      h('div', { class: 'tile-value', testid: 'cache-used-text', text: `${percentText(cacheUsed)} used` }),
      bar(cacheUsed, 'cache-used', 'cache used', cacheUsed > 0.9 ? 'warn' : ''),
      h('div', { class: 'tile-sub', text: `of ${humanBytes(s.cache_limit)}` })),
    h('div', { class: 'tile tile-wide' },
      h('div', { class: 'tile-label', text: 'Waiting for the cloud' }),
      h('div', { class: 'tile-value', testid: 'dirty-bytes', text: humanBytes(s.dirty_bytes) }),
      bar(s.dirty_fraction, 'dirty-fraction', 'waiting for the cloud, part of the cache', 'dirty'),
      h('div', { class: 'tile-sub', testid: 'dirty-fraction-text', text: `${percentText(s.dirty_fraction)} of the cache` })));

  const destSection = h('section', { class: 'section', testid: 'destinations-status' }, h('h2', { text: 'Destinations' }));
  if (dests.length === 0) {
    destSection.append(h('p', { class: 'empty', testid: 'no-destinations' },
      'No destinations yet: your files are kept only on this box. ',
      h('a', { href: '#/destinations', testid: 'link-add-destination', text: 'Add a destination' }),
      ' to have them copied to the cloud.'));
  } else {
    destSection.append(h('div', { class: 'cards' }, dests.map(destCard)));
  }

  const act = h('section', { class: 'section' }, h('h2', { text: 'Recent activity' }));
  if (activity.length === 0) {
    act.append(h('p', { class: 'empty', testid: 'activity-empty', text: 'Nothing yet.' }));
  } else {
    act.append(h('ol', { class: 'activity', testid: 'activity' }, activity.slice(0, 20).map((a) =>
      h('li', {}, h('time', { text: activityTime(a.time) }), h('span', { text: String(a.what ?? '') })))));
  }
  return [summary, destSection, act];
}

function destCard(d) {
  const name = String(d.name);
  const st = String(d.state);
  const conflicts = typeof d.conflicts === 'number' ? d.conflicts : 0;
  return h('article', { class: 'card dest-card', testid: `dest-${name}` },
    h('div', { class: 'card-head' },
      h('h3', { text: name }),
      h('span', { class: `badge state-${STATE_TEXT[st] ? st : 'unknown'}`, testid: `dest-${name}-state`, text: STATE_TEXT[st] || st })),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Files waiting' }), h('dd', { testid: `pending-files-${name}`, text: String(d.pending_files ?? '–') }),
      h('dt', { text: 'Bytes waiting' }), h('dd', { testid: `pending-bytes-${name}`, text: humanBytes(d.pending_bytes) }),
      h('dt', { text: 'Oldest waiting' }), h('dd', { testid: `oldest-pending-${name}`, text: d.pending_files ? humanAge(d.oldest_pending_age_seconds) : '–' }),
      h('dt', { text: 'Conflicts' }), h('dd', { testid: `conflicts-${name}`, class: conflicts ? 'warn-text' : '', text: String(conflicts) })),
    d.last_error ? h('p', { class: 'last-error', testid: `last-error-${name}` }, h('strong', { text: 'Last error: ' }), String(d.last_error)) : null);
}
