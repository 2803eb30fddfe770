/*
 * cronexpr.h -- cron schedules: the 5-field form (minute hour day-of-month
 * month day-of-week, with *, lists, ranges, steps, month and day names)
 * and the @ forms (@every DURATION, @hourly, @daily, @midnight, @weekly,
 * @monthly, @yearly, @annually), and the next tick of a schedule in a
 * time zone of the system's tz database (docs/kue-supervisor.md, [cron]).
 *
 * DST: a wall time that does not exist (the hour skipped in spring) runs
 * at the first minute after the gap; a wall time that happens twice (the
 * hour repeated in autumn) runs once, at its first occurrence, unless the
 * hour field allows every hour (then both happen, as in Vixie cron).  @every
 * ticks are multiples of the period since the Unix epoch, whatever the
 * zone, so every supervisor computes the same ticks.
 */
#ifndef KUE_CRONEXPR_H
#define KUE_CRONEXPR_H

#include <stddef.h>
#include <stdint.h>

#define KUE_CRON_EVERY_MIN_MS 1000LL
#define KUE_CRON_EVERY_MAX_MS (366LL * 86400 * 1000)

struct kue_cron_expr {
    int64_t every_ms;        /* @every: the period; 0: the field form */
    uint64_t minute;         /* bit per allowed value */
    uint32_t hour;
    uint32_t dom;            /* bits 1..31 */
    uint16_t month;          /* bits 1..12 */
    uint8_t dow;             /* bits 0..6, Sunday 0 */
    int dom_any, dow_any;    /* the field was '*' (Vixie's day rule) */
    int hour_any;            /* every hour: repeated wall times run twice */
};

/* 0 ok, -1 with the reason in why. */
int kue_cron_parse(const char *text, struct kue_cron_expr *e, char *why, size_t wl);

/* Non-zero when tz is "UTC" or a zone file of the system's tz database. */
int kue_cron_tz_ok(const char *tz);

/* The first tick strictly after after_ms (Unix ms), in zone tz; -1 when
 * there is none within five years (e.g. 30 February).  Sets TZ for the
 * time of the call (the caller is single-threaded). */
int64_t kue_cron_next(const struct kue_cron_expr *e, const char *tz, int64_t after_ms);

#endif
