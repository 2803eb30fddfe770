/*
 * buf.h -- a growable byte buffer for building replies and JSON text.
 * Allocation failure aborts (there is no sensible recovery mid-reply).
 */
#ifndef KUE_BUF_H
#define KUE_BUF_H

#include <stddef.h>

typedef struct kue_buf {
    char *data;     /* NUL-terminated once anything was appended */
    size_t len, cap;
} kue_buf_t;

void kue_buf_append(kue_buf_t *b, const void *p, size_t n);
void kue_buf_puts(kue_buf_t *b, const char *s);
void kue_buf_printf(kue_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (quotes included). */
void kue_buf_json_str(kue_buf_t *b, const char *s, size_t n);
/* Hand the text to the caller (who frees it); the buffer is reset. */
char *kue_buf_take(kue_buf_t *b);
void kue_buf_free(kue_buf_t *b);

/* JSON helpers shared by libkue and its programs. */
/* Non-zero if s[0..n) is one valid JSON value (any type). */
int kue_json_valid(const char *s, size_t n);
/* s without insignificant whitespace (the text Kue's JSON.stringify would
 * store), or NULL if s is not valid JSON.  Caller frees. */
char *kue_json_compact(const char *s, size_t n);

#endif
