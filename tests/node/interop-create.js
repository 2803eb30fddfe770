// interop-create.js PORT
// Node Kue 0.11 (search on) creates jobs with every option for
// tests/integration/interop_consumer.c to read with libkue and the CLI:
//   full    email, high, attempts 4, delay 60 s, exponential backoff, ttl,
//           removeOnComplete, searchKeys, two log lines, progress with data
//   done    work, low, processed here: log, progress, result -> complete
//   bad     work, processed here: fails -> failed
//   plain   plain, no data, numeric priority 3, attempts 2, backoff true
//   fn      plain, function backoff, ttl, delay given as a Date
// Prints one JSON line {ids, json: {ID: Job.get(ID).toJSON()}, logs: {ID: [...]}}.
var kue = require('kue');
var port = parseInt(process.argv[2], 10);
var queue = kue.createQueue({ prefix: 'q', disableSearch: false,
                              redis: { port: port, host: '127.0.0.1' } });
var ids = {};
var finished = 0;

function fatal(e) { console.log(JSON.stringify({ error: String(e && e.stack || e) })); process.exit(1); }
setTimeout(function () { fatal('timeout'); }, 15000);

function save(job, name, next) {
  job.save(function (err) { if (err) return fatal(err); ids[name] = job.id; next(job); });
}

queue.process('work', 1, function (job, done) {
  if (job.data.fail) return done(new Error('nope'));
  job.log('working on %d', job.data.x);
  job.progress(1, 2, { half: true });
  setTimeout(function () { done(null, { ok: true, 'ü': '✓' }); }, 20);
});
queue.on('job complete', report);
queue.on('job failed', report);

var full = queue.create('email', { title: 'convert ✓ video', user: 'tj', nested: { k: 'deep words' }, n: 3 })
  .priority('high').attempts(4).delay(60000)
  .backoff({ type: 'exponential', delay: 200, maxDelay: 5000 })
  .ttl(10000).removeOnComplete(true).searchKeys(['title', 'nested.k']);
save(full, 'full', function (j) {
  j.log('hello %s', 'wörld');
  j.log({ a: 1 });
  j.progress(50, 100, { step: 'half' });
  save(queue.create('work', { x: 1 }).priority('low'), 'done', function () {
    save(queue.create('work', { fail: true }), 'bad', function () {
      save(queue.create('plain').priority(3).attempts(2).backoff(true), 'plain', function () {
        var fn = queue.create('plain', { f: 1 }).ttl(5000).delay(new Date(Date.now() + 60000))
          .backoff(function (attempts, delay) { return delay * 2; });
        save(fn, 'fn', report);
      });
    });
  });
});

// Runs after the two processed jobs reached their end and all are saved.
function report() {
  if (++finished < 3) return;
  setTimeout(function () {
    var names = Object.keys(ids);
    var out = { ids: ids, json: {}, logs: {} };
    var left = names.length * 2;
    function one() {
      if (--left) return;
      console.log(JSON.stringify(out));
      queue.shutdown(1000, function () { process.exit(0); });
    }
    names.forEach(function (n) {
      var id = ids[n];
      kue.Job.get(id, function (err, j) {
        if (err) return fatal(err);
        out.json[id] = j.toJSON();
        one();
      });
      kue.Job.log(id, function (err, lines) {
        if (err) return fatal(err);
        out.logs[id] = lines;
        one();
      });
    });
  }, 300);   // let the search index writes (their own connection) land
}
