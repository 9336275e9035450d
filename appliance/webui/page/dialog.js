// Dialogs: the native <dialog>, modal, closed by its button, Escape or a tap beside it.

import { h } from './dom.js';

/** Opens a dialog titled `title`; fill `body`. Returns { dialog, body, close, isOpen }. */
export function openDialog(title, testid, onClose) {
  const body = h('div', { class: 'dialog-body' });
  const shut = h('button', { type: 'button', class: 'btn btn-small btn-quiet', testid: `${testid}-close`, 'aria-label': 'Close', text: 'Close' });
  const dialog = h('dialog', { class: 'dialog', testid, 'aria-label': title },
    h('div', { class: 'dialog-head' }, h('h2', { class: 'wrap', text: title }), shut),
    body);
  document.body.append(dialog);
  const close = () => { if (dialog.open) dialog.close(); };
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (onClose) onClose();
  });
  shut.addEventListener('click', close);
  // A tap on the backdrop lands on the dialog element itself, outside its box.
  dialog.addEventListener('click', (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) close();
  });
  dialog.showModal();
  return { dialog, body, close, isOpen: () => dialog.open };
}
