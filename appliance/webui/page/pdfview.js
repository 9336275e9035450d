// PDFs in the viewer, drawn by pdf.js (vendored: vendor/README.md) one page at a time on a
// canvas. pdf.js is loaded only when a PDF is opened (it is larger than the rest of the page
// together), and reads the file with Range requests, so page 7 of a big PDF shows without the
// whole file. Its code generation stays off: the page's CSP has no 'unsafe-eval'.
// The view is { page, zoom }, zoom relative to the page's width fitting the screen, so that a
// phone and a tablet show the same part of the page.

import { h } from './dom.js';
import { davUrl } from './paths.js';

const WORKER = '/assets/vendor/pdfjs/pdf.worker.min.mjs';
const ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4];

let lib = null;
async function pdfjs() {
  if (!lib) {
    lib = import('/assets/vendor/pdfjs/pdf.min.mjs').then((m) => {
      m.GlobalWorkerOptions.workerSrc = WORKER;
      return m;
    });
    lib.catch(() => { lib = null; });
  }
  return lib;
}

function clampZoom(z) {
  return Number.isFinite(z) ? Math.min(4, Math.max(0.5, z)) : 1;
}

export function mountPdf(body, path, view, changed) {
  let page = Number.isInteger(view.page) && view.page > 0 ? view.page : 1;
  let zoom = clampZoom(view.zoom);
  let doc = null;
  let task = null;
  let rendering = null; // pdf.js's render task of the page on screen
  let stopped = false;

  const prev = h('button', { type: 'button', class: 'btn btn-small', testid: 'pdf-prev', 'aria-label': 'Previous page', text: '‹' });
  const next = h('button', { type: 'button', class: 'btn btn-small', testid: 'pdf-next', 'aria-label': 'Next page', text: '›' });
  const input = h('input', { class: 'input pdf-page-input', type: 'number', min: 1, step: 1, inputmode: 'numeric', 'aria-label': 'Page', testid: 'pdf-page-input', value: String(page) });
  const pages = h('span', { class: 'pdf-pages', testid: 'pdf-pages', text: '' });
  const out = h('button', { type: 'button', class: 'btn btn-small', testid: 'pdf-zoom-out', 'aria-label': 'Zoom out', text: '−' });
  const zin = h('button', { type: 'button', class: 'btn btn-small', testid: 'pdf-zoom-in', 'aria-label': 'Zoom in', text: '+' });
  const fit = h('button', { type: 'button', class: 'btn btn-small', testid: 'pdf-fit', text: 'Fit' });
  const zoomText = h('span', { class: 'pdf-zoom', testid: 'pdf-zoom', text: '' });
  const canvas = h('canvas', { class: 'pdf-canvas', testid: 'pdf-canvas' });
  const status = h('p', { class: 'viewer-note-line muted', role: 'status', testid: 'pdf-status', text: 'Loading…' });
  const sheet = h('div', { class: 'pdf-sheet' }, canvas);
  const scroller = h('div', { class: 'viewer-scroll pdf-scroll', testid: 'pdf-scroll' }, sheet);
  body.append(
    h('div', { class: 'pdf-bar' },
      h('div', { class: 'pdf-nav' }, prev, h('label', { class: 'pdf-page' }, h('span', { class: 'sr-only', text: 'Page' }), input, pages), next),
      h('div', { class: 'pdf-zoombar' }, out, zoomText, zin, fit)),
    status,
    scroller);

  const now = () => ({ page, zoom });
  // The page shown, for people and for tests: data-page once it is drawn.
  const shown = (n) => scroller.setAttribute('data-page', String(n));

  function go(n, z, tell) {
    const count = doc ? doc.numPages : null;
    let p = Math.max(1, Math.floor(Number(n)) || 1);
    if (count) p = Math.min(p, count);
    const zz = clampZoom(z);
    const moved = p !== page || zz !== zoom;
    page = p;
    zoom = zz;
    input.value = String(page);
    if (moved && tell) changed(now());
    if (doc) draw();
  }

  async function draw() {
    if (!doc || stopped) return;
    const n = page;
    const z = zoom;
    prev.disabled = n <= 1;
    next.disabled = n >= doc.numPages;
    out.disabled = z <= ZOOMS[0];
    zin.disabled = z >= ZOOMS[ZOOMS.length - 1];
    zoomText.textContent = `${Math.round(z * 100)} %`;
    let p;
    try {
      p = await doc.getPage(n);
    } catch (e) {
      if (!stopped) status.textContent = `Page ${n} could not be read.`;
      return;
    }
    if (stopped || n !== page || z !== zoom) return;
    const base = p.getViewport({ scale: 1 });
    const width = Math.max(200, scroller.clientWidth - 16);
    const scale = (width / base.width) * z;
    const dpr = Math.min(window.devicePixelRatio || 1, 3);
    const vp = p.getViewport({ scale: scale * dpr });
    if (rendering) { rendering.cancel(); rendering = null; }
    // Drawn off screen, then swapped in, so a page turn never shows a blank canvas.
    const fresh = document.createElement('canvas');
    fresh.width = Math.floor(vp.width);
    fresh.height = Math.floor(vp.height);
    const task = p.render({ canvasContext: fresh.getContext('2d'), viewport: vp });
    rendering = task;
    try {
      await task.promise;
    } catch (e) {
      if (e && e.name === 'RenderingCancelledException') return;
      if (!stopped) status.textContent = `Page ${n} could not be drawn.`;
      return;
    } finally {
      if (rendering === task) rendering = null;
    }
    if (stopped || n !== page || z !== zoom) return;
    canvas.width = fresh.width;
    canvas.height = fresh.height;
    canvas.getContext('2d').drawImage(fresh, 0, 0);
    // Through the CSSOM: allowed by the page's style-src.
    canvas.style.width = `${Math.floor(vp.width / dpr)}px`;
    canvas.style.height = `${Math.floor(vp.height / dpr)}px`;
    status.textContent = '';
    shown(n);
  }

  prev.addEventListener('click', () => go(page - 1, zoom, true));
  next.addEventListener('click', () => go(page + 1, zoom, true));
  input.addEventListener('change', () => go(input.value, zoom, true));
  out.addEventListener('click', () => go(page, ZOOMS.filter((x) => x < zoom - 1e-6).pop() ?? zoom, true));
  zin.addEventListener('click', () => go(page, ZOOMS.find((x) => x > zoom + 1e-6) ?? zoom, true));
  fit.addEventListener('click', () => go(page, 1, true));

  // A swipe turns the page when the whole width is in view.
  let swipe = null;
  scroller.addEventListener('pointerdown', (e) => { swipe = zoom <= 1 ? { x: e.clientX, y: e.clientY } : null; });
  scroller.addEventListener('pointerup', (e) => {
    if (!swipe) return;
    const dx = e.clientX - swipe.x;
    const dy = e.clientY - swipe.y;
    swipe = null;
    if (Math.abs(dx) > 60 && Math.abs(dx) > 2 * Math.abs(dy)) go(page + (dx < 0 ? 1 : -1), zoom, true);
  });

  let resized = null;
  const onResize = () => {
    if (resized) clearTimeout(resized);
    resized = setTimeout(draw, 150);
  };
  window.addEventListener('resize', onResize);

  (async () => {
    try {
      const m = await pdfjs();
      if (stopped) return;
      task = m.getDocument({
        url: davUrl(path),
        isEvalSupported: false,
        enableXfa: false,
        // Only the pages looked at are fetched (Range requests), not the whole file behind them.
        disableAutoFetch: true,
        rangeChunkSize: 256 * 1024,
      });
      doc = await task.promise;
      if (stopped) return;
      pages.textContent = `/ ${doc.numPages}`;
      input.max = String(doc.numPages);
      scroller.setAttribute('data-pages', String(doc.numPages));
      go(page, zoom, false);
    } catch (e) {
      if (stopped) return;
      status.textContent = e && e.name === 'PasswordException'
        ? 'This PDF is protected by a password: download it to open it.'
        : 'This PDF could not be shown here. Download it instead.';
      status.classList.add('inline-error');
    }
  })();

  return {
    view: now,
    apply(v) { go(Number.isInteger(v.page) ? v.page : page, Number.isFinite(v.zoom) ? v.zoom : zoom, false); },
    key(e) {
      if (e.target instanceof HTMLInputElement) return;
      if (e.key === 'ArrowRight' || e.key === 'PageDown') { e.preventDefault(); go(page + 1, zoom, true); }
      if (e.key === 'ArrowLeft' || e.key === 'PageUp') { e.preventDefault(); go(page - 1, zoom, true); }
    },
    stop() {
      stopped = true;
      window.removeEventListener('resize', onResize);
      if (rendering) rendering.cancel();
      if (task) task.destroy();
    },
  };
}
