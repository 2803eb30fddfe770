/*
 * buf.c -- growable buffers and small JSON helpers (see buf.h).
 */
#include "buf.h"
#include "util.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(kue_buf_t *b, size_t more)
{
    if (b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) { fputs("kue: out of memory\n", stderr); abort(); }
    b->data = d;
    b->cap = cap;
}

void kue_buf_append(kue_buf_t *b, const void *p, size_t n)
{
    reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void kue_buf_puts(kue_buf_t *b, const char *s) { kue_buf_append(b, s, strlen(s)); }

void kue_buf_printf(kue_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { kue_buf_append(b, tmp, (size_t)n); return; }
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void kue_buf_json_str(kue_buf_t *b, const char *s, size_t n)
{
    reserve(b, n + 2);
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': kue_buf_append(b, "\\\"", 2); break;
        case '\\': kue_buf_append(b, "\\\\", 2); break;
        case '\n': kue_buf_append(b, "\\n", 2); break;
        case '\r': kue_buf_append(b, "\\r", 2); break;
        case '\t': kue_buf_append(b, "\\t", 2); break;
        case '\b': kue_buf_append(b, "\\b", 2); break;
        case '\f': kue_buf_append(b, "\\f", 2); break;
        default:
            if (c < 0x20) kue_buf_printf(b, "\\u%04x", c);
            else if (c < 0x80) kue_buf_append(b, &s[i], 1);
            else {
                /* JSON is UTF-8: an invalid sequence becomes U+FFFD */
                int ok;
                size_t l = kue_utf8_seq((const unsigned char *)s + i, n - i, &ok);
                if (ok) kue_buf_append(b, &s[i], l);
                else kue_buf_append(b, "\\ufffd", 6);
                i += l - 1;
            }
        }
    }
    kue_buf_append(b, "\"", 1);
}

char *kue_buf_take(kue_buf_t *b)
{
    char *d = b->data;
    if (!d) { d = malloc(1); if (!d) abort(); d[0] = '\0'; }
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void kue_buf_free(kue_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int kue_json_valid(const char *s, size_t n)
{
    json_error_t e;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!v) return 0;
    json_decref(v);
    return 1;
}

char *kue_json_compact(const char *s, size_t n)
{
    if (!kue_json_valid(s, n)) return NULL;
    char *out = malloc(n + 1);
    if (!out) abort();
    size_t o = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            out[o++] = c;
            if (c == '\\' && i + 1 < n) out[o++] = s[++i];
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
            out[o++] = c;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;
}
