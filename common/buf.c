/*
 * buf.c -- the growable byte buffer (see buf.h).
 */
#include "buf.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kue_buf_init(kue_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void kue_buf_fixed(kue_buf_t *b, char *mem, size_t cap)
{
    memset(b, 0, sizeof *b);
    b->p = mem;
    b->cap = cap;
    b->fixed = 1;
    mem[0] = '\0';
}

void kue_buf_free(kue_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void kue_buf_reset(kue_buf_t *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->p) b->p[0] = '\0';
}

static int reserve(kue_buf_t *b, size_t more)
{
    if (b->oom) return -1;
    if (more > ((size_t)-1) / 4 - b->len || (b->max && b->len + more > b->max)) {
        b->oom = 1;
        return -1;
    }
    if (b->len + more + 1 <= b->cap) return 0;
    if (b->fixed) { b->oom = 1; return -1; }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) cap *= 2;
    char *d = realloc(b->p, cap);
    if (!d) { b->oom = 1; return -1; }
    b->p = d;
    b->cap = cap;
    return 0;
}

void kue_buf_append(kue_buf_t *b, const void *p, size_t n)
{
    if (reserve(b, n) < 0) return;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void kue_buf_puts(kue_buf_t *b, const char *s) { kue_buf_append(b, s, strlen(s)); }

void kue_buf_putc(kue_buf_t *b, char c)
{
    if (b->len + 2 <= b->cap && !b->oom && (!b->max || b->len < b->max)) {
        b->p[b->len++] = c;
        b->p[b->len] = '\0';
        return;
    }
    kue_buf_append(b, &c, 1);
}

void kue_buf_printf(kue_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { kue_buf_append(b, tmp, (size_t)n); return; }
    if (reserve(b, (size_t)n) < 0) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *kue_buf_take(kue_buf_t *b)
{
    char *d = b->p;
    if (b->oom) {
        free(d);
        d = NULL;
    } else if (!d) {
        d = malloc(1);
        if (d) d[0] = '\0';
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    return d;
}
