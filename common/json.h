/*
 * json.h -- JSON exactly as JavaScript sees it: the one reader and the one
 * writer of every JSON text kue stores or emits (docs/data.md).
 *
 * Reader: the grammar of JSON.parse (any value at the top, numbers of any
 * size, lone surrogate escapes such as "\ud800", raw bytes that are not
 * UTF-8 inside strings), nesting bounded by KUE_JSON_MAX_DEPTH.  jansson
 * refuses some of these texts (integers beyond 64 bits, lone surrogates),
 * so it is not used to decide whether a text is JSON.
 *
 * Writer: JSON.stringify's output.  Numbers are printed by Number's
 * toString (shortest round-trip digits: 0.1, 1e+21, 2 not 2.0; NaN and the
 * infinities as null); strings are escaped as JSON.stringify escapes them
 * (lone surrogates as \udXXX), and bytes that are not UTF-8 become U+FFFD
 * as a JavaScript reader decoding them would, so the output is always valid
 * JSON in valid UTF-8.
 */
#ifndef KUE_JSON_H
#define KUE_JSON_H

#include <stddef.h>

#include "buf.h"

/* Deepest nesting of arrays and objects accepted. */
#define KUE_JSON_MAX_DEPTH 512

/* 0 if s[0..n) is one JSON.parse-able value, else -1 with a message
 * ("... at offset N") in err (may be NULL). */
int kue_json_check(const char *s, size_t n, char *err, size_t errlen);
/* Non-zero if s[0..n) is one valid JSON value (any type). */
int kue_json_valid(const char *s, size_t n);

/* JSON.stringify(JSON.parse(s)): what a Node process stores for this text
 * (whitespace dropped, numbers and strings in their canonical form, the
 * last of duplicate keys kept at the first one's place, array-index keys
 * first in ascending order).  NULL (err set) if s is not JSON.  Caller
 * frees. */
char *kue_json_normalize(const char *s, size_t n, char *err, size_t errlen);
/* Historical name: the same as kue_json_normalize() without a message. */
char *kue_json_compact(const char *s, size_t n);

/* ---- writing ---------------------------------------------------------------- */

/* A number as JSON.stringify prints it. */
void kue_json_num(kue_buf_t *b, double d);
/* s as a JSON string literal (quotes included), as JSON.stringify writes
 * the string a JavaScript reader decodes from these bytes. */
void kue_json_str(kue_buf_t *b, const char *s, size_t n);
/* Embed JSON text s (kue_json_check() passed) verbatim; only bytes that
 * are not UTF-8 are replaced by U+FFFD, so the result is valid UTF-8. */
void kue_json_raw(kue_buf_t *b, const char *s, size_t n);
/* Append stored JSON text: verbatim when it is JSON, else as a JSON
 * string holding the text (a damaged field stays readable). */
void kue_json_stored(kue_buf_t *b, const char *s, size_t n);

/* JavaScript Number(s) of a string (whitespace trimmed, "" is 0); NaN
 * when it is not a number. */
double kue_js_number(const char *s);
/* String(v) of the JSON value in s, as JavaScript converts a parsed value
 * to a string ("yes" -> yes, 1.50 -> 1.5, {..} -> [object Object]).
 * NULL if s is not JSON.  Caller frees. */
char *kue_json_to_js_string(const char *s, size_t n);

/* ---- a parsed document ------------------------------------------------------ */

typedef enum {
    KUE_JNULL, KUE_JFALSE, KUE_JTRUE, KUE_JNUM, KUE_JSTR, KUE_JARR, KUE_JOBJ
} kue_jtype_t;

typedef struct kue_jv kue_jv_t;
struct kue_jv {
    kue_jtype_t type;
    double num;              /* KUE_JNUM */
    const char *src;         /* the value's text in the parsed input */
    size_t srclen;
    char *str;               /* KUE_JSTR: decoded (UTF-8; lone surrogates as
                              * their 3-byte generalised form), NUL-ended */
    size_t len;              /* KUE_JSTR: bytes; arrays, objects: members */
    kue_jv_t **items;        /* KUE_JARR: values; KUE_JOBJ: values, JS order */
    kue_jv_t **keys;         /* KUE_JOBJ: the keys (KUE_JSTR), same order */
};

typedef struct kue_jdoc kue_jdoc_t;

/* Parse s as JSON.parse does (objects as JavaScript orders them).  NULL
 * with a message in err if it is not JSON.  Free with kue_jdoc_free(). */
kue_jdoc_t *kue_jdoc_parse(const char *s, size_t n, char *err, size_t errlen);
void kue_jdoc_free(kue_jdoc_t *d);
const kue_jv_t *kue_jdoc_root(const kue_jdoc_t *d);
/* obj[key] (NULL if obj is not an object or has no such key). */
const kue_jv_t *kue_jv_get(const kue_jv_t *obj, const char *key);
/* The same for a key of klen bytes (it may hold NUL). */
const kue_jv_t *kue_jv_getn(const kue_jv_t *obj, const char *key, size_t klen);
/* JavaScript truthiness. */
int kue_jv_truthy(const kue_jv_t *v);
/* JSON.stringify(v). */
void kue_jv_write(kue_buf_t *b, const kue_jv_t *v);
/* JSON.stringify(v, null, indent): the same, laid out over lines. */
void kue_jv_write_pretty(kue_buf_t *b, const kue_jv_t *v, int indent);
/* String(v): strings as they are, numbers by Number#toString, arrays
 * joined by ",", objects "[object Object]". */
void kue_jv_to_string(kue_buf_t *b, const kue_jv_t *v);

#endif
