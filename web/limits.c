/*
 * limits.c -- bounds kue-web puts on what one request can cost
 * (docs/security.md).
 */
#include "web.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

int web_range_clamp(long long *from, long long *to, long long count, long long max)
{
    long long f = *from, t = *to;
    if ((f < 0) != (t < 0)) {
        /* mixed (0..-1): the span depends on the set's size */
        if (count < 0)
            return 1;
        if (f < 0) f += count;
        if (t < 0) t += count;
        if (f < 0) f = 0;
    }
    if (t >= f && (unsigned long long)t - (unsigned long long)f >= (unsigned long long)max) {
        *from = f;
        *to = f + max - 1;
    }
    return 0;
}

/* The host part of a Host header or an origin's authority: "[v6]" loses
 * its brackets, ":port" goes.  0 ok, -1 when it does not fit. */
static int host_part(const char *s, size_t n, char *out, size_t len)
{
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) return -1;
        size_t l = (size_t)(rb - s - 1);
        if (l >= len) return -1;
        memcpy(out, s + 1, l);
        out[l] = '\0';
        return 0;
    }
    const char *colon = memchr(s, ':', n);
    size_t l = colon ? (size_t)(colon - s) : n;
    if (l >= len) return -1;
    memcpy(out, s, l);
    out[l] = '\0';
    return 0;
}

static int is_ip_literal(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* h in the comma- or space-separated list (case-insensitive; "*" any). */
static int in_list(const char *list, const char *h)
{
    size_t hl = strlen(h);
    for (const char *p = list; p && *p;) {
        p += strspn(p, ", \t");
        size_t l = strcspn(p, ", \t");
        if (l == 1 && *p == '*') return 1;
        if (l && l == hl && strncasecmp(p, h, l) == 0) return 1;
        p += l;
    }
    return 0;
}

int web_host_allowed(const char *host_hdr, const char *listen_host, const char *allowed)
{
    if (!host_hdr) return 1;            /* HTTP/1.0: no name to rebind */
    char h[256];
    if (host_part(host_hdr, strlen(host_hdr), h, sizeof h) < 0 || !h[0]) return 0;
    if (is_ip_literal(h)) return 1;     /* no DNS involved */
    if (strcasecmp(h, "localhost") == 0) return 1;
    if (listen_host && *listen_host && strcasecmp(h, listen_host) == 0) return 1;
    return allowed && in_list(allowed, h);
}

/* origin ("scheme://authority", no path) names the Host the request was
 * sent to. */
static int origin_is_host(const char *origin, size_t n, const char *host_hdr)
{
    const char *sep = memmem(origin, n, "://", 3);
    if (!sep || !host_hdr) return 0;
    const char *auth = sep + 3;
    size_t al = n - (size_t)(auth - origin);
    size_t path = strcspn(auth, "/");
    if (path < al) al = path;
    return al == strlen(host_hdr) && strncasecmp(auth, host_hdr, al) == 0;
}

int web_same_origin(const char *host_hdr, const char *origin, const char *sec_fetch_site,
                    const char *referer, int strict)
{
    if (sec_fetch_site && strcasecmp(sec_fetch_site, "same-origin") != 0 &&
        strcasecmp(sec_fetch_site, "none") != 0)
        return 0;
    if (origin && !origin_is_host(origin, strlen(origin), host_hdr)) return 0;
    if (strict && referer && !origin_is_host(referer, strlen(referer), host_hdr)) return 0;
    return 1;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Constant-time equality of a (n bytes) and the string b. */
static int ct_eq(const char *a, size_t n, const char *b)
{
    size_t lb = strlen(b), m = n > lb ? n : lb;
    unsigned char diff = (unsigned char)(n != lb);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)((i < n ? (unsigned char)a[i] : 0) ^ (i < lb ? (unsigned char)b[i] : 0));
    return diff == 0;
}

int web_basic_auth_ok(const char *header, const char *expected)
{
    if (!header || !expected) return 0;
    const char *p = header;
    while (*p == ' ' || *p == '\t') p++;
    if (strncasecmp(p, "basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t')) return 0;
    p += 5;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strcspn(p, " \t");
    if (p[n + strspn(p + n, " \t")] != '\0' || n > 4096) return 0;
    char out[3072 + 4];
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    size_t i = 0;
    for (; i < n && p[i] != '='; i++) {
        int v = b64val((unsigned char)p[i]);
        if (v < 0) return 0;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    for (; i < n; i++)
        if (p[i] != '=') return 0;
    int ok = ct_eq(out, o, expected);
    memset(out, 0, sizeof out);
    return ok;
}
