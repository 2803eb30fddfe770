/*
 * The dashboard in real headless Chromium (Debian's /usr/bin/chromium driven
 * by playwright-core).  Run by tests/integration/web_browser.c, which fills
 * Redis first and checks Redis afterwards:
 *
 *   node tests/browser/dashboard.js URL SHOTDIR
 *
 * Expects: >= 60 queued jobs of type "email", failed jobs with an error,
 * one active job with progress, complete and delayed jobs.  Prints one JSON
 * line {"ok":true,"retried":ID,...} on success; exits 1 with a message on
 * the first failed check.
 */
'use strict';
const path = require('path');
const { createRequire } = require('module');
const req = createRequire(path.join(__dirname, '..', 'node', 'package.json'));
const { chromium } = req('playwright-core');

const [url, shotdir] = process.argv.slice(2);
const base = url.replace(/\/?$/, '/');
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';

function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
}

async function count(page, state) {
  const t = await page.textContent('[data-count="' + state + '"]');
  return Number(String(t).replace(/[^0-9]/g, ''));
}

(async () => {
  const browser = await chromium.launch({
    executablePath: EXE,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const out = { ok: false };
  const errors = [];
  let page = null;
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.setDefaultTimeout(15000);

    /* 1. load: queued tab, live counts, first page of rows */
    await page.goto(base, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#jobs li.job');
    await page.waitForFunction(() => /^[0-9,]+$/.test(document.querySelector('[data-count="inactive"]').textContent));
    const queued = await count(page, 'inactive');
    check(queued >= 60, 'queued count ' + queued);
    check(await page.getAttribute('#tab-inactive', 'aria-selected') === 'true', 'queued tab selected');
    await page.waitForSelector('#live.on');
    const first = await page.locator('#jobs li.job').count();
    check(first === 50, 'first page has 50 rows, not ' + first);
    out.queued = queued;

    /* 2. infinite scroll: more rows after scrolling to the bottom */
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForFunction((n) => document.querySelectorAll('#jobs li.job').length > n, first);
    out.rows_after_scroll = await page.locator('#jobs li.job').count();
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(shotdir, 'dashboard-queued.png') });

    /* 3. live update: a job created through the API appears in the count without reload */
    await page.evaluate(async (b) => {
      await fetch(b + 'job', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'email', data: { title: 'live one' } }) });
    }, base);
    await page.waitForFunction((n) => Number(document.querySelector('[data-count="inactive"]').textContent.replace(/[^0-9]/g, '')) === n + 1, queued);

    /* 4. active tab: progress bar */
    await page.click('#tab-active');
    await page.waitForSelector('#jobs li.job .progress');
    const now = await page.getAttribute('#jobs li.job .progress', 'aria-valuenow');
    check(Number(now) > 0, 'progress value ' + now);
    check(page.url().endsWith('/active'), 'url follows the tab: ' + page.url());

    /* 5. failed tab: error lines; open a job; retry it from the detail */
    await page.click('#tab-failed');
    await page.waitForSelector('#jobs li.job[data-state="failed"] .err');
    const failedBefore = await count(page, 'failed');
    check(failedBefore >= 1, 'failed count ' + failedBefore);
    const id = await page.getAttribute('#jobs li.job[data-state="failed"]', 'data-id');
    await page.click('#jobs li.job[data-id="' + id + '"] .open');
    await page.waitForSelector('#detail[open] #detail-body dl.kv');
    await page.waitForSelector('#detail pre.error-text');
    const detailText = await page.textContent('#detail-body');
    check(detailText.includes('Data'), 'detail shows data');
    await page.screenshot({ path: path.join(shotdir, 'dashboard-detail.png') });
    await page.click('#detail .detail-actions button.primary');   /* Retry */
    await page.waitForSelector('#banner:not([hidden])');
    await page.keyboard.press('Escape');
    await page.waitForFunction((i) => !document.querySelector('#jobs li.job[data-id="' + i + '"]'), id);
    await page.waitForFunction((n) => Number(document.querySelector('[data-count="failed"]').textContent.replace(/[^0-9]/g, '')) === n - 1, failedBefore);
    out.retried = Number(id);

    /* 6. type filter and order */
    await page.click('#tab-inactive');
    await page.waitForSelector('#jobs li.job');
    await page.selectOption('#type-filter', 'video');
    await page.waitForFunction(() => {
      const rows = Array.from(document.querySelectorAll('#jobs li.job .type')).map((e) => e.textContent);
      return rows.length > 0 && rows.every((t) => t === 'video');
    });
    await page.selectOption('#type-filter', '');
    await page.selectOption('#sort', 'desc');
    await page.waitForFunction(() => {
      const ids = Array.from(document.querySelectorAll('#jobs li.job')).map((e) => Number(e.dataset.id));
      return ids.length > 1 && ids[0] > ids[1];
    });

    /* 7. create-job form */
    await page.click('#new-job');
    await page.fill('#create-form [name=type]', 'report');
    await page.fill('#create-form [name=data]', '{"title":"from the form"}');
    await page.selectOption('#create-form [name=priority]', 'critical');
    /* the banner may still show an earlier message (the retry's): wait
     * for the one this submit brings */
    const before = await page.textContent('#banner');
    await page.click('#create-form button[type=submit]');
    await page.waitForFunction((prev) => {
      const b = document.querySelector('#banner');
      return b && !b.hidden && b.textContent !== prev;
    }, before);
    const banner = await page.textContent('#banner');
    check(/Created job \d+/.test(banner), 'create banner: ' + banner);
    out.created = Number(banner.match(/(\d+)/)[1]);

    /* 8. workers view */
    await page.click('#view-workers');
    await page.waitForSelector('#workers-view:not([hidden])');
    await page.click('#view-jobs');

    /* 9. a phone-sized viewport */
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p2 = await phone.newPage();
    await p2.goto(base + 'failed', { waitUntil: 'domcontentloaded' });
    await p2.waitForSelector('#jobs li.job, #list-status:not(:empty)');
    const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, 'no horizontal overflow on a phone (' + overflow + 'px)');
    await p2.screenshot({ path: path.join(shotdir, 'dashboard-phone.png') });

    check(errors.length === 0, 'page errors: ' + errors.join(' | '));
    out.ok = true;
  } catch (e) {
    if (page) await page.screenshot({ path: path.join(shotdir, 'dashboard-failure.png') }).catch(() => {});
    throw new Error(String(e && e.stack || e) + (errors.length ? '\npage errors: ' + errors.join(' | ') : ''));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e) }));
  process.exit(1);
});
