// The System page's Update card in a real Chromium, against a box (the VM of tests/vm/update-test):
// what a person sees and does there. One step per run, as the test's box moves between them:
//
//   apply      the card shows the running version and the slots; a bundle chosen in the file
//              input is uploaded with "Apply update"; the progress ends in "Restart the box to run
//              it" and the next start names the slot written
//   rollback   the card offers to go back to the other slot's (good) version; confirmed, the next
//              start names that slot
//   show       the card's text contains MC_EXPECT_TEXT (a rolled-back update, an interrupted one)
//
// Environment: MC_URL, MC_ADMIN, MC_PASSWORD, CHROMIUM, MC_STEP (apply|rollback|show),
// MC_EXPECT_RUNNING (the version the card must say runs), MC_BUNDLE and MC_EXPECT_SLOT (apply),
// MC_EXPECT_SLOT (rollback), MC_EXPECT_TEXT (show), MC_SCREENSHOTS (optional).
// Prints one line per check; exits 0 when every check passed, 1 otherwise (with what the page said).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const env = process.env;
function need(name) {
  if (!env[name]) { console.error(`update: ${name} is not set`); process.exit(2); }
  return env[name];
}
const BASE = need('MC_URL').replace(/\/+$/, '');
const STEP = need('MC_STEP');
if (!['apply', 'rollback', 'show'].includes(STEP)) { console.error(`update: MC_STEP: unknown step "${STEP}" (apply, rollback, show)`); process.exit(2); }
const RUNNING = need('MC_EXPECT_RUNNING');
const UI_TIMEOUT = 20000;
// Writing a slot under QEMU's emulated CPU takes a while; the upload too.
const APPLY_TIMEOUT = 300000;
const problems = [];
let page = null;

function log(s) { console.log(`ok: ${s}`); }

async function textOf(testid) {
  const el = page.getByTestId(testid);
  await el.waitFor({ state: 'visible' });
  return (await el.innerText()).trim();
}

/** Waits until the element's text matches `re` (the card reloads itself while an apply runs). */
async function waitText(testid, re, timeout) {
  await page.waitForFunction(([id, src]) => {
    const el = document.querySelector(`[data-testid="${id}"]`);
    return el && new RegExp(src).test(el.textContent);
  }, [testid, re.source], { timeout, polling: 500 });
  return textOf(testid);
}

async function shot(name) {
  const junk = await page.evaluate(() => (document.body.innerText.match(/\b(null|undefined|NaN|\[object Object\])\b/) || [null])[0]);
  if (junk) throw new Error(`the ${name} screen shows "${junk}"`);
  if (!env.MC_SCREENSHOTS) return;
  fs.mkdirSync(env.MC_SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(env.MC_SCREENSHOTS, `update-${name}.png`), fullPage: true, animations: 'disabled' });
}

async function main() {
  const browser = await chromium.launch({ executablePath: need('CHROMIUM'), args: ['--no-sandbox', '--ignore-certificate-errors'] });
  try {
    const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 }, ignoreHTTPSErrors: true });
    page = await ctx.newPage();
    page.setDefaultTimeout(UI_TIMEOUT);
    page.on('pageerror', (e) => problems.push(`JavaScript error: ${String(e.message || e).split('\n')[0]}`));
    page.on('dialog', async (d) => { problems.push(`a ${d.type()} dialog`); await d.dismiss().catch(() => {}); });
    await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    await page.getByTestId('input-signin-name').fill(need('MC_ADMIN'));
    await page.getByTestId('input-signin-password').fill(need('MC_PASSWORD'));
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('nav-system').click();
    const running = await textOf('update-running');
    if (running !== `microcloud ${RUNNING}`) throw new Error(`the card says it runs "${running}", not microcloud ${RUNNING}`);
    log(`the Update card says it runs ${running}`);

    if (STEP === 'apply') {
      const slot = need('MC_EXPECT_SLOT');
      await page.getByTestId('input-update-bundle').setInputFiles(need('MC_BUNDLE'));
      const t0 = Date.now();
      await page.getByTestId('update-submit').click();
      const done = await waitText('update-progress-text', /Restart the box to run it|not applied/, APPLY_TIMEOUT);
      if (!/Restart the box to run it/.test(done)) throw new Error(`the apply ended with "${done}"`);
      log(`uploaded and applied in ${((Date.now() - t0) / 1000).toFixed(1)} s: "${done}"`);
      const next = await waitText('update-next', new RegExp(`slot ${slot}`), UI_TIMEOUT);
      log(`the next start is ${next}; slot ${slot}: ${await textOf(`update-slot-${slot}`)}`);
      await shot('applied');
    } else if (STEP === 'rollback') {
      const slot = need('MC_EXPECT_SLOT');
      await page.getByTestId('update-rollback').click();
      await page.getByTestId('confirm-update-rollback').click();
      const err = await page.getByTestId('error-update-rollback').innerText().catch(() => '');
      if (err) throw new Error(`going back failed: ${err}`);
      const done = await waitText('update-progress-text', /starts at the next restart|not applied/, 60000);
      if (!/starts at the next restart/.test(done)) throw new Error(`going back ended with "${done}"`);
      const next = await waitText('update-next', new RegExp(`slot ${slot}`), UI_TIMEOUT);
      log(`went back: "${done}"; the next start is ${next}`);
      await shot('rollback');
    } else {
      const want = need('MC_EXPECT_TEXT');
      await page.getByTestId('form-update').waitFor();
      const card = await textOf('update');
      if (!card.includes(want)) throw new Error(`the card does not say "${want}": ${card.replace(/\s+/g, ' ').slice(0, 800)}`);
      log(`the card says "${want}"`);
      await shot('show');
    }
    if (problems.length) throw new Error(problems.join('; '));
  } catch (e) {
    if (page) {
      const seen = await page.evaluate(() => (document.getElementById('main') || document.body).innerText.replace(/\s+/g, ' ').slice(0, 800)).catch(() => '(no answer)');
      console.error(`update: the page showed: ${seen}`);
    }
    throw e;
  } finally {
    await browser.close();
  }
}

const guard = setTimeout(() => { console.error('update: the run took over 420 s'); process.exit(1); }, 420000);
main().then(() => { clearTimeout(guard); process.exit(0); }, (e) => {
  clearTimeout(guard);
  console.error(`update: FAILED: ${String(e.message || e).split('\n')[0]}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exit(1);
});
