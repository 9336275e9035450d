// The viewer: one file at a time over the whole page, whatever page is behind it. Each kind of
// file has its own part (viewkinds.js, pdfview.js) that reports where one is in it (its view),
// so that the workspace can remember it and another tablet can open the file at the same place.
// The browser's Back closes it, as a phone's back gesture should.

import { h } from './dom.js';
import { baseName, davUrl } from './paths.js';
import { mountImage, mountMedia, mountText, mountMarkdown, mountOther } from './viewkinds.js';
import { mountPdf } from './pdfview.js';

/** The viewer on screen: { path, kind, el, part, opts }. */
let current = null;

/** What the viewer shows now: { path, kind, view }, or null. */
export function viewerItem() {
  if (!current) return null;
  return { path: current.path, kind: current.kind, view: current.part.view() };
}

/**
 * Shows `item` ({ path, kind, view }). opts: onView(view) whenever the place in the file
 * changes, onClose() when it is closed, actions: [{ label, testid, run(item) }] for its header.
 * The same file already open just moves to `view`.
 */
export function showViewer(item, opts = {}) {
  if (current && current.path === item.path && current.kind === item.kind) {
    current.opts = opts;
    if (item.view) current.part.apply(item.view);
    return;
  }
  const hadOne = !!current;
  dispose();
  const name = baseName(item.path);
  const body = h('div', { class: 'viewer-body' });
  const close = h('button', { type: 'button', class: 'btn btn-small viewer-close', testid: 'viewer-close', 'aria-label': 'Close', text: 'Close' });
  const actions = h('div', { class: 'viewer-actions' },
    (opts.actions || []).map((a) => {
      // A phone has room for the short label only.
      const b = h('button', { type: 'button', class: 'btn btn-small', testid: a.testid, 'aria-label': a.label },
        h('span', { class: 'label-long', text: a.label }), h('span', { class: 'label-short', 'aria-hidden': 'true', text: a.short || a.label }));
      b.addEventListener('click', () => { const it = viewerItem(); if (it) a.run(it); });
      return b;
    }),
    h('a', { class: 'btn btn-small', href: davUrl(item.path) + '?download=1', download: name, testid: 'viewer-download', text: 'Download' }));
  const el = h('section', { class: `viewer is-${item.kind}`, role: 'dialog', 'aria-modal': 'true', 'aria-label': name, testid: 'viewer', 'data-kind': item.kind, 'data-path': item.path },
    h('header', { class: 'viewer-head' },
      close,
      h('h2', { class: 'viewer-name', testid: 'viewer-name', title: item.path, text: name }),
      actions),
    body);
  close.addEventListener('click', () => closeViewer());
  document.body.append(el);
  document.documentElement.classList.add('viewer-open');
  const me = { path: item.path, kind: item.kind, el, part: null, opts };
  current = me;
  const changed = (view) => { if (current === me && me.opts.onView) me.opts.onView(view); };
  me.part = mount(item, body, changed);
  if (!hadOne && !(history.state && history.state.viewer)) history.pushState({ viewer: true }, '', location.href);
  close.focus({ preventScroll: true });
}

function mount(item, body, changed) {
  const view = item.view || {};
  switch (item.kind) {
    case 'pdf': return mountPdf(body, item.path, view, changed);
    case 'image': return mountImage(body, item.path);
    case 'video':
    case 'audio': return mountMedia(body, item.path, item.kind, view, changed);
    case 'text': return mountText(body, item.path, view, changed);
    case 'markdown': return mountMarkdown(body, item.path, view, changed);
    default: return mountOther(body, item.path);
  }
}

function dispose() {
  if (!current) return null;
  const was = current;
  current = null;
  try { was.part.stop(); } catch (e) { /* going anyway */ }
  was.el.remove();
  document.documentElement.classList.remove('viewer-open');
  return was;
}

/** Closes the viewer (and tells its opener), if one is open. */
export function closeViewer(fromHistory) {
  const was = dispose();
  if (!was) return;
  if (was.opts.onClose) was.opts.onClose(was.path);
  if (!fromHistory && history.state && history.state.viewer) history.back();
}

window.addEventListener('popstate', () => {
  if (current && !(history.state && history.state.viewer)) closeViewer(true);
});

document.addEventListener('keydown', (e) => {
  if (!current || e.defaultPrevented || document.querySelector('dialog[open]')) return;
  if (e.key === 'Escape') { e.preventDefault(); closeViewer(); return; }
  if (current.part.key) current.part.key(e);
});
