// The viewer's simple kinds: images, video and audio (the box answers Range requests, so seeking
// fetches only what it needs), text (the first 2 MiB, as text, never as markup) and Markdown
// (the box's HTML of it, in a sandboxed frame where nothing runs). Each mount returns
// { view(), apply(view), stop() } and calls changed(view) as the place in the file changes.

import { h } from './dom.js';
import { baseName, davUrl } from './paths.js';
import { humanBytes } from './format.js';

const TEXT_MAX = 2 * 1024 * 1024;

const round = (n, digits) => Math.round(n * 10 ** digits) / 10 ** digits;

function nothing() {
  return { view: () => ({}), apply: () => {}, stop: () => {} };
}

export function mountImage(body, path) {
  body.append(h('div', { class: 'viewer-center' },
    h('img', { class: 'viewer-image', src: davUrl(path), alt: baseName(path), testid: 'viewer-image' })));
  return nothing();
}

export function mountOther(body, path) {
  const name = baseName(path);
  body.append(h('div', { class: 'viewer-center' },
    h('div', { class: 'viewer-note', testid: 'viewer-other' },
      h('p', { text: `“${name}” cannot be shown here.` }),
      h('a', { class: 'btn btn-primary', href: davUrl(path) + '?download=1', download: name, text: 'Download it' }))));
  return nothing();
}

export function mountMedia(body, path, kind, view, changed) {
  const media = h(kind === 'audio' ? 'audio' : 'video', {
    class: `viewer-${kind}`, controls: true, preload: 'metadata', playsinline: true, src: davUrl(path), testid: `viewer-${kind}`,
  });
  const problem = h('p', { class: 'inline-error', role: 'alert', testid: 'viewer-error' });
  body.append(h('div', { class: 'viewer-center' }, media, problem));
  // The place to go to once the file's length is known (seeking before that is lost).
  let want = Number.isFinite(view.time) ? view.time : null;
  const seek = () => {
    if (want === null || media.readyState < 1) return;
    const t = Number.isFinite(media.duration) ? Math.min(want, media.duration) : want;
    want = null;
    media.currentTime = t;
  };
  const now = () => ({ time: round(want ?? media.currentTime ?? 0, 1) });
  let reported = 0;
  const report = () => { reported = Date.now(); changed(now()); };
  media.addEventListener('loadedmetadata', seek);
  media.addEventListener('pause', report);
  media.addEventListener('seeked', report);
  // While it plays, the place is saved now and then, not four times a second.
  media.addEventListener('timeupdate', () => { if (!media.paused && Date.now() - reported > 5000) report(); });
  media.addEventListener('error', () => {
    problem.textContent = 'This file could not be played here (the browser may not know its format). Download it instead.';
  });
  seek();
  return {
    view: now,
    apply(v) { if (Number.isFinite(v.time)) { want = v.time; seek(); } },
    stop() {
      media.pause();
      media.removeAttribute('src');
      media.load(); // lets go of the connection
    },
  };
}

/** Keeps `scroller`'s place as a fraction (0..1), so that a phone and a tablet agree on it. */
function scrollPlace(scroller, changed) {
  let want = null;
  const max = () => scroller.scrollHeight - scroller.clientHeight;
  const place = () => (max() > 0 ? round(Math.min(1, Math.max(0, scroller.scrollTop / max())), 4) : 0);
  const go = () => {
    if (want === null || max() <= 0) return;
    scroller.scrollTop = want * max();
    want = null;
  };
  let timer = null;
  scroller.addEventListener('scroll', () => {
    if (want !== null) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => changed({ scroll: place() }), 150);
  }, { passive: true });
  return {
    want(v) { if (v && Number.isFinite(v.scroll)) { want = v.scroll; go(); } },
    ready: go,
    view: () => ({ scroll: want ?? place() }),
    stop() { if (timer) clearTimeout(timer); },
  };
}

export function mountText(body, path, view, changed) {
  const pre = h('pre', { class: 'viewer-text', testid: 'viewer-text' });
  const note = h('p', { class: 'viewer-note-line muted', testid: 'viewer-text-note' });
  const scroller = h('div', { class: 'viewer-scroll', testid: 'viewer-scroll', tabindex: 0 }, pre);
  body.append(note, scroller);
  pre.textContent = 'Loading…';
  const place = scrollPlace(scroller, changed);
  place.want(view);
  const ctl = new AbortController();
  (async () => {
    try {
      const res = await fetch(davUrl(path), { credentials: 'same-origin', cache: 'no-store', signal: ctl.signal, headers: { Range: `bytes=0-${TEXT_MAX - 1}` } });
      if (!res.ok) { pre.textContent = ''; note.textContent = res.status === 404 ? 'This file is not there any more.' : `The box answered ${res.status}.`; return; }
      const range = /\/(\d+)$/.exec(res.headers.get('Content-Range') || '');
      const total = range ? Number(range[1]) : Number(res.headers.get('Content-Length')) || null;
      const bytes = await firstBytes(res, TEXT_MAX);
      pre.textContent = new TextDecoder('utf-8').decode(bytes);
      if (total !== null && total > bytes.length) note.textContent = `The first ${humanBytes(bytes.length)} of ${humanBytes(total)} are shown: download the file for the rest.`;
      place.ready();
    } catch (e) {
      if (e.name !== 'AbortError') { pre.textContent = ''; note.textContent = 'The box did not answer.'; }
    }
  })();
  return { view: place.view, apply: place.want, stop() { ctl.abort(); place.stop(); } };
}

/** At most `max` bytes of a response's body (a box that ignores Range sends all of it). */
async function firstBytes(res, max) {
  const reader = res.body.getReader();
  const parts = [];
  let n = 0;
  while (n < max) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.length;
  }
  reader.cancel().catch(() => {});
  const out = new Uint8Array(Math.min(n, max));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - at);
    out.set(p.subarray(0, take), at);
    at += take;
    if (at === out.length) break;
  }
  return out;
}

export function mountMarkdown(body, path, view, changed) {
  // No allow-scripts: nothing in the file runs. allow-same-origin only lets this page read and
  // set how far down it is (the box's own header may sandbox it further; then the place is not
  // kept, and the file still shows).
  const frame = h('iframe', { class: 'viewer-frame', sandbox: 'allow-same-origin', referrerpolicy: 'no-referrer', title: baseName(path), testid: 'viewer-markdown', src: '/api/preview?path=' + encodeURIComponent(path) });
  body.append(frame);
  let place = null;
  let want = view;
  frame.addEventListener('load', () => {
    let doc = null;
    try { doc = frame.contentDocument; } catch (e) { doc = null; }
    if (!doc || !doc.scrollingElement) return;
    const scroller = doc.scrollingElement;
    // The frame's document scrolls itself; its scroll events fire on its document.
    const proxy = {
      get scrollTop() { return scroller.scrollTop; },
      set scrollTop(v) { scroller.scrollTop = v; },
      get scrollHeight() { return scroller.scrollHeight; },
      get clientHeight() { return scroller.clientHeight; },
      addEventListener: (type, fn, o) => doc.addEventListener(type, fn, o),
    };
    place = scrollPlace(proxy, changed);
    place.want(want);
  });
  return {
    view: () => (place ? place.view() : { scroll: Number.isFinite(want && want.scroll) ? want.scroll : 0 }),
    apply(v) { want = v; if (place) place.want(v); },
    stop() { if (place) place.stop(); },
  };
}
