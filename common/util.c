/*
 * util.c -- clocks, unit parsers and the zid codec (see util.h).
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t kue_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kue_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kue_deadline_ts(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

int64_t kue_add_sat(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
    return a + b;
}

/* Split "123abc" into a non-negative integer and a suffix; -1 if no digits
 * or overflow. */
static int split_number(const char *s, unsigned long long *num, const char **suffix)
{
    while (isspace((unsigned char)*s)) s++;
    if (!isdigit((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    while (isspace((unsigned char)*end)) end++;
    *num = v;
    *suffix = end;
    return 0;
}

static int suffix_is(const char *suffix, const char *want)
{
    size_t n = strlen(want);
    if (strncasecmp(suffix, want, n) != 0) return 0;
    for (const char *p = suffix + n; *p; p++)
        if (!isspace((unsigned char)*p)) return 0;
    return 1;
}

int kue_parse_duration(const char *s, int64_t *ms)
{
    unsigned long long v;
    const char *suf;
    if (!s || split_number(s, &v, &suf) != 0) return -1;
    unsigned long long mul;
    if (!*suf || suffix_is(suf, "ms")) mul = 1;
    else if (suffix_is(suf, "s")) mul = 1000;
    else if (suffix_is(suf, "m")) mul = 60000;
    else if (suffix_is(suf, "h")) mul = 3600000;
    else if (suffix_is(suf, "d")) mul = 86400000;
    else return -1;
    if (v > (unsigned long long)INT64_MAX / mul) return -1;
    *ms = (int64_t)(v * mul);
    return 0;
}

int kue_parse_size(const char *s, uint64_t *bytes)
{
    unsigned long long v;
    const char *suf;
    if (!s || split_number(s, &v, &suf) != 0) return -1;
    unsigned long long mul;
    if (!*suf || suffix_is(suf, "b")) mul = 1;
    else if (suffix_is(suf, "k") || suffix_is(suf, "kb")) mul = 1ULL << 10;
    else if (suffix_is(suf, "m") || suffix_is(suf, "mb")) mul = 1ULL << 20;
    else if (suffix_is(suf, "g") || suffix_is(suf, "gb")) mul = 1ULL << 30;
    else return -1;
    if (v > UINT64_MAX / mul) return -1;
    *bytes = v * mul;
    return 0;
}

int kue_parse_bool(const char *s, int *out)
{
    static const char *yes[] = { "yes", "true", "on", "1" };
    static const char *no[] = { "no", "false", "off", "0" };
    if (!s) return -1;
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) { *out = 1; return 0; }
        if (!strcasecmp(s, no[i])) { *out = 0; return 0; }
    }
    return -1;
}

int kue_parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    if (v < min || v > max) return -1;
    *out = v;
    return 0;
}

int kue_zid(int64_t id, char *buf, size_t len)
{
    if (id < 0 || len < 24) return -1;
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)id);
    return snprintf(buf, len, "%02d|%s", n, digits);
}

int64_t kue_zid_id(const char *zid)
{
    if (!zid) return -1;
    const char *bar = strchr(zid, '|');
    const char *p = bar ? bar + 1 : zid;
    if (!isdigit((unsigned char)*p)) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (errno || *end) return -1;
    return v;
}

size_t kue_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (dstlen) {
        size_t c = n < dstlen - 1 ? n : dstlen - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int kue_path_join(char *out, size_t len, const char *dir, const char *rel)
{
    if (rel[0] == '/') {
        int n = snprintf(out, len, "%s", rel);
        return n < 0 || (size_t)n >= len ? -1 : 0;
    }
    char base[4096];
    if (kue_strlcpy(base, dir, sizeof base) >= sizeof base) return -1;
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/') base[--bl] = '\0';
    for (;;) {
        if (rel[0] == '.' && (rel[1] == '/' || rel[1] == '\0')) {
            rel += rel[1] ? 2 : 1;
        } else if (rel[0] == '.' && rel[1] == '.' && (rel[2] == '/' || rel[2] == '\0') &&
                   base[0] == '/') {
            /* the parent of a symlink-free absolute path is lexical (and
             * the parent of / is /) */
            char *slash = strrchr(base, '/');
            if (slash == base) slash[1] = '\0';
            else *slash = '\0';
            bl = strlen(base);
            rel += rel[2] ? 3 : 2;
        } else {
            break;
        }
        while (*rel == '/') rel++;
    }
    int n = !*rel ? snprintf(out, len, "%s", base)
                  : snprintf(out, len, "%s%s%s", base, bl && base[bl - 1] == '/' ? "" : "/", rel);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

size_t kue_utf8_seq(const unsigned char *s, size_t n, int *valid)
{
    unsigned char c = s[0];
    *valid = 0;
    if (c < 0x80) {
        *valid = 1;
        return 1;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) lo = 0xa0;          /* no overlong forms */
        if (c == 0xed) hi = 0x9f;          /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;          /* <= U+10FFFF */
    } else {
        return 1;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi)
            return i;                      /* the maximal subpart */
        lo = 0x80;
        hi = 0xbf;
    }
    *valid = 1;
    return need + 1;
}
