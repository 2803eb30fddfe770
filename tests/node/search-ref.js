#!/usr/bin/env node
// search-ref.js MODE FILE -- reference answers for kue's search tokeniser,
// computed with the real reds 0.2.5 / natural 0.2.1 (and Kue's lodash).
// FILE holds one JSON value per line; one JSON line is printed per input.
//   words  "w"                 -> [isStopWord, stem, metaphone(stem)]
//   terms  "text"              -> [[code, count], ...]  what reds' index()
//                                 leaves in Redis (later ZADD wins, ZADDs
//                                 with a non-numeric score fail)
//   query  "q" | null          -> [code, ...]  reds Query#end keys (null = undefined)
//   job    {"data": "<json>", "keys": <searchKeys>}  -> {"texts": [...], "terms": [...]}
//                                 as Kue 0.11.6 Job#update indexes it
// SEARCH_REF_MODULES may name another node_modules directory.
'use strict';
var path = require('path');
var fs = require('fs');
var mods = process.env.SEARCH_REF_MODULES || path.join(__dirname, 'node_modules');
function req(name) { return require(path.join(mods, name)); }
var natural = req('natural');
var reds = req('reds');
var _ = req('lodash');

function indexState(str) {
  // the commands of reds Search#index, replayed as Redis would apply them
  var words = reds.stem(reds.stripStopWords(reds.words(str)));
  var counts = reds.countWords(words);
  var map = reds.metaphoneMap(words);
  var out = new Map();
  Object.keys(map).forEach(function (w) {
    var score = counts[w];
    if (typeof score !== 'number') return;   // ZADD: not a valid float
    out.set(map[w], score);
  });
  return out;
}

function dump(m) { var a = []; m.forEach(function (v, k) { a.push([k, v]); }); return a; }

var mode = process.argv[2], file = process.argv[3];
var lines = fs.readFileSync(file, 'utf8').split('\n').filter(function (l) { return l.length; });
var out = [];
lines.forEach(function (l) {
  var v = JSON.parse(l);
  if (mode === 'words') {
    var st = natural.PorterStemmer.stem(v);
    out.push(JSON.stringify([natural.stopwords.indexOf(v) >= 0, st, natural.Metaphone.process(st)]));
  } else if (mode === 'terms') {
    out.push(JSON.stringify(dump(indexState(v))));
  } else if (mode === 'query') {
    var q = v === null ? undefined : v;
    var words = reds.stem(reds.stripStopWords(reds.words(q)));
    out.push(JSON.stringify(reds.metaphoneArray(words)));
  } else if (mode === 'job') {
    var data = JSON.parse(v.data) || {};
    var texts;
    if (!('keys' in v)) texts = [JSON.stringify(data)];
    else {
      var keys = v.keys || [];
      if (!Array.isArray(keys)) keys = [keys];
      texts = keys.map(function (k) {
        var val = _.get(data, k);
        if (!_.isString(val)) val = JSON.stringify(val);
        return val;
      });
    }
    var merged = new Map();
    texts.forEach(function (t) { indexState(t).forEach(function (c, k) { merged.set(k, c); }); });
    // lone surrogates (from indexing into a string) are shown as U+FFFD
    var shown = texts.map(function (t) {
      return String(t).replace(/[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/g,
                               function (m, pre) { return (pre || '') + '\ufffd'; });
    });
    out.push(JSON.stringify({ texts: shown, terms: dump(merged) }));
  } else {
    console.error('usage: search-ref.js words|terms|query|job FILE');
    process.exit(2);
  }
});
process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
