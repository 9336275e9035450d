// The owner's page of a microcloud box: one page, hash routing, plain JavaScript
// modules (no bundler), one per page area; this one lists the pages and starts the router.
// The JSON API it speaks is described in appliance/webui/API.md.
// Rules kept throughout: server text is only ever set as textContent (never as HTML), no
// password or secret is logged or displayed, secret inputs are cleared after each submit, and
// every request that changes something carries the X-CSRF-Token header.

import { main, errorBox } from './dom.js';
import { api, state, loadState, onSessionLost } from './api.js';
import { setPages, show, redirect, stopView } from './router.js';
import { renderSetup, renderSignin } from './signin.js';
import { renderDashboard } from './dashboard.js';
import { renderFiles } from './files.js';
import { renderTrash } from './trash.js';
import { renderDestinations } from './destinations.js';
import { renderUsers } from './users.js';
import { renderDevices } from './devices.js';
import { renderPair, isPairPage } from './pair.js';
import { renderSsh } from './ssh.js';
import { renderSystem } from './system.js';

const PAGES = [
  { route: 'dashboard', label: 'Dashboard', admin: true, render: renderDashboard },
  { route: 'files', label: 'Files', admin: false, render: renderFiles },
  // Reached from the files page's "Trash" button; the navigation shows Files as current.
  { route: 'trash', label: 'Trash', admin: false, render: renderTrash, under: 'files' },
  { route: 'destinations', label: 'Destinations', admin: true, render: renderDestinations },
  { route: 'users', label: 'Users', admin: true, render: renderUsers },
  { route: 'devices', label: 'Devices', admin: false, render: renderDevices },
  { route: 'ssh', label: 'SSH keys', admin: true, render: renderSsh },
  { route: 'system', label: 'System', admin: true, render: renderSystem },
];

setPages(PAGES, renderSetup, renderSignin);
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

if (isPairPage()) {
  // The new tablet's pairing page stands alone: no session yet, no navigation.
  loadState().then(() => renderPair());
} else {
  show();
}
