/*
 * url.c -- parse Redis endpoint URLs (see url.h).
 *
 *   redis://[[user]:password@]host[:port][/db][?db=N&password=P]
 *   unix:///path/to/redis.sock[?db=N][&password=P]
 *   redis-sentinel://[[user]:password@]host:port[,host:port...]/master[?...]
 *   redis-cluster://[[user]:password@]host:port[,host:port...][?password=P]
 */
#include "url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* url with its password replaced by "***" (the user-info part of a
 * redis:// URL and every password= query value), for messages. */
static void mask(const char *url, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = url;
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : NULL;
    const char *end = auth ? auth + strcspn(auth, "/?") : NULL;
    const char *at = auth ? memchr(auth, '@', (size_t)(end - auth)) : NULL;
    while (*p && o + 1 < outlen) {
        if (at && p == auth) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            size_t keep = colon ? (size_t)(colon - auth) + 1 : 0;
            for (size_t i = 0; i < keep && o + 1 < outlen; i++) out[o++] = auth[i];
            for (const char *m = "***"; *m && o + 1 < outlen; m++) out[o++] = *m;
            p = at;
            continue;
        }
        if ((p > url && (p[-1] == '?' || p[-1] == '&')) && !strncmp(p, "password=", 9)) {
            for (const char *m = "password=***"; *m && o + 1 < outlen; m++) out[o++] = *m;
            p += 9 + strcspn(p + 9, "&");
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
}

static int fail(char *err, size_t errlen, const char *url, const char *why)
{
    if (err && errlen) {
        char masked[1100];
        mask(url, masked, sizeof masked);
        snprintf(err, errlen, "invalid Redis URL \"%s\": %s", masked, why);
    }
    return -1;
}

/* Percent-decoding for passwords in URLs. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= outlen) return -1;
        if (s[i] == '%' && i + 2 < n + 0 && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = { s[i + 1], s[i + 2], 0 };
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return 0;
}

static int parse_query(const char *q, kue_url_t *u, char *err, size_t errlen, const char *url)
{
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > 3 && !strncmp(q, "db=", 3) && u->nseeds > 0) {
            return fail(err, errlen, url, "a cluster has db 0 only (no db with redis-cluster://)");
        } else if (n > 3 && !strncmp(q, "db=", 3)) {
            char tmp[16];
            if (n - 3 >= sizeof tmp) return fail(err, errlen, url, "bad db");
            memcpy(tmp, q + 3, n - 3);
            tmp[n - 3] = '\0';
            long long v;
            if (kue_parse_int(tmp, 0, 1 << 20, &v) != 0) return fail(err, errlen, url, "bad db");
            u->db = (int)v;
        } else if (n > 9 && !strncmp(q, "password=", 9)) {
            if (pct_decode(q + 9, n - 9, u->password, sizeof u->password) != 0)
                return fail(err, errlen, url, "password too long");
        } else if (n > 18 && !strncmp(q, "sentinel_password=", 18) && u->nsentinels > 0) {
            if (pct_decode(q + 18, n - 18, u->sentinel_password, sizeof u->sentinel_password) != 0)
                return fail(err, errlen, url, "sentinel_password too long");
        } else if (n > 0) {
            return fail(err, errlen, url, "unknown query parameter");
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* host[:port] or [v6]:port in p..end into host/port (port untouched when
 * absent).  NULL on success, else the reason. */
static const char *parse_hostport(const char *p, const char *end, char *host, size_t hostlen,
                                  int *port)
{
    const char *hostend;
    if (*p == '[') {                      /* [::1]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) return "unterminated [";
        if ((size_t)(rb - p - 1) >= hostlen) return "host too long";
        memcpy(host, p + 1, (size_t)(rb - p - 1));
        host[rb - p - 1] = '\0';
        hostend = rb + 1;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        hostend = colon ? colon : end;
        if ((size_t)(hostend - p) >= hostlen) return "host too long";
        memcpy(host, p, (size_t)(hostend - p));
        host[hostend - p] = '\0';
    }
    if (!host[0]) snprintf(host, hostlen, "127.0.0.1");
    if (hostend < end && *hostend == ':') {
        char tmp[16];
        size_t n = (size_t)(end - hostend - 1);
        if (n == 0 || n >= sizeof tmp) return "bad port";
        memcpy(tmp, hostend + 1, n);
        tmp[n] = '\0';
        long long v;
        if (kue_parse_int(tmp, 1, 65535, &v) != 0) return "bad port";
        *port = (int)v;
    } else if (hostend != end) {
        return "bad host";
    }
    return NULL;
}

/* [[user]:password@] at p (up to end): fills user/password, returns the
 * first byte after it, or NULL when a part is too long. */
static const char *parse_userinfo(const char *p, const char *end, kue_url_t *u)
{
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (!at) return p;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    if (colon && pct_decode(p, (size_t)(colon - p), u->user, sizeof u->user) != 0) return NULL;
    if (pct_decode(pw, (size_t)(at - pw), u->password, sizeof u->password) != 0) return NULL;
    return at + 1;
}

/* A comma-separated list of host[:port] in p..end into list (at most max,
 * default_port where none is given); what names the entries in errors
 * ("sentinel", "node").  NULL on success, else the reason. */
static const char *parse_hostlist(const char *p, const char *end, kue_hostport_t *list, int max,
                                  int *n, int default_port, char *why, size_t whylen,
                                  const char *what)
{
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (*n == max) {
            snprintf(why, whylen, "too many %ss (at most %d)", what, max);
            return why;
        }
        if (e == p) {
            snprintf(why, whylen, "empty %s address", what);
            return why;
        }
        kue_hostport_t *h = &list[*n];
        h->port = default_port;
        const char *bad = parse_hostport(p, e, h->host, sizeof h->host, &h->port);
        if (bad) return bad;
        (*n)++;
        p = comma ? comma + 1 : end;
    }
    if (*n == 0) {
        snprintf(why, whylen, "no %s address", what);
        return why;
    }
    return NULL;
}

static int parse_sentinel(const char *url, kue_url_t *u, char *err, size_t errlen)
{
    const char *p = url + strlen("redis-sentinel://");
    const char *end = p + strcspn(p, "/?");
    p = parse_userinfo(p, end, u);
    if (!p) return fail(err, errlen, url, "user or password too long");
    char why[64];
    const char *bad = parse_hostlist(p, end, u->sentinels, KUE_URL_MAX_SENTINELS, &u->nsentinels,
                                     26379, why, sizeof why, "sentinel");
    if (bad) return fail(err, errlen, url, bad);
    p = end;
    if (*p != '/') return fail(err, errlen, url, "expected /MASTER_NAME after the sentinels");
    p++;
    size_t n = strcspn(p, "?");
    if (n == 0) return fail(err, errlen, url, "missing master name");
    if (n >= sizeof u->master_name) return fail(err, errlen, url, "master name too long");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == '/')
            return fail(err, errlen, url, "bad master name");
    memcpy(u->master_name, p, n);
    u->master_name[n] = '\0';
    u->host[0] = '\0';
    u->port = 0;
    p += n;
    return parse_query(*p == '?' ? p + 1 : NULL, u, err, errlen, url);
}

static int parse_cluster(const char *url, kue_url_t *u, char *err, size_t errlen)
{
    const char *p = url + strlen("redis-cluster://");
    const char *end = p + strcspn(p, "/?");
    p = parse_userinfo(p, end, u);
    if (!p) return fail(err, errlen, url, "user or password too long");
    char why[64];
    const char *bad = parse_hostlist(p, end, u->seeds, KUE_URL_MAX_SEEDS, &u->nseeds, 6379, why,
                                     sizeof why, "node");
    if (bad) return fail(err, errlen, url, bad);
    p = end;
    if (*p == '/') {
        p++;
        if (*p && *p != '?')
            return fail(err, errlen, url, "a cluster has db 0 only (no db with redis-cluster://)");
    }
    u->host[0] = '\0';
    u->port = 0;
    return parse_query(*p == '?' ? p + 1 : NULL, u, err, errlen, url);
}

int kue_url_parse(const char *url, kue_url_t *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (!url || !*url) url = "redis://127.0.0.1:6379/0";
    if (strlen(url) > 1024) return fail(err, errlen, "...", "too long");

    if (!strncmp(url, "unix://", 7)) {
        const char *p = url + 7;
        if (*p != '/') return fail(err, errlen, url, "socket path must be absolute");
        const char *q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0 || n >= sizeof u->path) return fail(err, errlen, url, "bad socket path");
        memcpy(u->path, p, n);
        u->path[n] = '\0';
        return parse_query(q ? q + 1 : NULL, u, err, errlen, url);
    }
    if (!strncmp(url, "redis-sentinel://", 17))
        return parse_sentinel(url, u, err, errlen);
    if (!strncmp(url, "redis-cluster://", 16))
        return parse_cluster(url, u, err, errlen);
    if (strncmp(url, "redis://", 8) != 0)
        return fail(err, errlen, url,
                    "expected redis://host[:port][/db], unix:///path.sock or "
                    "redis-sentinel://host:port[,host:port...]/master or "
                    "redis-cluster://host:port[,host:port...]");

    const char *p = url + 8;
    const char *end = p + strcspn(p, "/?");
    p = parse_userinfo(p, end, u);
    if (!p) return fail(err, errlen, url, "user or password too long");
    const char *why = parse_hostport(p, end, u->host, sizeof u->host, &u->port);
    if (why) return fail(err, errlen, url, why);
    p = end;
    if (*p == '/') {
        p++;
        size_t n = strcspn(p, "?");
        if (n > 0) {
            char tmp[16];
            if (n >= sizeof tmp) return fail(err, errlen, url, "bad db");
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            long long v;
            if (kue_parse_int(tmp, 0, 1 << 20, &v) != 0) return fail(err, errlen, url, "bad db");
            u->db = (int)v;
        }
        p += n;
    }
    return parse_query(*p == '?' ? p + 1 : NULL, u, err, errlen, url);
}

void kue_url_format(const kue_url_t *u, char *buf, size_t len)
{
    if (u->nsentinels > 0) {
        size_t o = (size_t)snprintf(buf, len, "redis-sentinel://%s", u->password[0] ? ":***@" : "");
        for (int i = 0; i < u->nsentinels && o < len; i++)
            o += (size_t)snprintf(buf + o, len - o, "%s%s:%d", i ? "," : "", u->sentinels[i].host,
                                  u->sentinels[i].port);
        if (o < len) o += (size_t)snprintf(buf + o, len - o, "/%s?db=%d", u->master_name, u->db);
        if (o < len && u->host[0])
            snprintf(buf + o, len - o, " (master %s:%d)", u->host, u->port);
        return;
    }
    if (u->nseeds > 0) {
        size_t o = (size_t)snprintf(buf, len, "redis-cluster://%s", u->password[0] ? ":***@" : "");
        for (int i = 0; i < u->nseeds && o < len; i++)
            o += (size_t)snprintf(buf + o, len - o, "%s%s:%d", i ? "," : "", u->seeds[i].host,
                                  u->seeds[i].port);
        if (o < len && u->host[0])
            snprintf(buf + o, len - o, " (master %s:%d of %s)", u->host, u->port, u->route);
        return;
    }
    if (u->path[0])
        snprintf(buf, len, "unix://%s?db=%d", u->path, u->db);
    else
        snprintf(buf, len, "redis://%s%s:%d/%d", u->password[0] ? ":***@" : "", u->host,
                 u->port, u->db);
}
