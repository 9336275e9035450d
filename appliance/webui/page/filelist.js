// The files page's list, for folders of any size: the box sends a folder a page of 200 entries at
// a time (GET /api/files with offset and limit), sorted and filtered on its side, and only the
// rows on screen (and a margin) are in the document. Rows all have one height, so the list knows
// where any row is without having it: spacers above and below stand in for the rest. Pages are
// fetched as they scroll into view and kept; the ones on screen are asked again every few
// seconds, so durability and new files show without a reload.

import { h, errorBox, pageScrolled } from './dom.js';
import { api } from './api.js';
import { filesHash } from './paths.js';

export const PAGE = 200;
const MARGIN = 15; // rows kept beyond each edge of the screen
const POLL_MS = 2500;
const SORTS = { name: 'asc', size: 'desc', modified: 'desc' }; // the order a first click gives
const SORT_KEY = 'microcloud.files.sort';

function savedSort() {
  try {
    const [sort, order] = String(localStorage.getItem(SORT_KEY) || '').split(' ');
    if (sort in SORTS && (order === 'asc' || order === 'desc')) return { sort, order };
  } catch (e) { /* no storage: the default */ }
  return { sort: 'name', order: 'asc' };
}

/**
 * opts: path, alive(), row(entry, index) -> <tr>, rowState(entry) -> a string that changes when
 * the row must be drawn again (selection, a delete being confirmed), onAnswer(data) after every
 * answer (keep_days), onTotal(total, q).
 */
export function fileList(opts) {
  const { path, alive } = opts;
  let { sort, order } = savedSort();
  let q = '';
  let key = '';
  let total = null;
  let pages = new Map(); // page number -> entries
  let stale = new Map(); // pages of an earlier answer, shown until their fresh ones come
  const asking = new Set();
  let rowH = 0;
  let shown = []; // [{ i, sig, tr }] in order, one contiguous range
  let frame = 0;
  let timer = null;
  let failed = null;

  const topSpacer = h('tr', { class: 'spacer', 'aria-hidden': 'true' }, h('td', { colspan: 6 }));
  const bottomSpacer = h('tr', { class: 'spacer', 'aria-hidden': 'true' }, h('td', { colspan: 6 }));
  const tbody = h('tbody', {}, topSpacer, bottomSpacer);
  const selectAll = h('input', { type: 'checkbox', class: 'row-check', testid: 'select-all', 'aria-label': 'Select everything in this folder' });
  const sortButtons = {};
  const header = (label, s, cls) => {
    const b = h('button', { type: 'button', class: 'sort', testid: `sort-${s}` }, label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }));
    b.addEventListener('click', () => {
      if (sort === s) order = order === 'asc' ? 'desc' : 'asc';
      else { sort = s; order = SORTS[s]; }
      try { localStorage.setItem(SORT_KEY, `${sort} ${order}`); } catch (e) { /* kept for this page only */ }
      restart();
    });
    const th = h('th', { scope: 'col', class: cls }, b);
    sortButtons[s] = th;
    return th;
  };
  const table = h('table', { class: 'files vlist' },
    h('colgroup', {},
      h('col', { class: 'c-check' }), h('col', { class: 'c-name' }), h('col', { class: 'c-size' }),
      h('col', { class: 'c-modified' }), h('col', { class: 'c-dur' }), h('col', { class: 'c-actions' })),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', class: 'col-check' }, selectAll),
      header('Name', 'name', 'col-name'),
      header('Size', 'size', 'num'),
      header('Modified', 'modified', 'col-modified'),
      h('th', { scope: 'col', class: 'col-dur', text: 'Kept' }),
      h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only', text: 'Actions' })))),
    tbody);
  const el = h('div', { class: 'listing', testid: 'file-list' }, h('p', { class: 'loading', text: 'Loading…' }));

  function keyOf() {
    return `${sort}\n${order}\n${q}`;
  }

  function markSort() {
    for (const [s, th] of Object.entries(sortButtons)) {
      th.setAttribute('aria-sort', s === sort ? (order === 'asc' ? 'ascending' : 'descending') : 'none');
      th.querySelector('.sort-mark').textContent = s === sort ? (order === 'asc' ? ' ▲' : ' ▼') : '';
    }
  }

  /** A new sort or search: the first page is asked for at once, what shows stays until it comes. */
  function restart() {
    key = keyOf();
    markSort();
    stale = new Map([...stale, ...pages]);
    pages = new Map();
    asking.clear();
    ask(0, true).then(() => {
      if (key !== keyOf()) return;
      stale = new Map();
      // The top of the new order, when the list had been scrolled down.
      const top = el.getBoundingClientRect().top + window.scrollY;
      if (window.scrollY > top) window.scrollTo(0, Math.max(0, top - 60));
      layout();
    });
  }

  async function ask(n, fresh) {
    if (!fresh && (pages.has(n) || asking.has(n))) return;
    const k = key;
    asking.add(n);
    const params = new URLSearchParams({ path, offset: String(n * PAGE), limit: String(PAGE), sort, order });
    if (q) params.set('q', q);
    const r = await api('GET', '/api/files?' + params.toString());
    if (k === key) asking.delete(n);
    if (!alive() || k !== key) return;
    if (!r.ok) {
      if (r.status === 401) return;
      // A box that did not answer once: the rows on screen stay, the next poll asks again.
      if (shown.length && (r.status === 0 || r.status >= 500)) return;
      failed = r.status === 404 ? 'This folder does not exist (any more).' : r.error;
      draw();
      return;
    }
    failed = null;
    const d = r.data || {};
    if (opts.onAnswer) opts.onAnswer(d);
    const entries = (Array.isArray(d.entries) ? d.entries : []).map((e) => ({ ...e, sig: JSON.stringify(e) }));
    if (typeof d.total !== 'number') {
      // A box that sends whole folders (before paging): cut it into pages here.
      pages = new Map();
      for (let i = 0; i * PAGE < entries.length; i++) pages.set(i, entries.slice(i * PAGE, (i + 1) * PAGE));
      setTotal(entries.length);
    } else {
      // The folder changed size since: other pages may be off by a row or so, ask again.
      if (total !== null && d.total !== total && stale.size === 0) {
        stale = new Map([...pages]);
        pages = new Map();
      }
      pages.set(n, entries);
      setTotal(d.total);
    }
    // The first rows are drawn at once; later pages wait for the next frame, with the scroll.
    if (shown.length === 0) draw();
    else schedule();
  }

  function setTotal(t) {
    total = t;
    el.setAttribute('data-total', String(t));
    if (opts.onTotal) opts.onTotal(t, q);
  }

  function entryAt(i) {
    const n = Math.floor(i / PAGE);
    const p = pages.get(n) || stale.get(n);
    return p ? p[i - n * PAGE] : undefined;
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
  }

  function clearRows() {
    for (const s of shown) s.tr.remove();
    shown = [];
  }

  function draw() {
    if (!alive()) return;
    if (failed) {
      clearRows();
      el.replaceChildren(errorBox(failed, 'files-error'), h('a', { href: filesHash('/'), text: 'Back to Home' }));
      return;
    }
    if (total === null) return;
    if (total === 0) {
      clearRows();
      const says = el.firstElementChild && el.firstElementChild.getAttribute('data-said');
      if (says === `empty\n${q}`) return; // drawn already: left alone between polls
      el.replaceChildren(q
        ? h('p', { class: 'empty', testid: 'files-no-match', text: `No name in this folder contains “${q}”.` })
        : h('p', { class: 'empty', testid: 'files-empty', text: 'This folder is empty. Upload files with the button above or drop them here.' }));
      el.firstElementChild.setAttribute('data-said', `empty\n${q}`);
      return;
    }
    if (table.parentNode !== el) el.replaceChildren(table);
    layout();
  }

  function rowHeight() {
    if (!rowH) rowH = parseFloat(getComputedStyle(table).getPropertyValue('--row-h')) || 52;
    return rowH;
  }

  function layout() {
    if (!alive() || total === null || total === 0 || table.parentNode !== el) return;
    const rh = rowHeight();
    // Row 0 starts where the top spacer starts, whatever it stands in for. Measuring that makes the
    // browser lay the page out at once, so the first rows of an unscrolled page skip it: the list
    // starts below the top of the screen, and drawing from row 0 as if it started at the top
    // draws a few rows more than fit, with one layout fewer before the first paint.
    const y0 = shown.length === 0 && !pageScrolled() ? 0 : topSpacer.getBoundingClientRect().top;
    const view = window.innerHeight;
    // The very first rows are only those on screen, so that the first paint lays out no more;
    // the rows beyond the edges follow in the next frame.
    const margin = shown.length === 0 ? 0 : MARGIN;
    let first = Math.max(0, Math.floor(-y0 / rh) - margin);
    let last = Math.min(total - 1, Math.ceil((view - y0) / rh) + margin);
    if (last < first) { first = Math.min(first, total - 1); last = Math.min(total - 1, first + MARGIN); }
    for (let n = Math.floor(first / PAGE); n <= Math.floor(last / PAGE); n++) {
      if (!pages.has(n)) ask(n, false);
    }
    const firstDraw = shown.length === 0;
    place(first, last);
    // (Asked for from within the next frame, so that they come in the one after.)
    if (firstDraw && shown.length) requestAnimationFrame(() => schedule());
    topSpacer.style.height = `${first * rh}px`;
    bottomSpacer.style.height = `${(total - 1 - last) * rh}px`;
    // The rows' true height (fonts, the phone's card layout) corrects the estimate, read when the
    // browser lays the page out anyway rather than by making it do so now.
    const probe = shown.find((s) => s.tr.classList.contains('row'));
    if (probe && probe.tr !== measured) {
      if (measured) sizer.unobserve(measured);
      measured = probe.tr;
      sizer.observe(measured);
    }
  }

  let measured = null;
  const sizer = new ResizeObserver((seen) => {
    if (!alive()) { sizer.disconnect(); return; }
    for (const e of seen) {
      const real = e.target.getBoundingClientRect().height;
      if (real > 0 && Math.abs(real - rowHeight()) > 0.5) { rowH = real; schedule(); }
    }
  });

  function sigOf(i) {
    const e = entryAt(i);
    return e ? `${e.sig}\n${opts.rowState ? opts.rowState(e) : ''}` : '';
  }

  function make(i) {
    const e = entryAt(i);
    let tr;
    if (e) {
      tr = opts.row(e, i);
      tr.classList.add('row');
    } else {
      tr = h('tr', { class: 'row is-loading', 'aria-busy': 'true' }, h('td', { colspan: 6 }, h('span', { class: 'muted', text: 'Loading…' })));
    }
    tr.setAttribute('data-index', String(i));
    return { i, sig: sigOf(i), tr };
  }

  /** Makes the rows first..last the ones in the document, touching only what changed. */
  function place(first, last) {
    const keep = shown.filter((s) => s.i >= first && s.i <= last);
    for (const s of shown) if (s.i < first || s.i > last) s.tr.remove();
    for (let k = 0; k < keep.length; k++) {
      if (keep[k].sig !== sigOf(keep[k].i)) {
        const fresh = make(keep[k].i);
        keep[k].tr.replaceWith(fresh.tr);
        keep[k] = fresh;
      }
    }
    if (keep.length === 0) {
      const rows = [];
      for (let i = first; i <= last; i++) rows.push(make(i));
      topSpacer.after(...rows.map((r) => r.tr));
      shown = rows;
      return;
    }
    const before = [];
    for (let i = first; i < keep[0].i; i++) before.push(make(i));
    const after = [];
    for (let i = keep[keep.length - 1].i + 1; i <= last; i++) after.push(make(i));
    if (before.length) topSpacer.after(...before.map((r) => r.tr));
    if (after.length) bottomSpacer.before(...after.map((r) => r.tr));
    shown = [...before, ...keep, ...after];
  }

  const onScroll = () => schedule();
  const onResize = () => { rowH = 0; schedule(); };
  window.addEventListener('scroll', onScroll, { passive: true });
  window.addEventListener('resize', onResize);

  async function poll() {
    timer = null;
    if (!alive()) return;
    if (document.visibilityState === 'visible' && asking.size === 0) {
      if (shown.length) {
        const firstPage = Math.floor(shown[0].i / PAGE);
        const lastPage = Math.floor(shown[shown.length - 1].i / PAGE);
        for (let n = firstPage; n <= lastPage; n++) await ask(n, true);
      } else {
        // Empty, or an error shown: the folder may have come (back) since.
        await ask(0, true);
      }
    }
    if (alive()) timer = setTimeout(poll, POLL_MS);
  }

  key = keyOf();
  markSort();
  ask(0, true);
  timer = setTimeout(poll, POLL_MS);

  return {
    el,
    selectAll,
    /** Names in this folder containing `text` (any case). */
    setQuery(text) {
      if (text === q) return;
      q = text;
      restart();
    },
    query: () => q,
    total: () => total,
    /** After a change here: every page is asked again; what shows stays until then. */
    reload() {
      stale = new Map([...stale, ...pages]);
      pages = new Map();
      asking.clear();
      key = keyOf() + '\n' + Date.now(); // answers on their way are for the old content
      const k = key;
      ask(0, true).then(() => { if (key === k) { stale = new Map(); schedule(); } });
    },
    /** Draws again the rows whose rowState changed. */
    redraw: schedule,
    /** Every name in the folder (up to `max`), for "select all": asked in pages of 1,000. */
    async allNames(max) {
      if (total === null || total > max) return null;
      const names = [];
      for (let offset = 0; offset < total; offset += 1000) {
        const params = new URLSearchParams({ path, offset: String(offset), limit: '1000', sort, order });
        if (q) params.set('q', q);
        const r = await api('GET', '/api/files?' + params.toString());
        if (!r.ok || !r.data) return null;
        const entries = Array.isArray(r.data.entries) ? r.data.entries : [];
        names.push(...entries.map((e) => String(e.name)));
        if (typeof r.data.total !== 'number' || entries.length === 0) break;
      }
      return names;
    },
    stop() {
      if (timer) clearTimeout(timer);
      if (frame) cancelAnimationFrame(frame);
      window.removeEventListener('scroll', onScroll);
      window.removeEventListener('resize', onResize);
    },
  };
}
