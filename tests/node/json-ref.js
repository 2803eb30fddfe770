// json-ref.js FILE
// The reference for tests/unit/json_ref.c: for each line of FILE (a text in
// hex), JSON.stringify(JSON.parse(text)) in hex, or ERR when JSON.parse
// refuses it.  The text is decoded from UTF-8 as Node decodes Redis replies.
var lines = require('fs').readFileSync(process.argv[2], 'utf8').split('\n');
lines.pop();                 // after the last newline
var out = [];
lines.forEach(function (h) {       // an empty line is the empty text
  var s = Buffer.from(h, 'hex').toString('utf8');
  try { out.push(Buffer.from(JSON.stringify(JSON.parse(s)), 'utf8').toString('hex')); }
  catch (e) { out.push('ERR'); }
});
process.stdout.write(out.join('\n') + '\n');
