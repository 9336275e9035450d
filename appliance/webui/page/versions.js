// Versions on the files page: the drawer of a file's kept versions (Restore, Download), and
// "Restore this folder as it was at…" with a time picker and a confirmation. Everything a person
// needs to get a lost or spoiled file back, byte for byte, without an administrator.

import { h } from './dom.js';
import { humanBytes, exactTime } from './format.js';
import { api } from './api.js';

/** "/a b/c" -> "/a b/c" as a query value. */
function q(path) {
  return encodeURIComponent(path);
}

/** Where a version's bytes are downloaded from. */
export function versionUrl(id) {
  return `/api/versions/${encodeURIComponent(String(id))}/content`;
}

/** What ended a version, as people say it. */
export function kindText(kind) {
  switch (kind) {
    case 'overwrite': return 'Replaced';
    case 'delete': return 'Deleted';
    case 'move': return 'Moved away';
    case 'rollback': return 'Replaced by a restore';
    default: return String(kind || '');
  }
}

/** "3 files put back, 1 removed" from a rollback report. */
export function reportText(r) {
  if (!r) return '';
  const parts = [];
  const n = (k) => (typeof r[k] === 'number' ? r[k] : 0);
  const files = (k) => `${n(k)} file${n(k) === 1 ? '' : 's'}`;
  if (n('restored')) parts.push(`${files('restored')} put back`);
  if (n('removed')) parts.push(`${files('removed')} that did not exist then removed`);
  if (n('folders_removed')) parts.push(`${n('folders_removed')} empty folder${n('folders_removed') === 1 ? '' : 's'} removed`);
  if (n('unchanged')) parts.push(`${files('unchanged')} already as then`);
  return parts.length ? parts.join(', ') + '.' : 'Nothing needed changing.';
}

function shortHash(hex) {
  return typeof hex === 'string' ? hex.slice(0, 12) : '–';
}

/**
 * Opens the versions drawer of the file at `path` in `slot` (emptied first). `onChange` runs
 * after a restore, so the listing behind shows the new content. Returns a closer.
 */
export function openVersions(slot, path, alive, onChange) {
  const name = String(path).split('/').filter((s) => s).pop() || '';
  const msg = h('p', { class: 'form-msg', role: 'status', 'aria-live': 'polite', testid: 'versions-msg' });
  const current = h('div', { class: 'versions-current', testid: 'versions-current' });
  const list = h('div', { class: 'versions-list', testid: 'versions-list' }, h('p', { class: 'loading', text: 'Loading…' }));
  const close = h('button', { type: 'button', class: 'btn btn-small btn-quiet', testid: 'versions-close', 'aria-label': 'Close versions', text: 'Close' });
  const drawer = h('aside', { class: 'drawer', role: 'dialog', 'aria-label': `Versions of ${name}`, testid: 'versions-drawer' },
    h('div', { class: 'drawer-head' },
      h('div', { class: 'drawer-title' }, h('h2', { text: 'Versions' }), h('p', { class: 'muted wrap', testid: 'versions-path', text: path })),
      close),
    h('p', { class: 'hint', text: 'Every overwrite, delete or move keeps the earlier content. Restoring one keeps what is there now as a version too, so nothing is lost either way.' }),
    current,
    msg,
    list);
  let closed = false;
  function shut() {
    if (closed) return;
    closed = true;
    drawer.remove();
    document.removeEventListener('keydown', onKey);
  }
  function onKey(e) { if (e.key === 'Escape') shut(); }
  close.addEventListener('click', shut);
  document.addEventListener('keydown', onKey);
  slot.replaceChildren(drawer);
  close.focus();

  const live = () => alive() && !closed;

  function say(text, kind) {
    msg.textContent = text;
    msg.className = 'form-msg' + (kind ? ` is-${kind}` : '');
    msg.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  }

  async function load() {
    const r = await api('GET', '/api/versions?path=' + q(path));
    if (!live()) return;
    if (!r.ok) {
      current.replaceChildren();
      list.replaceChildren(h('p', { class: 'error-box', role: 'alert', testid: 'versions-error', text: r.error }));
      return;
    }
    const d = r.data || {};
    const c = d.current;
    current.replaceChildren(c
      ? h('dl', { class: 'facts' },
        h('dt', { text: 'Now' }), h('dd', { testid: 'versions-current-size', text: `${humanBytes(c.size)}, changed ${exactTime(c.modified)}` }),
        h('dt', { text: 'Written by' }), h('dd', { testid: 'versions-current-device', text: c.device == null ? 'the page or an account password' : String(c.device) }),
        h('dt', { text: 'BLAKE3' }), h('dd', { class: 'mono', testid: 'versions-current-hash', title: String(c.blake3 || ''), text: shortHash(c.blake3) }))
      : h('p', { class: 'notice', testid: 'versions-deleted', text: 'This file is deleted now. Restore a version below to bring it back.' }));
    const versions = Array.isArray(d.versions) ? d.versions : [];
    if (versions.length === 0) {
      list.replaceChildren(h('p', { class: 'empty', testid: 'versions-empty', text: 'No earlier versions of this file yet: one is kept the next time it is overwritten, moved or deleted.' }));
      return;
    }
    // (replaceChildren would show a null as the text "null": h() drops it.)
    list.replaceChildren(h('div', {},
      h('ol', { class: 'version-items' }, versions.map(item)),
      d.truncated ? h('p', { class: 'muted', text: `The ${versions.length} most recent of ${d.total} versions are shown.` }) : null));
  }

  function item(v) {
    const id = String(v.id);
    const restore = h('button', { type: 'button', class: 'btn btn-small btn-primary', testid: `version-restore-${id}`, 'aria-label': `Restore the version of ${exactTime(v.until)}`, text: 'Restore' });
    restore.addEventListener('click', async () => {
      restore.disabled = true;
      say('Restoring…', 'busy');
      const r = await api('POST', `/api/versions/${encodeURIComponent(id)}/restore`);
      if (!live()) return;
      restore.disabled = false;
      if (!r.ok) { say(r.error, 'error'); return; }
      say(`Restored: “${name}” has its content of ${exactTime(v.until)} again (${humanBytes(v.size)}). What was there is kept as a version.`, 'ok');
      if (onChange) onChange();
      load();
    });
    return h('li', { class: 'version', testid: `version-row-${id}` },
      h('div', { class: 'version-what' },
        h('span', { class: 'version-time', testid: `version-time-${id}`, text: `${kindText(v.kind)} ${exactTime(v.until)}` }),
        h('span', { class: 'version-facts muted' },
          h('span', { testid: `version-size-${id}`, text: humanBytes(v.size) }),
          ' · ',
          h('span', { testid: `version-device-${id}`, text: v.device == null ? 'unknown device' : String(v.device) }),
          ' · ',
          h('span', { class: 'mono', title: String(v.blake3 || ''), text: shortHash(v.blake3) }),
          v.pinned ? h('span', { class: 'badge state-retrying', text: 'kept by the guard' }) : null)),
      h('div', { class: 'row-actions' },
        restore,
        h('a', { class: 'btn btn-small', href: versionUrl(id), download: String(v.name || name), testid: `version-download-${id}`, 'aria-label': `Download the version of ${exactTime(v.until)}`, text: 'Download' })));
  }

  load();
  return shut;
}

/** The value of a datetime-local input for a moment (local time, to the minute). */
function localInput(date) {
  const p = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}`;
}

/**
 * "Restore this folder as it was at…": a button that opens a time picker, then asks to confirm.
 * `path` is the folder ("/" for all of one's files); `onDone` runs after a rollback;
 * `keepDaysOf()` says how many days back versions are kept (the box's answer to /api/files).
 */
export function folderRollback(path, alive, onDone, keepDaysOf) {
  const whole = String(path) === '/' || String(path) === '';
  const label = whole ? 'Restore all my files as they were at…' : 'Restore this folder as it was at…';
  const open = h('button', { type: 'button', class: 'btn', testid: 'rollback-open', text: label });
  const box = h('div', { class: 'rollback', testid: 'rollback-box', hidden: true });
  const el = h('div', { class: 'rollback-wrap' }, open, box);
  open.addEventListener('click', () => {
    box.hidden = !box.hidden;
    if (!box.hidden) fill();
  });

  function fill() {
    // Versions reach back this far (the box says so, with the earliest moment, if asked for more).
    const kept = typeof keepDaysOf === 'function' ? keepDaysOf() : null;
    const keepDays = typeof kept === 'number' && kept > 0 ? kept : 30;
    const now = new Date();
    const id = 'rollback-at';
    const input = h('input', {
      type: 'datetime-local', id, name: 'at', class: 'input', testid: 'rollback-at', required: true, step: 1,
      value: localInput(new Date(now.getTime() - 3600000)),
      'aria-describedby': `${id}-hint`,
    });
    const msg = h('p', { class: 'form-msg', role: 'status', 'aria-live': 'polite', testid: 'rollback-msg' });
    const go = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'rollback-submit', text: 'Restore…' });
    const cancel = h('button', { type: 'button', class: 'btn btn-quiet', testid: 'rollback-cancel', text: 'Cancel' });
    const confirm = h('div', { class: 'confirm', testid: 'rollback-confirm', hidden: true });
    const form = h('form', { class: 'inline-form', testid: 'form-rollback' },
      h('label', { for: id, text: whole ? 'All my files as they were at' : 'This folder as it was at' }),
      input, go, cancel,
      h('p', { class: 'hint', id: `${id}-hint`, text: `Earlier content is kept ${keepDays} day${keepDays === 1 ? '' : 's'}.` }),
      confirm, msg);
    cancel.addEventListener('click', () => { box.hidden = true; });
    const say = (text, kind) => {
      msg.textContent = text;
      msg.className = 'form-msg' + (kind ? ` is-${kind}` : '');
      msg.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      say('');
      const when = input.value ? new Date(input.value) : null;
      if (!when || isNaN(when.getTime())) { say('Pick a day and a time.', 'error'); input.focus(); return; }
      if (when.getTime() > Date.now()) { say('That moment has not come yet: pick one in the past.', 'error'); input.focus(); return; }
      const at = when.toISOString();
      const shownAt = exactTime(when.getTime() / 1000);
      const yes = h('button', { type: 'button', class: 'btn btn-danger', testid: 'rollback-yes', text: 'Yes, restore' });
      const no = h('button', { type: 'button', class: 'btn btn-quiet', testid: 'rollback-no', text: 'Cancel' });
      confirm.replaceChildren(
        h('span', { class: 'confirm-question', testid: 'rollback-question', text: `Put ${whole ? 'all your files' : `“${path}”`} back as ${whole ? 'they' : 'it'} ${whole ? 'were' : 'was'} at ${shownAt}? Files changed since get their content of then and files made since are removed; all of it is kept as versions, so this can be undone.` }),
        yes, no);
      confirm.hidden = false;
      go.disabled = true;
      no.addEventListener('click', () => { confirm.hidden = true; go.disabled = false; });
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        no.disabled = true;
        say('Restoring…', 'busy');
        const r = await api('POST', '/api/rollback', { path: whole ? '/' : path, at });
        if (!alive()) return;
        confirm.hidden = true;
        go.disabled = false;
        if (!r.ok) { say(r.error, 'error'); return; }
        say(`Done: ${reportText(r.data && r.data.report)}`, 'ok');
        if (onDone) onDone();
      });
      yes.focus();
    });
    box.replaceChildren(form);
    input.focus();
  }
  return el;
}
