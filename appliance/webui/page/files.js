// The files page: browsing (folders of any size: filelist.js), searching and sorting, new
// folders, uploads (by the file input or dropped), downloads, rename, move, delete (one or a
// selection), opening a file in the viewer, sending it to another tablet or handing it to a
// person, each file's versions (a drawer), the folder as it was at a moment, and the way to the
// trash. Uploads go on across page changes.

import { h, main, pageHead, statusLine, say } from './dom.js';
import { humanBytes, humanTime, groupedNumber } from './format.js';
import { api, state, sessionLost } from './api.js';
import { messageLine, clearMessages, showError, value, onSubmit } from './forms.js';
import { openVersions, folderRollback } from './versions.js';
import { segments, joinPath, davUrl, filesHash, trashHash, pathOfRest, nameProblem } from './paths.js';
import { fileList } from './filelist.js';
import { renameDialog, moveDialog, deleteDialog } from './fileops.js';
import { openDialog } from './dialog.js';
import { openItem } from './open.js';
import { openSendDialog, openHandoffDialog } from './send.js';
import { kindOf } from './kinds.js';
import { workspace } from './workspace.js';

/** Uploads live across page changes: { name, path, el, bar, status, done, failed }. */
const uploads = [];
const uploadQueue = [];
let uploading = 0;
const MAX_PARALLEL_UPLOADS = 2;
let filesRefresh = null; // set while the files page shows: refreshes its listing now
/** Select all lists every name of the folder: up to this many. */
const SELECT_ALL_MAX = 5000;

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
  const path = pathOfRest(rest);
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
    const problem = nameProblem(name);
    if (problem) { showError(form, name ? problem : 'Type a name for the folder.', 'name'); return; }
    const r = await davRequest('MKCOL', joinPath(path, name));
    if (!r.ok) { showError(form, r.error, 'name'); return; }
    form.reset();
    list.reload();
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

  let keepDays = null; // how long versions are kept, from the listing
  /** Names checked in this folder (kept while scrolling and searching). */
  const selected = new Set();
  let confirming = null; // name of the entry whose delete is being confirmed

  const list = fileList({
    path,
    alive,
    row,
    rowState: (e) => `${selected.has(String(e.name)) ? 's' : ''}${confirming === String(e.name) ? 'c' : ''}`,
    onAnswer: (d) => { if (typeof d.keep_days === 'number') keepDays = d.keep_days; },
    onTotal: (total, q) => {
      count.textContent = q ? `${total} match${total === 1 ? '' : 'es'}` : `${total} item${total === 1 ? '' : 's'}`;
      list.selectAll.disabled = total === 0 || total > SELECT_ALL_MAX;
      list.selectAll.title = total > SELECT_ALL_MAX ? `Select all works on folders of up to ${groupedNumber(SELECT_ALL_MAX)} items` : '';
    },
  });

  // Search within the folder, on the box's side (a folder may hold 100,000 names).
  const search = h('input', { type: 'search', class: 'input', id: 'files-search', placeholder: 'Search in this folder', autocomplete: 'off', spellcheck: 'false', enterkeyhint: 'search', testid: 'files-search' });
  let searchTimer = null;
  search.addEventListener('input', () => {
    if (searchTimer) clearTimeout(searchTimer);
    searchTimer = setTimeout(() => list.setQuery(search.value.trim()), 250);
  });
  const count = h('span', { class: 'muted list-count', testid: 'files-count', 'aria-live': 'polite' });

  // What a selection can do, above the list while anything is checked.
  const selCount = h('span', { class: 'selection-count', testid: 'selection-count' });
  const selMove = h('button', { type: 'button', class: 'btn btn-small', testid: 'selection-move', text: 'Move…' });
  const selDelete = h('button', { type: 'button', class: 'btn btn-small btn-danger', testid: 'selection-delete', text: 'Delete…' });
  const selClear = h('button', { type: 'button', class: 'btn btn-small btn-quiet', testid: 'selection-clear', text: 'Clear' });
  const selBar = h('div', { class: 'selection-bar', testid: 'selection-bar', hidden: true }, selCount, h('span', { class: 'row-actions' }, selMove, selDelete, selClear));
  selMove.addEventListener('click', () => moveDialog(path, [...selected], loadedFolders(), afterChange));
  selDelete.addEventListener('click', () => deleteDialog(path, [...selected], keepDays, afterChange));
  selClear.addEventListener('click', () => { selected.clear(); selectionChanged(); });
  list.selectAll.addEventListener('change', async () => {
    const box = list.selectAll;
    if (!box.checked) { selected.clear(); selectionChanged(); return; }
    box.disabled = true;
    const names = await list.allNames(SELECT_ALL_MAX);
    box.disabled = false;
    if (!alive()) return;
    if (!names) { box.checked = false; say(msg, 'Everything in this folder could not be listed just now. Try again.', 'error'); return; }
    for (const n of names) selected.add(n);
    selectionChanged();
  });

  function selectionChanged() {
    const n = selected.size;
    selBar.hidden = n === 0;
    selCount.textContent = `${n} selected`;
    const total = list.total() || 0;
    list.selectAll.checked = n > 0 && n >= total;
    list.selectAll.indeterminate = n > 0 && n < total;
    list.redraw();
  }

  /** After a rename, move or delete here: a line saying what happened, and the list again. */
  function afterChange(text, kept) {
    if (text) say(msg, text, 'ok');
    selected.clear();
    for (const k of kept || []) selected.add(k);
    selectionChanged();
    list.reload();
  }

  // Names of folders on screen: suggestions for "Move to".
  const folderNames = new Set();
  function loadedFolders() {
    return [...folderNames];
  }

  const msg = statusLine('files-msg');
  const notes = h('div', { class: 'notes' });
  const drop = h('div', { class: 'dropzone', testid: 'dropzone' },
    list.el,
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
  const rollback = folderRollback(path, alive, () => list.reload(), () => keepDays);
  const trashLink = h('a', { class: 'btn', href: trashHash(path), testid: 'open-trash', text: segs.length ? 'Deleted files here' : 'Trash' });
  const sendFolder = segs.length ? h('button', { type: 'button', class: 'btn', testid: 'folder-menu', text: 'This folder…' }) : null;
  if (sendFolder) sendFolder.addEventListener('click', () => folderMenu());

  main.append(h('section', { testid: 'page-files' },
    pageHead('Files', h('div', { class: 'actions' }, sendFolder, trashLink)),
    crumbs,
    h('div', { class: 'toolbar' }, h('div', { class: 'upload-pick' }, pickLabel, picker), mkdir),
    rollback,
    dropNote,
    uploadsBox,
    h('div', { class: 'list-tools' },
      h('label', { for: 'files-search', class: 'sr-only', text: 'Search in this folder' }), search, count),
    selBar,
    msg,
    notes,
    drop,
    drawerSlot));

  function folderMenu() {
    const d = openDialog(`“${segs[segs.length - 1]}”`, 'folder-menu-dialog');
    d.body.append(h('div', { class: 'menu' },
      menuButton('Send to…', 'menu-send', () => { d.close(); openSendDialog({ path, kind: 'folder', view: {} }); }),
      menuButton('Hand to a person…', 'menu-handoff', () => { d.close(); openHandoffDialog({ path, kind: 'folder' }); })));
  }

  function menuButton(label, testid, run) {
    const b = h('button', { type: 'button', class: 'btn menu-item', testid, text: label });
    b.addEventListener('click', run);
    return b;
  }

  /** The place in a file the workspace remembers, so that sending it sends that place too. */
  function placeOf(p) {
    const ws = workspace();
    const it = ws && ws.doc.items.find((i) => i.path === p);
    return it ? it.view : {};
  }

  function entryMenu(e) {
    const name = String(e.name);
    const p = joinPath(path, name);
    const kind = kindOf(name, !!e.dir);
    const d = openDialog(`“${name}”`, 'entry-menu');
    d.body.append(h('div', { class: 'menu' },
      e.dir
        ? menuButton('Open', 'menu-open', () => { d.close(); location.hash = filesHash(p); })
        : menuButton('Open', 'menu-open', () => { d.close(); openItem({ path: p, kind, view: placeOf(p) }); }),
      menuButton('Rename…', 'menu-rename', () => { d.close(); renameDialog(path, name, afterChange); }),
      menuButton('Move…', 'menu-move', () => { d.close(); moveDialog(path, [name], loadedFolders().filter((f) => f !== name), afterChange); }),
      menuButton('Send to…', 'menu-send', () => { d.close(); openSendDialog({ path: p, kind, view: placeOf(p) }); }),
      menuButton('Hand to a person…', 'menu-handoff', () => { d.close(); openHandoffDialog({ path: p, kind }); }),
      e.dir ? null : menuButton('Versions', 'menu-versions', () => { d.close(); showVersions(p); }),
      e.dir ? null : h('a', { class: 'btn menu-item', href: davUrl(p) + '?download=1', download: name, testid: 'menu-download', text: 'Download' })));
  }

  function showVersions(p) {
    if (closeDrawer) closeDrawer();
    closeDrawer = openVersions(drawerSlot, p, alive, () => list.reload());
  }

  function row(e) {
    const name = String(e.name);
    const p = joinPath(path, name);
    if (e.dir) folderNames.add(name);
    if (confirming === name) return confirmRow(e, name, p);
    const check = h('input', { type: 'checkbox', class: 'row-check', testid: `select-${name}`, 'aria-label': `Select ${name}`, checked: selected.has(name) });
    check.addEventListener('change', () => {
      if (check.checked) selected.add(name);
      else selected.delete(name);
      selectionChanged();
    });
    let nameCell;
    if (e.dir) {
      nameCell = h('a', { href: filesHash(p), class: 'entry-name is-dir', testid: `open-${name}`, title: name }, h('span', { class: 'icon icon-dir', 'aria-hidden': 'true' }), h('span', { class: 'entry-text', text: name }));
    } else {
      nameCell = h('button', { type: 'button', class: 'entry-name is-file', testid: `view-${name}`, title: name }, h('span', { class: `icon icon-file kind-${kindOf(name, false)}`, 'aria-hidden': 'true' }), h('span', { class: 'entry-text', text: name }));
      nameCell.addEventListener('click', () => openItem({ path: p, kind: kindOf(name, false), view: placeOf(p) }));
    }
    const dur = e.durability;
    const badge = dur
      ? h('span', { class: `badge dur-${String(dur).replace(/[^a-z0-9]/gi, '-')}`, testid: `durability-${name}`, title: durabilityTitle(dur), text: String(dur) })
      : h('span', { class: 'muted', testid: `durability-${name}`, text: e.dir ? '' : '–' });
    const del = h('button', { type: 'button', class: 'btn btn-small btn-danger-quiet', testid: `delete-${name}`, text: 'Delete', 'aria-label': `Delete ${name}` });
    del.addEventListener('click', () => { confirming = name; notes.replaceChildren(); list.redraw(); });
    const more = h('button', { type: 'button', class: 'btn btn-small', testid: `more-${name}`, 'aria-label': `More for ${name}`, text: '⋯' });
    more.addEventListener('click', () => entryMenu(e));
    let versions = null;
    if (!e.dir) {
      versions = h('button', { type: 'button', class: 'btn btn-small row-extra', testid: `versions-${name}`, 'aria-label': `Versions of ${name}`, text: 'Versions' });
      versions.addEventListener('click', () => showVersions(p));
    }
    return h('tr', { testid: `file-row-${name}`, class: e.dir ? 'is-dir' : '' },
      h('td', { class: 'col-check' }, check),
      h('td', { class: 'col-name' }, nameCell),
      h('td', { class: 'num', testid: `size-${name}`, text: e.dir ? '' : humanBytes(e.size) }),
      h('td', { class: 'col-modified', text: humanTime(e.modified) }),
      h('td', { class: 'col-dur' }, badge),
      h('td', { class: 'col-actions' }, h('div', { class: 'row-actions' },
        versions,
        e.dir ? null : h('a', { class: 'btn btn-small row-extra', href: davUrl(p) + '?download=1', download: name, testid: `download-${name}`, 'aria-label': `Download ${name}`, text: 'Download' }),
        del,
        more)));
  }

  function confirmRow(e, name, p) {
    const yes = h('button', { type: 'button', class: 'btn btn-small btn-danger', testid: `confirm-delete-${name}`, text: 'Yes, delete' });
    const no = h('button', { type: 'button', class: 'btn btn-small btn-quiet', testid: `cancel-delete-${name}`, text: 'Cancel' });
    no.addEventListener('click', () => { confirming = null; list.redraw(); });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      no.disabled = true;
      const r = await davRequest('DELETE', p);
      if (!alive()) return;
      confirming = null;
      selected.delete(name);
      notes.replaceChildren(r.ok ? '' : h('p', { class: 'error-box', role: 'alert', testid: `error-delete-${name}`, text: `“${name}” was not deleted: ${r.error}` }));
      if (r.ok) say(msg, `Deleted “${name}”. It is in the trash.`, 'ok');
      selectionChanged();
      list.reload();
    });
    return h('tr', { testid: `file-row-${name}`, class: 'is-confirm' },
      h('td', { colspan: 6 }, h('div', { class: 'confirm' },
        h('span', { class: 'confirm-question', text: e.dir ? `Delete “${name}” and everything in it?` : `Delete “${name}”?` }), yes, no)));
  }

  filesRefresh = () => list.reload();
  return () => {
    list.stop();
    if (searchTimer) clearTimeout(searchTimer);
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
