// Opening something: a folder in the file page, a file in the viewer; either way it goes to the
// front of the workspace, and the viewer's changes of place are kept there.

import { showViewer, closeViewer } from './viewer.js';
import { touch, setView, closeFront } from './workspace.js';
import { openSendDialog, openHandoffDialog } from './send.js';
import { filesHash } from './paths.js';
import { kindOf } from './kinds.js';

const opened = new Set();

/** Runs fn(item) whenever something is opened (the "Continue" banner hides for it). */
export function onOpen(fn) {
  opened.add(fn);
  return () => opened.delete(fn);
}

/** Opens `item` ({ path, kind?, view? }) at its view. */
export function openItem(item) {
  const path = String(item.path);
  const kind = item.kind || kindOf(path, false);
  const view = item.view && typeof item.view === 'object' ? { ...item.view } : {};
  if (kind === 'folder') {
    closeViewer();
    location.hash = filesHash(path);
  } else {
    showViewer({ path, kind, view }, {
      onView: (v) => setView(path, v),
      onClose: (p) => closeFront(p),
      actions: [
        { label: 'Send to…', short: 'Send', testid: 'viewer-send', run: (it) => openSendDialog(it) },
        { label: 'Hand to a person…', short: 'Hand on', testid: 'viewer-handoff', run: (it) => openHandoffDialog(it) },
      ],
    });
  }
  touch({ path, kind, view });
  for (const fn of opened) fn({ path, kind, view });
}
