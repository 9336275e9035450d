// The small element helpers of the owner's page.

import { h } from './el.js';

export { h };

export const main = document.getElementById('main');

// Whether the page is scrolled, kept from scroll events: reading window.scrollY makes the browser
// lay the page out first, which before the first paint is a whole layout of its own.
let scrolledBy = 0;
window.addEventListener('scroll', () => { scrolledBy = window.scrollY; }, { passive: true });

/** True when the page is scrolled down (as of its last scroll event). */
export function pageScrolled() {
  return scrolledBy > 0;
}

export function pageHead(title, ...extra) {
  return h('div', { class: 'page-head' }, h('h1', { text: title }), ...extra);
}

export function errorBox(text, testid) {
  return h('p', { class: 'error-box', role: 'alert', testid: testid || 'page-error', text });
}

/** A status line (role status, or alert for errors): say(el, text, 'ok'|'error'|'busy'|''). */
export function statusLine(testid) {
  return h('p', { class: 'form-msg', role: 'status', 'aria-live': 'polite', testid });
}

export function say(el, text, kind) {
  el.textContent = text || '';
  el.className = 'form-msg' + (kind ? ` is-${kind}` : '');
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}
