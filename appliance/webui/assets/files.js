// The files page: browsing, new folders, uploads (by the file input or dropped), downloads,
// deletes, each file's versions (a drawer), the folder as it was at a moment, and the way to the
// trash. Uploads go on across page changes.

import { h, main, pageHead, errorBox } from './dom.js';
import { humanBytes, humanTime } from './format.js';
import { api, state, sessionLost } from './api.js';
import { messageLine, clearMessages, showError, value, onSubmit } from './forms.js';
import { openVersions, folderRollback } from './versions.js';

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

function trashHash(path) {
  const segs = segments(path).map(encodeURIComponent);
  return '#/trash' + (segs.length ? '/' + segs.join('/') : '');
}

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

export function renderFiles(rest, alive) {
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

  // The versions drawer of one file at a time.
  const drawerSlot = h('div', { class: 'drawer-slot' });
  let closeDrawer = null;
  let keepDays = null; // how long versions are kept, from the listing
  const rollback = folderRollback(path, alive, () => { lastJson = ''; refresh(); }, () => keepDays);
  const trashLink = h('a', { class: 'btn', href: trashHash(path), testid: 'open-trash', text: segs.length ? 'Deleted files here' : 'Trash' });

  main.append(h('section', { testid: 'page-files' },
    pageHead('Files', h('div', { class: 'actions' }, trashLink)),
    crumbs,
    h('div', { class: 'toolbar' }, h('div', { class: 'upload-pick' }, pickLabel, picker), mkdir),
    rollback,
    dropNote,
    uploadsBox,
    drop,
    drawerSlot));

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
    if (r.data && typeof r.data.keep_days === 'number') keepDays = r.data.keep_days;
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
      let versions = null;
      if (!e.dir) {
        versions = h('button', { type: 'button', class: 'btn btn-small', testid: `versions-${name}`, 'aria-label': `Versions of ${name}`, text: 'Versions' });
        versions.addEventListener('click', () => {
          if (closeDrawer) closeDrawer();
          closeDrawer = openVersions(drawerSlot, p, alive, () => { lastJson = ''; refresh(); });
        });
      }
      actions = h('div', { class: 'row-actions' },
        versions,
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
    if (closeDrawer) closeDrawer();
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
