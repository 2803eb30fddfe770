/*
 * json.c -- the JSON.parse-compatible reader and the JSON.stringify-
 * compatible writer (see json.h and docs/data.md).
 *
 * One recursive-descent parser serves both checking (nothing allocated)
 * and building a document (nodes in an arena freed at once).  Strings are
 * decoded to UTF-8 in which a lone surrogate escape keeps its 3-byte
 * generalised form (ED A0 80 for \ud800), so writing them back can escape
 * it again as JSON.stringify does.
 */
#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ------------------------------------------------------------------ */

/* The length of the well-formed UTF-8 sequence at s[0..n) (1..4), or, when
 * it is not one, minus the length of its maximal ill-formed prefix (the
 * bytes a WHATWG decoder replaces by one U+FFFD).  n > 0. */
static int u8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else return -1;
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n) return -k;
        unsigned x = s[k];
        if (x < lo || x > hi) return -k;
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

static const char hexd[] = "0123456789abcdef";
static const char fffd[] = "\xEF\xBF\xBD";

/* The JSON string literal of s.  wtf8: s may hold lone surrogates in their
 * 3-byte generalised form (from a parsed document); they are written as
 * \udXXX escapes.  Otherwise such bytes are not UTF-8 and become U+FFFD. */
static void put_str(kue_buf_t *b, const char *str, size_t n, int wtf8)
{
    const unsigned char *s = (const unsigned char *)str;
    kue_buf_putc(b, '"');
    size_t run = 0;          /* bytes s[i-run..i) to copy as they are */
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        char esc[8];
        const char *e = NULL;
        size_t el = 0, skip = 1;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) { run++; i++; continue; }
        if (c >= 0x80) {
            int k = u8_seq(s + i, n - i);
            if (k > 0) { run += (size_t)k; i += (size_t)k; continue; }
            if (wtf8 && c == 0xED && n - i >= 3 && s[i + 1] >= 0xA0 && s[i + 1] <= 0xBF &&
                s[i + 2] >= 0x80 && s[i + 2] <= 0xBF) {
                unsigned u = 0xD000 | ((unsigned)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
                esc[0] = '\\'; esc[1] = 'u';
                esc[2] = hexd[u >> 12]; esc[3] = hexd[(u >> 8) & 15];
                esc[4] = hexd[(u >> 4) & 15]; esc[5] = hexd[u & 15];
                e = esc; el = 6; skip = 3;
            } else {
                e = fffd; el = 3; skip = (size_t)-k;
            }
        } else {
            switch (c) {
            case '"': e = "\\\""; break;
            case '\\': e = "\\\\"; break;
            case '\b': e = "\\b"; break;
            case '\f': e = "\\f"; break;
            case '\n': e = "\\n"; break;
            case '\r': e = "\\r"; break;
            case '\t': e = "\\t"; break;
            default:
                esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hexd[c >> 4]; esc[5] = hexd[c & 15];
                e = esc; el = 6;
            }
            if (!el) el = 2;
        }
        kue_buf_append(b, s + i - run, run);
        run = 0;
        kue_buf_append(b, e, el);
        i += skip;
    }
    kue_buf_append(b, s + n - run, run);
    kue_buf_putc(b, '"');
}

void kue_json_str(kue_buf_t *b, const char *s, size_t n) { put_str(b, s, n, 0); }

void kue_json_raw(kue_buf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t start = 0, i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        int k = u8_seq(s + i, n - i);
        if (k > 0) { i += (size_t)k; continue; }
        kue_buf_append(b, s + start, i - start);
        kue_buf_append(b, fffd, 3);
        i += (size_t)-k;
        start = i;
    }
    kue_buf_append(b, s + start, n - start);
}

/* ---- numbers ------------------------------------------------------------------ */

void kue_json_num(kue_buf_t *b, double d)
{
    if (!isfinite(d)) { kue_buf_puts(b, "null"); return; }
    if (d == 0) { kue_buf_putc(b, '0'); return; }
    if (fabs(d) < 9e15 && d == (double)(long long)d) {
        kue_buf_printf(b, "%lld", (long long)d);
        return;
    }
    char tmp[40];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    if (prec == 17) snprintf(tmp, sizeof tmp, "%.16e", d);
    /* tmp: [-]D[.DDD]e(+|-)XX -> digits and the decimal exponent */
    const char *p = tmp;
    if (*p == '-') { kue_buf_putc(b, '-'); p++; }
    char dig[24];
    int k = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && k < (int)sizeof dig - 1) dig[k++] = *p;
    dig[k] = '\0';
    while (k > 1 && dig[k - 1] == '0') dig[--k] = '\0';
    int n = atoi(p + 1) + 1;              /* value = 0.DIG x 10^n */
    if (k <= n && n <= 21) {
        kue_buf_append(b, dig, (size_t)k);
        for (int i = k; i < n; i++) kue_buf_putc(b, '0');
    } else if (0 < n && n <= 21) {
        kue_buf_append(b, dig, (size_t)n);
        kue_buf_putc(b, '.');
        kue_buf_append(b, dig + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        kue_buf_puts(b, "0.");
        for (int i = 0; i < -n; i++) kue_buf_putc(b, '0');
        kue_buf_append(b, dig, (size_t)k);
    } else {
        kue_buf_putc(b, dig[0]);
        if (k > 1) {
            kue_buf_putc(b, '.');
            kue_buf_append(b, dig + 1, (size_t)(k - 1));
        }
        kue_buf_printf(b, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}

static double parse_double(const char *s, size_t n)
{
    char small[64];
    char *t = n < sizeof small ? small : malloc(n + 1);
    if (!t) return NAN;
    memcpy(t, s, n);
    t[n] = '\0';
    double d = strtod(t, NULL);
    if (t != small) free(t);
    return d;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int js_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

double kue_js_number(const char *str)
{
    if (!str) return NAN;
    const char *s = str, *e = str + strlen(str);
    while (s < e && js_space((unsigned char)*s)) s++;
    while (e > s && js_space((unsigned char)e[-1])) e--;
    size_t n = (size_t)(e - s);
    if (n == 0) return 0;
    if (n == 8 && !memcmp(s, "Infinity", 8)) return INFINITY;
    if (n == 9 && !memcmp(s, "+Infinity", 9)) return INFINITY;
    if (n == 9 && !memcmp(s, "-Infinity", 9)) return -INFINITY;
    if (n > 2 && s[0] == '0' && strchr("xXoObB", s[1])) {
        int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
        double v = 0;
        for (const char *p = s + 2; p < e; p++) {
            int c = (unsigned char)*p, dv;
            if (is_digit(c)) dv = c - '0';
            else if (c >= 'a' && c <= 'f') dv = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') dv = c - 'A' + 10;
            else return NAN;
            if (dv >= base) return NAN;
            v = v * base + dv;
        }
        return v;
    }
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    size_t id = 0, fd = 0;
    while (p < e && is_digit((unsigned char)*p)) { p++; id++; }
    if (p < e && *p == '.') {
        p++;
        while (p < e && is_digit((unsigned char)*p)) { p++; fd++; }
    }
    if (id + fd == 0) return NAN;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        size_t ed = 0;
        while (p < e && is_digit((unsigned char)*p)) { p++; ed++; }
        if (!ed) return NAN;
    }
    if (p != e) return NAN;
    return parse_double(s, n);
}

/* ---- the document arena ---------------------------------------------------------- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct kue_jdoc {
    struct chunk *chunks;
    kue_jv_t *root;
};

static void *aalloc(kue_jdoc_t *d, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct chunk *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = d->chunks;
        d->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

void kue_jdoc_free(kue_jdoc_t *d)
{
    if (!d) return;
    struct chunk *c = d->chunks;
    while (c) {
        struct chunk *nx = c->next;
        free(c);
        c = nx;
    }
    free(d);
}

const kue_jv_t *kue_jdoc_root(const kue_jdoc_t *d) { return d ? d->root : NULL; }

/* ---- the parser ---------------------------------------------------------------------- */

typedef struct {
    const unsigned char *s;
    size_t n, i;
    int depth;
    kue_jdoc_t *doc;         /* NULL: check only */
    char *err;
    size_t errlen;
    int failed;
} parser_t;

static kue_jv_t *fail(parser_t *p, const char *what)
{
    if (p->failed) return NULL;
    p->failed = 1;
    if (p->err && p->errlen) {
        if (p->i < p->n) {
            unsigned c = p->s[p->i];
            if (c >= 0x20 && c < 0x7f)
                snprintf(p->err, p->errlen, "%s: unexpected '%c' at offset %zu", what, c, p->i);
            else
                snprintf(p->err, p->errlen, "%s: unexpected byte 0x%02x at offset %zu", what, c,
                         p->i);
        } else {
            snprintf(p->err, p->errlen, "%s: unexpected end at offset %zu", what, p->i);
        }
    }
    return NULL;
}

static kue_jv_t *oom(parser_t *p)
{
    if (!p->failed && p->err && p->errlen) snprintf(p->err, p->errlen, "out of memory");
    p->failed = 1;
    return NULL;
}

/* A placeholder returned by the checker, which builds nothing. */
static kue_jv_t checked;

static void skip_ws(parser_t *p)
{
    while (p->i < p->n) {
        unsigned c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static kue_jv_t *node(parser_t *p, kue_jtype_t t, size_t start)
{
    if (!p->doc) return &checked;
    kue_jv_t *v = aalloc(p->doc, sizeof *v);
    if (!v) return oom(p);
    memset(v, 0, sizeof *v);
    v->type = t;
    v->src = (const char *)p->s + start;
    v->srclen = p->i - start;
    return v;
}

static int hexval(int c)
{
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned hex4(const unsigned char *s)
{
    return (unsigned)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

static void put_cp(kue_buf_t *b, unsigned u)
{
    char o[4];
    if (u < 0x80) { o[0] = (char)u; kue_buf_append(b, o, 1); }
    else if (u < 0x800) {
        o[0] = (char)(0xC0 | u >> 6); o[1] = (char)(0x80 | (u & 0x3F));
        kue_buf_append(b, o, 2);
    } else if (u < 0x10000) {     /* lone surrogates too (generalised UTF-8) */
        o[0] = (char)(0xE0 | u >> 12); o[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        o[2] = (char)(0x80 | (u & 0x3F));
        kue_buf_append(b, o, 3);
    } else {
        o[0] = (char)(0xF0 | u >> 18); o[1] = (char)(0x80 | ((u >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((u >> 6) & 0x3F)); o[3] = (char)(0x80 | (u & 0x3F));
        kue_buf_append(b, o, 4);
    }
}

/* Decode the string literal s[a..z) (quotes excluded; already checked). */
static int decode_str(parser_t *p, kue_jv_t *v, size_t a, size_t z, int plain)
{
    const unsigned char *s = p->s;
    if (plain) {
        v->str = aalloc(p->doc, z - a + 1);
        if (!v->str) return -1;
        memcpy(v->str, s + a, z - a);
        v->str[z - a] = '\0';
        v->len = z - a;
        return 0;
    }
    kue_buf_t b;
    kue_buf_init(&b);
    size_t i = a;
    while (i < z) {
        unsigned c = s[i];
        if (c == '\\') {
            unsigned e = s[i + 1];
            i += 2;
            switch (e) {
            case 'b': kue_buf_putc(&b, '\b'); break;
            case 'f': kue_buf_putc(&b, '\f'); break;
            case 'n': kue_buf_putc(&b, '\n'); break;
            case 'r': kue_buf_putc(&b, '\r'); break;
            case 't': kue_buf_putc(&b, '\t'); break;
            case 'u': {
                unsigned u = hex4(s + i);
                i += 4;
                if (u >= 0xD800 && u <= 0xDBFF && i + 6 <= z && s[i] == '\\' && s[i + 1] == 'u') {
                    unsigned l = hex4(s + i + 2);
                    if (l >= 0xDC00 && l <= 0xDFFF) {
                        u = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
                        i += 6;
                    }
                }
                put_cp(&b, u);
                break;
            }
            default: kue_buf_putc(&b, (char)e); break;     /* " \ / */
            }
        } else if (c < 0x80) {
            kue_buf_putc(&b, (char)c);
            i++;
        } else {
            int k = u8_seq(s + i, z - i);
            if (k > 0) { kue_buf_append(&b, s + i, (size_t)k); i += (size_t)k; }
            else { kue_buf_append(&b, fffd, 3); i += (size_t)-k; }
        }
    }
    if (b.oom) { kue_buf_free(&b); return -1; }
    v->str = aalloc(p->doc, b.len + 1);
    if (!v->str) { kue_buf_free(&b); return -1; }
    memcpy(v->str, b.p ? b.p : "", b.len);
    v->str[b.len] = '\0';
    v->len = b.len;
    kue_buf_free(&b);
    return 0;
}

static kue_jv_t *parse_string(parser_t *p)
{
    size_t start = p->i;
    const unsigned char *s = p->s;
    p->i++;                                 /* the opening quote */
    int plain = 1;
    for (;;) {
        if (p->i >= p->n) return fail(p, "unterminated string");
        unsigned c = s[p->i];
        if (c == '"') break;
        if (c < 0x20) return fail(p, "control character in string");
        if (c == '\\') {
            plain = 0;
            if (p->i + 1 >= p->n) { p->i++; return fail(p, "unterminated string"); }
            unsigned e = s[p->i + 1];
            if (e == 'u') {
                for (int k = 0; k < 4; k++) {
                    if (p->i + 2 + (size_t)k >= p->n || hexval(s[p->i + 2 + k]) < 0) {
                        p->i += 2 + (size_t)k;
                        return fail(p, "bad \\u escape");
                    }
                }
                p->i += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", (int)e) || e == 0) {
                p->i++;
                return fail(p, "bad escape");
            }
            p->i += 2;
            continue;
        }
        if (c >= 0x80) {
            int k = u8_seq(s + p->i, p->n - p->i);
            if (k < 0) { plain = 0; p->i += (size_t)-k; continue; }
            p->i += (size_t)k;
            continue;
        }
        p->i++;
    }
    p->i++;                                 /* the closing quote */
    kue_jv_t *v = node(p, KUE_JSTR, start);
    if (!v || !p->doc) return v;
    if (decode_str(p, v, start + 1, p->i - 1, plain) < 0) return oom(p);
    return v;
}

static kue_jv_t *parse_number(parser_t *p)
{
    size_t start = p->i;
    const unsigned char *s = p->s;
    if (s[p->i] == '-') p->i++;
    if (p->i >= p->n || !is_digit(s[p->i])) return fail(p, "bad number");
    if (s[p->i] == '0') p->i++;
    else while (p->i < p->n && is_digit(s[p->i])) p->i++;
    if (p->i < p->n && s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || !is_digit(s[p->i])) return fail(p, "bad number");
        while (p->i < p->n && is_digit(s[p->i])) p->i++;
    }
    if (p->i < p->n && (s[p->i] == 'e' || s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (s[p->i] == '+' || s[p->i] == '-')) p->i++;
        if (p->i >= p->n || !is_digit(s[p->i])) return fail(p, "bad number");
        while (p->i < p->n && is_digit(s[p->i])) p->i++;
    }
    kue_jv_t *v = node(p, KUE_JNUM, start);
    if (v && p->doc) v->num = parse_double((const char *)s + start, p->i - start);
    return v;
}

static kue_jv_t *parse_value(parser_t *p);

/* A growable vector of node pointers, for the members being collected. */
typedef struct { kue_jv_t **v; size_t n, cap; } vec_t;

static int vec_push(vec_t *x, kue_jv_t *a)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 8;
        kue_jv_t **nv = realloc(x->v, cap * sizeof *nv);
        if (!nv) return -1;
        x->v = nv;
        x->cap = cap;
    }
    x->v[x->n++] = a;
    return 0;
}

/* An array index as JavaScript orders object keys: canonical decimal below
 * 2^32 - 1. */
static int array_index(const char *k, size_t n, uint64_t *out)
{
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0')) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)k[i])) return 0;
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    if (v >= 4294967295u) return 0;
    *out = v;
    return 1;
}

typedef struct {
    kue_jv_t *key, *val;
    size_t pos;
    uint64_t idx;
    int isidx, dead;
} member_t;

static int by_key(const void *a, const void *b)
{
    const member_t *x = *(member_t *const *)a, *y = *(member_t *const *)b;
    size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->str, y->key->str, n);
    if (c) return c;
    if (x->key->len != y->key->len) return x->key->len < y->key->len ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int js_order(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    if (x->isidx != y->isidx) return x->isidx ? -1 : 1;
    if (x->isidx && x->idx != y->idx) return x->idx < y->idx ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Give the object JavaScript's shape: a repeated key keeps its first place
 * and its last value; array-index keys come first, ascending. */
static int shape_object(parser_t *p, kue_jv_t *o, member_t *m, size_t n)
{
    size_t live = n;
    int any_idx = 0;
    for (size_t i = 0; i < n; i++) {
        m[i].isidx = array_index(m[i].key->str, m[i].key->len, &m[i].idx);
        any_idx |= m[i].isidx;
    }
    if (n > 1) {
        member_t **s = malloc(n * sizeof *s);
        if (!s) return -1;
        for (size_t i = 0; i < n; i++) s[i] = &m[i];
        qsort(s, n, sizeof *s, by_key);
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && s[j]->key->len == s[i]->key->len &&
                   !memcmp(s[j]->key->str, s[i]->key->str, s[i]->key->len)) {
                s[j]->dead = 1;
                live--;
                j++;
            }
            if (j > i + 1) s[i]->val = s[j - 1]->val;
            i = j;
        }
        free(s);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!m[i].dead) m[k++] = m[i];
    if (any_idx) qsort(m, live, sizeof *m, js_order);
    o->len = live;
    o->keys = aalloc(p->doc, (live ? live : 1) * sizeof *o->keys);
    o->items = aalloc(p->doc, (live ? live : 1) * sizeof *o->items);
    if (!o->keys || !o->items) return -1;
    for (size_t i = 0; i < live; i++) {
        o->keys[i] = m[i].key;
        o->items[i] = m[i].val;
    }
    return 0;
}

static kue_jv_t *parse_container(parser_t *p, int is_obj)
{
    size_t start = p->i;
    if (++p->depth > KUE_JSON_MAX_DEPTH) return fail(p, "nested too deeply");
    p->i++;
    vec_t items = { 0 };
    member_t *mem = NULL;
    size_t nmem = 0, capmem = 0;
    kue_jv_t *res = NULL;
    skip_ws(p);
    char close = is_obj ? '}' : ']';
    if (p->i < p->n && p->s[p->i] == (unsigned char)close) {
        p->i++;
    } else {
        for (;;) {
            kue_jv_t *key = NULL;
            if (is_obj) {
                skip_ws(p);
                if (p->i >= p->n || p->s[p->i] != '"') { fail(p, "expected a key"); goto out; }
                key = parse_string(p);
                if (!key) goto out;
                skip_ws(p);
                if (p->i >= p->n || p->s[p->i] != ':') { fail(p, "expected ':'"); goto out; }
                p->i++;
            }
            kue_jv_t *v = parse_value(p);
            if (!v) goto out;
            if (p->doc) {
                if (is_obj) {
                    if (nmem == capmem) {
                        size_t cap = capmem ? capmem * 2 : 8;
                        member_t *nm = realloc(mem, cap * sizeof *nm);
                        if (!nm) { oom(p); goto out; }
                        mem = nm;
                        capmem = cap;
                    }
                    memset(&mem[nmem], 0, sizeof mem[nmem]);
                    mem[nmem].key = key;
                    mem[nmem].val = v;
                    mem[nmem].pos = nmem;
                    nmem++;
                } else if (vec_push(&items, v) < 0) {
                    oom(p);
                    goto out;
                }
            }
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == (unsigned char)close) { p->i++; break; }
            fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
            goto out;
        }
    }
    res = node(p, is_obj ? KUE_JOBJ : KUE_JARR, start);
    if (res && p->doc) {
        if (is_obj) {
            if (shape_object(p, res, mem, nmem) < 0) res = oom(p);
        } else {
            res->len = items.n;
            res->items = aalloc(p->doc, (items.n ? items.n : 1) * sizeof *res->items);
            if (!res->items) res = oom(p);
            else if (items.n) memcpy(res->items, items.v, items.n * sizeof *items.v);
        }
    }
out:
    free(items.v);
    free(mem);
    p->depth--;
    return res;
}

static int lit(parser_t *p, const char *w, size_t n)
{
    if (p->n - p->i < n || memcmp(p->s + p->i, w, n) != 0) return 0;
    p->i += n;
    return 1;
}

static kue_jv_t *parse_value(parser_t *p)
{
    skip_ws(p);
    if (p->i >= p->n) return fail(p, "expected a value");
    size_t start = p->i;
    unsigned c = p->s[p->i];
    switch (c) {
    case '{': return parse_container(p, 1);
    case '[': return parse_container(p, 0);
    case '"': return parse_string(p);
    case 't': if (lit(p, "true", 4)) return node(p, KUE_JTRUE, start); break;
    case 'f': if (lit(p, "false", 5)) return node(p, KUE_JFALSE, start); break;
    case 'n': if (lit(p, "null", 4)) return node(p, KUE_JNULL, start); break;
    default:
        if (c == '-' || is_digit((int)c)) return parse_number(p);
    }
    return fail(p, "expected a value");
}

static kue_jv_t *parse_all(parser_t *p)
{
    kue_jv_t *v = parse_value(p);
    if (!v) return NULL;
    skip_ws(p);
    if (p->i != p->n) return fail(p, "text after the value");
    return v;
}

int kue_json_check(const char *s, size_t n, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    parser_t p = { (const unsigned char *)(s ? s : ""), s ? n : 0, 0, 0, NULL, err, errlen, 0 };
    return parse_all(&p) ? 0 : -1;
}

int kue_json_valid(const char *s, size_t n) { return kue_json_check(s, n, NULL, 0) == 0; }

kue_jdoc_t *kue_jdoc_parse(const char *s, size_t n, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    kue_jdoc_t *d = calloc(1, sizeof *d);
    if (!d) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    parser_t p = { (const unsigned char *)(s ? s : ""), s ? n : 0, 0, 0, d, err, errlen, 0 };
    d->root = parse_all(&p);
    if (!d->root) { kue_jdoc_free(d); return NULL; }
    return d;
}

/* ---- documents: access and writing ------------------------------------------------------ */

const kue_jv_t *kue_jv_get(const kue_jv_t *o, const char *key)
{
    return kue_jv_getn(o, key, strlen(key));
}

const kue_jv_t *kue_jv_getn(const kue_jv_t *o, const char *key, size_t kl)
{
    if (!o || o->type != KUE_JOBJ) return NULL;
    for (size_t i = 0; i < o->len; i++)
        if (o->keys[i]->len == kl && !memcmp(o->keys[i]->str, key, kl)) return o->items[i];
    return NULL;
}

int kue_jv_truthy(const kue_jv_t *v)
{
    if (!v) return 0;
    switch (v->type) {
    case KUE_JNULL: case KUE_JFALSE: return 0;
    case KUE_JSTR: return v->len > 0;
    case KUE_JNUM: return v->num != 0 && !isnan(v->num);
    default: return 1;
    }
}

void kue_jv_write(kue_buf_t *b, const kue_jv_t *v)
{
    if (!v) { kue_buf_puts(b, "null"); return; }
    switch (v->type) {
    case KUE_JNULL: kue_buf_puts(b, "null"); break;
    case KUE_JFALSE: kue_buf_puts(b, "false"); break;
    case KUE_JTRUE: kue_buf_puts(b, "true"); break;
    case KUE_JNUM: kue_json_num(b, v->num); break;
    case KUE_JSTR: put_str(b, v->str, v->len, 1); break;
    case KUE_JARR:
        kue_buf_putc(b, '[');
        for (size_t i = 0; i < v->len; i++) {
            if (i) kue_buf_putc(b, ',');
            kue_jv_write(b, v->items[i]);
        }
        kue_buf_putc(b, ']');
        break;
    case KUE_JOBJ:
        kue_buf_putc(b, '{');
        for (size_t i = 0; i < v->len; i++) {
            if (i) kue_buf_putc(b, ',');
            put_str(b, v->keys[i]->str, v->keys[i]->len, 1);
            kue_buf_putc(b, ':');
            kue_jv_write(b, v->items[i]);
        }
        kue_buf_putc(b, '}');
        break;
    }
}

static void newline(kue_buf_t *b, int indent, int level)
{
    kue_buf_putc(b, '\n');
    for (int i = 0; i < indent * level; i++) kue_buf_putc(b, ' ');
}

static void write_pretty(kue_buf_t *b, const kue_jv_t *v, int indent, int level)
{
    if (!v || (v->type != KUE_JARR && v->type != KUE_JOBJ) || v->len == 0) {
        kue_jv_write(b, v);
        return;
    }
    int obj = v->type == KUE_JOBJ;
    kue_buf_putc(b, obj ? '{' : '[');
    for (size_t i = 0; i < v->len; i++) {
        if (i) kue_buf_putc(b, ',');
        newline(b, indent, level + 1);
        if (obj) {
            put_str(b, v->keys[i]->str, v->keys[i]->len, 1);
            kue_buf_puts(b, ": ");
        }
        write_pretty(b, v->items[i], indent, level + 1);
    }
    newline(b, indent, level);
    kue_buf_putc(b, obj ? '}' : ']');
}

void kue_jv_write_pretty(kue_buf_t *b, const kue_jv_t *v, int indent)
{
    write_pretty(b, v, indent, 0);
}

static void to_string(kue_buf_t *b, const kue_jv_t *v, int nested)
{
    switch (v->type) {
    case KUE_JNULL: if (!nested) kue_buf_puts(b, "null"); break;
    case KUE_JFALSE: kue_buf_puts(b, "false"); break;
    case KUE_JTRUE: kue_buf_puts(b, "true"); break;
    case KUE_JNUM:
        if (isfinite(v->num)) kue_json_num(b, v->num);
        else kue_buf_puts(b, v->num > 0 ? "Infinity" : "-Infinity");
        break;
    case KUE_JSTR: {
        /* a lone surrogate has no UTF-8 form: one U+FFFD, as a JavaScript
         * UTF-8 encoder writes it */
        const unsigned char *s = (const unsigned char *)v->str;
        size_t start = 0, i = 0;
        while (i < v->len) {
            if (s[i] == 0xED && v->len - i >= 3 && s[i + 1] >= 0xA0) {
                kue_buf_append(b, s + start, i - start);
                kue_buf_append(b, fffd, 3);
                i += 3;
                start = i;
            } else {
                i++;
            }
        }
        kue_buf_append(b, s + start, v->len - start);
        break;
    }
    case KUE_JOBJ: kue_buf_puts(b, "[object Object]"); break;
    case KUE_JARR:
        for (size_t i = 0; i < v->len; i++) {
            if (i) kue_buf_putc(b, ',');
            to_string(b, v->items[i], 1);
        }
        break;
    }
}

void kue_jv_to_string(kue_buf_t *b, const kue_jv_t *v)
{
    if (v) to_string(b, v, 0);
}

char *kue_json_to_js_string(const char *s, size_t n)
{
    kue_jdoc_t *d = kue_jdoc_parse(s, n, NULL, 0);
    if (!d) return NULL;
    kue_buf_t b;
    kue_buf_init(&b);
    kue_jv_to_string(&b, d->root);
    kue_jdoc_free(d);
    return kue_buf_take(&b);
}

char *kue_json_normalize(const char *s, size_t n, char *err, size_t errlen)
{
    kue_jdoc_t *d = kue_jdoc_parse(s, n, err, errlen);
    if (!d) return NULL;
    kue_buf_t b;
    kue_buf_init(&b);
    kue_jv_write(&b, d->root);
    kue_jdoc_free(d);
    char *out = kue_buf_take(&b);
    if (!out && err && errlen) snprintf(err, errlen, "out of memory");
    return out;
}

char *kue_json_compact(const char *s, size_t n) { return kue_json_normalize(s, n, NULL, 0); }

void kue_json_stored(kue_buf_t *b, const char *s, size_t n)
{
    if (kue_json_valid(s, n)) kue_json_raw(b, s, n);
    else kue_json_str(b, s, n);
}
