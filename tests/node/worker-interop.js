// worker-interop.js PORT TYPE DATA_JSON
// Node Kue 0.11 creates a job and waits for its "complete" event (a kue-worker
// on the same Redis processes it), then reads the job back with Kue's
// Job.get.  Prints one JSON line {id, result, state, progress, attempts};
// exits 1 after 15 s without completion.
var kue = require('kue');
var port = parseInt(process.argv[2], 10);
var type = process.argv[3] || 'echo';
var data = JSON.parse(process.argv[4] || '{}');
var queue = kue.createQueue({ prefix: 'q', redis: { port: port, host: '127.0.0.1' } });

var timer = setTimeout(function () {
  console.log(JSON.stringify({ error: 'timeout waiting for complete' }));
  process.exit(1);
}, 15000);

var job = queue.create(type, data).attempts(2).save(function (err) {
  if (err) { console.log(JSON.stringify({ error: String(err) })); process.exit(1); }
});
job.on('complete', function (result) {
  kue.Job.get(job.id, function (err, j) {
    clearTimeout(timer);
    if (err) { console.log(JSON.stringify({ error: String(err) })); process.exit(1); }
    console.log(JSON.stringify({
      id: job.id, result: result, state: j._state, progress: j._progress,
      attempts: j.toJSON().attempts, jobResult: j.result
    }));
    queue.shutdown(500, function () { process.exit(0); });
  });
});
