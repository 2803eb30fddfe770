/*
 * cronexpr.c -- cron schedules (see cronexpr.h).
 */
#include "cronexpr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

static const char *const mon_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* A number or (for names != NULL) a three-letter name; names[0] is lo. */
static int field_num(const char **s, const char *const *names, int nn, int lo, int *out)
{
    const char *p = *s;
    if (isdigit((unsigned char)*p)) {
        long v = 0;
        int n = 0;
        while (isdigit((unsigned char)*p) && n < 4) {
            v = v * 10 + (*p++ - '0');
            n++;
        }
        if (isdigit((unsigned char)*p))
            return -1;
        *out = (int)v;
        *s = p;
        return 0;
    }
    for (int i = 0; names && i < nn; i++)
        if (!strncasecmp(p, names[i], 3) && !isalpha((unsigned char)p[3])) {
            *out = lo + i;
            *s = p + 3;
            return 0;
        }
    return -1;
}

/* One field into a bit set; *any when it is '*'. */
static int field(const char *f, int lo, int hi, const char *const *names, int nn, uint64_t *bits,
                 int *any, const char *what, char *why, size_t wl)
{
    *bits = 0;
    *any = !strcmp(f, "*");
    const char *p = f;
    for (;;) {
        int a, b, step = 1;
        if (*p == '*') {
            a = lo;
            b = hi;
            p++;
        } else {
            if (field_num(&p, names, nn, lo, &a) < 0)
                goto bad;
            b = a;
            if (*p == '-') {
                p++;
                if (field_num(&p, names, nn, lo, &b) < 0)
                    goto bad;
            }
        }
        if (*p == '/') {
            p++;
            if (field_num(&p, NULL, 0, 0, &step) < 0 || step < 1 || step > hi - lo + 1)
                goto bad;
            if (a == b && f[0] != '*')
                b = hi;   /* "5/15": from 5 on */
        }
        if (names == dow_names) {   /* 7 is Sunday too */
            if (a == 7 && b == 7)
                a = b = 0;
            else if (b == 7)
                b = 6, *bits |= 1;
        }
        if (a < lo || b > hi || a > b) {
            snprintf(why, wl, "%s: \"%s\" is out of range (%d to %d)", what, f,
                     lo, names == dow_names ? 7 : hi);
            return -1;
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << v;
        if (*p == '\0')
            return 0;
        if (*p != ',')
            goto bad;
        p++;
    }
bad:
    snprintf(why, wl, "%s: \"%s\" is not a cron field (*, 5, 1-5, */15, 1,15, names)", what, f);
    return -1;
}

int kue_cron_parse(const char *text, struct kue_cron_expr *e, char *why, size_t wl)
{
    memset(e, 0, sizeof(*e));
    while (*text == ' ' || *text == '\t')
        text++;
    static const struct { const char *name, *fields; } at[] = {
        { "@hourly", "0 * * * *" },  { "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
        { "@weekly", "0 0 * * 0" },  { "@monthly", "0 0 1 * *" }, { "@yearly", "0 0 1 1 *" },
        { "@annually", "0 0 1 1 *" },
    };
    if (text[0] == '@') {
        if (!strncmp(text, "@every", 6) && (text[6] == ' ' || text[6] == '\t')) {
            const char *d = text + 6;
            while (*d == ' ' || *d == '\t')
                d++;
            int64_t ms;
            if (kue_parse_duration(d, &ms) < 0 || ms < KUE_CRON_EVERY_MIN_MS ||
                ms > KUE_CRON_EVERY_MAX_MS || ms % 1000) {
                snprintf(why, wl, "@every: \"%s\" is not a duration of whole seconds from 1s to 366d", d);
                return -1;
            }
            e->every_ms = ms;
            return 0;
        }
        for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
            if (!strcmp(text, at[i].name))
                return kue_cron_parse(at[i].fields, e, why, wl);
        snprintf(why, wl, "\"%s\" is not a schedule (@every 30s, @hourly, @daily, @weekly, "
                 "@monthly, @yearly, or 5 fields)", text);
        return -1;
    }
    char buf[256];
    if (strlen(text) >= sizeof(buf)) {
        snprintf(why, wl, "schedule too long");
        return -1;
    }
    kue_strlcpy(buf, text, sizeof(buf));
    char *f[6], *save = NULL;
    int n = 0;
    for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == 5) {
            n++;
            break;
        }
        f[n++] = t;
    }
    if (n != 5) {
        snprintf(why, wl, "\"%s\": a cron schedule has 5 fields (minute hour day month weekday)", text);
        return -1;
    }
    uint64_t b;
    int any;
    if (field(f[0], 0, 59, NULL, 0, &b, &any, "minute", why, wl) < 0)
        return -1;
    e->minute = b;
    if (field(f[1], 0, 23, NULL, 0, &b, &any, "hour", why, wl) < 0)
        return -1;
    e->hour_any = any || b == 0xffffffu;
    e->hour = (uint32_t)b;
    if (field(f[2], 1, 31, NULL, 0, &b, &e->dom_any, "day of month", why, wl) < 0)
        return -1;
    e->dom = (uint32_t)b;
    if (field(f[3], 1, 12, mon_names, 12, &b, &any, "month", why, wl) < 0)
        return -1;
    e->month = (uint16_t)b;
    if (field(f[4], 0, 6, dow_names, 7, &b, &e->dow_any, "day of week", why, wl) < 0)
        return -1;
    e->dow = (uint8_t)b;
    return 0;
}

int kue_cron_tz_ok(const char *tz)
{
    if (!strcmp(tz, "UTC"))
        return 1;
    if (!*tz || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 60)
        return 0;
    for (const char *c = tz; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("/_+-", *c))
            return 0;
    char path[128];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int day_ok(const struct kue_cron_expr *e, const struct tm *tm)
{
    if (!(e->month & (1u << (tm->tm_mon + 1))))
        return 0;
    int d = (e->dom >> tm->tm_mday) & 1, w = (e->dow >> tm->tm_wday) & 1;
    if (e->dom_any || e->dow_any)
        return d && w;
    return d || w;   /* both restricted: either (Vixie cron) */
}

static int hm_ok(const struct kue_cron_expr *e, int h, int m)
{
    return ((e->hour >> h) & 1) && ((e->minute >> m) & 1);
}

struct zone {
    int utc;
};

static void at(const struct zone *z, time_t t, struct tm *tm)
{
    if (z->utc)
        gmtime_r(&t, tm);
    else
        localtime_r(&t, tm);
}

#define FIVE_YEARS (5LL * 366 * 86400)

static int64_t next_fields(const struct kue_cron_expr *e, const struct zone *z, int64_t after_ms)
{
    time_t u = (time_t)((after_ms >= 0 ? after_ms / 1000 : (after_ms - 999) / 1000) / 60 * 60 + 60);
    time_t end = u + FIVE_YEARS;
    struct tm tm, prev;
    while (u < end) {
        at(z, u, &tm);
        if (!day_ok(e, &tm)) {
            /* to the next local midnight; an hour short, in case a DST
             * change lies between (the next round goes the rest) */
            time_t j = (time_t)(((23 - tm.tm_hour) * 60 + (60 - tm.tm_min)) * 60);
            u += j > 3600 + 60 ? j - 3600 : j;
            continue;
        }
        /* a gap just before u (spring forward): wall minutes that did not
         * happen run now */
        at(z, u - 60, &prev);
        long gap = tm.tm_gmtoff - prev.tm_gmtoff;
        if (gap > 0 && tm.tm_sec == 0) {
            int wall = tm.tm_hour * 60 + tm.tm_min;
            for (long k = 1; k <= gap / 60; k++) {
                int w = wall - (int)k;
                if (w >= 0 && hm_ok(e, w / 60, w % 60))
                    return (int64_t)u * 1000;
            }
        }
        if (!((e->hour >> tm.tm_hour) & 1)) {
            u += (60 - tm.tm_min) * 60;
            continue;
        }
        if (!((e->minute >> tm.tm_min) & 1)) {
            u += 60;
            continue;
        }
        /* a wall time that happens twice (fall back): the first only,
         * unless the schedule runs every hour (as Vixie cron) */
        struct tm early;
        int repeated = 0;
        for (long d = 1800; d <= 7200 && !repeated && !e->hour_any; d += 1800) {
            at(z, u - d, &early);
            if (early.tm_gmtoff > tm.tm_gmtoff && early.tm_hour == tm.tm_hour &&
                early.tm_min == tm.tm_min && early.tm_mday == tm.tm_mday)
                repeated = 1;
        }
        if (repeated) {
            u += 60;
            continue;
        }
        return (int64_t)u * 1000;
    }
    return -1;
}

int64_t kue_cron_next(const struct kue_cron_expr *e, const char *tz, int64_t after_ms)
{
    if (e->every_ms > 0) {
        int64_t k = after_ms >= 0 ? after_ms / e->every_ms : -1;
        return (k + 1) * e->every_ms;
    }
    struct zone z = { .utc = !tz || !*tz || !strcmp(tz, "UTC") };
    if (z.utc)
        return next_fields(e, &z, after_ms);
    const char *old = getenv("TZ");
    char saved[128];
    int had = old != NULL;
    if (had)
        kue_strlcpy(saved, old, sizeof(saved));
    setenv("TZ", tz, 1);
    tzset();
    int64_t r = next_fields(e, &z, after_ms);
    if (had)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    return r;
}
