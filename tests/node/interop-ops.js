// interop-ops.js PORT DB
// The producer sequence of tests/integration/interop_parity.c done by Node
// Kue 0.11 (search on) in Redis db DB; the C test does the same with libkue
// in another db and compares the two keyspaces.  Keep the two in step.
// Prints {"ok":true} when done.
var kue = require('kue');
var port = parseInt(process.argv[2], 10);
var db = parseInt(process.argv[3], 10);
var queue = kue.createQueue({ prefix: 'q', disableSearch: false,
                              redis: { port: port, host: '127.0.0.1', db: db } });

function fatal(e) { console.log(JSON.stringify({ error: String(e && e.stack || e) })); process.exit(1); }
setTimeout(function () { fatal('timeout'); }, 15000);

var specs = [
  // 1 A
  function () { return queue.create('email', { title: 'hi ✓ there', n: 1 }).priority('high').attempts(3)
    .backoff({ type: 'fixed', delay: 1000 }).ttl(5000); },
  // 2 B
  function () { return queue.create('email', { title: 'later' }).priority('low').delay(60000)
    .removeOnComplete(true); },
  // 3 C
  function () { return queue.create('sms', { to: '+100', body: 'Grüße' }).priority(-7).backoff(true); },
  // 4 D
  function () { return queue.create('sms', {}).attempts(2)
    .backoff({ type: 'exponential', delay: 200, maxDelay: 4000 }); },
  // 5 E
  function () { return queue.create('email', { title: 'x' }); },
  // 6 F
  function () { return queue.create('video', { file: 'a.avi', user: 'tj' }).searchKeys(['file']).ttl(2000); },
  // 7 G
  function () { return queue.create('sms', { n: 7 }); },
  // 8 H
  function () { return queue.create('email', { title: 'remove me' }).delay(30000); },
  // 9 I
  function () { return queue.create('video', { file: 'b.avi' }); }
];
var jobs = [null];

// Run fns one after another; each gets a callback.
function series(fns, done) {
  var i = 0;
  (function next(err) {
    if (err) return fatal(err);
    if (i === fns.length) return done();
    fns[i++](next);
  })();
}

// Kue's PUT /job/:id/priority/:p (the only way Kue changes a stored job's priority).
function setPriority(id, p) {
  return function (cb) {
    kue.Job.get(id, function (err, j) {
      if (err) return cb(err);
      j.priority(p).save(cb);
    });
  };
}
function state(n, s) { return function (cb) { jobs[n].state(s, cb); }; }
function log(n) {
  var args = Array.prototype.slice.call(arguments, 1);
  return function (cb) { jobs[n].log.apply(jobs[n], args); cb(); };
}

series(specs.map(function (mk) {
  return function (cb) { var j = mk(); jobs.push(j); j.save(cb); };
}).concat([
  log(1, 'first line'),
  log(1, 'second %d', 2),
  log(3, 'x'),
  log(4, '%s=%j', 'k', { a: 1 }),
  log(8, 'bye'),
  setPriority(2, 'critical'),
  setPriority(3, 'medium'),
  state(1, 'complete'),
  state(4, 'failed'),
  function (cb) { jobs[4].inactive(cb); },
  state(5, 'active'),
  state(6, 'active'),
  state(7, 'failed'),
  state(9, 'delayed'),
  function (cb) { jobs[8].remove(cb); }
]), function () {
  // search index writes go over their own connection: let them land
  setTimeout(function () {
    console.log(JSON.stringify({ ok: true }));
    process.exit(0);
  }, 300);
});
