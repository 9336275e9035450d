// The files page's first screen, drawn by boot.js from the two answers it asked for early, before
// the page's modules have arrived and run. On a fresh load those modules (fetching, compiling,
// running, then a layout of their own) were most of the wait before a tablet saw its files: with
// this, the rows are on screen as soon as their data is, and the page proper replaces them when
// it draws (router.js empties <main>). What it draws has the files page's layout, so nothing moves
// when the page proper takes over; the rows are not yet live (a folder's name is already a link,
// which the page follows once it runs). Only what both drawings share is here: the rest of the
// page imports the helpers below, and boot.js imports nothing else.

import { h } from './el.js';
import { humanBytes, humanTime } from './format.js';
import { kindOf } from './kinds.js';
import { segments, joinPath, filesHash } from './paths.js';

/** An entry's icon and name, as the name cell shows them. */
export function entryLabel(name, dir) {
  return [
    h('span', { class: dir ? 'icon icon-dir' : `icon icon-file kind-${kindOf(name, false)}`, 'aria-hidden': 'true' }),
    h('span', { class: 'entry-text', text: name }),
  ];
}

function durabilityTitle(d) {
  if (d === 'local') return 'Only on this box so far';
  if (d === 'cloud:1') return 'On this box and at one destination';
  if (d === 'cloud:all') return 'On this box and at every destination';
  return String(d);
}

/** The "Kept" cell's badge: where the file's bytes are. testid: the page's (none in a preview). */
export function durabilityBadge(e, testid) {
  const dur = e.durability;
  return dur
    ? h('span', { class: `badge dur-${String(dur).replace(/[^a-z0-9]/gi, '-')}`, testid, title: durabilityTitle(dur), text: String(dur) })
    : h('span', { class: 'muted', testid, text: e.dir ? '' : '–' });
}

/** The columns of the file table (widths in app.css). */
export function fileColumns() {
  return h('colgroup', {},
    h('col', { class: 'c-check' }), h('col', { class: 'c-name' }), h('col', { class: 'c-size' }),
    h('col', { class: 'c-modified' }), h('col', { class: 'c-dur' }), h('col', { class: 'c-actions' }));
}

/** The size and modified cells of an entry's row. */
export function entryFacts(e, sizeTestid) {
  return [
    h('td', { class: 'num', testid: sizeTestid, text: e.dir ? '' : humanBytes(e.size) }),
    h('td', { class: 'col-modified', text: humanTime(e.modified) }),
  ];
}

/** The label of the files page's rollback button. */
export function rollbackLabel(path) {
  return segments(path).length === 0 ? 'Restore all my files as they were at…' : 'Restore this folder as it was at…';
}

/** The page head's link to the trash, labelled as the page does. */
export function trashLabel(path) {
  return segments(path).length ? 'Deleted files here' : 'Trash';
}

/**
 * Draws the first screen of the files page at `path` (in the order `sort`, `order`) from
 * GET /api/state's answer and the first page of GET /api/files, unless the page's modules have drawn already (then they own <main>).
 * Draws nothing for a signed-out session, an empty folder or an answer it does not know.
 */
export function drawFirstScreen(path, sort, order, state, data) {
  const main = document.getElementById('main');
  if (!main || !main.querySelector('[data-testid="loading"]')) return;
  if (!state || state.onboarding || !state.user || !data || !Array.isArray(data.entries)) return;
  if (typeof data.total !== 'number' || data.entries.length === 0) return;

  // The header as the page draws it, so that the screen below does not move when it does.
  const host = document.getElementById('hostname');
  if (host && state.hostname) host.textContent = String(state.hostname);
  const who = document.getElementById('who');
  const name = document.getElementById('user-name');
  if (who && name) {
    name.textContent = String(state.user.name) + (state.user.admin ? ' · admin' : '');
    who.hidden = false;
  }
  const nav = document.getElementById('nav');
  if (nav) {
    nav.replaceChildren(h('a', { href: '#/files', class: 'nav-link', 'aria-current': 'page', text: 'Files' }));
    nav.hidden = false;
  }

  const segs = segments(path);
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Folder' },
    h('a', { href: filesHash('/'), text: 'Home' }),
    segs.map((s, i) => [h('span', { class: 'sep', 'aria-hidden': 'true', text: '/' }),
      i === segs.length - 1
        ? h('span', { class: 'crumb-here', 'aria-current': 'location', text: s })
        : h('a', { href: filesHash('/' + segs.slice(0, i + 1).join('/')), text: s })]));
  // Controls that look as they will (not greyed out as disabled ones are), but do nothing yet.
  const still = (cls, text) => h('button', { type: 'button', class: cls, tabindex: '-1', text });
  const field = (type, placeholder) => h('input', { type, class: 'input', placeholder, readonly: true, tabindex: '-1', 'aria-label': placeholder });
  const box = (label) => h('input', { type: 'checkbox', class: 'row-check', tabindex: '-1', 'aria-label': label, onclick: (e) => e.preventDefault() });
  const head = h('div', { class: 'page-head' }, h('h1', { text: 'Files' }),
    h('div', { class: 'actions' }, segs.length ? still('btn', 'This folder…') : null, h('a', { class: 'btn', href: '#/trash', text: trashLabel(path) })));
  const toolbar = h('div', { class: 'toolbar' },
    h('div', { class: 'upload-pick' }, h('label', { class: 'btn btn-primary', text: 'Upload files' })),
    h('div', { class: 'inline-form' }, field('text', 'New folder name'), still('btn', 'New folder')));
  const rollback = h('div', { class: 'rollback-wrap' }, still('btn', rollbackLabel(path)));
  const tools = h('div', { class: 'list-tools' }, field('search', 'Search in this folder'),
    h('span', { class: 'muted list-count', text: `${data.total} item${data.total === 1 ? '' : 's'}` }));

  const sortMark = (s) => h('span', { class: 'sort-mark', 'aria-hidden': 'true', text: s === sort ? (order === 'asc' ? ' ▲' : ' ▼') : '' });
  const th = (label, s, cls) => h('th', { scope: 'col', class: cls }, h('button', { type: 'button', class: 'sort', tabindex: '-1' }, label, sortMark(s)));
  // The rows on screen only (each is --row-h tall, 54 px): the page proper draws the rest.
  const fit = Math.min(data.entries.length, Math.ceil(window.innerHeight / 54) + 1);
  const rows = data.entries.slice(0, fit).map((e, i) => {
    const n = String(e.name);
    const label = entryLabel(n, !!e.dir);
    return h('tr', { class: e.dir ? 'row is-dir' : 'row', 'data-index': String(i) },
      h('td', { class: 'col-check' }, box(`Select ${n}`)),
      h('td', { class: 'col-name' }, e.dir
        ? h('a', { href: filesHash(joinPath(path, n)), class: 'entry-name is-dir', title: n }, label)
        : h('span', { class: 'entry-name is-file', title: n }, label)),
      entryFacts(e),
      h('td', { class: 'col-dur' }, durabilityBadge(e)),
      h('td', { class: 'col-actions' }));
  });
  const table = h('table', { class: 'files vlist' }, fileColumns(),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', class: 'col-check' }, box('Select everything in this folder')),
      th('Name', 'name', 'col-name'), th('Size', 'size', 'num'), th('Modified', 'modified', 'col-modified'),
      h('th', { scope: 'col', class: 'col-dur', text: 'Kept' }),
      h('th', { scope: 'col', class: 'col-actions' }))),
    // The live list's spacer above its rows (it stands in for the rows scrolled past) sets the
    // first row's border: the same here, so that the rows line up to the pixel.
    h('tbody', {}, h('tr', { class: 'spacer', 'aria-hidden': 'true' }, h('td', { colspan: 6 })), rows));

  main.replaceChildren(h('section', { class: 'first-screen', testid: 'first-screen', 'aria-busy': 'true' },
    head, crumbs, toolbar, rollback, tools,
    h('div', { class: 'dropzone' }, h('div', { class: 'listing', 'data-total': String(data.total) }, table))));
}
