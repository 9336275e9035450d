// What kind of thing a file is, by its name: how the viewer shows it and how the workspace
// records it (API.md: "pdf"|"image"|"video"|"audio"|"text"|"markdown"|"folder"|"other").

const BY_EXTENSION = new Map([
  ...['pdf'].map((e) => [e, 'pdf']),
  ...['png', 'jpg', 'jpeg', 'gif', 'webp', 'avif', 'bmp', 'ico', 'svg'].map((e) => [e, 'image']),
  ...['mp4', 'm4v', 'webm', 'mov', 'ogv', 'mkv'].map((e) => [e, 'video']),
  ...['mp3', 'm4a', 'aac', 'wav', 'ogg', 'oga', 'opus', 'flac'].map((e) => [e, 'audio']),
  ...['md', 'markdown'].map((e) => [e, 'markdown']),
  ...['txt', 'text', 'log', 'csv', 'tsv', 'json', 'xml', 'yaml', 'yml', 'toml', 'ini', 'conf', 'cfg',
    'sh', 'py', 'js', 'mjs', 'ts', 'rs', 'c', 'h', 'cc', 'cpp', 'hpp', 'go', 'java', 'kt', 'swift',
    'rb', 'pl', 'php', 'sql', 'css', 'html', 'htm', 'tex', 'srt', 'vtt', 'diff', 'patch'].map((e) => [e, 'text']),
]);

export function kindOf(name, dir) {
  if (dir) return 'folder';
  const m = /\.([^./]+)$/.exec(String(name).toLowerCase());
  return (m && BY_EXTENSION.get(m[1])) || 'other';
}

/** "1:23", "1:02:03": a time in a video or a song. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** Where in the file a view is, as people say it ("page 7", "at 1:23"), or '' when it says nothing. */
export function whereText(kind, view) {
  if (!view || typeof view !== 'object') return '';
  if (kind === 'pdf' && Number.isFinite(view.page)) return `page ${view.page}`;
  if ((kind === 'video' || kind === 'audio') && Number.isFinite(view.time)) return `at ${clock(view.time)}`;
  if ((kind === 'text' || kind === 'markdown') && Number.isFinite(view.scroll) && view.scroll > 0) return `${Math.round(view.scroll * 100)} % in`;
  return '';
}

/** Two views that show the same thing (a video a quarter second on is the same place). */
export function sameView(a, b) {
  if (!a || !b) return !a && !b;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (typeof x === 'number' && typeof y === 'number') {
      const tolerance = k === 'time' ? 0.5 : k === 'scroll' ? 0.005 : 1e-6;
      if (Math.abs(x - y) > tolerance) return false;
    } else if (x !== y) return false;
  }
  return true;
}
