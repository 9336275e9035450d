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

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

export function humanTime(unix) {
  if (typeof unix !== 'number' || !isFinite(unix)) return '–';
  return dateFormat.format(new Date(unix * 1000));
}

const exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A moment to the second (versions of a file may be seconds apart). */
export function exactTime(unix) {
  if (typeof unix !== 'number' || !isFinite(unix)) return '–';
  return exactFormat.format(new Date(unix * 1000));
}

export function activityTime(unix) {
  if (typeof unix !== 'number' || !isFinite(unix)) return '';
  const d = new Date(unix * 1000);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeFormat.format(d) : dateFormat.format(d);
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
