/*
 * json_valid.h -- a strict RFC 8259 checker for the harnesses: the whole
 * text is one JSON value, UTF-8 well-formed, no control characters in
 * strings.  (jansson's parser refuses valid integers beyond 64 bits, which
 * JSON.stringify writes, e.g. 2e20 -> 200000000000000000000.)
 */
#ifndef KUE_FUZZ_JSON_VALID_H
#define KUE_FUZZ_JSON_VALID_H

#include <stddef.h>
#include <string.h>

#include "util.h"

struct jv { const unsigned char *p, *end; int depth; };

static int jv_value(struct jv *v);

static void jv_ws(struct jv *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static int jv_lit(struct jv *v, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, w, n) != 0) return 0;
    v->p += n;
    return 1;
}

static int jv_digits(struct jv *v)
{
    const unsigned char *s = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9') v->p++;
    return v->p > s;
}

static int jv_number(struct jv *v)
{
    if (v->p < v->end && *v->p == '-') v->p++;
    if (v->p < v->end && *v->p == '0') v->p++;
    else if (!jv_digits(v)) return 0;
    if (v->p < v->end && *v->p == '.') { v->p++; if (!jv_digits(v)) return 0; }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-')) v->p++;
        if (!jv_digits(v)) return 0;
    }
    return 1;
}

static int jv_string(struct jv *v)
{
    if (v->p >= v->end || *v->p != '"') return 0;
    v->p++;
    while (v->p < v->end) {
        unsigned char c = *v->p;
        if (c == '"') { v->p++; return 1; }
        if (c < 0x20) return 0;
        if (c == '\\') {
            v->p++;
            if (v->p >= v->end) return 0;
            c = *v->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, v->p++)
                    if (v->p >= v->end || !strchr("0123456789abcdefABCDEF", *v->p) || !*v->p) return 0;
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                return 0;
            }
            continue;
        }
        int ok;
        size_t l = kue_utf8_seq(v->p, (size_t)(v->end - v->p), &ok);
        if (!ok) return 0;
        v->p += l;
    }
    return 0;
}

static int jv_value(struct jv *v)
{
    if (++v->depth > 10000) return 0;
    jv_ws(v);
    if (v->p >= v->end) return 0;
    int ok = 0;
    switch (*v->p) {
    case '{':
        v->p++;
        jv_ws(v);
        if (v->p < v->end && *v->p == '}') { v->p++; ok = 1; break; }
        for (;;) {
            jv_ws(v);
            if (!jv_string(v)) break;
            jv_ws(v);
            if (v->p >= v->end || *v->p++ != ':') break;
            if (!jv_value(v)) break;
            jv_ws(v);
            if (v->p < v->end && *v->p == ',') { v->p++; continue; }
            if (v->p < v->end && *v->p == '}') { v->p++; ok = 1; }
            break;
        }
        break;
    case '[':
        v->p++;
        jv_ws(v);
        if (v->p < v->end && *v->p == ']') { v->p++; ok = 1; break; }
        for (;;) {
            if (!jv_value(v)) break;
            jv_ws(v);
            if (v->p < v->end && *v->p == ',') { v->p++; continue; }
            if (v->p < v->end && *v->p == ']') { v->p++; ok = 1; }
            break;
        }
        break;
    case '"': ok = jv_string(v); break;
    case 't': ok = jv_lit(v, "true"); break;
    case 'f': ok = jv_lit(v, "false"); break;
    case 'n': ok = jv_lit(v, "null"); break;
    default: ok = jv_number(v); break;
    }
    v->depth--;
    return ok;
}

/* 1 when s[0..n) is exactly one JSON value (surrounding whitespace ok). */
static inline int json_valid(const char *s, size_t n)
{
    struct jv v = { (const unsigned char *)s, (const unsigned char *)s + n, 0 };
    if (!jv_value(&v)) return 0;
    jv_ws(&v);
    return v.p == v.end;
}

#endif
