// Numbers, sizes, ages and times as the page shows them.

export function humanBytes(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function humanAge(seconds) {
  if (typeof seconds !== 'number' || !isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${m % 60} min`;
  return `${Math.floor(hrs / 24)} days`;
}

// Dates are put together here rather than by Intl.DateTimeFormat: the first Intl formatter a page
// makes loads the browser's locale data, 40-60 ms of a fresh page's main thread on this machine
// (more on a tablet), and the file list shows a date on every row. The page speaks English, so
// the format is fixed: "2 Dec 2026, 14:05" (local time, 24-hour clock).
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n) => String(n).padStart(2, '0');

/** "14:05", or "14:05:09" with seconds. */
export function clockTime(d, seconds = true) {
  return `${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ''}`;
}

function dayText(d) {
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}`;
}

function dateOf(unix) {
  if (typeof unix !== 'number' || !isFinite(unix)) return null;
  const d = new Date(unix * 1000);
  return isNaN(d.getTime()) ? null : d;
}

/** "2 Dec 2026, 14:05". */
export function humanTime(unix) {
  const d = dateOf(unix);
  return d ? `${dayText(d)}, ${clockTime(d, false)}` : '–';
}

/** A moment to the second (versions of a file may be seconds apart): "2 Dec 2026, 14:05:09". */
export function exactTime(unix) {
  const d = dateOf(unix);
  return d ? `${dayText(d)}, ${clockTime(d)}` : '–';
}

/** The time alone for today's, else the date and time. */
export function activityTime(unix) {
  const d = dateOf(unix);
  if (!d) return '';
  return d.toDateString() === new Date().toDateString() ? clockTime(d) : humanTime(unix);
}

/** 100000 as "100,000" (no Intl, as above). */
export function groupedNumber(n) {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function percent(fraction) {
  if (typeof fraction !== 'number' || !isFinite(fraction)) return 0;
  return Math.max(0, Math.min(100, fraction * 100));
}

/** "37 %", and "< 1 %" rather than a misleading "0 %" for a little. */
export function percentText(fraction) {
  const p = percent(fraction);
  if (p > 0 && p < 1) return '< 1 %';
  return `${Math.round(p)} %`;
}
