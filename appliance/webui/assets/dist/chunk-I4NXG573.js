// format.js
function humanBytes(n) {
  if (typeof n !== "number" || !isFinite(n)) return "–";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
function humanAge(seconds) {
  if (typeof seconds !== "number" || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${m % 60} min`;
  return `${Math.floor(hrs / 24)} days`;
}
var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
var two = (n) => String(n).padStart(2, "0");
function clockTime(d, seconds = true) {
  return `${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ""}`;
}
function dayText(d) {
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}`;
}
function dateOf(unix) {
  if (typeof unix !== "number" || !isFinite(unix)) return null;
  const d = new Date(unix * 1e3);
  return isNaN(d.getTime()) ? null : d;
}
function humanTime(unix) {
  const d = dateOf(unix);
  return d ? `${dayText(d)}, ${clockTime(d, false)}` : "–";
}
function exactTime(unix) {
  const d = dateOf(unix);
  return d ? `${dayText(d)}, ${clockTime(d)}` : "–";
}
function activityTime(unix) {
  const d = dateOf(unix);
  if (!d) return "";
  return d.toDateString() === (/* @__PURE__ */ new Date()).toDateString() ? clockTime(d) : humanTime(unix);
}
function groupedNumber(n) {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}
function percent(fraction) {
  if (typeof fraction !== "number" || !isFinite(fraction)) return 0;
  return Math.max(0, Math.min(100, fraction * 100));
}
function percentText(fraction) {
  const p = percent(fraction);
  if (p > 0 && p < 1) return "< 1 %";
  return `${Math.round(p)} %`;
}

export {
  humanBytes,
  humanAge,
  clockTime,
  humanTime,
  exactTime,
  activityTime,
  groupedNumber,
  percent,
  percentText
};
