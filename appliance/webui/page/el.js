// The one element helper, in a module of its own with no side effects: boot.js (inline in
// index.html, run before the page's body exists) draws the first screen with it too.

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
