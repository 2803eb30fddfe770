'use strict';
// peers.js -- the peer job queues driven by bench/bench.js, one mode per
// child process (Kue's createQueue is a process-wide singleton).  Each
// library is used with its defaults and its fastest honest API:
//   kue 0.11.6 (no bulk add), bull (addBulk), bullmq (addBulk), bee-queue
//   (saveAll; activateDelayedJobs turned on for the delayed phase only,
//   since delayed jobs never run without it).
//
//   node peers.js SYSTEM enqueue single|concurrent|bulk N   -> {"secs":S}
//   node peers.js SYSTEM fill N                             (untimed prefill)
//   node peers.js SYSTEM work CONC                          prints "ready", runs until killed
//   node peers.js SYSTEM latency M                          -> start/complete samples (ms)
//   node peers.js SYSTEM delayed K MIN_MS MAX_MS            -> lag samples (ms)
//   node peers.js SYSTEM drain N CONC                       -> close time under load
//   node peers.js SYSTEM bench CONC WARM                    processing at its best: first a
//       discarded warm-up (WARM jobs on a private queue, processed by this process at CONC),
//       prints "warm"; on "go" (stdin) processes the bench queue, counting the library's own
//       in-process completion event (Kue: the worker's 'job complete'; Bull: 'completed';
//       BullMQ: Worker 'completed'; bee-queue: 'succeeded'); on "report" (stdin) prints
//       {"count":C,"first_ms":F,"last_ms":L} once no completion came for 50 ms (hrtime ms).
// Redis: BENCH_REDIS_PORT, BENCH_REDIS_DB (host 127.0.0.1).
const path = require('path');
const nm = (p) => require(path.join(__dirname, 'node_modules', p));

const host = '127.0.0.1';
const port = +process.env.BENCH_REDIS_PORT;
const db = +(process.env.BENCH_REDIS_DB || 0);
const NAME = 'bench';
const hr = () => Number(process.hrtime.bigint()) / 1e6;      // ms, monotonic
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const adapters = {
  kue(opts, NAME) {
    const kue = nm('kue');
    const q = kue.createQueue({ prefix: 'q', redis: { host, port, db } });   // one per process
    q.setMaxListeners(0);                    // each process() call adds timer listeners
    const save = (job) => new Promise((res, rej) => job.save((e) => (e ? rej(e) : res(job))));
    return {
      add: (d) => save(q.create(NAME, d)),
      addBulk: null,
      addDelayed: (d, ms) => save(q.create(NAME, d).delay(ms)),
      work(conc, fn) { q.process(NAME, conc, (job, done) => { fn(String(job.id)); done(); }); },
      onComplete(fn) { q.on('job complete', (id) => fn(String(id))); },
      onLocalComplete(fn) {
        for (const w of q.workers) if (w.type === NAME) w.on('job complete', (job) => fn(String(job.id)));
      },
      idOf: (job) => String(job.id),
      close: () => new Promise((res) => q.shutdown(5000, () => res())),
    };
  },
  bull(opts, NAME) {
    const Queue = nm('bull');
    const q = new Queue(NAME, { redis: { host, port, db } });
    return {
      add: (d) => q.add(d),
      addBulk: (ds) => q.addBulk(ds.map((data) => ({ data }))),
      addDelayed: (d, ms) => q.add(d, { delay: ms }),
      work(conc, fn) { q.process(conc, async (job) => { fn(String(job.id)); }); },
      onComplete(fn) { q.on('global:completed', (id) => fn(String(id))); },
      onLocalComplete(fn) { q.on('completed', (job) => fn(String(job.id))); },
      idOf: (job) => String(job.id),
      ready: () => q.isReady(),
      close: () => q.close(),
    };
  },
  bullmq(opts, NAME) {
    const { Queue, Worker, QueueEvents } = nm('bullmq');
    const connection = { host, port, db };
    const q = new Queue(NAME, { connection });
    let w = null, ev = null;
    return {
      add: (d) => q.add('j', d),
      addBulk: (ds) => q.addBulk(ds.map((data) => ({ name: 'j', data }))),
      addDelayed: (d, ms) => q.add('j', d, { delay: ms }),
      work(conc, fn) {
        w = new Worker(NAME, async (job) => { fn(String(job.id)); }, { connection, concurrency: conc });
        return w.waitUntilReady();
      },
      onComplete(fn) {
        ev = new QueueEvents(NAME, { connection });
        ev.on('completed', ({ jobId }) => fn(String(jobId)));
        return ev.waitUntilReady();
      },
      onLocalComplete(fn) { w.on('completed', (job) => fn(String(job.id))); },
      idOf: (job) => String(job.id),
      close: async () => { if (w) await w.close(); if (ev) await ev.close(); await q.close(); },
    };
  },
  bee(opts, NAME) {
    const Queue = nm('bee-queue');
    const q = new Queue(NAME, { redis: { host, port, db }, ...opts });
    return {
      add: (d) => q.createJob(d).save(),
      addBulk: (ds) => q.saveAll(ds.map((d) => q.createJob(d))),
      addDelayed: (d, ms) => q.createJob(d).delayUntil(Date.now() + ms).save(),
      work(conc, fn) { q.process(conc, async (job) => { fn(String(job.id)); }); },
      onComplete(fn) { q.on('job succeeded', (id) => fn(String(id))); },
      onLocalComplete(fn) { q.on('succeeded', (job) => fn(String(job.id))); },
      idOf: (job) => String(job.id),
      ready: () => q.ready(),
      close: () => q.close(5000),
    };
  },
};

async function enqueue(a, mode, n, conc = 50) {
  if (a.ready) await a.ready();
  const t0 = hr();
  if (mode === 'single') {
    for (let i = 0; i < n; i++) await a.add({ n: i });
  } else if (mode === 'concurrent' || (mode === 'bulk' && !a.addBulk)) {
    if (mode === 'bulk') return null;
    let next = 0;
    const lane = async () => { while (next < n) await a.add({ n: next++ }); };
    await Promise.all(Array.from({ length: conc }, lane));
  } else {
    for (let i = 0; i < n; i += 1000) {
      const ds = [];
      for (let x = i; x < Math.min(n, i + 1000); x++) ds.push({ n: x });
      await a.addBulk(ds);
    }
  }
  return (hr() - t0) / 1000;
}

const pct = (v) => v.sort((x, y) => x - y).map((x) => +x.toFixed(4));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Process `n` jobs (0: until told) of adapter `a` at `conc`, counting its
// in-process completion event; resolves when n have completed.
function countLocal(a, conc, n, st) {
  return new Promise((resolve) => {
    const seen = (id) => {
      const t = hr();
      if (st.count++ === 0) st.first = t;
      st.last = t;
      if (n && st.count === n) resolve();
    };
    a.work(conc, () => {});                  // BullMQ's Worker exists once work() returns
    a.onLocalComplete(seen);
  });
}

async function bench(system, conc, warm) {
  // warm-up, discarded: the same code paths on a private queue
  const w = adapters[system]({}, `warm${process.pid}`);
  if (w.ready) await w.ready();
  await enqueue(w, w.addBulk ? 'bulk' : 'concurrent', warm);
  await countLocal(w, conc, warm, { count: 0 });
  if (system !== 'kue') await w.close();    // Kue's queue is the process's singleton
  process.stdout.write('warm\n');
  const st = { count: 0, first: 0, last: 0 };
  let buf = '';
  process.stdin.on('data', (d) => {
    buf += d;
    if (buf.includes('go\n')) {
      buf = buf.replace('go\n', '');
      const a = adapters[system]({}, NAME);
      Promise.resolve(a.ready && a.ready()).then(() => countLocal(a, conc, 0, st));
    }
    if (buf.includes('report\n')) {
      buf = buf.replace('report\n', '');
      let c = -1;
      const tick = () => {
        if (st.count === c) { out({ count: st.count, first_ms: st.first, last_ms: st.last }); return; }
        c = st.count;
        setTimeout(tick, 50);
      };
      tick();
    }
  });
  process.on('SIGTERM', () => process.exit(0));
}

async function main() {
  const [system, mode, ...args] = process.argv.slice(2);
  if (mode === 'bench') return bench(system, +args[0], +args[1]);
  const a = adapters[system](mode === 'delayed' && system === 'bee' ? { activateDelayedJobs: true } : {}, NAME);
  if (mode === 'enqueue') {
    const secs = await enqueue(a, args[0], +args[1]);
    out({ secs, n: +args[1] });
  } else if (mode === 'fill') {
    await enqueue(a, a.addBulk ? 'bulk' : 'concurrent', +args[0]);
    out({ n: +args[0] });
  } else if (mode === 'work') {
    await a.work(+args[0], () => {});
    if (a.ready) await a.ready();
    process.stdout.write('ready\n');
    process.on('SIGTERM', () => process.exit(0));
    return;                                  // runs until the harness kills it
  } else if (mode === 'latency') {
    const m = +args[0];
    const t0 = new Map(), start = [], done = [];
    let waiting = null;
    await a.work(1, (id) => { if (t0.has(id)) start.push(hr() - t0.get(id)); });
    await a.onComplete(async (id) => { if (t0.has(id)) { done.push(hr() - t0.get(id)); if (waiting) waiting(); } });
    if (a.ready) await a.ready();
    await sleep(300);
    for (let i = 0; i < m; i++) {
      const p = new Promise((r) => { waiting = r; });
      const t = hr();
      const job = await a.add({ n: i });
      t0.set(a.idOf(job), t);
      await Promise.race([p, sleep(5000)]);
      await sleep(3);
    }
    out({ n: m, start_ms: pct(start), complete_ms: pct(done) });
  } else if (mode === 'delayed') {
    const [k, lo, hi] = args.map(Number);
    const due = new Map(), lag = [];
    await a.work(50, (id) => { if (due.has(id)) lag.push(hr() - due.get(id)); });
    if (a.ready) await a.ready();
    await sleep(300);
    const base = hr();
    for (let i = 0; i < k; i++) {
      const ms = lo + (k > 1 ? Math.floor((hi - lo) * i / (k - 1)) : 0) - (hr() - base);
      const t = hr();
      const job = await a.addDelayed({ n: i }, Math.max(1, Math.round(ms)));
      due.set(a.idOf(job), t + Math.max(1, Math.round(ms)));
    }
    const end = hr() + hi + 3000;
    while (lag.length < k && hr() < end) await sleep(20);
    out({ n: k, lag_ms: pct(lag) });
  } else if (mode === 'drain') {
    const [n, conc] = args.map(Number);
    await enqueue(a, a.addBulk ? 'bulk' : 'concurrent', n);
    let seen = 0;
    await a.work(conc, () => { seen++; });
    while (seen < n / 4) await sleep(1);
    const t = hr();
    await a.close();
    out({ secs: (hr() - t) / 1000, processed: seen });
    process.exit(0);
  }
  await a.close();
  process.exit(0);
}

main().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
