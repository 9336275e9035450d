// End-to-end test of the owner's web page: a real Chromium (Debian's, driven by playwright-core)
// does what a person does, against a running gateway. Inputs come from the environment; see
// README.md. Exit code 0 when every step passed, 1 otherwise (the failing step, its reason and
// the error text visible on the page are printed).
import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const env = process.env;
const TIMEOUT = positive(env.MC_TIMEOUT_MS, 120000); // for what waits on the cloud
const UI_TIMEOUT = Math.min(TIMEOUT, 20000); // for what only waits on the page and the box
// The whole run, so that it ends (browser closed, exit 1) before whoever runs it gives up.
const TOTAL_TIMEOUT = positive(env.MC_TOTAL_TIMEOUT_MS, 2 * TIMEOUT + 30000);
const STEP_NAMES = ['onboarding', 'destination', 'files', 'download', 'admin', 'signout'];
const STEPS = selectSteps(env.MC_STEPS || 'all');
const SCREENSHOTS = env.MC_SCREENSHOTS || '';
const TABLET = { width: 1024, height: 768 };
const PHONE = { width: 390, height: 844 };
const DEST_NAME = env.MC_DEST_NAME || 'offsite';

const started = Date.now();
let browser = null;
let currentStep = 'start';
let passed = 0;
const problems = []; // page errors, dialogs, leaked secrets: fail the step they happen in

function positive(v, dflt) {
  const n = Number(v);
  return v && Number.isFinite(n) && n > 0 ? n : dflt;
}

function selectSteps(spec) {
  if (spec === 'all') return new Set(STEP_NAMES);
  const want = spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of want) {
    if (!STEP_NAMES.includes(s)) usage(`MC_STEPS: unknown step "${s}" (known: all, ${STEP_NAMES.join(', ')})`);
  }
  return new Set(want);
}

function usage(msg) {
  console.error(`e2e: ${msg}`);
  process.exit(2);
}

function need(name) {
  const v = env[name];
  if (!v) usage(`${name} is not set`);
  return v;
}

const BASE = need('MC_URL').replace(/\/+$/, '');
const SETUP_CODE = STEPS.has('onboarding') ? need('MC_SETUP_CODE') : env.MC_SETUP_CODE || '';
const ADMIN = need('MC_ADMIN');
const PASSWORD = need('MC_PASSWORD');
const S3 = env.MC_S3_ENDPOINT
  ? {
    endpoint: env.MC_S3_ENDPOINT,
    region: env.MC_S3_REGION || 'us-east-1',
    bucket: STEPS.has('destination') ? need('MC_S3_BUCKET') : env.MC_S3_BUCKET,
    keyId: STEPS.has('destination') ? need('MC_S3_KEY_ID') : env.MC_S3_KEY_ID,
    secret: STEPS.has('destination') ? need('MC_S3_SECRET') : env.MC_S3_SECRET,
    prefix: env.MC_S3_PREFIX || '',
    pathStyle: (env.MC_S3_PATH_STYLE || '1') !== '0',
  }
  : null;
const DIR_DEST = !S3 && STEPS.has('destination') ? need('MC_DIR_DEST') : env.MC_DIR_DEST || '';
const UPLOAD_FILE = STEPS.has('files') || STEPS.has('download') ? need('MC_UPLOAD_FILE') : env.MC_UPLOAD_FILE || '';
const UPLOAD_NAME = UPLOAD_FILE ? path.basename(UPLOAD_FILE) : '';
const DROP_NAME = 'dropped-e2e.txt';
const DROP_TEXT = `dropped by the end-to-end test ${crypto.randomBytes(8).toString('hex')}\n`;
const FOLDER_NAME = 'e2e folder';
const USER2 = env.MC_USER2 || 'e2e-user';
const USER2_PASSWORDS = [crypto.randomBytes(12).toString('hex'), crypto.randomBytes(12).toString('hex')];
let user2Password = null; // set once the admin step made the user
/** Strings that must never show up in the page or its console. */
const SECRETS = [PASSWORD, S3 && S3.secret, ...USER2_PASSWORDS].filter((s) => s && s.length >= 4);

// ---------------------------------------------------------------------------------------------
// Small tools.

function log(line) {
  console.log(line);
}

function elapsed(t0) {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function sha256File(p) {
  return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** A code of the same shape as the right one, different in every letter and digit. */
function wrongCode(code) {
  return code.replace(/[0-9]/g, (d) => String((Number(d) + 1) % 10))
    .replace(/[a-z]/gi, (c) => {
      const base = c <= 'Z' ? 65 : 97;
      return String.fromCharCode(base + ((c.charCodeAt(0) - base + 1) % 26));
    });
}

/** Polls fn() until it returns a truthy value; throws `what` after `timeout` ms. */
async function until(what, fn, timeout = UI_TIMEOUT, interval = 250) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e && e.fatal) throw e;
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not so after ${timeout} ms${last ? ` (last error: ${String(last.message || last).split('\n')[0]})` : ''}`);
    }
    await sleep(interval);
  }
}

/** `promise`, or an error naming `what` after `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

function fatal(msg) {
  const e = new Error(msg);
  e.fatal = true;
  return e;
}

async function visible(page, testid, what, timeout = UI_TIMEOUT) {
  const loc = page.getByTestId(testid).first();
  try {
    await loc.waitFor({ state: 'visible', timeout });
  } catch (e) {
    throw new Error(`${what} (data-testid="${testid}") did not show within ${timeout} ms`);
  }
  return loc;
}

// The page re-renders while it is read: each of these reads it in one go, inside the page, so
// that no element can go away between finding it and reading it.

/** The text of the element with data-testid `testid` now, or null when there is none. */
async function text(page, testid) {
  return page.evaluate((id) => {
    const el = document.querySelector(`[data-testid="${CSS.escape(id)}"]`);
    return el ? (el.innerText || el.textContent || '').trim() : null;
  }, testid);
}

/** The error text shown in the form with data-testid `formTestid` now ('' for none). */
async function formError(page, formTestid) {
  return page.evaluate((id) => {
    const form = document.querySelector(`[data-testid="${CSS.escape(id)}"]`);
    if (!form) return '';
    const seen = [];
    for (const el of form.querySelectorAll('.field-error, .form-msg.is-error')) {
      const t = (el.innerText || el.textContent || '').trim();
      if (t && !seen.includes(t)) seen.push(t);
    }
    return seen.join(' | ');
  }, formTestid);
}

/** The success text of message line `msgTestid` now ('' unless it shows a success). */
async function okMessage(page, msgTestid) {
  return page.evaluate((id) => {
    const el = document.querySelector(`[data-testid="${CSS.escape(id)}"]`);
    return el && el.classList.contains('is-ok') ? (el.innerText || el.textContent || '').trim() : '';
  }, msgTestid);
}

/** Waits for page `testid` after submitting form `formTestid`; fails at once on the form's error. */
async function landOn(page, testid, what, formTestid) {
  await until(what, async () => {
    if (await page.getByTestId(testid).isVisible()) return true;
    const e = await formError(page, formTestid);
    if (e) throw fatal(`${what}: the form says "${e}"`);
    return false;
  });
}

/** The error and status text a person sees on the page now. */
async function visibleErrorText(page) {
  try {
    return await page.evaluate(() => {
      const seen = [];
      for (const el of document.querySelectorAll('.is-error, .field-error, .error-box, .inline-error, .notice, [role="alert"], .upload.is-failed')) {
        const t = (el.innerText || '').trim();
        if (t && el.offsetParent !== null && !seen.includes(t)) seen.push(t);
      }
      return seen.join(' | ');
    });
  } catch (e) {
    return `(could not read the page: ${String(e.message || e).split('\n')[0]})`;
  }
}

async function shot(page, name) {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.evaluate(() => window.scrollTo(0, 0)); // the sticky navigation then sits on top
  await page.screenshot({ path: file, fullPage: true, timeout: UI_TIMEOUT, animations: 'disabled' });
}

/** Waits until no "Loading…" placeholder is left on the page (lists answered). */
async function settled(page) {
  await until('the page finished loading its lists', async () => (await page.locator('main .loading').count()) === 0, UI_TIMEOUT, 100);
}

function watch(page, label) {
  page.on('pageerror', (e) => problems.push(`${label}: JavaScript error on the page: ${String(e.message || e).split('\n')[0]}`));
  page.on('dialog', async (d) => {
    problems.push(`${label}: the page opened a ${d.type()} dialog ("${d.message()}"); it must show messages in the page`);
    await d.dismiss().catch(() => {});
  });
  page.on('console', (m) => {
    const t = m.text();
    for (const s of SECRETS) if (t.includes(s)) problems.push(`${label}: a password or secret was written to the console`);
  });
  page.setDefaultTimeout(UI_TIMEOUT);
  page.setDefaultNavigationTimeout(UI_TIMEOUT);
}

function checkProblems() {
  if (problems.length) throw new Error(problems.splice(0).join('; '));
}

async function noSecretsIn(page, where) {
  const html = await page.content();
  for (const s of SECRETS) {
    if (html.includes(s)) throw new Error(`${where}: a password or secret appears in the page's HTML`);
  }
  const inInputs = await page.evaluate((secrets) => Array.from(document.querySelectorAll('input, textarea')).some((el) => secrets.includes(el.value)), SECRETS);
  if (inInputs) throw new Error(`${where}: a password or secret is still typed in an input after submitting`);
}

async function go(page, route) {
  await page.getByTestId(`nav-${route}`).click();
  await visible(page, `page-${route}`, `the ${route} page`);
}

async function newContext(viewport, storageState) {
  const phone = viewport === PHONE;
  return browser.newContext({
    viewport,
    deviceScaleFactor: phone ? 2 : 1,
    isMobile: phone,
    hasTouch: phone,
    acceptDownloads: true,
    ignoreHTTPSErrors: env.MC_IGNORE_HTTPS_ERRORS === '1',
    storageState,
  });
}

async function openPage(ctx, label) {
  const page = await ctx.newPage();
  watch(page, label);
  return page;
}

// ---------------------------------------------------------------------------------------------
// The steps.

async function stepOnboarding(page) {
  await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
  await visible(page, 'page-setup', 'the onboarding form');
  // The page's inline script (boot.js) ran: the Content-Security-Policy allows it by its hash.
  if (!(await page.evaluate(() => globalThis.microcloudEarly instanceof Map))) throw new Error('the page\'s inline boot script did not run (refused by the Content-Security-Policy?)');
  const where = await text(page, 'setup-code-where');
  if (!where || !where.includes('microcloud setup-code')) throw new Error('the onboarding page does not say where to find the setup code');
  await shot(page, 'tablet-onboarding');
  {
    const ctx = await newContext(PHONE);
    try {
      const phone = await openPage(ctx, 'phone');
      await phone.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
      await visible(phone, 'page-setup', 'the onboarding form on a phone');
      await shot(phone, 'phone-onboarding');
      // The console's QR code: https://ADDRESS/#setup=CODE fills the code in, and the code
      // leaves the address bar at once.
      await phone.goto(BASE + '/#setup=' + SETUP_CODE, { waitUntil: 'domcontentloaded' });
      await visible(phone, 'page-setup', 'the onboarding form opened from the console\'s QR code');
      const carried = await phone.getByTestId('input-setup-code').inputValue();
      if (carried !== SETUP_CODE) throw new Error(`the setup URL's code was not filled in (${JSON.stringify(carried)})`);
      const left = await phone.evaluate(() => location.href);
      if (left.includes(SETUP_CODE)) throw new Error(`the setup code stayed in the address bar: ${left}`);
      log('ok: the setup URL from the console fills the code in and drops it from the address bar');
    } finally {
      await ctx.close();
    }
  }

  // A wrong code: an error, and still not signed in.
  await page.getByTestId('input-setup-code').fill(wrongCode(SETUP_CODE));
  await page.getByTestId('input-setup-name').fill(ADMIN);
  await page.getByTestId('input-setup-password').fill(PASSWORD);
  await page.getByTestId('input-setup-password2').fill(PASSWORD);
  await page.getByTestId('setup-submit').click();
  const err = await until('an error for the wrong setup code', () => formError(page, 'form-setup'));
  log(`ok: a wrong setup code is refused ("${err}")`);
  if (!(await page.getByTestId('page-setup').isVisible())) throw new Error('the onboarding form went away after a wrong code');
  if (await page.locator('#nav').isVisible()) throw new Error('the navigation shows after a wrong code');
  const st = await page.evaluate(() => fetch('/api/state', { credentials: 'same-origin' }).then((r) => r.json()));
  if (!st.onboarding || st.user) throw new Error(`after a wrong code /api/state says onboarding=${st.onboarding} user=${JSON.stringify(st.user)}`);
  for (const f of ['password', 'password2']) {
    if (await page.getByTestId(`input-setup-${f}`).inputValue()) throw new Error(`the ${f} input was not cleared after submitting`);
  }

  // The right code.
  await page.getByTestId('input-setup-code').fill(SETUP_CODE);
  await page.getByTestId('input-setup-name').fill(ADMIN);
  await page.getByTestId('input-setup-password').fill(PASSWORD);
  await page.getByTestId('input-setup-password2').fill(PASSWORD);
  await page.getByTestId('setup-submit').click();
  await landOn(page, 'page-dashboard', 'the dashboard shows after onboarding with the right code', 'form-setup');
  if (!page.url().endsWith('#/dashboard')) throw new Error(`after onboarding the address is ${page.url()}, not #/dashboard`);
  await visible(page, 'nav-dashboard', 'the navigation');
  await until('the dashboard shows the box status', async () =>
    (await page.getByTestId('no-destinations').count()) + (await page.getByTestId('destinations-status').count()) > 0);
  const user = await text(page, 'user-name');
  if (!user || !user.includes(ADMIN)) throw new Error(`the header shows user "${user}", not ${ADMIN}`);
  await noSecretsIn(page, 'dashboard');
  await shot(page, 'tablet-dashboard');
}

async function stepDestination(page) {
  await go(page, 'destinations');
  await settled(page);
  const set = (name, v) => page.getByTestId(`input-dest-${name}`).fill(v);
  const formOk = (what) => formOutcome(page, 'form-dest', 'msg-dest', what, TIMEOUT);
  const formFails = async (what) => until(what, async () => {
    const ok = await okMessage(page, 'msg-dest');
    if (ok) throw fatal(`${what}: the page says "${ok}"`);
    return formError(page, 'form-dest');
  }, TIMEOUT);

  await set('name', DEST_NAME);
  if (S3) {
    await page.getByTestId('dest-kind-s3').check();
    await set('endpoint', S3.endpoint);
    await set('region', S3.region);
    await set('bucket', S3.bucket);
    await set('prefix', S3.prefix);
    await page.getByTestId('input-dest-path_style').setChecked(S3.pathStyle);
    await set('access_key_id', S3.keyId);
    await set('secret_access_key', S3.secret.split('').reverse().join('') + 'x');
  } else {
    // The box wants the directory to be there already (a mounted disk); the test makes it.
    fs.mkdirSync(DIR_DEST, { recursive: true });
    await page.getByTestId('dest-kind-dir').check();
    await set('path', '/dev/null/microcloud-e2e');
  }
  await page.getByTestId('dest-test').click();
  const bad = await formFails(S3 ? 'Test with a wrong secret shows an error' : 'Test with an unwritable directory shows an error');
  log(`ok: Test with ${S3 ? 'a wrong secret' : 'an unwritable directory'} fails ("${bad}")`);

  if (S3) await set('secret_access_key', S3.secret);
  else await set('path', DIR_DEST);
  await page.getByTestId('dest-test').click();
  const tested = await formOk('Test with the right settings passes');
  log(`ok: Test passes ("${tested}")`);

  if (S3) await set('secret_access_key', S3.secret);
  await page.getByTestId('dest-add').click();
  const added = await formOk('Add saves the destination');
  log(`ok: Add ("${added}")`);
  await visible(page, `dest-row-${DEST_NAME}`, `the destination "${DEST_NAME}" in the list`);
  if (S3) {
    if (await page.getByTestId('input-dest-secret_access_key').inputValue()) throw new Error('the secret access key input was not cleared after Add');
  }
  await noSecretsIn(page, 'destinations page');
  await shot(page, 'tablet-destinations');
}

async function waitUpload(page, name) {
  const status = await until(`the upload of ${name} finishes`, async () => {
    const t = await text(page, `upload-status-${name}`);
    if (t && t.startsWith('failed')) throw fatal(`the upload of ${name} ${t}`);
    return t === 'done' && t;
  }, TIMEOUT, 200);
  const v = await page.getByTestId(`upload-progress-${name}`).evaluate((el) => el.value);
  if (v !== 100) throw new Error(`the progress bar of ${name} ends at ${v}, not 100`);
  return status;
}

async function durability(page, name) {
  return text(page, `durability-${name}`);
}

async function stepFiles(page) {
  await go(page, 'files');
  await until('the file list loads', async () =>
    (await page.getByTestId('files-empty').count()) + (await page.locator('[data-testid="file-list"] table').count()) > 0);

  // A folder: make it, open it, come back by the breadcrumb.
  await page.getByTestId('input-mkdir-name').fill(FOLDER_NAME);
  await page.getByTestId('mkdir-submit').click();
  await until(`the new folder "${FOLDER_NAME}" is listed`, async () => {
    const e = await text(page, 'error-mkdir-name');
    if (e) throw fatal(`making a folder failed: "${e}"`);
    return (await page.getByTestId(`open-${FOLDER_NAME}`).count()) > 0;
  });
  await page.getByTestId(`open-${FOLDER_NAME}`).click();
  await until('the breadcrumb shows the folder', async () => ((await text(page, 'breadcrumb')) || '').includes(FOLDER_NAME));
  await visible(page, 'files-empty', 'the empty folder');
  await page.getByTestId('crumb-home').click();
  await visible(page, `open-${FOLDER_NAME}`, 'the folder back at Home');
  log(`ok: made folder "${FOLDER_NAME}", opened it, came back by the breadcrumb`);

  // Upload through the file input.
  const size = fs.statSync(UPLOAD_FILE).size;
  const t0 = Date.now();
  await page.getByTestId('upload-input').setInputFiles(UPLOAD_FILE);
  await visible(page, `upload-${UPLOAD_NAME}`, 'the upload with its progress bar');
  await waitUpload(page, UPLOAD_NAME);
  await visible(page, `file-row-${UPLOAD_NAME}`, `${UPLOAD_NAME} in the list`);
  const d0 = await until(`${UPLOAD_NAME} has a durability badge`, async () => {
    const d = await durability(page, UPLOAD_NAME);
    return ['local', 'cloud:1', 'cloud:all'].includes(d) && d;
  });
  log(`ok: uploaded ${UPLOAD_NAME} (${size} bytes) through the file input in ${elapsed(t0)}, listed as "${d0}"`);

  // Upload by dropping a file on the list (a synthetic drop carrying a real File).
  await page.getByTestId('file-list').evaluate((el, { name, body }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([body], name, { type: 'text/plain' }));
    for (const type of ['dragenter', 'dragover', 'drop']) {
      el.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  }, { name: DROP_NAME, body: DROP_TEXT });
  await visible(page, `upload-${DROP_NAME}`, 'the dropped file\'s upload');
  await waitUpload(page, DROP_NAME);
  await visible(page, `file-row-${DROP_NAME}`, `${DROP_NAME} in the list`);
  const back = await page.evaluate((name) => fetch('/api/dav/' + encodeURIComponent(name), { credentials: 'same-origin' }).then((r) => r.text()), DROP_NAME);
  if (back !== DROP_TEXT) throw new Error(`the dropped file reads back as ${JSON.stringify(back.slice(0, 80))}`);
  log(`ok: uploaded ${DROP_NAME} by drag and drop`);
  await shot(page, 'tablet-files');

  // Durability, as the page shows it (it refreshes the list by itself).
  const t1 = Date.now();
  let seen = d0;
  await until(`${UPLOAD_NAME}'s durability badge says cloud:all (last seen "${seen}")`, async () => {
    seen = await durability(page, UPLOAD_NAME);
    return seen === 'cloud:all';
  }, TIMEOUT, 500);
  log(`ok: ${UPLOAD_NAME} reached cloud:all ${elapsed(t1)} after its upload finished`);

  await go(page, 'dashboard');
  let last = '';
  try {
    await until(`the dashboard shows "${DEST_NAME}" ok with 0 pending files`, async () => {
      const state = await text(page, `dest-${DEST_NAME}-state`);
      const pending = await text(page, `pending-files-${DEST_NAME}`);
      last = `state ${state}, pending files ${pending}`;
      return state === 'ok' && pending === '0';
    }, TIMEOUT, 500);
  } catch (e) {
    throw new Error(`${e.message}; last seen: ${last}`);
  }
  const files = Number(await text(page, 'total-files'));
  if (!(files >= 2)) throw new Error(`the dashboard counts ${files} files, expected at least 2`);
  const used = await page.getByTestId('cache-used').getAttribute('data-value');
  log(`ok: dashboard: ${DEST_NAME} ok, 0 pending, ${files} files, cache used ${used}`);
  await shot(page, 'tablet-dashboard');
}

async function stepDownload(page) {
  await go(page, 'files');
  const link = await visible(page, `download-${UPLOAD_NAME}`, `the download link of ${UPLOAD_NAME}`);
  const href = await link.getAttribute('href');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: TIMEOUT }),
    link.click(),
  ]);
  const failure = await withTimeout(download.failure(), TIMEOUT, 'the download finishing');
  if (failure) throw new Error(`the download failed: ${failure}`);
  const got = await withTimeout(download.path(), TIMEOUT, 'the downloaded file');
  const want = sha256File(UPLOAD_FILE);
  const have = sha256File(got);
  if (have !== want) throw new Error(`the downloaded file differs: sha256 ${have}, expected ${want} (${href})`);
  if (download.suggestedFilename() !== UPLOAD_NAME) throw new Error(`the download is named "${download.suggestedFilename()}", not "${UPLOAD_NAME}"`);
  log(`ok: downloaded ${UPLOAD_NAME} by its link (${href}); sha256 ${have.slice(0, 16)}… matches`);

  // Delete the dropped file, with the in-page confirmation.
  await page.getByTestId(`delete-${DROP_NAME}`).click();
  await visible(page, `confirm-delete-${DROP_NAME}`, 'the delete confirmation');
  await page.getByTestId(`confirm-delete-${DROP_NAME}`).click();
  await until(`${DROP_NAME} leaves the list`, async () => {
    const e = await text(page, `error-delete-${DROP_NAME}`);
    if (e) throw fatal(`deleting ${DROP_NAME} failed: "${e}"`);
    return (await page.getByTestId(`file-row-${DROP_NAME}`).count()) === 0;
  });
  log(`ok: deleted ${DROP_NAME} after the in-page confirmation`);
}

/** A fresh ssh-ed25519 public key line and its OpenSSH SHA256 fingerprint. */
function sshKey() {
  const { publicKey } = crypto.generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const str = (b) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  return {
    line: `ssh-ed25519 ${blob.toString('base64')} e2e@microcloud-test`,
    fingerprint: 'SHA256:' + crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, ''),
  };
}

/** Waits until form `formTestid` says it succeeded (message `msgTestid`); fails at once on its error. */
async function formOutcome(page, formTestid, msgTestid, what, timeout = UI_TIMEOUT) {
  return until(what, async () => {
    const e = await formError(page, formTestid);
    if (e) throw fatal(`${what}: the page says "${e}"`);
    return okMessage(page, msgTestid);
  }, timeout);
}

async function stepAdmin(page) {
  // Users: add one (not an administrator), then set their password.
  await go(page, 'users');
  await settled(page);
  await visible(page, `user-row-${ADMIN}`, `${ADMIN} in the user list`);
  await page.getByTestId('input-user-name').fill(USER2);
  await page.getByTestId('input-user-password').fill(USER2_PASSWORDS[0]);
  await page.getByTestId('input-user-admin').setChecked(false);
  await page.getByTestId('user-submit').click();
  await formOutcome(page, 'form-user', 'msg-user', `adding user ${USER2}`);
  await visible(page, `user-row-${USER2}`, `${USER2} in the user list`);
  await page.getByTestId(`set-password-${USER2}`).click();
  await page.getByTestId(`input-password-${USER2}`).fill(USER2_PASSWORDS[1]);
  await page.getByTestId(`save-password-${USER2}`).click();
  await until(`the password of ${USER2} is set`, async () => {
    const e = await text(page, `error-password-${USER2}`);
    if (e) throw fatal(`setting the password of ${USER2} failed: "${e}"`);
    return (await page.getByTestId(`password-set-${USER2}`).count()) > 0;
  });
  user2Password = USER2_PASSWORDS[1];
  await noSecretsIn(page, 'users page');
  log(`ok: added user ${USER2} and set their password`);

  // SSH keys: add one, see its fingerprint, remove it.
  const key = sshKey();
  await go(page, 'ssh');
  await settled(page);
  await page.getByTestId('input-ssh-key').fill(key.line);
  await page.getByTestId('ssh-submit').click();
  await formOutcome(page, 'form-ssh', 'msg-ssh', 'adding an ssh key');
  const row = page.locator('[data-testid^="ssh-row-"]', { hasText: key.fingerprint });
  await until(`the key ${key.fingerprint} is listed`, async () => (await row.count()) === 1);
  const rowId = (await row.getAttribute('data-testid')).slice('ssh-row-'.length);
  await page.getByTestId(`remove-ssh-${rowId}`).click();
  await page.getByTestId(`confirm-remove-ssh-${rowId}`).click();
  await until(`the key ${key.fingerprint} leaves the list`, async () => {
    const e = await text(page, `error-remove-ssh-${rowId}`);
    if (e) throw fatal(`removing the ssh key failed: "${e}"`);
    return (await row.count()) === 0;
  });
  log(`ok: added ssh key ${key.fingerprint}, saw it listed, removed it`);

  // System: either the settings (on the appliance) or the box's reason why not (503).
  await go(page, 'system');
  const which = await until('the system page shows its settings or why they are not available', async () => {
    if (await page.getByTestId('system-unavailable').count()) return 'unavailable';
    if (await page.getByTestId('form-hostname').count()) return 'settings';
    if (await page.getByTestId('system-error').count()) throw fatal(`the system page shows an error: ${await text(page, 'system-error')}`);
    return null;
  });
  if (which === 'unavailable') {
    if (await page.locator('[data-testid="page-system"] form').count()) throw new Error('the system page shows forms although the box said 503');
    log(`ok: system page: "${await text(page, 'system-unavailable')}" and no forms`);
  } else {
    const host = await text(page, 'system-hostname');
    log(`ok: system page: hostname ${host}, time zone ${await text(page, 'system-timezone')}`);
  }
}

const TOUR = ['dashboard', 'files', 'destinations', 'users', 'ssh', 'system'];

async function tour(page, prefix) {
  for (const route of TOUR) {
    if (await page.getByTestId(`nav-${route}`).count()) await go(page, route);
    else {
      await page.goto(`${BASE}/#/${route}`, { waitUntil: 'domcontentloaded' });
      await visible(page, `page-${route}`, `the ${route} page`);
    }
    await settled(page);
    if (route === 'dashboard') {
      await until('the dashboard shows the box status', async () =>
        (await page.getByTestId('no-destinations').count()) + (await page.getByTestId('destinations-status').count()) > 0);
    }
    if (route === 'files') {
      await until('the file list loads', async () =>
        (await page.getByTestId('files-empty').count()) + (await page.locator('[data-testid="file-list"] table').count()) > 0);
    }
    const err = await page.locator('.error-box').count();
    if (err) throw new Error(`the ${route} page shows an error: ${await visibleErrorText(page)}`);
    await shot(page, `${prefix}-${route}`);
  }
}

async function stepTour(page, ctx) {
  await tour(page, 'tablet');
  const phoneCtx = await newContext(PHONE, await ctx.storageState());
  try {
    const phone = await openPage(phoneCtx, 'phone');
    await phone.goto(`${BASE}/#/dashboard`, { waitUntil: 'domcontentloaded' });
    await visible(phone, 'page-dashboard', 'the dashboard on a phone');
    await tour(phone, 'phone');
    await noSecretsIn(phone, 'phone pages');
    await phone.close();
  } finally {
    await phoneCtx.close();
  }
  await go(page, 'dashboard');
}

async function signOut(page) {
  await page.getByTestId('sign-out').click();
  await visible(page, 'page-signin', 'the sign-in form after signing out');
  if (await page.locator('#nav').isVisible()) throw new Error('the navigation still shows after signing out');
}

async function stepSignOut(page) {
  await signOut(page);
  await page.goto(`${BASE}/#/dashboard`, { waitUntil: 'domcontentloaded' });
  await visible(page, 'page-signin', 'the sign-in form instead of the dashboard');
  await page.reload({ waitUntil: 'domcontentloaded' });
  await visible(page, 'page-signin', 'the sign-in form after a reload');
  if (await page.getByTestId('page-dashboard').count()) throw new Error('the dashboard is still reachable after signing out');
  const status = await page.evaluate(() => fetch('/api/status', { credentials: 'same-origin' }).then((r) => r.status));
  if (status !== 401) throw new Error(`after signing out GET /api/status answers ${status}, not 401`);
  log('ok: signed out; #/dashboard shows the sign-in form and /api/status answers 401');
  await shot(page, 'tablet-signin');
  const ctx = await newContext(PHONE);
  try {
    const phone = await openPage(ctx, 'phone');
    await phone.goto(`${BASE}/`, { waitUntil: 'domcontentloaded' });
    await visible(phone, 'page-signin', 'the sign-in form on a phone');
    await shot(phone, 'phone-signin');
  } finally {
    await ctx.close();
  }

  // The sign-in form: a wrong password is refused, the right one lets in; then out again.
  await page.getByTestId('input-signin-name').fill(ADMIN);
  await page.getByTestId('input-signin-password').fill(PASSWORD + '-wrong');
  await page.getByTestId('signin-submit').click();
  const refused = await until('an error for a wrong password', () => formError(page, 'form-signin'));
  if (await page.getByTestId('input-signin-password').inputValue()) throw new Error('the password input was not cleared after signing in failed');
  await page.getByTestId('input-signin-password').fill(PASSWORD);
  await page.getByTestId('signin-submit').click();
  await landOn(page, 'page-dashboard', 'the dashboard shows after signing in', 'form-signin');
  await signOut(page);
  log(`ok: sign-in refuses a wrong password ("${refused}") and accepts the right one; signed out again`);

  // A user who is not an administrator gets their files and their own devices only.
  if (user2Password) {
    await page.getByTestId('input-signin-name').fill(USER2);
    await page.getByTestId('input-signin-password').fill(user2Password);
    await page.getByTestId('signin-submit').click();
    await landOn(page, 'page-files', `the files page shows for ${USER2}`, 'form-signin');
    const links = await page.locator('#nav a').count();
    if (links !== 3 || !(await page.getByTestId('nav-files').count()) || !(await page.getByTestId('nav-inbox').count()) || !(await page.getByTestId('nav-devices').count())) throw new Error(`${USER2} (not an administrator) sees ${links} navigation links, expected Files, Inbox and Devices only`);
    await page.goto(`${BASE}/#/dashboard`, { waitUntil: 'domcontentloaded' });
    await visible(page, 'page-files', `the files page instead of the dashboard for ${USER2}`);
    const st = await page.evaluate(() => fetch('/api/status', { credentials: 'same-origin' }).then((r) => r.status));
    if (st !== 403) throw new Error(`GET /api/status answers ${st} to ${USER2} (not an administrator), not 403`);
    await until('the file list loads', async () =>
      (await page.getByTestId('files-empty').count()) + (await page.locator('[data-testid="file-list"] table').count()) > 0);
    if (await page.getByTestId(`file-row-${UPLOAD_NAME || 'no-such-file'}`).count()) throw new Error(`${USER2} sees ${ADMIN}'s file ${UPLOAD_NAME}`);
    await signOut(page);
    log(`ok: ${USER2} (not an administrator) sees Files, Inbox and Devices only, not the dashboard, not ${ADMIN}'s files`);
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const watchdog = setTimeout(async () => {
    console.error(`FAIL: ${currentStep}: the whole run took longer than ${Math.round(TOTAL_TIMEOUT / 1000)} s (MC_TOTAL_TIMEOUT_MS)`);
    log(`e2e: ${passed} passed, 1 failed`);
    if (browser) await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
    process.exit(1);
  }, TOTAL_TIMEOUT);
  watchdog.unref();

  log(`e2e: ${BASE}, steps: ${[...STEPS].join(', ')}, timeout ${TIMEOUT} ms, destination: ${S3 ? `S3 ${S3.endpoint}` : DIR_DEST ? `directory ${DIR_DEST}` : '-'}${SCREENSHOTS ? `, screenshots in ${SCREENSHOTS}` : ''}`);
  browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-domain-reliability', '--disable-breakpad',
      '--no-default-browser-check', '--disable-dev-shm-usage'],
  });
  const ctx = await newContext(TABLET);
  const page = await openPage(ctx, 'tablet');

  const plan = [
    ['onboarding', '1 onboarding', stepOnboarding],
    ['destination', '2 destination', stepDestination],
    ['files', '3 files and durability', stepFiles],
    ['download', '4 download', stepDownload],
    ['admin', 'users, ssh keys and system pages', stepAdmin],
    ['tour', 'screenshots of every page', (p) => stepTour(p, ctx)],
    ['signout', '5 sign out', stepSignOut],
  ];
  // Steps after the first need a signed-in page: sign in when onboarding is not part of the run.
  if (!STEPS.has('onboarding')) {
    currentStep = 'sign in';
    await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    await visible(page, 'page-signin', 'the sign-in form');
    await page.getByTestId('input-signin-name').fill(ADMIN);
    await page.getByTestId('input-signin-password').fill(PASSWORD);
    await page.getByTestId('signin-submit').click();
    await landOn(page, 'page-dashboard', 'the dashboard shows after signing in', 'form-signin');
  }
  for (const [key, label, fn] of plan) {
    if (key !== 'tour' && !STEPS.has(key)) continue;
    currentStep = `step ${label}`;
    const t0 = Date.now();
    try {
      await fn(page);
      checkProblems();
    } catch (e) {
      const seen = await visibleErrorText(page);
      let url = '';
      try { url = page.url(); } catch (x) { /* closed */ }
      console.error(`FAIL: ${currentStep}: ${String(e && e.message ? e.message : e).split('\n')[0]}`);
      console.error(`  page: ${url}`);
      console.error(`  visible error text: ${seen || '(none)'}`);
      try {
        await shot(page, `failure-${key}`);
        if (SCREENSHOTS) console.error(`  screenshot: ${path.join(SCREENSHOTS, `failure-${key}.png`)}`);
      } catch (x) { /* best effort */ }
      throw e;
    }
    passed++;
    log(`ok: ${label} (${elapsed(t0)})`);
  }
  await ctx.close();
  clearTimeout(watchdog);
}

let code = 0;
try {
  await main();
  log(`e2e: all done in ${elapsed(started)}`);
  log(`e2e: ${passed} passed, 0 failed`);
} catch (e) {
  code = 1;
  if (currentStep === 'start' || currentStep === 'sign in') console.error(`FAIL: ${currentStep}: ${String(e && e.message ? e.message : e).split('\n')[0]}`);
  log(`e2e: stopped after ${elapsed(started)}`);
  log(`e2e: ${passed} passed, 1 failed`);
} finally {
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(10000)]);
}
process.exit(code);
