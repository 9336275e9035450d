// How soon the files page shows a folder's first rows, in a real Chromium: the milliseconds from
// the start of the navigation to the first file row in the list being on screen, measured in
// the page itself (a MutationObserver, then the next animation frame, on the page's clock whose
// zero is the navigation's start). Then, in the same page, the folder opened again from its
// parent as a tablet with the page open does it (no page load): the milliseconds from the route
// change to its first row on screen (`open_runs`, `open_median_ms`). Then the page loaded again in
// the same browser, its files in the cache (`reload_runs`, `reload_median_ms`). For a benchmark
// of big folders (goal: under 300 ms at 100,000 files).
//
//   MC_URL=http://127.0.0.1:PORT MC_USER=ann MC_PASSWORD=... node firstrows.mjs /Big [--runs 5]
//
// Environment: MC_URL (the gateway), MC_USER and MC_PASSWORD (signed in through the API), or
// MC_COOKIE (a session cookie's value instead), CHROMIUM (default /usr/bin/chromium),
// MC_VIEWPORT ("1024x768", the default, or e.g. "390x844").
// Prints one JSON object on stdout: { folder, runs: [ms...], median_ms, open_runs: [ms...],
// open_median_ms, reload_runs: [ms...], reload_median_ms, total, rows_in_dom,
// parts: [{ assets_ms, state_ms, files_ms }...] } (when, in each run, the page's own files had
// all come, its state, and the folder's first page: where the time went);
// exits 1 (a line on stderr) when a run shows no row within 20 s.
// --cpu-slowdown N: the page's main thread N times slower (a slower tablet);
// --wifi: each request 10 ms later and the page's bytes at 40 Mbit/s (a tablet on Wi-Fi).
import { chromium } from 'playwright-core';

const env = process.env;
const args = process.argv.slice(2);
let runs = 3;
let folder = null;
let slowdown = 1;
let wifi = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Math.max(1, Number(args[++i]) || 1);
  else if (args[i] === '--cpu-slowdown') slowdown = Math.max(1, Number(args[++i]) || 1);
  else if (args[i] === '--wifi') wifi = true;
  else if (!folder) folder = args[i];
}
if (!folder || !env.MC_URL || (!env.MC_COOKIE && !(env.MC_USER && env.MC_PASSWORD))) {
  console.error('usage: MC_URL=... (MC_USER=... MC_PASSWORD=... | MC_COOKIE=...) node firstrows.mjs /folder [--runs N] [--cpu-slowdown N] [--wifi]');
  process.exit(2);
}
const BASE = env.MC_URL.replace(/\/+$/, '');
const [width, height] = (env.MC_VIEWPORT || '1024x768').split('x').map(Number);

async function cookie() {
  if (env.MC_COOKIE) return env.MC_COOKIE;
  const r = await fetch(`${BASE}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: env.MC_USER, password: env.MC_PASSWORD }),
  });
  const set = r.headers.get('set-cookie') || '';
  const m = /mc_session=([^;]+)/.exec(set);
  if (!r.ok || !m) throw new Error(`signing in as ${env.MC_USER} answered ${r.status}`);
  return m[1];
}

/**
 * Runs in the page before its scripts: notes when the first real row is on screen, and says so on
 * the console. (The harness listens for that line rather than polling the page: Playwright's
 * waiting functions put their own large script into the page as it loads, tens of ms of the
 * main thread that a tablet never spends.)
 */
function watchFirstRow() {
  window.__firstRow = null;
  const seen = () => {
    const row = document.querySelector('[data-testid="file-list"] tr.row[data-index]:not(.is-loading)');
    if (!row) return false;
    requestAnimationFrame(() => {
      const r = row.getBoundingClientRect();
      if (window.__firstRow === null && r.height > 0 && r.top < innerHeight && r.bottom > 0) {
        window.__firstRow = performance.now();
        console.debug(`microcloud-first-row ${window.__firstRow}`);
      }
    });
    return true;
  };
  new MutationObserver((_, obs) => { if (seen()) obs.disconnect(); })
    .observe(document, { childList: true, subtree: true });
}

function hashOf(path) {
  const segs = String(path).split('/').filter(Boolean).map(encodeURIComponent);
  return '#/files' + (segs.length ? '/' + segs.join('/') : '');
}

const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
let failed = false;
try {
  const value = await cookie();
  const times = [];
  const opens = [];
  const reloads = [];
  const parts = [];
  let total = null;
  let rows = null;
  for (let i = 0; i < runs; i++) {
    // A fresh context each run: nothing cached from the run before.
    const ctx = await browser.newContext({ viewport: { width, height } });
    await ctx.addCookies([{ name: 'mc_session', value, url: BASE }]);
    await ctx.addInitScript(watchFirstRow);
    const page = await ctx.newPage();
    if (slowdown > 1 || wifi) {
      const cdp = await ctx.newCDPSession(page);
      // A slower device than this machine (as Lighthouse's 4x for a phone): Chromium runs the
      // page's main thread that many times slower.
      if (slowdown > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: slowdown });
      // A tablet on the box's Wi-Fi rather than on loopback: 10 ms more per request, 40 Mbit/s.
      if (wifi) {
        await cdp.send('Network.enable');
        await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 10, downloadThroughput: 5e6, uploadThroughput: 5e6 });
      }
    }
    let said = null;
    page.on('console', (m) => {
      const at = /^microcloud-first-row ([0-9.]+)$/.exec(m.text());
      if (at && said) said(Number(at[1]));
    });
    const firstRow = () => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no row of ${folder} on screen within 20 s`)), 20000);
      said = (ms) => { clearTimeout(timer); said = null; resolve(ms); };
    });
    let shown = firstRow();
    await page.goto(`${BASE}/${hashOf(folder)}`, { waitUntil: 'commit' });
    times.push(Math.round(await shown));
    // Where the time went: the page's own files, its state, the folder's first page.
    parts.push(await page.evaluate(() => {
      const res = performance.getEntriesByType('resource');
      const end = (pred) => Math.round(Math.max(0, ...res.filter(pred).map((r) => r.responseEnd)));
      const first = (pred) => { const r = res.find(pred); return r ? Math.round(r.responseEnd) : null; };
      return {
        assets_ms: end((r) => new URL(r.name).pathname.startsWith('/assets/')),
        state_ms: first((r) => new URL(r.name).pathname === '/api/state'),
        files_ms: first((r) => new URL(r.name).pathname === '/api/files'),
      };
    }));
    total = Number(await page.getByTestId('file-list').getAttribute('data-total'));
    rows = await page.locator('[data-testid="file-list"] tr.row').count();
    // As a tablet with the page open meets it: from the folder's parent, the folder opened in the
    // page (no page load), until its first row is on screen.
    const parent = folder.replace(/\/[^/]*\/?$/, '') || '/';
    await page.evaluate((hash) => { location.hash = hash; }, hashOf(parent));
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="file-list"]')?.getAttribute('data-total')) !== n, total, { timeout: 20000, polling: 20 });
    await page.waitForSelector('[data-testid="file-list"] tr.row[data-index]:not(.is-loading)', { timeout: 20000 });
    opens.push(Math.round(await page.evaluate((hash) => new Promise((done) => {
      const before = new Set([...document.querySelectorAll('[data-testid="file-list"] tr.row')].map((r) => r.getAttribute('data-testid')));
      const t0 = performance.now();
      const look = () => {
        const row = [...document.querySelectorAll('[data-testid="file-list"] tr.row[data-index]:not(.is-loading)')]
          .find((r) => !before.has(r.getAttribute('data-testid')));
        if (!row) return false;
        requestAnimationFrame(() => done(performance.now() - t0));
        return true;
      };
      new MutationObserver((_, obs) => { if (look()) obs.disconnect(); })
        .observe(document.body, { childList: true, subtree: true, attributes: true });
      location.hash = hash;
    }), hashOf(folder))));
    // The page loaded again in the same browser, as a tablet that has had it open before meets
    // it: the page's files come from its cache, asked again (a 304 each while unchanged).
    // (The page is on the folder again, from the step above.)
    shown = firstRow();
    await page.reload({ waitUntil: 'commit' });
    reloads.push(Math.round(await shown));
    await ctx.close();
  }
  const sorted = times.slice().sort((a, b) => a - b);
  const opened = opens.slice().sort((a, b) => a - b);
  const reloaded = reloads.slice().sort((a, b) => a - b);
  console.log(JSON.stringify({ folder, runs: times, median_ms: sorted[Math.floor(sorted.length / 2)], open_runs: opens, open_median_ms: opened[Math.floor(opened.length / 2)], reload_runs: reloads, reload_median_ms: reloaded[Math.floor(reloaded.length / 2)], total, rows_in_dom: rows, parts }));
} catch (e) {
  failed = true;
  console.error(`firstrows: ${String(e.message || e).split('\n')[0]}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
