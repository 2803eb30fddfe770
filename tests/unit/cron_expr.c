/*
 * cron_expr.c -- cron schedules: the 5-field and @ forms, their errors,
 * next ticks in UTC and in zones with DST (the skipped and the repeated
 * hour), and a [cron NAME] section's errors naming file:line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cronexpr.h"
#include "harness.h"
#include "../../supervisor/config.c"

/* Unix ms of a UTC date-time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi };
    return (int64_t)timegm(&tm) * 1000;
}

static struct kue_cron_expr parse(const char *s)
{
    struct kue_cron_expr e;
    char why[256];
    cr_assert_eq(kue_cron_parse(s, &e, why, sizeof(why)), 0, "%s: %s", s, why);
    return e;
}

static void bad(const char *s, const char *needle)
{
    struct kue_cron_expr e;
    char why[256] = "";
    cr_expect_eq(kue_cron_parse(s, &e, why, sizeof(why)), -1, "\"%s\" accepted", s);
    cr_expect(strstr(why, needle), "\"%s\": %s (wanted %s)", s, why, needle);
}

Test(cron_expr, errors)
{
    bad("* * * *", "5 fields");
    bad("* * * * * *", "5 fields");
    bad("60 * * * *", "minute");
    bad("* 24 * * *", "hour");
    bad("* * 0 * *", "day of month");
    bad("* * * 13 *", "month");
    bad("* * * * 8", "day of week");
    bad("*/0 * * * *", "minute");
    bad("a * * * *", "minute");
    bad("5-1 * * * *", "minute");
    bad("@every", "not a schedule");
    bad("@every 500ms", "whole seconds");
    bad("@every 1.5s", "@every");
    bad("@fortnightly", "not a schedule");
}

Test(cron_expr, utc_fields)
{
    struct kue_cron_expr e = parse("*/15 * * * *");
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 1, 1, 10, 7)), utc(2025, 1, 1, 10, 15));
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 1, 1, 10, 15)), utc(2025, 1, 1, 10, 30));
    e = parse("0 3 * * *");
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 1, 1, 3, 0)), utc(2025, 1, 2, 3, 0));
    e = parse("30 9 * * mon-fri");   /* 2025-01-04 is a Saturday */
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 1, 3, 10, 0)), utc(2025, 1, 6, 9, 30));
    e = parse("0 0 29 feb *");
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 1, 1, 0, 0)), utc(2028, 2, 29, 0, 0));
    e = parse("0 0 30 feb *");
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 1, 1, 0, 0)), -1);
    /* both day fields restricted: either matches (Vixie cron) */
    e = parse("0 12 1 * sun");    /* 2025-02-01 Saturday, 2025-02-02 Sunday */
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 1, 31, 13, 0)), utc(2025, 2, 1, 12, 0));
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 2, 1, 12, 0)), utc(2025, 2, 2, 12, 0));
    e = parse("0 0 * * 7");       /* 7 is Sunday */
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 2, 1, 0, 0)), utc(2025, 2, 2, 0, 0));
    e = parse("@daily");
    cr_expect_eq(kue_cron_next(&e, "UTC", utc(2025, 2, 1, 0, 0)), utc(2025, 2, 2, 0, 0));
}

Test(cron_expr, every_is_aligned_to_the_epoch)
{
    struct kue_cron_expr e = parse("@every 30s");
    cr_expect_eq(kue_cron_next(&e, "Europe/Berlin", 1000), 30000);
    cr_expect_eq(kue_cron_next(&e, "UTC", 30000), 60000);
    cr_expect_eq(kue_cron_next(&e, "UTC", 59999), 60000);
}

Test(cron_expr, zone_without_dst_change)
{
    /* 03:00 in Berlin in winter (UTC+1) is 02:00 UTC; in summer 01:00 UTC */
    struct kue_cron_expr e = parse("0 3 * * *");
    cr_expect_eq(kue_cron_next(&e, "Europe/Berlin", utc(2025, 1, 10, 12, 0)), utc(2025, 1, 11, 2, 0));
    cr_expect_eq(kue_cron_next(&e, "Europe/Berlin", utc(2025, 7, 10, 12, 0)), utc(2025, 7, 11, 1, 0));
    cr_expect_eq(kue_cron_next(&e, "America/New_York", utc(2025, 1, 10, 12, 0)), utc(2025, 1, 11, 8, 0));
}

Test(cron_expr, spring_forward_skipped_hour_runs_after_the_gap)
{
    /* Berlin 2025-03-30: 02:00 CET becomes 03:00 CEST (01:00 UTC) */
    struct kue_cron_expr e = parse("30 2 * * *");
    int64_t t = kue_cron_next(&e, "Europe/Berlin", utc(2025, 3, 29, 12, 0));
    cr_expect_eq(t, utc(2025, 3, 30, 1, 0), "got %lld", (long long)t);   /* 03:00 CEST, once */
    t = kue_cron_next(&e, "Europe/Berlin", t);
    cr_expect_eq(t, utc(2025, 3, 31, 0, 30), "got %lld", (long long)t);  /* 02:30 CEST */
    /* a time outside the gap on that day is not moved */
    e = parse("30 3 * * *");
    cr_expect_eq(kue_cron_next(&e, "Europe/Berlin", utc(2025, 3, 29, 12, 0)), utc(2025, 3, 30, 1, 30));
    /* New York 2025-03-09: 02:00 EST becomes 03:00 EDT (07:00 UTC) */
    e = parse("15 2 * * *");
    cr_expect_eq(kue_cron_next(&e, "America/New_York", utc(2025, 3, 8, 12, 0)), utc(2025, 3, 9, 7, 0));
    /* every-hour schedules just go on */
    e = parse("0 * * * *");
    cr_expect_eq(kue_cron_next(&e, "Europe/Berlin", utc(2025, 3, 30, 0, 30)), utc(2025, 3, 30, 1, 0));
}

Test(cron_expr, fall_back_repeated_hour_runs_once)
{
    /* Berlin 2025-10-26: 03:00 CEST becomes 02:00 CET (01:00 UTC): 02:30
     * happens at 00:30 UTC and at 01:30 UTC */
    struct kue_cron_expr e = parse("30 2 * * *");
    int64_t t = kue_cron_next(&e, "Europe/Berlin", utc(2025, 10, 25, 12, 0));
    cr_expect_eq(t, utc(2025, 10, 26, 0, 30), "got %lld", (long long)t);
    t = kue_cron_next(&e, "Europe/Berlin", t);
    cr_expect_eq(t, utc(2025, 10, 27, 1, 30), "the repeated 02:30 ran again: %lld", (long long)t);
    /* an every-hour schedule runs in both copies of the hour */
    e = parse("0 * * * *");
    t = kue_cron_next(&e, "Europe/Berlin", utc(2025, 10, 26, 0, 0));
    cr_expect_eq(t, utc(2025, 10, 26, 1, 0), "got %lld", (long long)t);
    /* New York 2025-11-02: 01:30 EDT (05:30 UTC) and 01:30 EST (06:30 UTC) */
    e = parse("30 1 * * *");
    t = kue_cron_next(&e, "America/New_York", utc(2025, 11, 1, 12, 0));
    cr_expect_eq(t, utc(2025, 11, 2, 5, 30));
    cr_expect_eq(kue_cron_next(&e, "America/New_York", t), utc(2025, 11, 3, 6, 30));
}

Test(cron_expr, zones)
{
    cr_expect(kue_cron_tz_ok("UTC"));
    cr_expect(kue_cron_tz_ok("Europe/Berlin"));
    cr_expect(!kue_cron_tz_ok("Mars/Olympus"));
    cr_expect(!kue_cron_tz_ok("../../etc/passwd"));
    cr_expect(!kue_cron_tz_ok(""));
}

static void config_error(const char *text, const char *needle)
{
    static struct sup_config cfg;
    char err[1024] = "";
    cr_expect_eq(sup_config_load_string(&cfg, text, "w.ini", kt_tmpdir(), err, sizeof(err)), -1,
                 "accepted:\n%s", text);
    cr_expect(strstr(err, needle), "%s (wanted %s)", err, needle);
}

Test(cron_expr, config_errors_name_file_and_line)
{
    config_error("[cron a]\ntype = t\nschedule = 61 * * * *\n", "w.ini:3: [cron a] schedule: minute");
    config_error("[cron a]\nschedule = @every 1s\n", "w.ini:1: [cron a] type: missing");
    config_error("[cron a]\ntype = t\n", "w.ini:1: [cron a] schedule: missing");
    config_error("[cron a]\ntype = t\nschedule = @daily\ntimezone = Mars/Base\n",
                 "w.ini:4: [cron a] timezone");
    config_error("[cron a]\ntype = t\nschedule = @daily\ndata = {x}\n", "w.ini:4: [cron a] data");
    config_error("[cron a]\ntype = t\nschedule = @daily\npriority = urgent\n",
                 "w.ini:4: [cron a] priority");
    config_error("[cron a]\ntype = t\nschedule = @daily\ncatch_up = some\n", "w.ini:4: [cron a] catch_up");
    config_error("[cron a]\ntype = t\nschedule = @daily\n[cron a]\n", "w.ini:4: [cron a]: duplicate");
    config_error("[retention x]\ninterval = 1s\n", "w.ini:2: [retention x] interval: only in [retention]");
    config_error("[retention]\nkeep_complete = -1\n", "w.ini:2: [retention] keep_complete");
}

Test(cron_expr, config_values)
{
    static struct sup_config cfg;
    char err[1024] = "";
    cr_assert_eq(sup_config_load_string(&cfg,
                 "[retention]\nkeep_complete = 5\nkeep_failed_for = 2d\n"
                 "[retention email]\nkeep_failed = 7\n"
                 "[cron nightly]\nschedule = 0 3 * * *\ntype = report\npriority = high\n"
                 "timezone = Europe/Berlin\ncatch_up = all\n",
                 "w.ini", kt_tmpdir(), err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(cfg.retention.keep_complete, 5);
    cr_expect_eq(cfg.retention.keep_failed, 100000);
    cr_expect_eq(cfg.retention.keep_failed_for_ms, 2LL * 86400 * 1000);
    const struct sup_retention *r = sup_config_retention(&cfg, "email");
    cr_expect_eq(r->keep_failed, 7);
    cr_expect_eq(r->keep_complete, 5, "unset keys come from [retention]");
    cr_expect_eq(r->keep_failed_for_ms, 2LL * 86400 * 1000);
    cr_expect_eq(sup_config_retention(&cfg, "other"), &cfg.retention);
    cr_assert_eq(cfg.ncron, 1);
    cr_expect_str_eq(cfg.crons[0].priority, "-10");
    cr_expect_str_eq(cfg.crons[0].catch_up, "all");
    cr_expect_eq(cfg.leader_lease_ms, 5000);
}
