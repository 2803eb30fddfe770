// interop-worker.js PORT NTERMINAL ID...
// A Node Kue 0.11 worker for jobs created by libkue (tests/integration/
// interop_producer.c).  It processes the types prio, misc, retry and backoff
// with concurrency 1 each.  A job fails while its attempts made are fewer
// than data.fail ("boom <made>"), else completes with data.result, or with
// its whole data when there is none.  After NTERMINAL "job complete" /
// "job failed" events it prints one JSON line
//   {runs: [{id, type, made, start}], jobs: {ID: Job.get(ID).toJSON() or {error}}}
// and exits 0; after 15 s it prints what it has and exits 1.
var kue = require('kue');
var port = parseInt(process.argv[2], 10);
var want = parseInt(process.argv[3], 10);
var ids = process.argv.slice(4);
var queue = kue.createQueue({
  prefix: 'q',
  redis: { port: port, host: '127.0.0.1' },
  promotion: { interval: 100 }
});
var runs = [];
var terminal = 0;
var finishing = false;

function handler(job, done) {
  var made = job.toJSON().attempts.made;
  runs.push({ id: Number(job.id), type: job.type, made: made, start: Date.now() });
  var d = job.data || {};
  setTimeout(function () {
    if (d.fail && made < d.fail) return done(new Error('boom ' + made));
    done(null, d.result !== undefined ? d.result : job.data);
  }, 10);
}
['prio', 'misc', 'retry', 'backoff'].forEach(function (t) { queue.process(t, 1, handler); });

function finish(code) {
  if (finishing) return;
  finishing = true;
  var jobs = {};
  var left = ids.length;
  function out() {
    console.log(JSON.stringify({ runs: runs, jobs: jobs }));
    queue.shutdown(1000, function () { process.exit(code); });
  }
  if (!left) return out();
  ids.forEach(function (id) {
    kue.Job.get(Number(id), function (err, j) {
      jobs[id] = err ? { error: err.message } : j.toJSON();
      if (--left === 0) out();
    });
  });
}

function count() {
  if (++terminal >= want) setTimeout(function () { finish(0); }, 200);
}
queue.on('job complete', count);
queue.on('job failed', count);
setTimeout(function () { finish(1); }, 15000);
