/*
 * search.h -- the tokeniser of Kue's full-text search index (reds 0.2.5 on
 * natural 0.2.1), byte-for-byte: no Redis, no I/O.  See docs/wire.md section 8.
 *
 * Indexing one text (reds Search#index):
 *   words    = matches of /\w+/ (ASCII [A-Za-z0-9_]; every other byte,
 *              including all of UTF-8 above 0x7f, separates words);
 *   drop     natural's English stop words (exact, case-sensitive match);
 *   stem     natural's PorterStemmer (lowercases words of 3+ characters,
 *            leaves shorter ones untouched);
 *   count    occurrences per *stem*;
 *   code     natural's Metaphone of each distinct stem.
 * reds then sends, for each distinct stem in JavaScript Object.keys order
 * (canonical array-index stems such as "42" first in numeric order, the
 * others in first-seen order), ZADD word:<code> <count of that stem> <id>
 * and ZADD object:<id> <count> <code>.  Several stems can share one code;
 * the later ZADD wins.  kue_search_terms() returns that final state: one
 * entry per code, first-seen order (in the ZADD order above), count = the
 * last written score.  Empty codes are kept (reds writes `word:` keys).
 * The stems "constructor" and "__proto__" are absent, as in Redis after
 * reds (its count object makes their ZADD fail or vanish).
 *
 * Query (reds Query#end): same words, stop words and stems; the codes are
 * deduplicated in first-seen order; count = number of query words that
 * gave that code (reds does not use it).
 *
 * Limit: a code of KUE_SEARCH_CODE_MAX bytes or more (words of roughly 60+
 * letters) does not fit kue_search_term_t and is left out (reds would
 * index it).  Texts longer than KUE_SEARCH_TEXT_MAX are refused.
 */
#ifndef KUE_SEARCH_H
#define KUE_SEARCH_H

#include <stddef.h>

#define KUE_SEARCH_CODE_MAX 64
#define KUE_SEARCH_TEXT_MAX (64u * 1024 * 1024)

typedef struct {
    char code[KUE_SEARCH_CODE_MAX];  /* metaphone constant, NUL-terminated */
    long count;                      /* ZADD score reds leaves */
} kue_search_term_t;

/* Tokenise one indexed text.  *terms is malloc'd (caller frees; NULL when
 * *n == 0).  0 ok, -1 on ENOMEM or a text over KUE_SEARCH_TEXT_MAX. */
int kue_search_terms(const char *text, size_t len, kue_search_term_t **terms, size_t *n);

/* Tokenise a query (GET /job/search?q=).  q == NULL is JavaScript
 * String(undefined), i.e. the word "undefined".  An empty result means
 * reds answers [] without touching Redis.  Same return convention. */
int kue_search_query(const char *q, size_t len, kue_search_term_t **terms, size_t *n);

/* The texts Kue 0.11.6 Job#update hands to reds for a job, in order; each
 * is a separate index() call (they are not joined).  JSON is read and
 * written by the common reader and writer (common/json.h).
 *   data_json    the job's data as JSON text.  It is parsed (JSON.parse
 *                semantics, numbers as doubles); a falsy value (null,
 *                false, 0, "") becomes {} (Job: `data || {}`).
 *   search_keys_json  the searchKeys value as JSON text (-1 with EINVAL
 *                when it is not JSON).
 *                NULL: no searchKeys -> one text, JSON.stringify(data),
 *                re-serialised exactly as V8 does (key order, number and
 *                string formatting).  Otherwise the value given to
 *                job.searchKeys(): falsy -> [] (nothing indexed), a
 *                non-array -> [value], and for each key the lodash 4
 *                _.get(data, key) value: a string as is, undefined (or a
 *                function) as "undefined", anything else JSON.stringify'd.
 *                (POST /job calls searchKeys only when options.searchKeys
 *                is truthy: pass NULL otherwise.)
 * Unparsable data_json: whole-data text is data_json verbatim; keys read {}.
 * *texts and each element are malloc'd; free with kue_search_texts_free.
 * 0 ok, -1 ENOMEM / too large. */
int kue_search_job_texts(const char *data_json, size_t len, const char *search_keys_json,
                         char ***texts, size_t **lens, size_t *ntexts);
void kue_search_texts_free(char **texts, size_t *lens, size_t ntexts);

/* What the index holds for a job after Kue saves it: the terms of every
 * text of kue_search_job_texts merged in order, a later ZADD of the same
 * code replacing the count (first-seen order kept).  Same conventions as
 * kue_search_terms. */
int kue_search_job_terms(const char *data_json, size_t len, const char *search_keys_json,
                         kue_search_term_t **terms, size_t *n);

/* Building blocks, exposed for tests.  Each writes a NUL-terminated
 * result into out (outlen bytes) and returns its length, or -1 if it does
 * not fit.  stem needs len+2 bytes at most, metaphone 2*len+1. */
int kue_search_is_stopword(const char *w, size_t len);
long kue_search_stem(const char *w, size_t len, char *out, size_t outlen);
long kue_search_metaphone(const char *w, size_t len, char *out, size_t outlen);

#endif
