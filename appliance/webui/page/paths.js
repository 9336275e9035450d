// Paths of one's files as the page writes them ("/a/b.txt"), and the addresses made from them.

export function segments(path) {
  return String(path).split('/').filter((s) => s !== '');
}

export function joinPath(dir, name) {
  return '/' + [...segments(dir), name].join('/');
}

export function parentOf(path) {
  return '/' + segments(path).slice(0, -1).join('/');
}

export function baseName(path) {
  return segments(path).pop() || '';
}

/** A folder path as typed by a person ("Projects/x/", " /a ") -> "/Projects/x". */
export function cleanFolder(typed) {
  return '/' + segments(String(typed).trim()).join('/');
}

/** "/a b/c" -> "/api/dav/a%20b/c": every segment percent-encoded on its own. */
export function davUrl(path) {
  return '/api/dav/' + segments(path).map(encodeURIComponent).join('/');
}

function hashOf(route, path) {
  const segs = segments(path).map(encodeURIComponent);
  return `#/${route}` + (segs.length ? '/' + segs.join('/') : '');
}

export function filesHash(path) {
  return hashOf('files', path);
}

export function trashHash(path) {
  return hashOf('trash', path);
}

/** The path a route's rest names (`#/files/a%20b/c` -> "/a b/c"). */
export function pathOfRest(rest) {
  return '/' + rest.filter((s) => s !== '').map((s) => { try { return decodeURIComponent(s); } catch (e) { return s; } }).join('/');
}

/** A name a person may give a file or folder here (the box's naming rule has the last word). */
export function nameProblem(name) {
  if (!name) return 'Type a name.';
  if (name.includes('/') || name.includes('\\')) return 'A name cannot contain "/" or "\\".';
  if (name === '.' || name === '..') return 'A name cannot be "." or "..".';
  return null;
}
