/*
 * The dashboard in real headless Chromium (Debian's /usr/bin/chromium driven
 * by playwright-core).  Run by tests/integration/web_browser.c, which fills
 * Redis first, runs a supervisor with its web process, and checks Redis
 * afterwards:
 *
 *   node tests/browser/dashboard.js URL SHOTDIR [redis-down|queues]
 *
 * Expects: >= 60 queued jobs of type "email", failed jobs with an error (one
 * of them "retry with backoff"), one active job with progress, more than a
 * page of complete jobs of which exactly two match "hello", a delayed job,
 * a "sleep" worker with two jobs in flight, completions of "echo" and
 * "sleep" since the web process started, and a "flaky" worker.
 * Checks at 1440x900 and at 390x844 (a phone).  Prints one JSON line
 * {"ok":true,"retried":ID,...} on success; exits 1 with a message on the
 * first failed check.  With "redis-down" (Redis stopped) it only checks
 * that the list says Redis is unavailable.  With "queues" (kue-web --prefix
 * q,p2; queued jobs titled "q job N" (3) in q and "p2 job N" (5) in p2,
 * type "video" in p2 only) it checks the queue selector: each queue's
 * counts, rows, types, job detail and live rows, and the queue kept in the
 * address across a reload.
 */
'use strict';
const path = require('path');
const { createRequire } = require('module');
const req = createRequire(path.join(__dirname, '..', 'node', 'package.json'));
const { chromium } = req('playwright-core');

const [url, shotdir, mode] = process.argv.slice(2);
const base = url.replace(/\/?$/, '/');
const EXE = process.env.CHROMIUM || '/usr/bin/chromium';

function check(cond, msg) {
  if (!cond) throw new Error('check failed: ' + msg);
}

async function count(page, state) {
  const t = await page.textContent('[data-count="' + state + '"]');
  return Number(String(t).replace(/[^0-9]/g, ''));
}

/* rows the user can see (not hidden by the filter) */
function visibleRows(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('#jobs li.job')).filter((li) => li.getClientRects().length > 0).length);
}

/* the distinct x positions of the visible rows' titles */
function titleXs(page) {
  return page.evaluate(() => Array.from(new Set(Array.from(document.querySelectorAll('#jobs li.job'))
    .filter((li) => li.getClientRects().length > 0)
    .map((li) => Math.round(li.querySelector('.title').getBoundingClientRect().left)))));
}

async function noOverflow(page, what) {
  const w = await page.evaluate(() => document.documentElement.scrollWidth);
  check(w <= 390, what + ': page is ' + w + ' px wide on a 390 px phone');
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shotdir, 'dashboard-' + name + '.png') });
}

async function launch() {
  return chromium.launch({
    executablePath: EXE,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
}

const rowTitles = (page) => page.$$eval('#jobs li.job .title', (ts) => ts.map((t) => t.textContent));

/* the list shows n rows, every title matching re, and the queued count n */
async function showsQueue(page, n, re, what) {
  await page.waitForFunction(([n, src]) => {
    const c = document.querySelector('[data-count="inactive"]').textContent.replace(/[^0-9]/g, '');
    const ts = Array.from(document.querySelectorAll('#jobs li.job .title')).map((t) => t.textContent);
    return Number(c) === n && ts.length === n && ts.every((t) => new RegExp(src).test(t));
  }, [n, re.source]).catch(async () => {
    throw new Error('check failed: ' + what + ': count ' + await count(page, 'inactive') + ', rows ' + JSON.stringify(await rowTitles(page)));
  });
}

async function queues(browser, out, errors) {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.setDefaultTimeout(15000);
  await page.goto(base, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#queue-box:not([hidden])');
  const opts = await page.$$eval('#queue option', (o) => o.map((x) => x.textContent));
  check(JSON.stringify(opts) === '["q (default)","p2"]', 'queue options ' + JSON.stringify(opts));
  await showsQueue(page, 3, /^q job \d$/, 'the default queue');
  await page.waitForSelector('#live.on');

  /* p2: counts, rows, types and the address */
  await page.selectOption('#queue', 'p2');
  await showsQueue(page, 5, /^p2 job \d$/, 'p2 after the switch');
  check(new URL(page.url()).searchParams.get('queue') === 'p2', 'address names the queue: ' + page.url());
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#type-filter option')).some((o) => o.value === 'video'));
  const types = await page.$$eval('#type-filter option', (o) => o.map((x) => x.value).filter(Boolean));
  check(JSON.stringify(types) === '["video"]', "p2's types: " + JSON.stringify(types));
  /* the detail of job 1 is p2's job 1 (q has a job 1 too) */
  await page.click('#jobs li.job[data-id="1"] .open');
  await page.waitForSelector('#detail[open] #detail-body dl.kv');
  const text = await page.textContent('#detail-body');
  check(text.includes('p2 job 0') && !text.includes('q job'), "p2's job 1 in the detail: " + text.slice(0, 300));
  await page.keyboard.press('Escape');
  /* a job created in p2 shows up live (p2's events) */
  await page.evaluate(() => fetch('job?queue=p2', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'video', data: { title: 'p2 job 9' } }) }));
  await showsQueue(page, 6, /^p2 job \d$/, 'the new p2 job, live');
  await shot(page, 'queues-p2');

  /* the queue stays across a reload; back to the default */
  await page.reload({ waitUntil: 'domcontentloaded' });
  await showsQueue(page, 6, /^p2 job \d$/, 'p2 after a reload');
  check(await page.inputValue('#queue') === 'p2', 'selector after a reload');
  await page.selectOption('#queue', '');
  await showsQueue(page, 3, /^q job \d$/, 'back to the default queue');
  check(!new URL(page.url()).searchParams.has('queue'), 'no queue parameter for the default: ' + page.url());
  out.queues = opts.length;
}

async function redisDown(browser, out) {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(base + 'inactive', { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => /Redis unavailable/.test(document.querySelector('#list-status').textContent));
  const text = await page.textContent('#list-status');
  check(!/No queued jobs/.test(text), 'status while Redis is down: ' + text);
  await shot(page, 'redis-down');
  out.status = text;
}

(async () => {
  const browser = await launch();
  const out = { ok: false };
  const errors = [];
  const dialogs = [];
  let page = null;
  try {
    if (mode === 'redis-down') {
      await redisDown(browser, out);
      out.ok = true;
      return;
    }
    if (mode === 'queues') {
      await queues(browser, out, errors);
      check(errors.length === 0, 'page errors: ' + errors.join(' | '));
      out.ok = true;
      return;
    }
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
    page.setDefaultTimeout(15000);

    /* 1. load: queued tab, live counts, first page of rows, one title x */
    await page.goto(base, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#jobs li.job');
    await page.waitForFunction(() => /^[0-9,]+$/.test(document.querySelector('[data-count="inactive"]').textContent));
    const queued = await count(page, 'inactive');
    check(queued >= 60, 'queued count ' + queued);
    check(await page.getAttribute('#tab-inactive', 'aria-selected') === 'true', 'queued tab selected');
    check(await page.isHidden('#queue-box'), 'no queue selector with one queue');
    await page.waitForSelector('#live.on');
    const first = await page.locator('#jobs li.job').count();
    check(first === 50, 'first page has 50 rows, not ' + first);
    out.queued = queued;
    let xs = await titleXs(page);
    check(xs.length === 1, 'desktop row titles start at one x: ' + xs);
    /* high priorities are not painted in the error red */
    const colors = await page.evaluate(() => ({
      high: getComputedStyle(document.querySelector('#jobs .prio-high')).color,
      danger: getComputedStyle(document.querySelector('#all-remove')).color,
    }));
    check(colors.high !== colors.danger, 'high priority is not error red: ' + JSON.stringify(colors));
    await shot(page, 'desktop-queued');

    /* 2. infinite scroll; the side panel stays in view */
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.waitForFunction((n) => document.querySelectorAll('#jobs li.job').length > n, first);
    out.rows_after_scroll = await page.locator('#jobs li.job').count();
    const sideTop = await page.evaluate(() => document.querySelector('.side').getBoundingClientRect().top);
    check(sideTop >= 0 && sideTop < 120, 'sticky side panel at ' + sideTop);
    await page.evaluate(() => window.scrollTo(0, 0));

    /* 3. live update: a job created through the API appears in the count without reload */
    await page.evaluate(async (b) => {
      await fetch(b + 'job', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'email', data: { title: 'live one' } }) });
    }, base);
    await page.waitForFunction((n) => Number(document.querySelector('[data-count="inactive"]').textContent.replace(/[^0-9]/g, '')) === n + 1, queued);

    /* 4. active tab: progress bar with its number; no retry offered */
    await page.click('#tab-active');
    await page.waitForSelector('#jobs li.job .progress');
    const now = await page.getAttribute('#jobs li.job .progress', 'aria-valuenow');
    check(Number(now) > 0, 'progress value ' + now);
    const pct = await page.textContent('#jobs li.job .pct');
    check(pct === Math.round(Number(now)) + '%', 'progress number ' + pct + ' for ' + now);
    check(page.url().endsWith('/active'), 'url follows the tab: ' + page.url());
    const activeRetry = await page.evaluate(() => ({
      rows: document.querySelectorAll('#jobs li.job .acts button[aria-label^="Retry"]').length,
      all: document.querySelector('#all-retry').getClientRects().length,
      sel: document.querySelector('#bulk-retry').getClientRects().length,
    }));
    check(!activeRetry.rows && !activeRetry.all && !activeRetry.sel, 'no retry on active jobs: ' + JSON.stringify(activeRetry));

    /* 5. failed tab: error lines; open a job; retry it from the detail */
    await page.click('#tab-failed');
    await page.waitForSelector('#jobs li.job[data-state="failed"] .err');
    const failedBefore = await count(page, 'failed');
    check(failedBefore >= 1, 'failed count ' + failedBefore);
    xs = await titleXs(page);
    check(xs.length === 1, 'failed row titles start at one x: ' + xs);
    /* the backoff shows in the detail */
    await page.click('#jobs li.job:has-text("retry with backoff") .open');
    await page.waitForSelector('#detail[open] #detail-body dl.kv');
    const boText = await page.textContent('#detail-body');
    check(/Backoff\s*exponential, 2\.0 s/.test(boText), 'backoff in the detail: ' + boText.slice(0, 400));
    await page.keyboard.press('Escape');
    const id = await page.getAttribute('#jobs li.job[data-state="failed"]', 'data-id');
    await page.click('#jobs li.job[data-id="' + id + '"] .open');
    await page.waitForSelector('#detail[open] #detail-body dl.kv');
    await page.waitForSelector('#detail pre.error-text');
    const detailText = await page.textContent('#detail-body');
    check(detailText.includes('Data'), 'detail shows data');
    await shot(page, 'desktop-detail');
    await page.click('#detail .detail-actions button.primary');   /* Retry */
    await page.waitForSelector('#banner:not([hidden])');
    await page.keyboard.press('Escape');
    await page.waitForFunction((i) => !document.querySelector('#jobs li.job[data-id="' + i + '"]'), id);
    await page.waitForFunction((n) => Number(document.querySelector('[data-count="failed"]').textContent.replace(/[^0-9]/g, '')) === n - 1, failedBefore);
    out.retried = Number(id);

    /* 6. type filter and order; the work time stays shown */
    await page.click('#tab-inactive');
    await page.waitForSelector('#jobs li.job');
    await page.selectOption('#type-filter', 'video');
    await page.waitForFunction(() => {
      const rows = Array.from(document.querySelectorAll('#jobs li.job .type')).map((e) => e.textContent);
      return rows.length > 0 && rows.every((t) => t === 'video');
    });
    await page.waitForFunction(() => document.querySelector('#work-time-label').textContent === 'Work time (all types)');
    check(await page.textContent('#work-time') !== '–', 'work time with a type filter');
    await page.selectOption('#type-filter', '');
    await page.selectOption('#sort', 'desc');
    await page.waitForFunction(() => {
      const ids = Array.from(document.querySelectorAll('#jobs li.job')).map((e) => Number(e.dataset.id));
      return ids.length > 1 && ids[0] > ids[1];
    });

    /* 7. create-job form; an error is about the values it was shown for */
    await page.click('#new-job');
    await page.fill('#create-form [name=type]', 'report');
    await page.fill('#create-form [name=data]', '{bad');
    await page.click('#create-form button[type=submit]');
    await page.waitForFunction(() => /not valid JSON/.test(document.querySelector('#create-error').textContent));
    await page.fill('#create-form [name=type]', '');
    await page.fill('#create-form [name=data]', '{"title":"from the form"}');
    await page.click('#create-form button[type=submit]');
    const typeErr = await page.textContent('#create-error');
    check(typeErr === 'Type is required.', 'empty type error: ' + typeErr);
    await page.fill('#create-form [name=type]', 'report');
    await page.selectOption('#create-form [name=priority]', 'critical');
    /* the banner may still show an earlier message (the retry's): wait
     * for the one this submit brings */
    const prevBanner = await page.textContent('#banner');
    await page.click('#create-form button[type=submit]');
    await page.waitForFunction((prev) => {
      const b = document.querySelector('#banner');
      return b && !b.hidden && b.textContent !== prev;
    }, prevBanner);
    const banner = await page.textContent('#banner');
    check(/Created job \d+/.test(banner), 'create banner: ' + banner);
    out.created = Number(banner.match(/(\d+)/)[1]);

    /* 8. the filter (search index off) hides rows; "all" acts on exactly them */
    await page.selectOption('#sort', 'asc');
    await page.click('#tab-complete');
    await page.waitForFunction(() => document.querySelectorAll('#jobs li.job').length >= 50);
    const completeBefore = await count(page, 'complete');
    await page.fill('#search', 'hello');
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#jobs li.job')).filter((li) => li.getClientRects().length > 0).length === 2);
    await page.waitForFunction(() => document.querySelector('#all-remove').textContent === 'Remove 2 shown');
    out.filtered_rows = await visibleRows(page);
    xs = await titleXs(page);
    check(xs.length === 1, 'filtered row titles start at one x: ' + xs);
    await shot(page, 'desktop-complete-filter');
    const nd = dialogs.length;
    await page.click('#all-remove');
    await page.waitForFunction((n) => Number(document.querySelector('[data-count="complete"]').textContent.replace(/[^0-9]/g, '')) === n - 2, completeBefore);
    check(dialogs.length === nd + 1 && /the 2 job\(s\) shown/.test(dialogs[nd]), 'bulk confirm names what it touches: ' + dialogs[nd]);
    out.bulk_confirm = dialogs[nd];
    await page.fill('#search', '');
    await page.waitForFunction(() => /^Remove all/.test(document.querySelector('#all-remove').textContent));

    /* 9. workers view: its own address, no state tab current, in-flight links, concurrency, uptime */
    await page.click('#view-workers');
    await page.waitForSelector('#workers-view:not([hidden])');
    check(/[?&]view=workers/.test(page.url()), 'workers view address: ' + page.url());
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#workers-view:not([hidden])');
    check(await page.evaluate(() => !document.querySelector('#tabs a[aria-selected="true"]')), 'no state tab selected in the workers view');
    await page.waitForSelector('#workers tr .inflight-list a');
    const sleepRow = await page.evaluate(() => {
      const tr = Array.from(document.querySelectorAll('#workers tr')).find((r) => r.querySelector('.type') && r.querySelector('.type').textContent === 'sleep');
      if (!tr) return null;
      const cell = (l) => tr.querySelector('td[data-label="' + l + '"]').textContent;
      return {
        links: Array.from(tr.querySelectorAll('.inflight-list a')).map((a) => a.textContent),
        ages: Array.from(tr.querySelectorAll('.inflight-list .age')).map((a) => a.textContent),
        concurrency: cell('Concurrency'), uptime: cell('Uptime'),
      };
    });
    check(sleepRow && sleepRow.links.length === 2 && sleepRow.links.every((t) => /^#\d+$/.test(t)), 'in-flight links: ' + JSON.stringify(sleepRow));
    check(sleepRow.ages.every((t) => /\d/.test(t)), 'in-flight ages: ' + JSON.stringify(sleepRow));
    check(sleepRow.concurrency === '2 / 3', 'concurrency: ' + sleepRow.concurrency);
    check(/\d/.test(sleepRow.uptime), 'uptime: ' + sleepRow.uptime);
    out.workers = sleepRow;
    /* the cron schedules, as the leader sees them: next run ahead, no run yet */
    await page.waitForFunction(() => {
      const tr = document.querySelector('#cron tr[data-cron="hourly-report"]');
      return tr && /^in /.test(tr.querySelector('td[data-label="Next run"]').textContent);
    }, null, { timeout: 15000 });
    const cronRow = await page.evaluate(() => Array.from(document.querySelectorAll('#cron tr[data-cron] td')).map((t) => t.textContent));
    check(cronRow[0] === 'hourly-report' && /@every 1h/.test(cronRow[1]) && cronRow[2] === 'echo', 'cron row: ' + JSON.stringify(cronRow));
    await shot(page, 'desktop-workers');
    await page.click('#workers .inflight-list a');
    await page.waitForSelector('#detail[open] #detail-body dl.kv');
    check(/^Job #\d+$/.test(await page.textContent('#detail-title')), 'in-flight link opens the job');
    await page.keyboard.press('Escape');
    await page.click('#tab-failed');
    await page.waitForSelector('#jobs-view:not([hidden]) #jobs li.job');
    check(!/view=workers/.test(page.url()), 'a state tab leaves the workers view: ' + page.url());

    /* 10. throughput chart: axes, completions and failures, a stable colour per type */
    await page.waitForSelector('#chart polyline[data-type="echo"][data-kind="complete"]', { timeout: 20000 });
    await page.waitForSelector('#chart polyline[data-type="sleep"][data-kind="complete"]');
    const axis = await page.evaluate(() => Array.from(document.querySelectorAll('#chart text')).map((t) => t.textContent));
    check(axis.includes('now') && axis.includes('0') && axis.some((t) => /min/.test(t)) && axis.length >= 6, 'chart axes: ' + axis);
    const legend = () => page.evaluate(() => Object.fromEntries(Array.from(document.querySelectorAll('#chart-legend li')).map((l) => [l.dataset.type, l.dataset.color])));
    const before = await legend();
    check(before.echo && before.sleep && before.echo !== before.sleep, 'legend colours: ' + JSON.stringify(before));
    /* "flaky" sorts between them: it must not take a colour away */
    await page.evaluate(async (b) => {
      for (let i = 0; i < 4; i++) {
        await fetch(b + 'job', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'flaky', data: { title: 'flaky one', fail: 5 } }) });
      }
    }, base);
    await page.waitForSelector('#chart polyline[data-type="flaky"][data-kind="failed"]', { timeout: 20000 });
    const after = await legend();
    check(after.echo === before.echo && after.sleep === before.sleep, 'colours stay when a type appears: ' + JSON.stringify(before) + ' -> ' + JSON.stringify(after));
    check(after.flaky !== after.echo && after.flaky !== after.sleep, 'a new type gets its own colour: ' + JSON.stringify(after));
    check(/failed\/s/.test(await page.textContent('#chart-legend li[data-type="flaky"]')), 'legend names the failures');
    out.colors = after;

    /* a burst (a backlog drained at start) does not flatten the steady
     * rate: the chart's drawing is fed a made-up history of 2/s with 10 s
     * at 500/s at the start of the window */
    const p3 = await ctx.newPage();
    p3.on('pageerror', (e) => errors.push(String(e)));
    await p3.route('**/throughput', (route) => {
      const complete = Array.from({ length: 300 }, (_, i) => (i < 10 ? 500 : 2));
      route.fulfill({ status: 200, contentType: 'application/json',
        body: JSON.stringify({ interval_s: 1, window_s: 300, now: Date.now(), types: { steady: { complete, failed: new Array(300).fill(0) } } }) });
    });
    await p3.goto(base + 'complete', { waitUntil: 'domcontentloaded' });
    await p3.waitForSelector('#chart polyline[data-type="steady"]');
    const scale = await p3.evaluate(() => Array.from(document.querySelectorAll('#chart text')).map((t) => t.textContent));
    const top = Math.max(...scale.map(Number).filter((v) => isFinite(v)));
    check(top <= 5, 'axis top ' + top + ' for a steady 2/s after a burst: ' + scale);
    check(scale.some((t) => /^peak 500\/s/.test(t)), 'the clipped peak is named: ' + scale);
    await shot(p3, 'desktop-chart-burst');
    await p3.close();
    await shot(page, 'desktop-chart');

    /* 11. a phone: nothing wider than the screen, one title x, id beside no title, chart shown */
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p2 = await phone.newPage();
    p2.on('pageerror', (e) => errors.push(String(e)));
    p2.on('dialog', (d) => d.accept());
    p2.setDefaultTimeout(15000);
    await p2.goto(base + 'failed', { waitUntil: 'domcontentloaded' });
    await p2.waitForSelector('#jobs li.job .err');
    await noOverflow(p2, 'failed');
    xs = await titleXs(p2);
    check(xs.length === 1, 'phone row titles start at one x: ' + xs);
    const overlap = await p2.evaluate(() => Array.from(document.querySelectorAll('#jobs li.job')).filter((li) => {
      const a = li.querySelector('.id').getBoundingClientRect(), b = li.querySelector('.title').getBoundingClientRect();
      return a.right > b.left && a.left < b.right && a.bottom > b.top && a.top < b.bottom;
    }).length);
    check(overlap === 0, overlap + ' rows where the id overlaps the title');
    const right = await p2.evaluate(() => Math.max(...Array.from(document.querySelectorAll('#jobs li.job, .toolbar, .tabs, .bulk')).map((e) => e.getBoundingClientRect().right)));
    check(right <= 390, 'right edge at ' + right + ' px');
    const chart = await p2.evaluate(() => { const r = document.querySelector('#chart').getBoundingClientRect(); return [r.width, r.height]; });
    check(chart[0] > 200 && chart[1] > 50, 'chart shown on a phone: ' + chart);
    await shot(p2, 'phone-failed');
    await p2.goto(base + 'complete', { waitUntil: 'domcontentloaded' });
    await p2.waitForSelector('#jobs li.job');
    await p2.fill('#search', 'receipt 1');
    await p2.waitForFunction(() => Array.from(document.querySelectorAll('#jobs li.job')).filter((li) => li.getClientRects().length > 0).length === 11);
    await noOverflow(p2, 'complete, filtered');
    xs = await titleXs(p2);
    check(xs.length === 1, 'phone filtered titles at one x: ' + xs);
    await shot(p2, 'phone-complete');
    await p2.goto(base + 'inactive?view=workers', { waitUntil: 'domcontentloaded' });
    await p2.waitForSelector('#workers tr .inflight-list a');
    await noOverflow(p2, 'workers');
    await shot(p2, 'phone-workers');
    await p2.goto(base + 'inactive', { waitUntil: 'domcontentloaded' });
    await p2.waitForSelector('#jobs li.job');
    await noOverflow(p2, 'queued');
    await shot(p2, 'phone-queued');

    /* 12. cancel a queued job from its row; pause and resume a type from the workers view */
    await page.goto(base + 'inactive', { waitUntil: 'domcontentloaded' });
    /* the list is live: read a row's id and click that row's button, not
     * whichever row is first by then */
    const cid = await (await page.waitForFunction(() => {
      const e = document.querySelector('#jobs li.job:has(button.cancel) .id');
      return e && e.textContent.replace('#', '');
    })).jsonValue();
    const ncd = dialogs.length;
    await page.locator('#jobs li.job', { has: page.locator('.id', { hasText: new RegExp('^#' + cid + '$') }) })
      .locator('button.cancel').click();
    check(dialogs.length === ncd + 1 && dialogs[ncd] === 'Cancel job ' + cid + '?', 'cancel confirm: ' + dialogs[ncd]);
    await page.waitForFunction((b) => fetch(b.base + 'job/' + b.id).then((r) => r.json()).then((j) => j.state === 'failed' && j.error === 'cancelled'), { base, id: cid });
    await page.click('#view-workers');
    await page.waitForSelector('#pauses button.pause-toggle');
    const toggle = '#pauses button.pause-toggle:has-text("flaky")';
    check(await page.getAttribute(toggle, 'aria-pressed') === 'false', 'flaky starts running');
    await page.click(toggle);
    await page.waitForSelector('#pauses button.pause-toggle[aria-pressed="true"]:has-text("flaky")');
    const paused = await page.evaluate((b) => fetch(b + 'workers').then((r) => r.json()).then((w) => w.paused), base);
    check(JSON.stringify(paused) === '["flaky"]', 'paused after the toggle: ' + JSON.stringify(paused));
    await shot(page, 'desktop-workers-paused');
    await page.click(toggle);
    await page.waitForSelector('#pauses button.pause-toggle[aria-pressed="false"]:has-text("flaky")');
    out.cancelled = cid;

    check(errors.length === 0, 'page errors: ' + errors.join(' | '));
    out.ok = true;
  } catch (e) {
    if (page) await page.screenshot({ path: path.join(shotdir, 'dashboard-failure.png') }).catch(() => {});
    throw new Error(String(e && e.stack || e) + (errors.length ? '\npage errors: ' + errors.join(' | ') : ''));
  } finally {
    await browser.close();
    if (out.ok) console.log(JSON.stringify(out));
  }
})().catch((e) => {
  console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e) }));
  process.exit(1);
});
