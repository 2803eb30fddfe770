/*
 * cron.c -- `kue cron ls|add|rm`: the schedules the leading kue-supervisor
 * runs (docs/kue.md; file ones are read-only here, run-time ones live in
 * P:cron:defs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "json.h"

enum { O_JSON = 1, O_SCHEDULE, O_TYPE, O_DATA, O_PRIO, O_ATTEMPTS, O_BACKOFF, O_TTL, O_DELAY,
       O_TZ, O_CATCH_UP };

static const struct option ls_opts[] = {
    { "json", no_argument, NULL, O_JSON },
    { NULL, 0, NULL, 0 },
};

static const struct option add_opts[] = {
    { "schedule", required_argument, NULL, O_SCHEDULE },
    { "type", required_argument, NULL, O_TYPE },
    { "data", required_argument, NULL, O_DATA },
    { "priority", required_argument, NULL, O_PRIO },
    { "attempts", required_argument, NULL, O_ATTEMPTS },
    { "backoff", required_argument, NULL, O_BACKOFF },
    { "ttl", required_argument, NULL, O_TTL },
    { "delay", required_argument, NULL, O_DELAY },
    { "timezone", required_argument, NULL, O_TZ },
    { "catch-up", required_argument, NULL, O_CATCH_UP },
    { NULL, 0, NULL, 0 },
};

static void when(char *buf, size_t len, double ms)
{
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *jstr(const kue_jv_t *o, const char *k)
{
    const kue_jv_t *v = kue_jv_get(o, k);
    return v && v->type == KUE_JSTR ? v->str : "";
}

static double jnum(const kue_jv_t *o, const char *k)
{
    const kue_jv_t *v = kue_jv_get(o, k);
    return v && v->type == KUE_JNUM ? v->num : 0;
}

static int cron_ls(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, ls_opts);
    int o, json = 0;
    while ((o = cli_next(&p)) > 0)
        json = 1;
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos > 1) return cli_usage_error("cron", "ls takes no arguments");
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    char *out;
    if (kue_cron_list(k, &out) != 0) return cli_error("%s", kue_errstr(k));
    if (json) {
        printf("%s\n", out);
        free(out);
        return CLI_OK;
    }
    char err[128];
    kue_jdoc_t *d = kue_jdoc_parse(out, strlen(out), err, sizeof err);
    free(out);
    if (!d) return cli_error("cron list: %s", err);
    const kue_jv_t *a = kue_jdoc_root(d);
    printf("%-20s %-20s %-12s %-8s %-21s %-21s %s\n", "NAME", "SCHEDULE", "TYPE", "SOURCE",
           "NEXT", "LAST", "JOB");
    for (size_t i = 0; a->type == KUE_JARR && i < a->len; i++) {
        const kue_jv_t *e = a->items[i], *info = kue_jv_get(e, "info"), *def = kue_jv_get(e, "definition");
        const kue_jv_t *src = info && info->type == KUE_JOBJ ? info : def;
        char next[32], last[32];
        when(next, sizeof next, info ? jnum(info, "next") : 0);
        when(last, sizeof last, jnum(e, "last"));
        double job = jnum(e, "job");
        printf("%-20s %-20s %-12s %-8s %-21s %-21s %s", jstr(e, "name"),
               src ? jstr(src, "schedule") : "", src ? jstr(src, "type") : "",
               info && info->type == KUE_JOBJ ? jstr(info, "source") : "runtime", next, last,
               job > 0 ? "" : "-");
        if (job > 0) printf("%.0f", job);
        if (info && info->type == KUE_JOBJ && jstr(info, "error")[0])
            printf("  (error: %s)", jstr(info, "error"));
        else if (!info || info->type != KUE_JOBJ)
            printf("  (not seen by a leader yet)");
        printf("\n");
    }
    kue_jdoc_free(d);
    return CLI_OK;
}

static int cron_add(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, add_opts);
    kue_buf_t b;
    kue_buf_init(&b);
    kue_buf_putc(&b, '{');
    int o, n = 0;
    while ((o = cli_next(&p)) > 0) {
        const char *name = add_opts[o - O_SCHEDULE].name;
        if (!strcmp(name, "catch-up")) name = "catch_up";
        kue_buf_printf(&b, "%s\"%s\":", n++ ? "," : "", name);
        if (o == O_DATA || (o == O_BACKOFF && p.arg[0] == '{')) {
            if (!kue_json_valid(p.arg, strlen(p.arg))) {
                kue_buf_free(&b);
                return cli_usage_error("cron", "--%s: not JSON", add_opts[o - O_SCHEDULE].name);
            }
            kue_buf_puts(&b, p.arg);
        } else {
            kue_json_str(&b, p.arg, strlen(p.arg));
        }
    }
    kue_buf_putc(&b, '}');
    if (o < 0) {
        kue_buf_free(&b);
        return cli_parse_end(&p, o);
    }
    if (p.npos != 2) {
        kue_buf_free(&b);
        return cli_usage_error("cron", "add needs the NAME (and options)");
    }
    kue_t *k = cli_kue(c);
    char *def = kue_buf_take(&b);
    if (!k || !def) {
        free(def);
        return CLI_ERR;
    }
    int rc = kue_cron_put(k, p.pos[1], def);
    free(def);
    if (rc != 0) return cli_error("cron add: %s", kue_errstr(k));
    return CLI_OK;
}

static int cron_rm(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, NULL);
    int o;
    while ((o = cli_next(&p)) > 0) {}
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos != 2) return cli_usage_error("cron", "rm needs the NAME");
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    int rc = kue_cron_del(k, p.pos[1]);
    if (rc < 0) return cli_error("cron rm: %s", kue_errstr(k));
    if (rc == 0) return cli_error("cron rm: no run-time schedule \"%s\" (file schedules change in the INI)",
                                  p.pos[1]);
    return CLI_OK;
}

int cmd_cron(cli_t *c, int argc, char **argv)
{
    const char *sub = NULL;
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-') {
            sub = argv[i];
            break;
        }
    if (sub && !strcmp(sub, "ls")) return cron_ls(c, argc, argv);
    if (sub && !strcmp(sub, "add")) return cron_add(c, argc, argv);
    if (sub && !strcmp(sub, "rm")) return cron_rm(c, argc, argv);
    /* --help, or no/unknown subcommand: the parser prints the help */
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, add_opts);
    int o;
    while ((o = cli_next(&p)) > 0) {}
    if (o < 0) return cli_parse_end(&p, o);
    return cli_usage_error("cron", "ls, add or rm");
}
