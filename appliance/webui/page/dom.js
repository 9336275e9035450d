// The small element helpers of the owner's page.

export const main = document.getElementById('main');

// Whether the page is scrolled, kept from scroll events: reading window.scrollY makes the browser
// lay the page out first, which before the first paint is a whole layout of its own.
let scrolledBy = 0;
window.addEventListener('scroll', () => { scrolledBy = window.scrollY; }, { passive: true });

/** True when the page is scrolled down (as of its last scroll event). */
export function pageScrolled() {
  return scrolledBy > 0;
}

/** Builds an element. props: class, text, testid, on<event>, value, checked, attributes. */
export function h(tag, props, ...kids) {
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
