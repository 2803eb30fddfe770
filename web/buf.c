/*
 * buf.c -- growable byte buffer, JSON string escaping, response helpers.
 */
#include "web.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void web_buf_init(web_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void web_buf_free(web_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void web_buf_reset(web_buf_t *b)
{
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

static int grow(web_buf_t *b, size_t need)
{
    if (b->oom) return -1;
    if (b->len + need + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + need + 1) {
        if (cap > ((size_t)-1) / 2) { b->oom = 1; return -1; }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

void web_buf_put(web_buf_t *b, const char *s, size_t n)
{
    if (grow(b, n) < 0) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void web_buf_puts(web_buf_t *b, const char *s)
{
    web_buf_put(b, s, strlen(s));
}

void web_buf_printf(web_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[256];
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { web_buf_put(b, tmp, (size_t)n); return; }
    if (grow(b, (size_t)n) < 0) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void web_buf_json_strn(web_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    web_buf_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
                esc = u;
            } else if (c >= 0x80) {
                /* JSON is UTF-8: an invalid sequence becomes U+FFFD */
                int ok;
                size_t l = kue_utf8_seq((const unsigned char *)s + i, n - i, &ok);
                if (ok) {
                    run += l;
                    i += l - 1;
                    continue;
                }
                web_buf_put(b, s + i - run, run);
                run = 0;
                web_buf_puts(b, "\\ufffd");
                i += l - 1;
                continue;
            }
        }
        if (esc) {
            web_buf_put(b, s + i - run, run);
            run = 0;
            web_buf_puts(b, esc);
        } else {
            run++;
        }
    }
    web_buf_put(b, s + n - run, run);
    web_buf_put(b, "\"", 1);
}

void web_buf_json_str(web_buf_t *b, const char *s)
{
    web_buf_json_strn(b, s ? s : "", s ? strlen(s) : 0);
}

char *web_buf_take(web_buf_t *b)
{
    char *p = b->p;
    if (!p) p = strdup("");
    memset(b, 0, sizeof *b);
    return p;
}

void web_resp_init(web_resp_t *r)
{
    memset(r, 0, sizeof *r);
    r->status = 200;
    r->ctype = WEB_CT_JSON;
    web_buf_init(&r->body);
}

void web_resp_free(web_resp_t *r)
{
    web_buf_free(&r->body);
}

void web_resp_json(web_resp_t *r, int status)
{
    r->status = status;
    r->ctype = WEB_CT_JSON;
}

void web_resp_error(web_resp_t *r, int status, const char *msg)
{
    web_buf_reset(&r->body);
    web_resp_json(r, status);
    web_buf_puts(&r->body, "{\"error\":");
    web_buf_json_str(&r->body, msg);
    web_buf_puts(&r->body, "}");
}
