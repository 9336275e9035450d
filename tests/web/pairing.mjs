// Pairing end to end in a real Chromium with two browser contexts: the approving tablet (signed
// in) and the new one (nothing but the box's address). Pair by code, both screens show the same
// confirmation, approve, the new tablet uploads a file, the first revokes it, and the new tablet's
// next request is refused within a second with its page saying it was removed. Screenshots of the
// pairing screens, the QR code and the device list at 1024x768 and 390x844.
//
// Environment: MC_URL, MC_ADMIN, MC_PASSWORD, MC_UPLOAD_FILE, CHROMIUM, MC_SCREENSHOTS (optional).
// Prints one line per step; exits 0 when every step passed, 1 otherwise.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const env = process.env;
function need(name) {
  if (!env[name]) { console.error(`pairing: ${name} is not set`); process.exit(2); }
  return env[name];
}
const BASE = need('MC_URL').replace(/\/+$/, '');
const ADMIN = need('MC_ADMIN');
const PASSWORD = need('MC_PASSWORD');
const UPLOAD_FILE = need('MC_UPLOAD_FILE');
const SCREENSHOTS = env.MC_SCREENSHOTS || '';
const TIMEOUT = 20000;
const SIZES = { tablet: { width: 1024, height: 768 }, phone: { width: 390, height: 844 } };
const DEVICE = 'Test iPad';
const problems = [];
/** The open pages by label, to say where each stood when a step failed. */
const pages = new Map();

function log(s) { console.log(s); }

async function shotBoth(page, name) {
  // Every screen worth a screenshot is checked for leftovers of missing values.
  const junk = await page.evaluate(() => (document.body.innerText.match(/\b(null|undefined|NaN|\[object Object\])\b/) || [null])[0]);
  if (junk) throw new Error(`the ${name} screen shows "${junk}"`);
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const before = page.viewportSize();
  for (const [size, vp] of Object.entries(SIZES)) {
    await page.setViewportSize(vp);
    await page.evaluate(() => window.scrollTo(0, 0));
    const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (wide > 1) throw new Error(`the ${name} screen is ${wide} px wider than a ${size} (${vp.width} px)`);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${size}-${name}.png`), fullPage: true, animations: 'disabled' });
  }
  await page.setViewportSize(before);
}

async function textOf(page, testid) {
  const el = page.getByTestId(testid);
  await el.waitFor({ state: 'visible' });
  return (await el.innerText()).trim();
}

async function open(browser, label) {
  const ctx = await browser.newContext({ viewport: SIZES.tablet });
  const page = await ctx.newPage();
  page.setDefaultTimeout(TIMEOUT);
  pages.set(label, page);
  page.on('pageerror', (e) => problems.push(`${label}: JavaScript error: ${String(e.message || e).split('\n')[0]}`));
  page.on('dialog', async (d) => { problems.push(`${label}: a ${d.type()} dialog`); await d.dismiss().catch(() => {}); });
  return { ctx, page };
}

/** Prints where each page stood (its address and what its main area said) when a step failed. */
async function describePages() {
  for (const [label, page] of pages) {
    const seen = await Promise.race([
      page.evaluate(() => `${location.href}: ${(document.getElementById('main') || document.body).innerText.replace(/\s+/g, ' ').slice(0, 600)}`),
      new Promise((resolve) => setTimeout(() => resolve('(no answer)'), 3000)),
    ]).catch((err) => `(closed: ${err.message})`);
    console.error(`pairing: the ${label} showed ${seen}`);
  }
}

async function main() {
  const browser = await chromium.launch({ executablePath: need('CHROMIUM'), args: ['--no-sandbox'] });
  try {
    // The approving tablet signs in and starts pairing.
    const a = await open(browser, 'approving tablet');
    await a.page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    await a.page.getByTestId('input-signin-name').fill(ADMIN);
    await a.page.getByTestId('input-signin-password').fill(PASSWORD);
    await a.page.getByTestId('signin-submit').click();
    await a.page.getByTestId('nav-devices').click();
    await a.page.getByTestId('page-devices').waitFor();

    // "On this network": a device that announces markup as its name shows it as text, and its
    // "Invite" starts the same pairing as "Add a tablet" (cancelled here).
    if (env.MC_LAN_MAC) {
      const mac = env.MC_LAN_MAC;
      const names = await textOf(a.page, `lan-other-names-${mac}`);
      if (!names.includes(need('MC_LAN_NAME'))) throw new Error(`the announced name shows as "${names}"`);
      const imgs = await a.page.getByTestId('lan-section').locator('img').count();
      if (imgs !== 0) throw new Error(`the announced name made ${imgs} img element(s)`);
      const macText = await textOf(a.page, `lan-other-mac-${mac}`);
      if (!macText.includes('(private address)')) throw new Error(`the MAC shows as "${macText}"`);
      await shotBoth(a.page, 'lan');
      await a.page.getByTestId(`lan-invite-${mac}`).click();
      const invited = await textOf(a.page, 'pairing-code');
      if (invited.length !== 9) throw new Error(`Invite showed the code "${invited}"`);
      await a.page.getByTestId('pairing-qr').waitFor();
      await a.page.getByTestId('pairing-cancel').click();
      await a.page.getByTestId('pairing').waitFor({ state: 'detached' });
      log('ok: On this network shows the announced name as text; Invite shows the pairing code and QR code');
    }
    await a.page.getByTestId('add-tablet').click();
    const code = await textOf(a.page, 'pairing-code');
    const qr = await a.page.getByTestId('pairing-qr').evaluate((img) => img.complete && img.naturalWidth > 0);
    if (!qr) throw new Error('the QR code image did not load');
    const address = await textOf(a.page, 'pairing-address');
    if (!address.endsWith('/pair')) throw new Error(`the pairing address is "${address}"`);
    log(`ok: pairing started, code ${code.length} characters, QR code shown`);
    await shotBoth(a.page, 'pairing-qr');

    // The new tablet opens /pair and types the code.
    const b = await open(browser, 'new tablet');
    await b.page.goto(BASE + '/pair', { waitUntil: 'domcontentloaded' });
    await b.page.getByTestId('page-pair').waitFor();
    await shotBoth(b.page, 'pair-code-form');
    await b.page.getByTestId('input-pair-code').fill(code.toLowerCase());
    await b.page.getByTestId('input-pair-device_name').fill(DEVICE);
    await b.page.getByTestId('pair-submit').click();
    const onB = await textOf(b.page, 'pair-confirmation');
    const onA = await textOf(a.page, 'pairing-confirmation');
    if (!/^\d{6}$/.test(onB) || onA !== onB) throw new Error(`confirmations differ: new tablet ${onB}, approving tablet ${onA}`);
    log(`ok: both screens show the same confirmation (${onB.length} digits)`);
    await shotBoth(b.page, 'pair-confirmation-new-tablet');
    await shotBoth(a.page, 'pair-confirmation-approving-tablet');

    // Approve; the new tablet is signed in as a device of its own.
    await a.page.getByTestId('pairing-approve').click();
    await a.page.getByTestId('pairing-done').waitFor();
    await b.page.getByTestId('pair-done').waitFor();
    const password = await textOf(b.page, 'pair-device-password');
    if (password.replace(/-/g, '').length !== 28) throw new Error('no device password shown');
    await b.page.getByTestId('pair-dav-qr').waitFor();
    log('ok: approved; the new tablet shows its WebDAV address, device password and their QR code');
    await shotBoth(b.page, 'pair-done');

    // The new tablet uploads a file from the file page.
    await b.page.getByTestId('pair-continue').click();
    await b.page.getByTestId('page-files').waitFor();
    const name = path.basename(UPLOAD_FILE);
    await b.page.getByTestId('upload-input').setInputFiles(UPLOAD_FILE);
    await b.page.waitForFunction((n) => {
      const el = document.querySelector(`[data-testid="upload-status-${CSS.escape(n)}"]`);
      return el && /done|saved|uploaded/i.test(el.textContent);
    }, name, { timeout: TIMEOUT });
    log(`ok: the new tablet uploaded ${name}`);

    // The approving tablet sees it in Devices and revokes it.
    // Each click waits for its page: a second click sent while the first page change is still
    // being drawn can land on whatever the redraw (and its scroll back to the top) put there.
    await a.page.getByTestId('nav-files').click();
    await a.page.getByTestId('page-files').waitFor();
    await a.page.getByTestId('nav-devices').click();
    await a.page.getByTestId('page-devices').waitFor();
    const row = a.page.getByTestId(`device-row-${ADMIN}-${DEVICE}`);
    await row.waitFor();
    await shotBoth(a.page, 'device-list');
    const revoked = a.page.waitForResponse((r) => r.url().includes('/api/devices/') && r.request().method() === 'DELETE');
    await a.page.getByTestId(`revoke-${ADMIN}-${DEVICE}`).click();
    if ((await revoked).status() !== 200) throw new Error('revoking failed');
    const t0 = Date.now();
    const refused = b.page.waitForResponse((r) => r.url().includes('/api/devices'));
    await b.page.getByTestId('nav-devices').click();
    const resp = await refused;
    const took = Date.now() - t0;
    if (resp.status() !== 401) throw new Error(`the revoked tablet's next request got ${resp.status()}`);
    if (took > 1000) throw new Error(`the refusal came ${took} ms after the revoke`);
    const reason = await textOf(b.page, 'signed-out-reason');
    if (!/removed/i.test(reason)) throw new Error(`the new tablet's page says "${reason}"`);
    await b.page.getByTestId('page-signin').waitFor();
    log(`ok: revoked; the tablet's next request was refused ${took} ms later and its page says "${reason}"`);
    await shotBoth(b.page, 'pair-removed');
    if (problems.length) throw new Error(problems.join('; '));
    log('pairing: all steps passed');
  } catch (e) {
    await describePages();
    throw e;
  } finally {
    await browser.close();
  }
}

const guard = setTimeout(() => { console.error('pairing: the run took over 240 s'); process.exit(1); }, 240000);
main().then(() => { clearTimeout(guard); process.exit(0); }, (e) => {
  clearTimeout(guard);
  console.error(`pairing: FAILED: ${String(e.message || e).split('\n')[0]}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exit(1);
});
