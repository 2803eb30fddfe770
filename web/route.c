/*
 * route.c -- request routing, pure functions.
 *
 * Kue's routes are Express 4 paths, matched in declaration order, case
 * insensitively, with an optional trailing slash; ":from..:to" takes the
 * shortest "from" before the first "..".  Parameters are %-decoded per
 * segment after splitting, so an encoded '/' in a type name stays inside
 * its segment.
 */
#include "web.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long web_url_decode(const char *s, size_t n, char *out, int plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return -1;
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

int web_js_parse_int(const char *s, long long *out)
{
    if (!s) return -1;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' || *s == '\f') s++;
    int neg = 0;
    if (*s == '+' || *s == '-') { neg = *s == '-'; s++; }
    if (!isdigit((unsigned char)*s)) return -1;
    long long v = 0;
    while (isdigit((unsigned char)*s)) {
        int d = *s - '0';
        if (v > (LLONG_MAX - d) / 10) v = LLONG_MAX; else v = v * 10 + d;
        s++;
    }
    *out = neg ? -v : v;
    return 0;
}

int web_parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 19) return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) return -1;
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (v <= 0) return -1;
    *out = v;
    return 0;
}

static const char *const route_names[WEB_R__COUNT] = {
    [WEB_R_NONE] = "none", [WEB_R_BAD_PATH] = "bad_path",
    [WEB_R_STATS] = "stats", [WEB_R_SEARCH] = "search", [WEB_R_RANGE] = "range",
    [WEB_R_RANGE_TYPE_STATE] = "range_type_state",
    [WEB_R_TYPE_STATE_STATS] = "type_state_stats",
    [WEB_R_RANGE_STATE] = "range_state", [WEB_R_TYPES] = "types", [WEB_R_JOB] = "job",
    [WEB_R_JOB_LOG] = "job_log", [WEB_R_JOB_STATE] = "job_state",
    [WEB_R_JOB_PRIORITY] = "job_priority", [WEB_R_JOB_DELETE] = "job_delete",
    [WEB_R_JOB_CREATE] = "job_create", [WEB_R_INACTIVE] = "inactive", [WEB_R_UI] = "ui",
    [WEB_R_ASSET] = "asset", [WEB_R_METRICS] = "metrics", [WEB_R_HEALTHZ] = "healthz",
    [WEB_R_READYZ] = "readyz", [WEB_R_EVENTS] = "events", [WEB_R_WORKERS] = "workers",
    [WEB_R_THROUGHPUT] = "throughput", [WEB_R_CONFIG] = "config",
    [WEB_R_CRON_LIST] = "cron_list", [WEB_R_CRON_GET] = "cron_get", [WEB_R_CRON_PUT] = "cron_put",
    [WEB_R_CRON_DELETE] = "cron_delete",
    [WEB_R_JOB_CANCEL] = "job_cancel", [WEB_R_PAUSE] = "pause", [WEB_R_RESUME] = "resume",
    [WEB_R_QUEUES] = "queues",
};

const char *web_route_name(web_route_id id)
{
    if ((int)id < 0 || id >= WEB_R__COUNT || !route_names[id]) return "?";
    return route_names[id];
}

/* Split "a..b" at the first ".." with a non-empty left and right side. */
static int split_range(char *seg, const char **from, const char **to)
{
    if (!seg[0]) return 0;
    char *d = strstr(seg + 1, "..");
    if (!d || !d[2]) return 0;
    *d = '\0';
    *from = seg;
    *to = d + 2;
    return 1;
}

static int eq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static int is_ui_state(const char *s)
{
    return eq(s, "active") || eq(s, "inactive") || eq(s, "failed") || eq(s, "complete") ||
           eq(s, "delayed");
}

web_route_id web_route_match(const char *method, const char *raw_path, web_route_t *r)
{
    memset(r, 0, sizeof *r);
    r->id = WEB_R_NONE;
    if (!method || !raw_path || raw_path[0] != '/') return r->id;

    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int put = strcmp(method, "PUT") == 0;
    int post = strcmp(method, "POST") == 0;
    int del = strcmp(method, "DELETE") == 0;
    r->is_write = put || post || del;

    /* split into raw segments */
    const char *segs[WEB_MAX_SEGS + 1];
    size_t lens[WEB_MAX_SEGS + 1];
    int n = 0;
    const char *p = raw_path + 1;
    size_t total = strlen(raw_path);
    if (total > WEB_PATH_MAX) return r->id;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n > WEB_MAX_SEGS) return r->id;
        segs[n] = p;
        lens[n] = len;
        n++;
        if (!slash) break;
        p = slash + 1;
    }
    /* optional trailing slash: "/stats/" == "/stats"; "/" is zero segments */
    if (n > 0 && lens[n - 1] == 0) n--;
    if (n > WEB_MAX_SEGS) return r->id;
    for (int i = 0; i < n; i++)
        if (lens[i] == 0) return r->id;     /* "//" never matches a param */

    char *s[WEB_MAX_SEGS];
    char *w = r->store;
    for (int i = 0; i < n; i++) {
        long dl = web_url_decode(segs[i], lens[i], w, 0);
        if (dl < 0) { r->id = WEB_R_BAD_PATH; return r->id; }
        s[i] = w;
        w += dl + 1;
    }

    const char *from, *to;
    if (get) {
        if (n == 0) return r->id = WEB_R_UI;
        if (n == 1 && eq(s[0], "stats")) return r->id = WEB_R_STATS;
        if (n == 2 && eq(s[0], "job") && eq(s[1], "search")) return r->id = WEB_R_SEARCH;
        if (eq(s[0], "jobs")) {
            /* /jobs/:from..:to/:order? */
            if ((n == 2 || n == 3) && split_range(s[1], &from, &to)) {
                r->from = from; r->to = to; r->order = n == 3 ? s[2] : NULL;
                return r->id = WEB_R_RANGE;
            }
            /* /jobs/:type/:state/:from..:to/:order? */
            if ((n == 4 || n == 5) && split_range(s[3], &from, &to)) {
                r->type = s[1]; r->state = s[2]; r->from = from; r->to = to;
                r->order = n == 5 ? s[4] : NULL;
                return r->id = WEB_R_RANGE_TYPE_STATE;
            }
            if (n == 4 && eq(s[3], "stats")) {
                r->type = s[1]; r->state = s[2];
                return r->id = WEB_R_TYPE_STATE_STATS;
            }
            /* /jobs/:state/:from..:to/:order? */
            if ((n == 3 || n == 4) && split_range(s[2], &from, &to)) {
                r->state = s[1]; r->from = from; r->to = to;
                r->order = n == 4 ? s[3] : NULL;
                return r->id = WEB_R_RANGE_STATE;
            }
            return r->id;
        }
        if (eq(s[0], "job")) {
            if (n == 2 && eq(s[1], "types")) return r->id = WEB_R_TYPES;
            if (n == 2) { r->job_id = s[1]; return r->id = WEB_R_JOB; }
            if (n == 3 && eq(s[2], "log")) { r->job_id = s[1]; return r->id = WEB_R_JOB_LOG; }
            return r->id;
        }
        if (n == 2 && eq(s[0], "inactive")) { r->job_id = s[1]; return r->id = WEB_R_INACTIVE; }
        if (n == 1 && is_ui_state(s[0])) { r->state = s[0]; return r->id = WEB_R_UI; }
        if (n == 2 && eq(s[0], "assets")) { r->asset = s[1]; return r->id = WEB_R_ASSET; }
        if (n == 2 && eq(s[0], "cron")) { r->type = s[1]; return r->id = WEB_R_CRON_GET; }
        if (n == 1) {
            if (eq(s[0], "metrics")) return r->id = WEB_R_METRICS;
            if (eq(s[0], "healthz")) return r->id = WEB_R_HEALTHZ;
            if (eq(s[0], "readyz")) return r->id = WEB_R_READYZ;
            if (eq(s[0], "events")) return r->id = WEB_R_EVENTS;
            if (eq(s[0], "workers")) return r->id = WEB_R_WORKERS;
            if (eq(s[0], "throughput")) return r->id = WEB_R_THROUGHPUT;
            if (eq(s[0], "config")) return r->id = WEB_R_CONFIG;
            if (eq(s[0], "cron")) return r->id = WEB_R_CRON_LIST;
            if (eq(s[0], "queues")) return r->id = WEB_R_QUEUES;
        }
        return r->id;
    }
    if (put && n == 4 && eq(s[0], "job")) {
        r->job_id = s[1];
        r->value = s[3];
        if (eq(s[2], "state")) return r->id = WEB_R_JOB_STATE;
        if (eq(s[2], "priority")) return r->id = WEB_R_JOB_PRIORITY;
        if (eq(s[2], "cancel")) return r->id = WEB_R_JOB_CANCEL;
        r->job_id = r->value = NULL;
        return r->id;
    }
    if (put && n == 3 && eq(s[0], "job") && eq(s[2], "cancel")) {
        r->job_id = s[1];
        return r->id = WEB_R_JOB_CANCEL;
    }
    if (put && n == 2 && eq(s[0], "pause")) { r->type = s[1]; return r->id = WEB_R_PAUSE; }
    if (put && n == 2 && eq(s[0], "resume")) { r->type = s[1]; return r->id = WEB_R_RESUME; }
    if (del && n == 2 && eq(s[0], "job")) { r->job_id = s[1]; return r->id = WEB_R_JOB_DELETE; }
    if ((put || del) && n == 2 && eq(s[0], "cron")) {
        r->type = s[1];
        return r->id = put ? WEB_R_CRON_PUT : WEB_R_CRON_DELETE;
    }
    if (post && n == 1 && eq(s[0], "job")) return r->id = WEB_R_JOB_CREATE;
    return r->id;
}
