// Onboarding (the first administrator) and signing in.

import { h, main, errorBox } from './dom.js';
import { api, state, loadState, lostReason, clearLostReason } from './api.js';
import { field, messageLine, clearMessages, showError, value, clearSecrets, onSubmit, requireFields } from './forms.js';
import { redirect, homeRoute, show } from './router.js';

// Onboarding.

// The console's QR code opens https://ADDRESS/#setup=CODE: the code comes filled in. It is taken
// before the router reads the address (when the page loads, or when only the address's fragment
// changes: this listener is registered before the router's), and leaves the address bar (and the
// history) at once.
function takeCarriedCode() {
  const m = location.hash.match(/^#setup=([A-Za-z0-9-]{4,32})$/);
  if (!m) return null;
  history.replaceState(null, '', location.pathname + '#/setup');
  return m[1];
}
let carriedCode = takeCarriedCode();
window.addEventListener('hashchange', () => {
  const code = takeCarriedCode();
  if (!code) return;
  carriedCode = code;
  const input = document.querySelector('#setup [name="code"]');
  if (input) input.value = code;
});

export function renderSetup() {
  const id = 'setup';
  const form = h('form', { id, class: 'form card', testid: 'form-setup', autocomplete: 'off' },
    field(id, { name: 'code', label: 'Setup code', required: true, autocomplete: 'one-time-code', hint: 'Upper or lower case, with or without the dashes.' }),
    field(id, { name: 'name', label: 'Administrator name', required: true, autocomplete: 'username', placeholder: 'e.g. ann' }),
    field(id, { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password' }),
    field(id, { name: 'password2', label: 'Password again', type: 'password', required: true, autocomplete: 'new-password' }),
    field(id, { name: 'ssh_key', label: 'SSH public key', optional: true, textarea: true, rows: 3, wide: true, placeholder: 'ssh-ed25519 AAAA… you@laptop', hint: 'Lets you sign in over ssh with your key. You can add keys later too.' }),
    messageLine(id),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Finish setup', testid: 'setup-submit' })));
  onSubmit(form, async () => {
    clearMessages(form);
    if (!requireFields(form, ['code', 'name', 'password', 'password2'])) { clearSecrets(form); return; }
    if (value(form, 'password') !== value(form, 'password2')) {
      clearSecrets(form);
      showError(form, 'The two passwords differ. Type them again.', 'password2');
      return;
    }
    const body = { code: value(form, 'code').trim(), name: value(form, 'name').trim(), password: value(form, 'password'), ssh_key: value(form, 'ssh_key').trim() };
    const r = await api('POST', '/api/onboarding', body, { quiet401: true });
    body.password = '';
    clearSecrets(form);
    if (!r.ok) {
      if (r.status === 403) {
        // Setup was finished meanwhile (in another tab or by someone else): sign in instead.
        await loadState();
        if (state && !state.onboarding) { showError(form, r.error); setTimeout(() => show(), 1500); return; }
      }
      showError(form, r.error, r.field);
      return;
    }
    form.reset();
    await loadState();
    redirect(homeRoute());
  });
  main.append(h('section', { class: 'narrow', testid: 'page-setup' },
    h('h1', { text: 'Set up your microcloud' }),
    h('p', { class: 'lead', text: 'Make the first administrator of this box. The setup code proves you are at the box: it is shown' }),
    h('ul', { class: 'where', testid: 'setup-code-where' },
      h('li', { text: 'on the box’s own console (a screen plugged into it),' }),
      h('li', {}, 'in the system journal (', h('code', { text: 'journalctl -u microcloud-gateway' }), '),'),
      h('li', {}, 'by running ', h('code', { text: 'microcloud setup-code' }), ' in an ssh shell on the box,'),
      h('li', {}, 'or in the terminal running ', h('code', { text: 'microcloud gateway' }), '.')),
    form,
    fingerprint()));
  if (carriedCode) {
    form.elements.namedItem('code').value = carriedCode;
    form.elements.namedItem('name').focus();
  } else {
    form.elements.namedItem('code').focus();
  }
}

// Sign in.

export function renderSignin() {
  const id = 'signin';
  const form = h('form', { id, class: 'form card', testid: 'form-signin' },
    field(id, { name: 'name', label: 'Name', required: true, autocomplete: 'username' }),
    field(id, { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'off' }),
    messageLine(id),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Sign in', testid: 'signin-submit' })));
  onSubmit(form, async () => {
    clearMessages(form);
    if (!requireFields(form, ['name', 'password'])) return;
    const body = { name: value(form, 'name').trim(), password: value(form, 'password') };
    const r = await api('POST', '/api/session', body, { quiet401: true });
    body.password = '';
    clearSecrets(form);
    if (!r.ok) {
      showError(form, r.status === 401 && !(r.data && r.data.error) ? 'Wrong name or password.' : r.error, r.field);
      return;
    }
    await loadState();
    if (!state || !state.user) {
      showError(form, 'Signed in, but the box did not keep the session. Are cookies allowed for this page?');
      return;
    }
    redirect(homeRoute());
  });
  const reason = lostReason;
  clearLostReason();
  main.append(h('section', { class: 'narrow', testid: 'page-signin' },
    reason ? errorBox(reason, 'signed-out-reason') : null,
    h('h1', { text: 'Sign in' }),
    h('p', { class: 'lead', text: `Sign in to ${state && state.hostname ? state.hostname : 'your microcloud'}.` }),
    form,
    fingerprint()));
  form.elements.namedItem('name').focus();
}

/** The box's certificate fingerprint, as the console and `microcloud tls` show it (over HTTPS). */
export function fingerprint() {
  if (!state || !state.ca_fingerprint) return null;
  return h('p', { class: 'muted small', testid: 'ca-fingerprint' },
    'This box’s certificate authority (SHA-256): ', h('span', { class: 'mono', text: String(state.ca_fingerprint) }));
}
