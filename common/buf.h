/*
 * buf.h -- the one growable byte buffer of libkue and its programs, for
 * building replies and JSON text (common/json.h writes into it).
 *
 * An allocation failure (or going past `max`, when set) does not abort: it
 * sets `oom`, and every later append is dropped, so a builder checks once
 * at the end.  A zeroed kue_buf_t is an empty buffer.
 */
#ifndef KUE_BUF_H
#define KUE_BUF_H

#include <stddef.h>

typedef struct kue_buf {
    char *p;        /* NUL-terminated once anything was appended */
    size_t len, cap;
    size_t max;     /* 0: no limit; else longest content accepted */
    int oom;        /* an allocation failed or max was reached: truncated */
    int fixed;      /* p is the caller's memory (kue_buf_fixed): never grown */
} kue_buf_t;

void kue_buf_init(kue_buf_t *b);
/* Write into the caller's cap bytes (cap > 0), allocating nothing (for
 * the logger); content beyond cap - 1 bytes sets oom.  Not for take/free. */
void kue_buf_fixed(kue_buf_t *b, char *mem, size_t cap);
void kue_buf_free(kue_buf_t *b);
/* Empty the buffer, keeping its memory (oom is cleared). */
void kue_buf_reset(kue_buf_t *b);
void kue_buf_append(kue_buf_t *b, const void *p, size_t n);
void kue_buf_puts(kue_buf_t *b, const char *s);
void kue_buf_putc(kue_buf_t *b, char c);
void kue_buf_printf(kue_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the text to the caller (who frees it); the buffer is reset.  An
 * empty buffer gives "", a truncated one (oom) NULL. */
char *kue_buf_take(kue_buf_t *b);

#endif
