// End-to-end test of lonsdaleite's web page in headless Chromium (Debian's /usr/bin/chromium).
// Usage: node ui_test.mjs <base-url> <artifact-dir> <metric-path> <write-token>
// The server must already hold points for <metric-path> and ask for <write-token>
// (http.write_token) on writes; tests/ui_browser.rs arranges both.
// Exits 0 when every step passed, 1 otherwise; screenshots go to <artifact-dir>.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, artifacts, metric, token] = process.argv.slice(2);
if (!base || !artifacts || !metric || !token) {
  console.error('usage: node ui_test.mjs <base-url> <artifact-dir> <metric-path> <write-token>');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT = 30_000;
const BOARD = 'ui test board';
mkdirSync(artifacts, { recursive: true });

// The whole run is bounded, whatever hangs.
setTimeout(() => { console.error('FAIL: the browser test took more than 180 s'); process.exit(1); },
  180_000).unref();

let page;
let prompts = 0;
const pageErrors = [];

function step(text) { console.log(`step: ${text}`); }

async function shot(name) {
  const path = join(artifacts, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

// Waits until the <img> matched by `selector` shows a decoded image; on timeout the error
// text the page shows (`errorSelector`) explains why.
async function waitImage(selector, errorSelector) {
  try {
    await page.waitForFunction((s) => {
      const img = document.querySelector(s);
      return img && img.complete && img.naturalWidth > 0;
    }, selector, { timeout: STEP_TIMEOUT });
  } catch (e) {
    const src = await page.$eval(selector, (i) => i.getAttribute('src')).catch(() => null);
    const shown = await page.$eval(errorSelector, (x) => x.textContent).catch(() => '');
    throw new Error(`no image in ${selector} (src ${src}); the page says: ${shown || '(nothing)'}`);
  }
  return page.$eval(selector, (i) => [i.naturalWidth, i.naturalHeight]);
}

function check(cond, message) { if (!cond) throw new Error(message); }

async function run() {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // The server asks for a write token: the page prompts for it at the first save.
    page.on('dialog', (d) => {
      if (d.type() === 'prompt') prompts += 1;
      return d.type() === 'prompt' ? d.accept(token) : d.accept();
    });

    step(`open ${base}/`);
    await page.goto(`${base}/`);
    check(await page.title() === 'lonsdaleite', 'page title is not "lonsdaleite"');

    step('functions list filled from /functions');
    await page.waitForSelector('#function option[value="sumSeries"]', { state: 'attached' });

    const parts = metric.split('.');
    for (let i = 1; i < parts.length; i += 1) {
      const id = parts.slice(0, i).join('.');
      step(`expand tree node ${id}`);
      await page.click(`#tree li.branch > button[data-id="${id}"]`);
    }
    step(`pick leaf ${metric}`);
    await page.click(`#tree li.leaf > button[data-id="${metric}"]`);
    check(await page.inputValue('.target-row input') === metric, 'the leaf did not fill the target');

    step('graph image loads');
    const [w, h] = await waitImage('#graph-img', '#graph-error');
    check(w === 800 && h === 400, `graph is ${w}x${h}, expected 800x400 (width/height fields)`);
    const embed = await page.inputValue('#embed-url');
    check(embed.startsWith(`${base}/render?`) && embed.includes(new URLSearchParams({ target: metric }).toString()),
      `embed URL ${embed} is not a render URL of ${metric}`);
    await shot('01-graph.png');

    step('a bad target shows the API message next to it');
    await page.click('#add-target');
    await page.fill('.target-row:nth-child(2) input', `sumSeries(${metric}`);
    await page.click('#draw');
    const bad = page.locator('.target-row:nth-child(2) .error');
    await bad.filter({ hasText: /\S/ }).waitFor();
    const message = await bad.textContent();
    const good = await page.textContent('.target-row:nth-child(1) .error');
    check(good === '', `the good target also shows an error: ${good}`);
    console.log(`bad target message: ${message}`);
    await shot('02-bad-target.png');
    await page.click('.target-row:nth-child(2) button');

    step('apply a function from the list to the target');
    await page.selectOption('#function', 'sumSeries');
    await page.click('#apply-function');
    const wrapped = `sumSeries(${metric})`;
    check(await page.inputValue('.target-row input') === wrapped, `the target is not ${wrapped}`);
    await page.waitForFunction((t) => {
      const img = document.querySelector('#graph-img');
      return img.src.includes(new URLSearchParams({ target: t }).toString()) && img.complete && img.naturalWidth > 0;
    }, wrapped, { timeout: STEP_TIMEOUT });

    step('add the graph to a dashboard and save it');
    await page.click('#add-to-dashboard');
    await waitImage('#dashboard-grid .card img', '#dashboard-grid .card .error');
    await page.selectOption('#refresh', '30');
    await page.fill('#dashboard-name', BOARD);
    await page.click('#save-dashboard');
    await page.locator('#dashboard-status', { hasText: 'Saved' }).waitFor();
    await page.locator(`#dashboard-list li[data-name="${BOARD}"]`).waitFor();
    check(prompts === 1, `the page asked for the write token ${prompts} times, expected once`);
    await shot('03-dashboard-saved.png');

    step('reload the page, find the dashboard in the list and open it');
    await page.goto(`${base}/`);
    check(await page.locator('#dashboard-grid .card').count() === 0, 'the fresh page already shows graphs');
    await page.click(`#dashboard-list li[data-name="${BOARD}"] .open`);
    await waitImage('#dashboard-grid .card img', '#dashboard-grid .card .error');
    check(await page.inputValue('#dashboard-name') === BOARD, 'the opened dashboard has another name');
    check(await page.inputValue('#refresh') === '30', 'the auto-refresh interval was not saved');
    const src = await page.getAttribute('#dashboard-grid .card img', 'src');
    check(src.includes(new URLSearchParams({ target: wrapped }).toString()), `the dashboard graph draws ${src}`);
    await shot('04-dashboard-reopened.png');

    step('auto-refresh fetches the graph again');
    await page.selectOption('#refresh', '10');
    await page.waitForFunction(() => {
      const img = document.querySelector('#dashboard-grid .card img');
      return img.src.includes('_uniq=') && img.complete && img.naturalWidth > 0;
    }, null, { timeout: STEP_TIMEOUT });

    step('delete the dashboard');
    await page.click(`#dashboard-list li[data-name="${BOARD}"] .delete`);
    await page.locator(`#dashboard-list li[data-name="${BOARD}"]`).waitFor({ state: 'detached' });
    check(prompts === 1, 'the page asked for the write token again after the first save');

    check(pageErrors.length === 0, `JavaScript errors in the page: ${pageErrors.join('; ')}`);
  } catch (e) {
    if (page) await shot('failure.png').catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

run().then(() => {
  console.log('PASS: web page test');
  process.exit(0);
}, (e) => {
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
});
