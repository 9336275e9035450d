// Renaming, moving and deleting on the files page, one entry or a selection, through the page's
// WebDAV (MOVE with Overwrite: F, so nothing is ever replaced by accident; DELETE). What is
// deleted stays in the trash, and the confirmations say so.

import { h, statusLine, say } from './dom.js';
import { api } from './api.js';
import { openDialog } from './dialog.js';
import { davUrl, joinPath, baseName, parentOf, cleanFolder, nameProblem } from './paths.js';
import { moved } from './workspace.js';

/** Moves or renames `from` to `to`; never replaces anything. Returns { ok, error }. */
export async function davMove(from, to) {
  const r = await api('MOVE', davUrl(from), undefined, { headers: { Destination: davUrl(to), Overwrite: 'F' } });
  if (r.ok) {
    moved(from, to);
    return r;
  }
  if (r.status === 412) r.error = `Something named “${baseName(to)}” is in “${parentOf(to)}” already.`;
  else if (r.status === 409) r.error = `There is no folder “${parentOf(to)}”.`;
  else if (r.status === 403 && to.startsWith(from + '/')) r.error = 'A folder cannot go into itself.';
  else if (r.status === 404) r.error = `“${baseName(from)}” is not there any more.`;
  return r;
}

/** Runs `job` on each of `items`, four at a time; returns the failures as [item, error]. */
async function each(items, job, progress) {
  const failures = [];
  let next = 0;
  let done = 0;
  async function worker() {
    while (next < items.length) {
      const it = items[next++];
      const r = await job(it);
      if (!r.ok) failures.push([it, r.error]);
      done++;
      if (progress) progress(done);
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  return failures;
}

function failureText(failures) {
  const [first, error] = failures[0];
  return failures.length === 1 ? `“${first}”: ${error}` : `${failures.length} could not: “${first}”: ${error}`;
}

export function renameDialog(dir, name, done) {
  const d = openDialog(`Rename “${name}”`, 'rename-dialog');
  const input = h('input', { id: 'rename-name', class: 'input', value: name, autocomplete: 'off', spellcheck: 'false', testid: 'rename-name', required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'rename-submit', text: 'Rename' });
  const msg = statusLine('rename-msg');
  const form = h('form', { class: 'form' },
    h('div', { class: 'field' }, h('label', { for: 'rename-name', text: 'New name' }), input),
    h('div', { class: 'actions' }, submit), msg);
  d.body.append(form);
  input.focus();
  // The name without its extension, ready to be typed over.
  const dot = name.lastIndexOf('.');
  input.setSelectionRange(0, dot > 0 ? dot : name.length);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const to = input.value.trim();
    const problem = nameProblem(to);
    if (problem) { say(msg, problem, 'error'); input.focus(); return; }
    if (to === name) { d.close(); return; }
    submit.disabled = true;
    say(msg, 'Renaming…', 'busy');
    const r = await davMove(joinPath(dir, name), joinPath(dir, to));
    submit.disabled = false;
    if (!r.ok) { say(msg, r.error, 'error'); return; }
    d.close();
    done(`Renamed “${name}” to “${to}”.`);
  });
}

/** Moves `names` (entries of `dir`) to a folder typed or picked; `folders` are suggestions. */
export function moveDialog(dir, names, folders, done) {
  const title = names.length === 1 ? `Move “${names[0]}”` : `Move ${names.length} items`;
  const d = openDialog(title, 'move-dialog');
  const suggestions = h('datalist', { id: 'move-folders' },
    [...new Set(['/', parentOf(dir), ...folders.map((f) => joinPath(dir, f))])].filter((f) => f !== dir).map((f) => h('option', { value: f })));
  const input = h('input', { id: 'move-to', class: 'input', value: dir === '/' ? '/' : dir + '/', list: 'move-folders', autocomplete: 'off', spellcheck: 'false', testid: 'move-to', required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'move-submit', text: 'Move' });
  const msg = statusLine('move-msg');
  const form = h('form', { class: 'form' },
    h('div', { class: 'field' },
      h('label', { for: 'move-to', text: 'To the folder' }), input, suggestions,
      h('p', { class: 'hint', text: 'A path from Home, like /Projects/2026. The folder must exist.' })),
    h('div', { class: 'actions' }, submit), msg);
  d.body.append(form);
  input.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const to = cleanFolder(input.value);
    if (to === cleanFolder(dir)) { say(msg, 'That is the folder they are in.', 'error'); return; }
    submit.disabled = true;
    say(msg, 'Moving…', 'busy');
    const failures = await each(names, (n) => davMove(joinPath(dir, n), joinPath(to, n)),
      (k) => say(msg, `Moving… ${k} of ${names.length}`, 'busy'));
    submit.disabled = false;
    const ok = names.length - failures.length;
    if (failures.length) {
      say(msg, (ok ? `${ok} moved. ` : '') + failureText(failures), 'error');
      if (ok) done(null, failures.map((f) => f[0]));
      return;
    }
    d.close();
    done(names.length === 1 ? `Moved “${names[0]}” to “${to}”.` : `Moved ${names.length} items to “${to}”.`, []);
  });
}

export function deleteDialog(dir, names, keepDays, done) {
  const title = names.length === 1 ? `Delete “${names[0]}”?` : `Delete ${names.length} items?`;
  const d = openDialog(title, 'delete-dialog');
  const yes = h('button', { type: 'button', class: 'btn btn-danger', testid: 'delete-selected-yes', text: 'Yes, delete' });
  const no = h('button', { type: 'button', class: 'btn btn-quiet', testid: 'delete-selected-no', text: 'Cancel' });
  const msg = statusLine('delete-msg');
  const days = typeof keepDays === 'number' && keepDays > 0 ? keepDays : 30;
  d.body.append(
    h('p', { class: 'wrap', text: names.length <= 5 ? names.map((n) => `“${n}”`).join(', ') : `${names.slice(0, 4).map((n) => `“${n}”`).join(', ')} and ${names.length - 4} more` }),
    h('p', { class: 'muted', text: `Folders go with everything in them. Deleted files stay in the trash for ${days} day${days === 1 ? '' : 's'}.` }),
    h('div', { class: 'actions' }, yes, no), msg);
  no.addEventListener('click', () => d.close());
  yes.focus();
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    no.disabled = true;
    const failures = await each(names, (n) => api('DELETE', davUrl(joinPath(dir, n))),
      (k) => say(msg, `Deleting… ${k} of ${names.length}`, 'busy'));
    no.disabled = false;
    const ok = names.length - failures.length;
    if (failures.length) {
      say(msg, (ok ? `${ok} deleted. ` : '') + failureText(failures), 'error');
      if (ok) done(null, failures.map((f) => f[0]));
      return;
    }
    d.close();
    done(names.length === 1 ? `Deleted “${names[0]}”.` : `Deleted ${names.length} items.`, []);
  });
}
