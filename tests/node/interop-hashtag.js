// interop-hashtag.js PORT NCREATE NPROCESS
// interop-hashtag.js cluster:PORT,PORT,... NCREATE NPROCESS
// Node Kue 0.11 on an ioredis client, so its keys are {q}:... (Kue's getKey
// for ioredis), next to a kue supervisor run with [redis] key_style =
// hashtag (tests/integration/interop_hashtag.c).  With cluster:PORTS the
// client is an ioredis Cluster seeded with those nodes (the supervisor then
// runs on a redis-cluster:// URL).  It creates NCREATE jobs of
// type "echo" (the supervisor's echo workers process them) and processes
// NPROCESS jobs of type "node" that libkue created, completing each with
// {"by":"node","n":data.n}.  When both are done -- every job it created
// reported complete through Kue's events, NPROCESS jobs processed -- it
// prints one JSON line
//   {pid, created: [ids], processed: [ids], jobs: {ID: Job.get(ID).toJSON()}}
// for the jobs it created, and exits 0; after 25 s it prints what it has and
// exits 1.
var kue = require('kue');
var Redis = require('ioredis');
var where = process.argv[2];
var ncreate = parseInt(process.argv[3], 10);
var nprocess = parseInt(process.argv[4], 10);
var queue = kue.createQueue({
  prefix: 'q',
  redis: { createClientFactory: function () {
    if (where.indexOf('cluster:') !== 0) return new Redis({ port: parseInt(where, 10), host: '127.0.0.1' });
    var seeds = where.slice(8).split(',').map(function (p) { return { host: '127.0.0.1', port: parseInt(p, 10) }; });
    return new Redis.Cluster(seeds);
  } },
  promotion: { interval: 100 }
});
var created = [], processed = [], completed = {}, errors = [];
queue.on('error', function (e) { errors.push(String(e)); });
var finishing = false;

queue.process('node', 2, function (job, done) {
  processed.push(Number(job.id));
  setTimeout(function () { done(null, { by: 'node', n: job.data.n }); check(); }, 5);
});

// A completion may arrive before the save's callback has the id.
function check() {
  if (created.length < ncreate || processed.length < nprocess) return;
  for (var i = 0; i < created.length; i++) if (!completed[created[i]]) return;
  setTimeout(function () { finish(0); }, 200);
}

queue.on('job complete', function (id) {
  completed[Number(id)] = true;
  check();
});

function finish(code) {
  if (finishing) return;
  finishing = true;
  var jobs = {}, left = created.length;
  function out() {
    console.log(JSON.stringify({ pid: process.pid, created: created, processed: processed, jobs: jobs,
                                  errors: errors }));
    queue.shutdown(1000, function () { process.exit(code); });
  }
  if (!left) return out();
  created.forEach(function (id) {
    kue.Job.get(id, function (err, j) {
      jobs[id] = err ? { error: err.message } : j.toJSON();
      if (--left === 0) out();
    });
  });
}

for (var i = 0; i < ncreate; i++) {
  (function (n) {
    var job = queue.create('echo', { n: n, from: 'node' }).save(function (err) {
      if (err) { console.log(JSON.stringify({ error: String(err) })); process.exit(1); }
      created.push(Number(job.id));
      check();
    });
  })(i);
}
setTimeout(function () { finish(1); }, 25000);
