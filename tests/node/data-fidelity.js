// data-fidelity.js PORT create|read IDS...
// Job data a Node producer can store that jansson cannot read, for
// tests/integration/data_fidelity.c:
//   create  Node Kue 0.11 creates one "echo" job per data value below and
//           prints, one line each: id TAB stored data TAB
//           JSON.stringify(Job.get(id).toJSON())
//   read    prints, for each id: id TAB state TAB JSON.stringify(result)
//           as Node Kue reads the jobs back (after our workers ran them)
// Every line is ASCII: JSON.stringify escapes lone surrogates.
var kue = require('kue');
var port = parseInt(process.argv[2], 10);
var phase = process.argv[3];
var queue = kue.createQueue({ prefix: 'q', redis: { port: port, host: '127.0.0.1' } });

function fatal(e) { console.log('ERROR\t' + String(e && e.stack || e)); process.exit(1); }
setTimeout(function () { fatal('timeout'); }, 15000);

var values = [
  { n: 1.5e20 },                       // stored as 150000000000000000000
  { n: Math.pow(2, 63) },              // stored as 9223372036854776000
  { s: '\ud800' },                     // half an emoji
  { x: 0.1, y: [1e21, 5e-324, -0.5], z: 'caf\u00e9 \u2713' }
];

function done(lines) {
  process.stdout.write(lines.join('\n') + '\n');
  queue.shutdown(1000, function () { process.exit(0); });
}

function each(ids, fn) {
  var lines = new Array(ids.length), left = ids.length;
  ids.forEach(function (id, i) {
    kue.Job.get(id, function (err, job) {
      if (err) return fatal(err);
      queue.client.hget('q:job:' + id, 'data', function (err2, data) {
        if (err2) return fatal(err2);
        lines[i] = fn(id, job, data);
        if (--left === 0) done(lines);
      });
    });
  });
}

if (phase === 'create') {
  var ids = [];
  (function next(i) {
    if (i === values.length) {
      return each(ids, function (id, job, data) {
        return id + '\t' + data + '\t' + JSON.stringify(job.toJSON());
      });
    }
    var job = queue.create('echo', values[i]);
    job.save(function (err) {
      if (err) return fatal(err);
      ids.push(job.id);
      next(i + 1);
    });
  })(0);
} else {
  each(process.argv.slice(4).map(Number), function (id, job) {
    return id + '\t' + job.state() + '\t' + JSON.stringify(job.result);
  });
}
