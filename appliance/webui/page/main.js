// The owner's page of a microcloud box: one page, hash routing, plain JavaScript
// modules (no bundler), one per page area; this one lists the pages and starts the router.
// The JSON API it speaks is described in appliance/webui/API.md.
// Rules kept throughout: server text is only ever set as textContent (never as HTML), no
// password or secret is logged or displayed, secret inputs are cleared after each submit, and
// every request that changes something carries the X-CSRF-Token header.

import { main, errorBox } from './dom.js';
import { api, state, loadState, onSessionLost, OFFLINE } from './api.js';
import { setPages, show, redirect, stopView, onChrome } from './router.js';
import { renderSetup, renderSignin } from './signin.js';
import { renderFiles } from './files.js';
import { renderInbox, inboxCount } from './inbox.js';
import { syncLive } from './live.js';

/**
 * A page whose module is fetched the first time it shows: a tablet opening its files waits for
 * no administrator's page. Returns a render function like the others.
 */
function later(load, name) {
  return (rest, alive) => {
    let stop = null;
    let stopped = false;
    load().then((m) => {
      if (alive() && !stopped) stop = m[name](rest, alive) || null;
    }, () => {
      if (alive() && !stopped) main.replaceChildren(errorBox(OFFLINE, 'offline'));
    });
    return () => {
      stopped = true;
      if (stop) stop();
    };
  };
}

const PAGES = [
  { route: 'dashboard', label: 'Dashboard', admin: true, render: later(() => import('./dashboard.js'), 'renderDashboard') },
  { route: 'files', label: 'Files', admin: false, render: renderFiles },
  // Reached from the files page's "Trash" button; the navigation shows Files as current.
  { route: 'trash', label: 'Trash', admin: false, render: later(() => import('./trash.js'), 'renderTrash'), under: 'files' },
  { route: 'inbox', label: 'Inbox', admin: false, render: renderInbox, badge: inboxCount },
  { route: 'destinations', label: 'Destinations', admin: true, render: later(() => import('./destinations.js'), 'renderDestinations') },
  { route: 'users', label: 'Users', admin: true, render: later(() => import('./users.js'), 'renderUsers') },
  { route: 'devices', label: 'Devices', admin: false, render: later(() => import('./devices.js'), 'renderDevices') },
  { route: 'ssh', label: 'SSH keys', admin: true, render: later(() => import('./ssh.js'), 'renderSsh') },
  { route: 'system', label: 'System', admin: true, render: later(() => import('./system.js'), 'renderSystem') },
];

setPages(PAGES, renderSetup, renderSignin);
onChrome(syncLive);
onSessionLost(() => show());

window.addEventListener('hashchange', () => show());

document.getElementById('sign-out').addEventListener('click', async (e) => {
  const btn = e.currentTarget;
  btn.disabled = true;
  const r = await api('DELETE', '/api/session', undefined, { quiet401: true });
  btn.disabled = false;
  if (!r.ok && r.status !== 401) {
    // Show it on the page rather than in a dialog.
    main.prepend(errorBox(`Signing out failed: ${r.error}`, 'sign-out-error'));
    return;
  }
  stopView();
  const s = await loadState();
  if (!s && state) state.user = null;
  redirect('signin');
});

// A paired tablet's page asks every few seconds whether its device still holds, so that a
// tablet removed in Devices says so and signs out even while nobody touches it.
setInterval(() => {
  if (state && state.user && state.device) api('GET', '/api/session');
}, 3000);

if (location.pathname === '/pair') {
  // The new tablet's pairing page stands alone: no session yet, no navigation.
  Promise.all([loadState(), import('./pair.js')]).then(([, m]) => m.renderPair());
} else {
  show();
}
