// What a signed-in page keeps live, whatever page shows: the event stream, the workspace, the
// inbox, and the "Continue" banner. Started when someone signs in, stopped when they sign out.

import { state } from './api.js';
import { startEvents, stopEvents, onEvent } from './events.js';
import { loadWorkspace, workspaceEvent, resetWorkspace, flushWorkspace } from './workspace.js';
import { loadInbox, inboxEvent, resetInbox } from './inbox.js';
import { startContinue, stopContinue, continueOnStart } from './continue.js';
import { closeViewer } from './viewer.js';

/** Who the live parts run for ("user\ndevice"), or null. */
let running = null;

/** The workspace and the inbox as they are now; the newest event id both reflect. */
async function loadAll() {
  const [ws, inbox] = await Promise.all([loadWorkspace(), loadInbox()]);
  const ids = [ws && ws.event, inbox && inbox.event].filter((n) => Number.isFinite(n));
  return { ws, after: ids.length === 2 ? Math.min(...ids) : null };
}

onEvent('workspace', (d) => { if (running) workspaceEvent(d); });
onEvent('inbox', (d) => { if (running) inboxEvent(d); });
onEvent('reset', () => { if (running) loadAll(); });

/** Starts or stops the live parts to match the session in `state`. */
export function syncLive() {
  const user = state && !state.onboarding && state.user ? state.user.name : null;
  const who = user === null ? null : `${user}\n${state.device || ''}`;
  if (who === running) return;
  if (running) stop();
  running = who;
  if (who) start(who);
}

async function start(who) {
  resetWorkspace();
  resetInbox();
  startContinue();
  // The stream starts after what was read, so that nothing sent in between is missed (events
  // the state already shows may come again: each is applied once by its version or id).
  const { ws, after } = await loadAll();
  if (running !== who) return;
  continueOnStart(ws);
  startEvents(after);
}

function stop() {
  stopEvents();
  stopContinue();
  closeViewer();
  resetWorkspace();
  resetInbox();
}

// A tablet put away or a tab closed: the last place in the file goes to the box now.
window.addEventListener('pagehide', () => flushWorkspace());
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flushWorkspace(); });
