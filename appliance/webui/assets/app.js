// The owner's page of a microcloud box: one page, hash routing, plain JavaScript.
// The JSON API it speaks is described in appliance/webui/API.md.
// Rules kept throughout: server text is only ever set as textContent (never as HTML), no
// password or secret is logged or displayed, secret inputs are cleared after each submit, and
// every request that changes something carries the X-CSRF-Token header.
'use strict';

(() => {
  const main = document.getElementById('main');
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');

  /** The last answer of GET /api/state. */
  let state = null;
  /** The page on screen: { route, stop() }. */
  let view = null;
  /** Bumped on every page change, so late answers for a left page are dropped. */
  let generation = 0;

  const PAGES = [
    { route: 'dashboard', label: 'Dashboard', admin: true, render: renderDashboard },
    { route: 'files', label: 'Files', admin: false, render: renderFiles },
    { route: 'destinations', label: 'Destinations', admin: true, render: renderDestinations },
    { route: 'users', label: 'Users', admin: true, render: renderUsers },
    { route: 'ssh', label: 'SSH keys', admin: true, render: renderSsh },
    { route: 'system', label: 'System', admin: true, render: renderSystem },
  ];

  // ---------------------------------------------------------------------------------------
  // Small helpers.

  /** Builds an element. props: class, text, testid, on<event>, value, checked, attributes. */
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = String(v);
        else if (k === 'testid') el.setAttribute('data-testid', v);
        else if (k === 'value') {
          // The default value too, so that form.reset() goes back to it.
          if ('defaultValue' in el) el.defaultValue = v;
          el.value = v;
        } else if (k === 'checked') {
          el.defaultChecked = true;
          el.checked = true;
        }
        else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (v === true) el.setAttribute(k, '');
        else el.setAttribute(k, String(v));
      }
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === undefined || kid === null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  function humanBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    if (n < 1024) return `${n} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
  }

  function humanAge(seconds) {
    if (typeof seconds !== 'number' || !isFinite(seconds)) return '–';
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const hrs = Math.floor(m / 60);
    if (hrs < 48) return `${hrs} h ${m % 60} min`;
    return `${Math.floor(hrs / 24)} days`;
  }

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

  function humanTime(unix) {
    if (typeof unix !== 'number' || !isFinite(unix)) return '–';
    return dateFormat.format(new Date(unix * 1000));
  }

  function activityTime(unix) {
    if (typeof unix !== 'number' || !isFinite(unix)) return '';
    const d = new Date(unix * 1000);
    const today = new Date();
    return d.toDateString() === today.toDateString() ? timeFormat.format(d) : dateFormat.format(d);
  }

  function percent(fraction) {
    if (typeof fraction !== 'number' || !isFinite(fraction)) return 0;
    return Math.max(0, Math.min(100, fraction * 100));
  }

  /** "37 %", and "< 1 %" rather than a misleading "0 %" for a little. */
  function percentText(fraction) {
    const p = percent(fraction);
    if (p > 0 && p < 1) return '< 1 %';
    return `${Math.round(p)} %`;
  }

  /** "/a b/c" -> "/api/dav/a%20b/c": every segment percent-encoded on its own. */
  function davUrl(path) {
    return '/api/dav/' + segments(path).map(encodeURIComponent).join('/');
  }

  function segments(path) {
    return String(path).split('/').filter((s) => s !== '');
  }

  function joinPath(dir, name) {
    return '/' + [...segments(dir), name].join('/');
  }

  function filesHash(path) {
    const segs = segments(path).map(encodeURIComponent);
    return '#/files' + (segs.length ? '/' + segs.join('/') : '');
  }

  // ---------------------------------------------------------------------------------------
  // The API.

  const OFFLINE = 'The microcloud box did not answer. Check that it is switched on and on the network, then try again.';

  /**
   * One JSON request. Returns { ok, status, data, error, field }; never throws.
   * opts.quiet401: a 401 is an answer (wrong password), not a lost session.
   */
  async function api(method, path, body, opts = {}) {
    const changes = method !== 'GET' && method !== 'HEAD';
    for (let attempt = 0; ; attempt++) {
      const headers = { Accept: 'application/json' };
      const csrf = state && state.csrf;
      if (changes && csrf) headers['X-CSRF-Token'] = csrf;
      const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
      if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
      let res;
      try {
        res = await fetch(path, init);
      } catch (e) {
        return { ok: false, status: 0, data: null, error: OFFLINE, field: null };
      }
      let data = null;
      try {
        const text = await res.text();
        if (text) data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
      if (res.ok) return { ok: true, status: res.status, data, error: null, field: null };
      // A stale CSRF token (another tab signed in again): fetch the new one and retry once.
      if (changes && res.status === 403 && attempt === 0 && !opts.noRetry) {
        const fresh = await fetchState();
        if (fresh && fresh.csrf && fresh.csrf !== csrf) {
          state = fresh;
          continue;
        }
      }
      return failure(res, data, opts);
    }
  }

  /** The box's sentences start in lower case ("wrong name or password"): show them as sentences. */
  function sentence(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function failure(res, data, opts) {
    let error = data && typeof data.error === 'string' && data.error
      ? sentence(data.error)
      : `The request failed (HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}).`;
    const field = data && typeof data.field === 'string' ? data.field : null;
    if (res.status === 429) {
      const after = res.headers.get('Retry-After');
      if (after && !/\d/.test(error)) error += ` Try again in ${after} seconds.`;
    }
    if (res.status === 401 && !opts.quiet401) sessionLost();
    return { ok: false, status: res.status, data, error, field };
  }

  async function fetchState() {
    try {
      const res = await fetch('/api/state', { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!res.ok) return null;
      return await res.json();
    } catch (e) {
      return null;
    }
  }

  async function loadState() {
    const s = await fetchState();
    if (s) state = s;
    return s;
  }

  let losing = false;
  async function sessionLost() {
    if (losing) return;
    losing = true;
    try {
      await loadState();
      show();
    } finally {
      losing = false;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Forms: fields with their own error line, one message line per form.

  function field(formId, o) {
    const id = `${formId}-${o.name}`;
    const attrs = {
      id,
      name: o.name,
      class: 'input',
      required: o.required,
      placeholder: o.placeholder,
      autocomplete: o.autocomplete || 'off',
      autocapitalize: o.autocapitalize || 'off',
      spellcheck: o.spellcheck ? 'true' : 'false',
      inputmode: o.inputmode,
      'aria-describedby': `${id}-error${o.hint ? ` ${id}-hint` : ''}`,
      testid: `input-${formId}-${o.name}`,
      value: o.value,
    };
    const input = o.textarea
      ? h('textarea', { ...attrs, rows: o.rows || 3 })
      : h('input', { ...attrs, type: o.type || 'text', list: o.list });
    return h('div', { class: 'field' + (o.wide ? ' field-wide' : '') },
      h('label', { for: id, text: o.label + (o.optional ? ' (optional)' : '') }),
      input,
      o.hint && h('p', { class: 'hint', id: `${id}-hint`, text: o.hint }),
      h('p', { class: 'field-error', id: `${id}-error`, 'data-error-for': o.name, testid: `error-${formId}-${o.name}`, 'aria-live': 'polite' }));
  }

  function checkbox(formId, o) {
    const id = `${formId}-${o.name}`;
    return h('div', { class: 'field field-check' },
      h('label', { class: 'check', for: id },
        h('input', { type: 'checkbox', id, name: o.name, checked: o.checked, testid: `input-${formId}-${o.name}` }),
        h('span', { text: o.label })),
      o.hint && h('p', { class: 'hint', text: o.hint }),
      h('p', { class: 'field-error', 'data-error-for': o.name, testid: `error-${formId}-${o.name}`, 'aria-live': 'polite' }));
  }

  /** The message line of a form: data-testid="msg-<form id>". */
  function messageLine(formId) {
    return h('p', { class: 'form-msg', testid: `msg-${formId}`, role: 'status', 'aria-live': 'polite' });
  }

  function clearMessages(form) {
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const msg = form.querySelector('.form-msg');
    if (msg) { msg.textContent = ''; msg.className = 'form-msg'; }
  }

  function showError(form, error, fieldName) {
    clearMessages(form);
    const slot = fieldName && form.querySelector(`.field-error[data-error-for="${CSS.escape(fieldName)}"]`);
    if (slot) {
      slot.textContent = error;
      const input = form.elements.namedItem(fieldName);
      if (input && input.setAttribute) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
      return;
    }
    const msg = form.querySelector('.form-msg');
    if (msg) {
      msg.textContent = error;
      msg.className = 'form-msg is-error';
      msg.setAttribute('role', 'alert');
    }
  }

  function showOk(form, text) {
    clearMessages(form);
    const msg = form.querySelector('.form-msg');
    if (msg) {
      msg.textContent = text;
      msg.className = 'form-msg is-ok';
      msg.setAttribute('role', 'status');
    }
  }

  function setBusy(form, busy) {
    form.busy = busy;
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
    for (const b of form.querySelectorAll('button')) b.disabled = busy;
  }

  function value(form, name) {
    const el = form.elements.namedItem(name);
    return el ? el.value : '';
  }

  function clearSecrets(form) {
    for (const el of form.querySelectorAll('input[type=password]')) el.value = '';
  }

  /**
   * Wires a form: submit runs handler(form, submitter) with the buttons disabled meanwhile;
   * after() runs once they are enabled again.
   */
  function onSubmit(form, handler, after) {
    form.noValidate = true;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (form.busy) return;
      setBusy(form, true);
      try {
        await handler(form, e.submitter);
      } finally {
        setBusy(form, false);
        if (after) after();
      }
    });
    return form;
  }

  /** Checks required fields; shows the first missing one. */
  function requireFields(form, names) {
    for (const name of names) {
      if (!value(form, name).trim()) {
        const label = form.querySelector(`label[for="${CSS.escape(form.id + '-' + name)}"]`);
        const what = label ? label.textContent.replace(/\s*\(optional\)$/, '') : name;
        showError(form, `${what} is needed.`, name);
        return false;
      }
    }
    return true;
  }

  /**
   * An in-page "are you sure" step: the button turns into a question with Yes and Cancel.
   * testid: the base test id; the confirming button gets "confirm-<testid>".
   */
  function confirmButton({ label, question, yes, testid, danger = true, action }) {
    const box = h('span', { class: 'confirm' });
    const start = h('button', { type: 'button', class: 'btn btn-small' + (danger ? ' btn-danger-quiet' : ''), text: label, testid });
    const err = h('span', { class: 'inline-error', role: 'alert', testid: `error-${testid}` });
    function idle() {
      box.replaceChildren(start, err);
    }
    start.addEventListener('click', () => {
      err.textContent = '';
      const yesBtn = h('button', { type: 'button', class: 'btn btn-small btn-danger', text: yes, testid: `confirm-${testid}` });
      const noBtn = h('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Cancel', testid: `cancel-${testid}` });
      noBtn.addEventListener('click', idle);
      yesBtn.addEventListener('click', async () => {
        yesBtn.disabled = true;
        noBtn.disabled = true;
        const error = await action();
        if (!box.isConnected) return;
        idle();
        if (error) err.textContent = error;
      });
      box.replaceChildren(h('span', { class: 'confirm-question', text: question }), yesBtn, noBtn);
      noBtn.focus();
    });
    idle();
    return box;
  }

  function pageHead(title, ...extra) {
    return h('div', { class: 'page-head' }, h('h1', { text: title }), ...extra);
  }

  function errorBox(text, testid) {
    return h('p', { class: 'error-box', role: 'alert', testid: testid || 'page-error', text });
  }

  // ---------------------------------------------------------------------------------------
  // Routing.

  function currentRoute() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [route, ...rest] = raw.split('/');
    return { route: route || '', rest };
  }

  function redirect(route) {
    history.replaceState(null, '', '#/' + route);
    show();
  }

  function stopView() {
    generation++;
    if (view && view.stop) {
      try { view.stop(); } catch (e) { /* the page is going anyway */ }
    }
    view = null;
  }

  function startView(route, render, rest) {
    stopView();
    main.replaceChildren();
    const my = generation;
    const alive = () => my === generation;
    view = { route, stop: null };
    const stop = render(rest, alive);
    if (view && alive()) view.stop = stop || null;
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }

  function homeRoute() {
    return state && state.user && state.user.admin ? 'dashboard' : 'files';
  }

  function renderChrome() {
    const host = state && state.hostname ? state.hostname : '';
    document.getElementById('hostname').textContent = host;
    document.title = host ? `${host} · microcloud` : 'microcloud';
    const user = state && !state.onboarding ? state.user : null;
    if (!user) {
      nav.hidden = true;
      who.hidden = true;
      nav.replaceChildren();
      return;
    }
    who.hidden = false;
    document.getElementById('user-name').textContent = user.name + (user.admin ? ' · admin' : '');
    const { route } = currentRoute();
    nav.replaceChildren(...PAGES.filter((p) => user.admin || !p.admin).map((p) =>
      h('a', { href: '#/' + p.route, class: 'nav-link', testid: `nav-${p.route}`, 'aria-current': p.route === route ? 'page' : null, text: p.label })));
    nav.hidden = false;
  }

  async function show() {
    if (!state) {
      await loadState();
      if (!state) {
        stopView();
        renderChrome();
        main.replaceChildren(
          errorBox(OFFLINE, 'offline'),
          h('button', { type: 'button', class: 'btn', text: 'Try again', onclick: () => show() }));
        return;
      }
    }
    const { route, rest } = currentRoute();
    if (state.onboarding) {
      if (route !== 'setup') return redirect('setup');
      renderChrome();
      if (!view || view.route !== 'setup') startView('setup', renderSetup, rest);
      return;
    }
    if (!state.user) {
      if (route !== 'signin') return redirect('signin');
      renderChrome();
      if (!view || view.route !== 'signin') startView('signin', renderSignin, rest);
      return;
    }
    const page = PAGES.find((p) => p.route === route);
    if (!page || (page.admin && !state.user.admin)) return redirect(homeRoute());
    renderChrome();
    startView(route, page.render, rest);
  }

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

  // ---------------------------------------------------------------------------------------
  // Onboarding.

  function renderSetup() {
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
      form));
    form.elements.namedItem('code').focus();
  }

  // ---------------------------------------------------------------------------------------
  // Sign in.

  function renderSignin() {
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
    main.append(h('section', { class: 'narrow', testid: 'page-signin' },
      h('h1', { text: 'Sign in' }),
      h('p', { class: 'lead', text: `Sign in to ${state && state.hostname ? state.hostname : 'your microcloud'}.` }),
      form));
    form.elements.namedItem('name').focus();
  }

  // ---------------------------------------------------------------------------------------
  // Dashboard.

  const STATE_TEXT = { ok: 'ok', retrying: 'retrying', down: 'down' };

  function renderDashboard(rest, alive) {
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

  // ---------------------------------------------------------------------------------------
  // Files.

  /** Uploads live across page changes: { name, path, el, bar, status, done, failed }. */
  const uploads = [];
  const uploadQueue = [];
  let uploading = 0;
  const MAX_PARALLEL_UPLOADS = 2;
  let filesRefresh = null; // set while the files page shows: refreshes its listing now

  window.addEventListener('beforeunload', (e) => {
    if (uploads.some((u) => !u.done && !u.failed)) {
      e.preventDefault();
      e.returnValue = '';
    }
  });

  function startUploads(dir, files) {
    for (const file of files) {
      const path = joinPath(dir, file.name);
      const u = { name: file.name, path, file, done: false, failed: false };
      u.bar = h('progress', { max: 100, value: 0, testid: `upload-progress-${file.name}` });
      u.status = h('span', { class: 'upload-status', testid: `upload-status-${file.name}`, text: 'waiting' });
      u.el = h('li', { class: 'upload', testid: `upload-${file.name}` },
        h('span', { class: 'upload-name', text: `${file.name} (${humanBytes(file.size)})` }), u.bar, u.status);
      uploads.push(u);
      uploadQueue.push(u);
      const list = document.querySelector('[data-testid="uploads"]');
      if (list) { list.append(u.el); list.closest('.uploads').hidden = false; }
    }
    pumpUploads();
  }

  function pumpUploads() {
    while (uploading < MAX_PARALLEL_UPLOADS && uploadQueue.length) {
      const u = uploadQueue.shift();
      uploading++;
      upload(u).finally(() => {
        uploading--;
        u.file = null;
        if (filesRefresh) filesRefresh();
        pumpUploads();
      });
    }
  }

  function upload(u) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', davUrl(u.path));
      if (state && state.csrf) xhr.setRequestHeader('X-CSRF-Token', state.csrf);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      u.status.textContent = 'uploading 0 %';
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable) return;
        const p = Math.floor((e.loaded / e.total) * 100);
        u.bar.value = Math.min(p, 99); // 100 only when the box has answered
        u.status.textContent = `uploading ${Math.min(p, 99)} %`;
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          u.done = true;
          u.bar.value = 100;
          u.status.textContent = 'done';
          u.el.classList.add('is-done');
        } else {
          let msg = `HTTP ${xhr.status}`;
          try {
            const d = JSON.parse(xhr.responseText);
            if (d && d.error) msg = String(d.error);
          } catch (e) { /* not JSON */ }
          fail(msg);
          if (xhr.status === 401) sessionLost();
        }
        resolve();
      };
      xhr.onerror = () => { fail('the box did not answer'); resolve(); };
      xhr.onabort = () => { fail('cancelled'); resolve(); };
      function fail(msg) {
        u.failed = true;
        u.status.textContent = `failed: ${msg}`;
        u.el.classList.add('is-failed');
      }
      xhr.send(u.file);
    });
  }

  function renderFiles(rest, alive) {
    const path = '/' + rest.filter((s) => s !== '').map((s) => { try { return decodeURIComponent(s); } catch (e) { return s; } }).join('/');
    const segs = segments(path);

    const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Folder', testid: 'breadcrumb' },
      h('a', { href: filesHash('/'), testid: 'crumb-home', text: 'Home' }),
      segs.map((s, i) => [h('span', { class: 'sep', 'aria-hidden': 'true', text: '/' }),
        i === segs.length - 1
          ? h('span', { class: 'crumb-here', 'aria-current': 'location', text: s })
          : h('a', { href: filesHash('/' + segs.slice(0, i + 1).join('/')), text: s })]));

    // New folder.
    const fid = 'mkdir';
    const mkdir = h('form', { id: fid, class: 'inline-form', testid: 'form-mkdir' },
      h('label', { for: `${fid}-name`, class: 'sr-only', text: 'New folder name' }),
      h('input', { id: `${fid}-name`, name: 'name', class: 'input', placeholder: 'New folder name', autocomplete: 'off', testid: 'input-mkdir-name' }),
      h('button', { type: 'submit', class: 'btn', text: 'New folder', testid: 'mkdir-submit' }),
      h('p', { class: 'field-error', 'data-error-for': 'name', testid: 'error-mkdir-name' }),
      messageLine(fid));
    onSubmit(mkdir, async (form) => {
      clearMessages(form);
      const name = value(form, 'name').trim();
      if (!name) { showError(form, 'Type a name for the folder.', 'name'); return; }
      if (name.includes('/') || name === '.' || name === '..') { showError(form, 'A folder name cannot contain "/" or be "." or "..".', 'name'); return; }
      const r = await davRequest('MKCOL', joinPath(path, name));
      if (!r.ok) { showError(form, r.error, 'name'); return; }
      form.reset();
      refresh();
    });

    // Upload.
    const picker = h('input', { type: 'file', multiple: true, id: 'upload-input', class: 'file-input', testid: 'upload-input' });
    picker.addEventListener('change', () => {
      const files = Array.from(picker.files || []);
      if (files.length) startUploads(path, files);
      picker.value = '';
    });
    const pickLabel = h('label', { for: 'upload-input', class: 'btn btn-primary', testid: 'upload-button', text: 'Upload files' });

    const uploadList = h('ul', { class: 'upload-list', testid: 'uploads' }, uploads.map((u) => u.el));
    const clearDone = h('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Clear finished', testid: 'uploads-clear' });
    const uploadsBox = h('section', { class: 'uploads', 'aria-label': 'Uploads', hidden: uploads.length === 0 },
      h('div', { class: 'uploads-head' }, h('h2', { text: 'Uploads' }), clearDone), uploadList);
    clearDone.addEventListener('click', () => {
      for (let i = uploads.length - 1; i >= 0; i--) {
        if (uploads[i].done || uploads[i].failed) { uploads[i].el.remove(); uploads.splice(i, 1); }
      }
      uploadsBox.hidden = uploads.length === 0;
    });

    const listing = h('div', { class: 'listing', testid: 'file-list' }, h('p', { class: 'loading', text: 'Loading…' }));
    const drop = h('div', { class: 'dropzone', testid: 'dropzone' },
      listing,
      h('p', { class: 'drop-hint', text: 'Drop files here to upload them to this folder.' }));
    let depth = 0;
    drop.addEventListener('dragenter', (e) => { if (hasFiles(e)) { e.preventDefault(); depth++; drop.classList.add('is-over'); } });
    drop.addEventListener('dragover', (e) => { if (hasFiles(e)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
    drop.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (depth === 0) drop.classList.remove('is-over'); });
    const dropNote = h('p', { class: 'inline-error', role: 'status', testid: 'drop-note' });
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      depth = 0;
      drop.classList.remove('is-over');
      dropNote.textContent = '';
      const dt = e.dataTransfer;
      if (!dt) return;
      const files = [];
      let folders = 0;
      const items = Array.from(dt.items || []).filter((it) => it.kind === 'file');
      if (items.length) {
        for (const it of items) {
          const entry = it.webkitGetAsEntry ? it.webkitGetAsEntry() : null;
          if (entry && entry.isDirectory) { folders++; continue; }
          const f = it.getAsFile();
          if (f) files.push(f);
        }
      } else {
        files.push(...Array.from(dt.files || []));
      }
      if (folders) dropNote.textContent = 'Folders cannot be dropped here: make the folder with “New folder”, open it, and drop its files.';
      if (files.length) startUploads(path, files);
    });

    main.append(h('section', { testid: 'page-files' },
      pageHead('Files'),
      crumbs,
      h('div', { class: 'toolbar' }, h('div', { class: 'upload-pick' }, pickLabel, picker), mkdir),
      dropNote,
      uploadsBox,
      drop));

    let lastJson = '';
    let entries = [];
    let confirming = null; // name of the entry whose delete is being confirmed
    let deleteError = null; // { name, text }
    let timer = null;
    let loading = false;

    let again = false; // a change was made while a listing was on its way: list once more
    async function refresh() {
      if (!alive()) return;
      if (loading) { again = true; return; }
      loading = true;
      const r = await api('GET', '/api/files?path=' + encodeURIComponent(path));
      loading = false;
      if (!alive()) return;
      if (again) { again = false; lastJson = ''; refresh(); return; }
      if (!r.ok) {
        if (r.status !== 401) {
          lastJson = '';
          listing.replaceChildren(errorBox(r.status === 404 ? 'This folder does not exist (any more).' : r.error, 'files-error'),
            h('a', { href: filesHash('/'), text: 'Back to Home' }));
        }
        return;
      }
      const json = JSON.stringify(r.data && r.data.entries);
      if (json === lastJson) return;
      lastJson = json;
      entries = Array.isArray(r.data.entries) ? r.data.entries.slice() : [];
      // Folders first, then by name (the box sends them so, but keep it true here too).
      entries.sort((a, b) => (b.dir === true) - (a.dir === true) || String(a.name).localeCompare(String(b.name)));
      draw();
    }

    function draw() {
      if (entries.length === 0) {
        listing.replaceChildren(h('p', { class: 'empty', testid: 'files-empty', text: 'This folder is empty. Upload files with the button above or drop them here.' }));
        return;
      }
      const rows = entries.map(row);
      listing.replaceChildren(h('table', { class: 'files' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col', text: 'Name' }),
          h('th', { scope: 'col', class: 'num', text: 'Size' }),
          h('th', { scope: 'col', class: 'col-modified', text: 'Modified' }),
          h('th', { scope: 'col', text: 'Kept' }),
          h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only', text: 'Actions' })))),
        h('tbody', {}, rows)));
    }

    function row(e) {
      const name = String(e.name);
      const p = joinPath(path, name);
      const nameCell = e.dir
        ? h('a', { href: filesHash(p), class: 'entry-name is-dir', testid: `open-${name}` }, h('span', { class: 'icon icon-dir', 'aria-hidden': 'true' }), name)
        : h('span', { class: 'entry-name' }, h('span', { class: 'icon icon-file', 'aria-hidden': 'true' }), name);
      const dur = e.durability;
      const badge = dur
        ? h('span', { class: `badge dur-${String(dur).replace(/[^a-z0-9]/gi, '-')}`, testid: `durability-${name}`, title: durabilityTitle(dur), text: String(dur) })
        : h('span', { class: 'muted', testid: `durability-${name}`, text: e.dir ? '' : '–' });
      let actions;
      if (confirming === name) {
        const yes = h('button', { type: 'button', class: 'btn btn-small btn-danger', testid: `confirm-delete-${name}`, text: 'Yes, delete' });
        const no = h('button', { type: 'button', class: 'btn btn-small btn-quiet', testid: `cancel-delete-${name}`, text: 'Cancel' });
        no.addEventListener('click', () => { confirming = null; draw(); });
        yes.addEventListener('click', async () => {
          yes.disabled = true;
          no.disabled = true;
          const r = await davRequest('DELETE', p);
          if (!alive()) return;
          confirming = null;
          deleteError = r.ok ? null : { name, text: r.error };
          lastJson = '';
          draw();
          refresh();
        });
        actions = h('div', { class: 'row-actions confirm' },
          h('span', { class: 'confirm-question', text: e.dir ? `Delete “${name}” and everything in it?` : `Delete “${name}”?` }), yes, no);
      } else {
        const del = h('button', { type: 'button', class: 'btn btn-small btn-danger-quiet', testid: `delete-${name}`, text: 'Delete', 'aria-label': `Delete ${name}` });
        del.addEventListener('click', () => { confirming = name; deleteError = null; draw(); });
        actions = h('div', { class: 'row-actions' },
          e.dir ? null : h('a', { class: 'btn btn-small', href: davUrl(p) + '?download=1', download: name, testid: `download-${name}`, 'aria-label': `Download ${name}`, text: 'Download' }),
          del,
          deleteError && deleteError.name === name ? h('span', { class: 'inline-error', role: 'alert', testid: `error-delete-${name}`, text: deleteError.text }) : null);
      }
      return h('tr', { testid: `file-row-${name}`, class: e.dir ? 'is-dir' : '' },
        h('td', { class: 'col-name' }, nameCell),
        h('td', { class: 'num', testid: `size-${name}`, text: e.dir ? '' : humanBytes(e.size) }),
        h('td', { class: 'col-modified', text: humanTime(e.modified) }),
        h('td', { class: 'col-dur' }, badge),
        h('td', { class: 'col-actions' }, actions));
    }

    async function loop() {
      timer = null;
      if (!alive()) return;
      if (document.visibilityState === 'visible') await refresh();
      if (alive()) timer = setTimeout(loop, 2000);
    }
    filesRefresh = () => { lastJson = ''; refresh(); };
    loop();
    return () => {
      if (timer) clearTimeout(timer);
      filesRefresh = null;
    };
  }

  function hasFiles(e) {
    const types = e.dataTransfer && e.dataTransfer.types;
    return !!types && Array.from(types).includes('Files');
  }

  function durabilityTitle(d) {
    if (d === 'local') return 'Only on this box so far';
    if (d === 'cloud:1') return 'On this box and at one destination';
    if (d === 'cloud:all') return 'On this box and at every destination';
    return String(d);
  }

  /** MKCOL / DELETE in the user's WebDAV space. */
  async function davRequest(method, path) {
    const r = await api(method, davUrl(path));
    if (!r.ok && r.status === 405 && method === 'MKCOL') r.error = 'Something with that name is already here.';
    return r;
  }

  // ---------------------------------------------------------------------------------------
  // Destinations.

  function renderDestinations(rest, alive) {
    const list = h('div', { class: 'list', testid: 'destination-list' }, h('p', { class: 'loading', text: 'Loading…' }));

    async function load() {
      const r = await api('GET', '/api/destinations');
      if (!alive()) return;
      if (!r.ok) { list.replaceChildren(errorBox(r.error, 'destinations-error')); return; }
      const dests = Array.isArray(r.data) ? r.data : [];
      if (dests.length === 0) {
        list.replaceChildren(h('p', { class: 'empty', testid: 'destinations-empty', text: 'No destinations yet. Files stay only on this box until you add one below.' }));
        return;
      }
      list.replaceChildren(h('div', { class: 'cards' }, dests.map((d) => {
        const name = String(d.name);
        const facts = d.kind === 's3'
          ? [['Kind', 'S3-compatible'], ['Endpoint', d.endpoint], ['Region', d.region], ['Bucket', d.bucket], ['Prefix', d.prefix || '–'], ['Addressing', d.path_style ? 'path-style' : 'virtual-host']]
          : [['Kind', 'Directory'], ['Path', d.path]];
        return h('article', { class: 'card', testid: `dest-row-${name}` },
          h('div', { class: 'card-head' }, h('h3', { text: name })),
          h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: String(v ?? '–') })])),
          h('div', { class: 'card-actions' }, confirmButton({
            label: 'Remove',
            question: `Remove “${name}”? Copies already there are left as they are.`,
            yes: 'Yes, remove',
            testid: `remove-dest-${name}`,
            action: async () => {
              const r2 = await api('DELETE', '/api/destinations/' + encodeURIComponent(name));
              if (!r2.ok) return r2.error;
              load();
              return null;
            },
          })));
      })));
    }

    const id = 'dest';
    const kindS3 = h('input', { type: 'radio', name: 'kind', value: 's3', id: 'dest-kind-s3', checked: true, testid: 'dest-kind-s3' });
    const kindDir = h('input', { type: 'radio', name: 'kind', value: 'dir', id: 'dest-kind-dir', testid: 'dest-kind-dir' });
    const s3Fields = h('div', { class: 'grid', testid: 'dest-s3-fields' },
      field(id, { name: 'endpoint', label: 'Endpoint URL', placeholder: 'https://s3.example.com', inputmode: 'url', required: true }),
      field(id, { name: 'region', label: 'Region', value: 'us-east-1' }),
      field(id, { name: 'bucket', label: 'Bucket', required: true }),
      field(id, { name: 'prefix', label: 'Prefix', optional: true, placeholder: 'e.g. microcloud/' }),
      checkbox(id, { name: 'path_style', label: 'Path-style addressing (most self-hosted servers need this)' }),
      field(id, { name: 'access_key_id', label: 'Access key ID', required: true }),
      field(id, { name: 'secret_access_key', label: 'Secret access key', type: 'password', autocomplete: 'new-password', required: true, hint: 'Kept on the box only; never shown again.' }));
    const dirFields = h('div', { class: 'grid', testid: 'dest-dir-fields', hidden: true },
      field(id, { name: 'path', label: 'Directory on the box', placeholder: '/mnt/backup/microcloud', required: true, wide: true, hint: 'For example a mounted USB disk or network share.' }));
    const testBtn = h('button', { type: 'submit', class: 'btn', value: 'test', text: 'Test', testid: 'dest-test' });
    const addBtn = h('button', { type: 'submit', class: 'btn btn-primary', value: 'add', text: 'Add', testid: 'dest-add' });
    const form = h('form', { id, class: 'form card', testid: 'form-dest' },
      h('fieldset', { class: 'kind' },
        h('legend', { text: 'Kind' }),
        h('label', { class: 'check', for: 'dest-kind-s3' }, kindS3, h('span', { text: 'S3-compatible storage' })),
        h('label', { class: 'check', for: 'dest-kind-dir' }, kindDir, h('span', { text: 'Directory' }))),
      field(id, { name: 'name', label: 'Name', required: true, placeholder: 'e.g. offsite', hint: 'A short name for this destination.' }),
      s3Fields,
      dirFields,
      messageLine(id),
      h('div', { class: 'actions' }, testBtn, addBtn));
    const kind = () => (kindDir.checked ? 'dir' : 's3');
    const syncKind = () => {
      s3Fields.hidden = kind() !== 's3';
      dirFields.hidden = kind() !== 'dir';
      clearMessages(form);
    };
    kindS3.addEventListener('change', syncKind);
    kindDir.addEventListener('change', syncKind);

    onSubmit(form, async (f, submitter) => {
      const action = submitter && submitter.value === 'test' ? 'test' : 'add';
      clearMessages(f);
      const k = kind();
      const need = k === 's3' ? ['name', 'endpoint', 'bucket', 'access_key_id', 'secret_access_key'] : ['name', 'path'];
      if (!requireFields(f, need)) return;
      const body = {
        name: value(f, 'name').trim(),
        kind: k,
        endpoint: k === 's3' ? value(f, 'endpoint').trim() : '',
        region: k === 's3' ? (value(f, 'region').trim() || 'us-east-1') : '',
        bucket: k === 's3' ? value(f, 'bucket').trim() : '',
        prefix: k === 's3' ? value(f, 'prefix').trim() : '',
        path_style: k === 's3' ? f.elements.namedItem('path_style').checked : false,
        access_key_id: k === 's3' ? value(f, 'access_key_id').trim() : '',
        secret_access_key: k === 's3' ? value(f, 'secret_access_key') : '',
        path: k === 'dir' ? value(f, 'path').trim() : '',
      };
      const msg = f.querySelector('.form-msg');
      msg.textContent = action === 'test' ? 'Testing: writing, reading back and deleting a small object…' : 'Testing and adding…';
      msg.className = 'form-msg is-busy';
      const r = await api('POST', action === 'test' ? '/api/destinations/test' : '/api/destinations', body);
      body.secret_access_key = '';
      if (!alive()) return;
      // The secret stays typed in only after a passing test, so that Add can follow it.
      if (action === 'add' || !r.ok) clearSecrets(f);
      if (!r.ok) {
        const failed = action === 'test' ? 'Test failed' : 'Not added';
        const slot = r.field && f.querySelector(`.field-error[data-error-for="${CSS.escape(r.field)}"]`);
        if (slot && !slot.closest('[hidden]')) {
          showError(f, r.error, r.field);
          // Also say it beside the buttons, since the field may be far from them.
          const label = f.querySelector(`label[for="${CSS.escape(`${id}-${r.field}`)}"]`);
          const m = f.querySelector('.form-msg');
          m.textContent = `${failed}: see ${label ? `“${label.textContent.replace(/\s*\(optional\)$/, '')}”` : 'above'}.`;
          m.className = 'form-msg is-error';
        } else {
          showError(f, `${failed}: ${r.error}`);
        }
        return;
      }
      if (action === 'test') {
        showOk(f, `Test passed${r.data && r.data.message ? ': ' + r.data.message : '.'}`);
      } else {
        const name = body.name;
        f.reset();
        syncKind();
        showOk(f, `Added “${name}”. Files will be copied there from now on.`);
        load();
      }
    });

    main.append(h('section', { testid: 'page-destinations' },
      pageHead('Destinations'),
      h('p', { class: 'lead', text: 'Where this box copies your files. Each file is kept here and copied to every destination.' }),
      list,
      h('h2', { text: 'Add a destination' }),
      form));
    load();
  }

  // ---------------------------------------------------------------------------------------
  // Users.

  function renderUsers(rest, alive) {
    const list = h('div', { class: 'list', testid: 'user-list' }, h('p', { class: 'loading', text: 'Loading…' }));
    let open = null; // whose set-password form is open

    async function load() {
      const r = await api('GET', '/api/users');
      if (!alive()) return;
      if (!r.ok) { list.replaceChildren(errorBox(r.error, 'users-error')); return; }
      const users = Array.isArray(r.data) ? r.data : [];
      list.replaceChildren(h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, h('th', { text: 'Name' }), h('th', { text: 'Role' }), h('th', { class: 'col-actions' }, h('span', { class: 'sr-only', text: 'Actions' })))),
        h('tbody', {}, users.map((u) => userRow(u)))));
    }

    function userRow(u) {
      const name = String(u.name);
      const me = state && state.user && state.user.name === name;
      const cell = h('td', { class: 'col-actions' });
      const showButton = () => {
        const b = h('button', { type: 'button', class: 'btn btn-small', text: 'Set password', testid: `set-password-${name}` });
        b.addEventListener('click', () => { open = name; showForm(); });
        cell.replaceChildren(b);
      };
      const showForm = () => {
        const fid = `pw-${name.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
        const f = h('form', { id: fid, class: 'inline-form', testid: `form-password-${name}` },
          h('label', { for: `${fid}-password`, class: 'sr-only', text: `New password for ${name}` }),
          h('input', { type: 'password', id: `${fid}-password`, name: 'password', class: 'input', autocomplete: 'new-password', placeholder: 'New password', testid: `input-password-${name}` }),
          h('button', { type: 'submit', class: 'btn btn-small btn-primary', text: 'Save', testid: `save-password-${name}` }),
          h('button', { type: 'button', class: 'btn btn-small btn-quiet', text: 'Cancel', onclick: () => { open = null; showButton(); } }),
          h('p', { class: 'field-error', 'data-error-for': 'password', testid: `error-password-${name}` }),
          messageLine(fid));
        onSubmit(f, async () => {
          clearMessages(f);
          const password = value(f, 'password');
          if (!password) { showError(f, 'Type the new password.', 'password'); return; }
          const r = await api('PUT', `/api/users/${encodeURIComponent(name)}/password`, { password });
          clearSecrets(f);
          if (!alive()) return;
          if (!r.ok) { showError(f, r.error, r.field === 'password' ? 'password' : null); return; }
          open = null;
          // Changing one's own password gives this page a new session and CSRF token.
          if (me) await loadState();
          showButton();
          cell.append(h('span', { class: 'inline-ok', role: 'status', testid: `password-set-${name}`, text: 'Password changed.' }));
        });
        cell.replaceChildren(f);
        f.elements.namedItem('password').focus();
      };
      if (open === name) showForm(); else showButton();
      return h('tr', { testid: `user-row-${name}` },
        h('td', {}, name, me ? h('span', { class: 'muted', text: ' (you)' }) : null),
        h('td', {}, u.admin ? h('span', { class: 'badge', text: 'admin' }) : h('span', { class: 'muted', text: 'user' })),
        cell);
    }

    const id = 'user';
    const form = h('form', { id, class: 'form card', testid: 'form-user' },
      h('div', { class: 'grid' },
        field(id, { name: 'name', label: 'Name', required: true, autocomplete: 'off' }),
        field(id, { name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'new-password' }),
        checkbox(id, { name: 'admin', label: 'Administrator (can change settings and other users)' })),
      messageLine(id),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Add user', testid: 'user-submit' })));
    onSubmit(form, async (f) => {
      clearMessages(f);
      if (!requireFields(f, ['name', 'password'])) return;
      const body = { name: value(f, 'name').trim(), password: value(f, 'password'), admin: f.elements.namedItem('admin').checked };
      const r = await api('POST', '/api/users', body);
      body.password = '';
      clearSecrets(f);
      if (!alive()) return;
      if (!r.ok) { showError(f, r.error, r.field); return; }
      f.reset();
      showOk(f, `Added “${body.name}”. They can sign in here and use WebDAV with that name and password.`);
      load();
    });

    main.append(h('section', { testid: 'page-users' },
      pageHead('Users'),
      list,
      h('h2', { text: 'Add a user' }),
      form));
    load();
  }

  // ---------------------------------------------------------------------------------------
  // SSH keys.

  function renderSsh(rest, alive) {
    const list = h('div', { class: 'list', testid: 'ssh-list' }, h('p', { class: 'loading', text: 'Loading…' }));

    async function load() {
      const r = await api('GET', '/api/ssh-keys');
      if (!alive()) return;
      if (!r.ok) { list.replaceChildren(errorBox(r.error, 'ssh-error')); return; }
      const keys = Array.isArray(r.data) ? r.data : [];
      if (keys.length === 0) {
        list.replaceChildren(h('p', { class: 'empty', testid: 'ssh-empty', text: 'No SSH keys yet.' }));
        return;
      }
      list.replaceChildren(h('table', { class: 'table stack' },
        h('thead', {}, h('tr', {}, h('th', { text: 'Type' }), h('th', { text: 'Comment' }), h('th', { text: 'Fingerprint' }), h('th', { class: 'col-actions' }, h('span', { class: 'sr-only', text: 'Actions' })))),
        h('tbody', {}, keys.map((k) => {
          const kid = String(k.id);
          return h('tr', { testid: `ssh-row-${kid}` },
            h('td', { class: 'col-type', text: String(k.type ?? '') }),
            h('td', { class: 'col-comment wrap', text: String(k.comment ?? '') }),
            h('td', { class: 'col-fp mono wrap', testid: `ssh-fingerprint-${kid}`, text: String(k.fingerprint ?? '') }),
            h('td', { class: 'col-actions' }, confirmButton({
              label: 'Remove',
              question: 'Remove this key?',
              yes: 'Yes, remove',
              testid: `remove-ssh-${kid}`,
              action: async () => {
                const r2 = await api('DELETE', '/api/ssh-keys/' + encodeURIComponent(kid));
                if (!r2.ok) return r2.error;
                load();
                return null;
              },
            })));
        }))));
    }

    const id = 'ssh';
    const form = h('form', { id, class: 'form card', testid: 'form-ssh' },
      field(id, { name: 'key', label: 'Public key', textarea: true, rows: 4, wide: true, required: true, placeholder: 'ssh-ed25519 AAAA… you@laptop', hint: 'Paste one line from your ~/.ssh/id_ed25519.pub (never the private key).' }),
      messageLine(id),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Add key', testid: 'ssh-submit' })));
    onSubmit(form, async (f) => {
      clearMessages(f);
      if (!requireFields(f, ['key'])) return;
      const key = value(f, 'key').trim();
      if (/PRIVATE KEY/.test(key)) {
        f.elements.namedItem('key').value = '';
        showError(f, 'That is a private key: keep it secret. Paste the public key (the .pub file) instead.', 'key');
        return;
      }
      const r = await api('POST', '/api/ssh-keys', { key });
      if (!alive()) return;
      if (!r.ok) { showError(f, r.error, r.field); return; }
      f.reset();
      showOk(f, 'Key added.');
      load();
    });

    main.append(h('section', { testid: 'page-ssh' },
      pageHead('SSH keys'),
      h('p', { class: 'lead', text: 'Keys that may sign in to the box over ssh as the administrator.' }),
      list,
      h('h2', { text: 'Add a key' }),
      form));
    load();
  }

  // ---------------------------------------------------------------------------------------
  // System.

  function renderSystem(rest, alive) {
    const body = h('div', { testid: 'system' }, h('p', { class: 'loading', text: 'Loading…' }));
    main.append(h('section', { testid: 'page-system' }, pageHead('System'), body));

    async function load() {
      const r = await api('GET', '/api/system');
      if (!alive()) return;
      if (r.status === 503) {
        body.replaceChildren(h('p', { class: 'notice', testid: 'system-unavailable', text: r.error }));
        return;
      }
      if (!r.ok) { body.replaceChildren(errorBox(r.error, 'system-error')); return; }
      body.replaceChildren(...systemView(r.data || {}, load, alive));
    }
    load();
  }

  function systemView(s, reload, alive) {
    const net = Array.isArray(s.network) ? s.network : [];
    const info = h('section', { class: 'section' },
      h('h2', { text: 'This box' }),
      h('dl', { class: 'facts card' },
        h('dt', { text: 'Hostname' }), h('dd', { testid: 'system-hostname', text: String(s.hostname ?? '') }),
        h('dt', { text: 'Time zone' }), h('dd', { testid: 'system-timezone', text: String(s.timezone ?? '') })),
      h('h2', { text: 'Network' }),
      net.length === 0
        ? h('p', { class: 'empty', text: 'No network interfaces reported.' })
        : h('table', { class: 'table', testid: 'network' },
          h('thead', {}, h('tr', {}, h('th', { text: 'Interface' }), h('th', { text: 'State' }), h('th', { text: 'Addresses' }))),
          h('tbody', {}, net.map((n) => h('tr', {},
            h('td', { class: 'mono', text: String(n.name ?? '') }),
            h('td', { text: String(n.state ?? '') }),
            h('td', { class: 'mono wrap', text: (Array.isArray(n.addresses) ? n.addresses : []).join(', ') || '–' }))))));

    const hid = 'hostname';
    const hostForm = h('form', { id: hid, class: 'form card', testid: 'form-hostname' },
      field(hid, { name: 'hostname', label: 'Hostname', value: s.hostname || '', hint: 'Letters, digits and dashes. The box is found on the network as <hostname>.local.' }),
      messageLine(hid),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Set hostname', testid: 'hostname-submit' })));
    onSubmit(hostForm, async (f) => {
      clearMessages(f);
      if (!requireFields(f, ['hostname'])) return;
      const hostname = value(f, 'hostname').trim();
      const r = await api('PUT', '/api/system/hostname', { hostname });
      if (!alive()) return;
      if (!r.ok) { showError(f, r.error, r.field); return; }
      showOk(f, `Hostname set to ${hostname}.`);
      await loadState();
      renderChrome();
    });

    const tid = 'timezone';
    let zones = [];
    try { zones = Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []; } catch (e) { zones = []; }
    const tzForm = h('form', { id: tid, class: 'form card', testid: 'form-timezone' },
      field(tid, { name: 'timezone', label: 'Time zone', value: s.timezone || '', list: 'tz-list', placeholder: 'e.g. Europe/Berlin' }),
      h('datalist', { id: 'tz-list' }, zones.map((z) => h('option', { value: z }))),
      messageLine(tid),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Set time zone', testid: 'timezone-submit' })));
    onSubmit(tzForm, async (f) => {
      clearMessages(f);
      if (!requireFields(f, ['timezone'])) return;
      const timezone = value(f, 'timezone').trim();
      const r = await api('PUT', '/api/system/timezone', { timezone });
      if (!alive()) return;
      if (!r.ok) { showError(f, r.error, r.field); return; }
      showOk(f, `Time zone set to ${timezone}.`);
    });

    const powerMsg = h('p', { class: 'form-msg', testid: 'msg-power', role: 'status', 'aria-live': 'polite' });
    const power = h('section', { class: 'section' },
      h('h2', { text: 'Power' }),
      h('div', { class: 'card power' },
        h('div', { class: 'actions' },
          confirmButton({
            label: 'Restart', question: 'Restart the box now? Transfers in progress resume afterwards.', yes: 'Yes, restart', testid: 'reboot', danger: false,
            action: async () => {
              const r = await api('POST', '/api/system/reboot');
              if (!r.ok) return r.error;
              powerMsg.textContent = 'The box is restarting. This page comes back by itself when it is up again.';
              powerMsg.className = 'form-msg is-ok';
              waitForBox();
              return null;
            },
          }),
          confirmButton({
            label: 'Power off', question: 'Switch the box off? It stays off until its power button is pressed or it is plugged in again.', yes: 'Yes, power off', testid: 'poweroff',
            action: async () => {
              const r = await api('POST', '/api/system/poweroff');
              if (!r.ok) return r.error;
              powerMsg.textContent = 'The box is switching off. You can unplug it once its lights are off.';
              powerMsg.className = 'form-msg is-ok';
              return null;
            },
          })),
        powerMsg));

    const rid = 'reset';
    const resetInput = h('input', { id: `${rid}-confirm`, name: 'confirm', class: 'input', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', placeholder: 'factory reset', testid: 'input-reset-confirm' });
    const resetBtn = h('button', { type: 'submit', class: 'btn btn-danger', text: 'Erase everything', disabled: true, testid: 'reset-submit' });
    const resetForm = h('form', { id: rid, class: 'form card danger-zone', testid: 'form-reset' },
      h('p', { text: 'A factory reset erases every file, user, key and destination on this box and starts setup again. Copies at your destinations are not touched.' }),
      h('div', { class: 'field' },
        h('label', { for: `${rid}-confirm` }, 'Type ', h('strong', { text: 'factory reset' }), ' to confirm'),
        resetInput,
        h('p', { class: 'field-error', 'data-error-for': 'confirm', testid: 'error-reset-confirm' })),
      messageLine(rid),
      h('div', { class: 'actions' }, resetBtn));
    const syncReset = () => { resetBtn.disabled = resetInput.value.trim() !== 'factory reset'; };
    resetInput.addEventListener('input', syncReset);
    onSubmit(resetForm, async (f) => {
      clearMessages(f);
      if (resetInput.value.trim() !== 'factory reset') { showError(f, 'Type “factory reset” exactly.', 'confirm'); return; }
      const r = await api('POST', '/api/system/factory-reset', { confirm: 'factory reset' });
      if (!alive()) return;
      if (!r.ok) { showError(f, r.error, r.field); return; }
      f.reset();
      showOk(f, 'The box is erasing everything and will start setup again.');
      waitForBox();
    }, syncReset); // the button stays tied to the typed text

    return [info,
      h('section', { class: 'section' }, h('h2', { text: 'Settings' }), h('div', { class: 'two' }, hostForm, tzForm)),
      power,
      h('section', { class: 'section' }, h('h2', { text: 'Factory reset' }), resetForm)];
  }

  /** After a restart or reset: wait (bounded) until the box answers again, then start over. */
  function waitForBox() {
    let tries = 0;
    const t = setInterval(async () => {
      tries++;
      const s = await fetchState();
      if (s && (tries > 5 || s.onboarding)) {
        clearInterval(t);
        state = s;
        show();
      } else if (tries > 300) {
        clearInterval(t);
      }
    }, 2000);
  }

  // ---------------------------------------------------------------------------------------

  show();
})();
