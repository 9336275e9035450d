// Several tablets and handing work on, in a real Chromium (Debian's, driven by playwright-core),
// against a running gateway: three browsers at once, ann's two paired tablets and bob's.
//
//   1. ann opens the report (a PDF) on tablet 1 and turns to page 7; tablet 2, open meanwhile,
//      offers "Continue: report.pdf, page 7 (from tablet-1)" and opens it at page 7.
//   2. tablet 2 goes off (its page closed); ann plays the video on tablet 1 to a moment and
//      sends it to tablet 2; tablet 2 comes back and opens it at once, at that moment.
//   3. ann hands a folder to bob ("Hand to a person…"); bob's inbox shows it, he accepts.
//      (The Rust side then checks that the bytes are his, by hash.)
//
// Every screen is saved at tablet (1024x768) and phone (390x844) size. The run fails on any
// JavaScript error, any request that leaves the box, and any Content-Security-Policy refusal.
//
// Environment: MC_URL; MC_T1_COOKIE, MC_T2_COOKIE (ann's tablets' session cookies),
// MC_BOB_COOKIE; MC_PDF, MC_VIDEO, MC_FOLDER (ann's paths); MC_SEEK (seconds into the video);
// MC_SCREENSHOTS (a folder); CHROMIUM (default /usr/bin/chromium).
// Prints one line per step; exits 1 with "FAILED: ..." when a step fails.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const env = process.env;
function need(name) {
  if (!env[name]) { console.error(`handoff: ${name} is not set`); process.exit(2); }
  return env[name];
}
const BASE = need('MC_URL').replace(/\/+$/, '');
const PDF = need('MC_PDF');
const VIDEO = need('MC_VIDEO');
const FOLDER = need('MC_FOLDER');
const SEEK = Number(env.MC_SEEK || '7.5');
const SHOTS = need('MC_SCREENSHOTS');
const SIZES = { tablet: { width: 1024, height: 768 }, phone: { width: 390, height: 844 } };
const WAIT = 20000;

const base = (p) => p.split('/').filter(Boolean).pop();
const problems = [];
fs.mkdirSync(SHOTS, { recursive: true });

/** A browser context signed in with `cookie`, watched for errors and for requests off the box. */
async function tablet(browser, who, cookie) {
  const ctx = await browser.newContext({ viewport: SIZES.tablet });
  await ctx.addCookies([{ name: 'mc_session', value: cookie, url: BASE }]);
  ctx.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(BASE + '/') && !u.startsWith('data:') && !u.startsWith('blob:')) problems.push(`${who}: a request off the box: ${u}`);
  });
  ctx.on('page', (page) => watch(page, who));
  return ctx;
}

/** Every page opened, for a picture of each when a step fails. */
const open = [];

function watch(page, who) {
  open.push([page, who]);
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => problems.push(`${who}: JavaScript error: ${String(e.message || e).split('\n')[0]}`));
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`${who}: ${m.text()}`);
  });
  page.on('dialog', (d) => { problems.push(`${who}: a browser dialog: ${d.message()}`); d.dismiss(); });
}

/** The screen as it is, at both sizes: {tablet,phone}-NAME.png. */
async function shot(page, name) {
  const before = page.viewportSize();
  for (const [size, vp] of Object.entries(SIZES)) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(350); // the list and the PDF redraw for the new width
    await page.screenshot({ path: path.join(SHOTS, `${size}-${name}.png`) });
  }
  await page.setViewportSize(before);
}

function fail(msg) {
  throw new Error(msg);
}

/** What the run is doing, for the failure message. */
let doing = 'starting';
function step(what) {
  doing = what;
}

/** Polls fn() (which may ask the page) until it is true; fails with `what` after WAIT ms. */
async function until(what, fn) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) fail(`${what}: not so after ${WAIT} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The page's answer to GET `url`, as JSON. */
function get(page, url) {
  return page.evaluate((u) => fetch(u, { credentials: 'same-origin' }).then((r) => r.json()), url);
}

const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] });
let failed = false;
try {
  const c1 = await tablet(browser, 'tablet-1', need('MC_T1_COOKIE'));
  const c2 = await tablet(browser, 'tablet-2', need('MC_T2_COOKIE'));
  const cb = await tablet(browser, 'bob', need('MC_BOB_COOKIE'));

  // ---- 1. The PDF follows ann from tablet 1 to tablet 2 -------------------------------------
  step('opening the files page on both tablets');
  let t2 = await c2.newPage();
  await t2.goto(BASE + '/#/files', { waitUntil: 'domcontentloaded' });
  await t2.getByTestId('page-files').waitFor();
  // Online means its event stream is open: the box says so to ann's other tablets.
  const t1 = await c1.newPage();
  await t1.goto(BASE + '/#/files', { waitUntil: 'domcontentloaded' });
  await until('tablet 2 is online', async () => (await get(t1, '/api/devices/mine')).some((d) => d.name === 'tablet-2' && d.online));
  await shot(t1, 'files');
  step(`opening ${PDF} on tablet 1 and turning to page 7`);
  await t1.getByTestId(`view-${base(PDF)}`).click();
  await t1.locator('[data-testid="pdf-scroll"][data-page="1"]').waitFor();
  await t1.getByTestId('pdf-page-input').fill('7');
  await t1.getByTestId('pdf-page-input').press('Enter');
  await t1.locator('[data-testid="pdf-scroll"][data-page="7"]').waitFor();
  console.log('tablet 1 shows the report at page 7');
  await shot(t1, 'pdf-page-7');

  step('waiting for tablet 2 to offer the report');
  const banner = t2.getByTestId('continue-text');
  await banner.waitFor();
  const said = await banner.innerText();
  const want = `Continue: ${base(PDF)}, page 7 (from tablet-1)`;
  if (said !== want) fail(`tablet 2's banner says "${said}", not "${want}"`);
  console.log(`tablet 2 offers: ${said}`);
  await shot(t2, 'continue-banner');
  step('continuing the report on tablet 2');
  await t2.getByTestId('continue-open').click();
  await t2.locator('[data-testid="pdf-scroll"][data-page="7"]').waitFor();
  const shown = await t2.getByTestId('pdf-page-input').inputValue();
  const of = await t2.getByTestId('pdf-pages').innerText();
  if (shown !== '7' || of !== '/ 10') fail(`tablet 2 shows page "${shown}" "${of}", not 7 / 10`);
  console.log(`tablet 2 opened it at page ${shown} ${of}`);
  await shot(t2, 'continued-pdf');

  // ---- 2. A video sent to tablet 2 while it is off opens where ann was ------------------------
  step('closing tablet 2');
  await t2.close();
  await until('tablet 2 is off', async () => (await get(t1, '/api/devices/mine')).some((d) => d.name === 'tablet-2' && !d.online));
  console.log('tablet 2 is off');
  step(`playing ${VIDEO} on tablet 1 and sending it to tablet 2`);
  await t1.getByTestId('viewer-close').click();
  await t1.getByTestId('viewer').waitFor({ state: 'detached' });
  await t1.getByTestId(`view-${base(VIDEO)}`).click();
  const v1 = t1.getByTestId('viewer-video');
  await v1.waitFor();
  await t1.waitForFunction(() => document.querySelector('[data-testid="viewer-video"]').readyState >= 1);
  // Played a while, then paused at SEEK: what a person does before handing the tablet on.
  await v1.evaluate(async (v, at) => {
    v.muted = true;
    await v.play().catch(() => {});
    await new Promise((r) => setTimeout(r, 600));
    v.pause();
    v.currentTime = at;
    await new Promise((r) => v.addEventListener('seeked', r, { once: true }));
  }, SEEK);
  await t1.getByTestId('viewer-send').click();
  await t1.getByTestId('send-dialog').waitFor();
  await t1.getByTestId('send-to-tablet-2').waitFor();
  await shot(t1, 'send-dialog');
  await t1.getByTestId('send-to-tablet-2').click();
  await t1.waitForFunction(() => (document.querySelector('[data-testid="send-msg"]')?.textContent || '').startsWith('Sent'));
  console.log(`sent ${base(VIDEO)} at ${SEEK} s to tablet 2: ${await t1.getByTestId('send-msg').innerText()}`);
  await t1.getByTestId('send-dialog-close').click();

  step('bringing tablet 2 back: the video opens by itself');
  t2 = await c2.newPage();
  await t2.goto(BASE + '/#/files', { waitUntil: 'domcontentloaded' });
  const v2 = t2.getByTestId('viewer-video');
  await v2.waitFor();
  const path2 = await t2.getByTestId('viewer').getAttribute('data-path');
  if (path2 !== VIDEO) fail(`tablet 2 opened ${path2}, not ${VIDEO}`);
  await t2.waitForFunction((at) => {
    const v = document.querySelector('[data-testid="viewer-video"]');
    return v && v.readyState >= 1 && Math.abs(v.currentTime - at) <= 1;
  }, SEEK);
  const t = await v2.evaluate((v) => v.currentTime);
  console.log(`tablet 2 came back and opened ${base(VIDEO)} at ${t.toFixed(2)} s (sent at ${SEEK} s)`);
  await shot(t2, 'video-opened');
  // It counts as opened in ann's sent entries.
  await until('the send counts as opened', async () => (await get(t1, '/api/inbox')).sent.some((e) => e.path === VIDEO && e.state === 'opened'));
  await t1.goto(BASE + '/#/inbox', { waitUntil: 'domcontentloaded' });
  await t1.locator('[data-testid^="inbox-entry-"][data-state="opened"]').first().waitFor();
  await shot(t1, 'inbox-sent');
  await t2.getByTestId('viewer-close').click();

  // ---- 3. A folder handed to bob becomes his --------------------------------------------------
  step(`handing ${FOLDER} to bob`);
  const folder = base(FOLDER);
  await t1.goto(BASE + '/#/files', { waitUntil: 'domcontentloaded' });
  await t1.getByTestId(`more-${folder}`).click();
  await t1.getByTestId('menu-handoff').click();
  await t1.getByTestId('handoff-user').fill('bob');
  await shot(t1, 'handoff-dialog');
  await t1.getByTestId('handoff-submit').click();
  await t1.waitForFunction(() => (document.querySelector('[data-testid="handoff-msg"]')?.textContent || '').startsWith('Handed to bob'));
  console.log(`ann handed ${folder} to bob`);
  await t1.getByTestId('handoff-dialog-close').click();

  step('bob accepting the folder in his inbox');
  const b = await cb.newPage();
  await b.goto(BASE + '/#/files', { waitUntil: 'domcontentloaded' });
  const badge = b.getByTestId('nav-inbox-badge');
  await b.waitForFunction(() => document.querySelector('[data-testid="nav-inbox-badge"]')?.textContent === '1');
  console.log(`bob's navigation shows ${await badge.innerText()} in his inbox`);
  await b.getByTestId('nav-inbox').click();
  const accept = b.locator('[data-testid^="inbox-accept-"]').first();
  await accept.waitFor();
  const id = (await accept.getAttribute('data-testid')).replace('inbox-accept-', '');
  const line = await b.getByTestId(`inbox-text-${id}`).innerText();
  if (!line.includes(`“${folder}”`) || !line.startsWith('ann')) fail(`bob's inbox says "${line}"`);
  await shot(b, 'inbox-received');
  await accept.click();
  await b.waitForFunction(() => (document.querySelector('[data-testid="inbox-msg"]')?.textContent || '').startsWith('Saved in your files as'));
  console.log(`bob accepted: ${await b.getByTestId('inbox-msg').innerText()}`);
  await b.locator(`[data-testid="inbox-entry-${id}"][data-state="accepted"]`).waitFor();
  await shot(b, 'inbox-accepted');
  await b.waitForFunction(() => document.querySelector('[data-testid="nav-inbox-badge"]')?.hidden === true);
  await b.goto(BASE + '/#/files', { waitUntil: 'domcontentloaded' });
  await b.getByTestId(`open-${folder}`).waitFor();
  await shot(b, 'bob-files');
} catch (e) {
  failed = true;
  console.error(`FAILED while ${doing}: ${String(e.message || e).split('\n')[0]}`);
  for (const [page, who] of open) {
    if (page.isClosed()) continue;
    await page.screenshot({ path: path.join(SHOTS, `failure-${who}.png`) }).catch(() => {});
    console.error(`${who} was at ${page.url()}`);
  }
} finally {
  await browser.close();
}
for (const p of problems) console.error(`problem: ${p}`);
process.exit(failed || problems.length ? 1 : 0);
