/*
 * list.c -- the commands on many jobs: ls (a table or a JSON array),
 * stats (counts per state, per type), types and promote.
 *
 * ls streams: ids come first (one ZRANGE, or five for a type in any
 * state), then the jobs are loaded and printed in pipelined batches, so a
 * long listing never holds more than one batch of jobs.  Column widths are
 * known before the first job is loaded (from the largest id and the known
 * types).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "kue_internal.h"
#include "util.h"

#define LS_BATCH 256
#define TYPE_COL_MAX 24
#define TITLE_MAX 60

/* ---- ls ----------------------------------------------------------------------- */

struct ls_req {
    const char *state, *type;
    long long from, to;
    int desc, json;
};

enum { L_STATE = 1, L_TYPE, L_FROM, L_TO, L_DESC, L_JSON };

static const struct option ls_opts[] = {
    { "state", required_argument, NULL, L_STATE },
    { "type", required_argument, NULL, L_TYPE },
    { "from", required_argument, NULL, L_FROM },
    { "to", required_argument, NULL, L_TO },
    { "desc", no_argument, NULL, L_DESC },
    { "json", no_argument, NULL, L_JSON },
    { NULL, 0, NULL, 0 },
};

static int ls_option(struct ls_req *r, int o, const char *arg)
{
    switch (o) {
    case L_STATE: r->state = arg; return cli_parse_state("ls", arg);
    case L_TYPE: r->type = arg; return 0;
    case L_FROM: return cli_parse_long("ls", "--from", arg, -1000000000000LL, 1000000000000LL, &r->from);
    case L_TO: return cli_parse_long("ls", "--to", arg, -1000000000000LL, 1000000000000LL, &r->to);
    case L_DESC: r->desc = 1; return 0;
    case L_JSON: r->json = 1; return 0;
    }
    return CLI_USAGE;
}

static int cmp_asc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_desc(const void *a, const void *b) { return cmp_asc(b, a); }

/* Jobs of a type in any state: the union of its five sets by id, then the
 * range taken as ZRANGE would (inclusive, negatives from the end). */
static int ids_of_type(kue_t *k, const struct ls_req *r, int64_t **out, size_t *n)
{
    int64_t *all = NULL;
    size_t total = 0;
    for (int s = 0; s < KUE_STATE__COUNT; s++) {
        int64_t *v;
        size_t m;
        if (kue_range(k, r->type, kue_state_name((kue_state_t)s), 0, -1, 0, &v, &m) != 0) {
            free(all);
            return -1;
        }
        int64_t *na = realloc(all, (total + m + 1) * sizeof *na);
        if (!na) abort();
        all = na;
        memcpy(all + total, v, m * sizeof *v);
        total += m;
        free(v);
    }
    qsort(all, total, sizeof *all, r->desc ? cmp_desc : cmp_asc);
    long long from = r->from < 0 ? (long long)total + r->from : r->from;
    long long to = r->to < 0 ? (long long)total + r->to : r->to;
    if (from < 0) from = 0;
    if (to >= (long long)total) to = (long long)total - 1;
    size_t m = to >= from ? (size_t)(to - from + 1) : 0;
    memmove(all, all + (m ? from : 0), m * sizeof *all);
    *out = all;
    *n = m;
    return 0;
}

static int ls_ids(kue_t *k, const struct ls_req *r, int64_t **ids, size_t *n)
{
    if (r->type && !r->state) return ids_of_type(k, r, ids, n);
    return kue_range(k, r->type, r->state, (long)r->from, (long)r->to, r->desc, ids, n);
}

/* "12s", "5m", "3h", "4d" since a created_at in ms. */
static void format_age(const char *created, int64_t now, char *buf, size_t len)
{
    long long t;
    if (!created || kue_parse_int(created, 0, INT64_MAX, &t) != 0) {
        kue_strlcpy(buf, "-", len);
        return;
    }
    long long s = (now - t) / 1000;
    if (s < 0) s = 0;
    if (s < 60) snprintf(buf, len, "%llds", s);
    else if (s < 3600) snprintf(buf, len, "%lldm", s / 60);
    else if (s < 48 * 3600) snprintf(buf, len, "%lldh", s / 3600);
    else snprintf(buf, len, "%lldd", s / 86400);
}

/* Copy at most max bytes of s on a UTF-8 boundary, control characters as
 * spaces, "..." when cut (out holds max + 4 bytes). */
static void clip(const char *s, char *out, size_t max)
{
    size_t n = 0, i = 0;
    for (; s[i] && n < max; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    if (s[i]) {
        /* out[x] stands for s[x]: step back while s[n] continues a character */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* What identifies a job to a person: data.title, else the first field as
 * key=value, else the data itself. */
static void job_title(const kue_job_t *j, char *out, size_t max)
{
    const char *data = kue_job_data(j) ? kue_job_data(j) : kue_job_field(j, "data");
    /* the JSON.parse-compatible reader: big integers and lone surrogates
     * are data like any other; data that is not JSON is shown as it is */
    kue_jdoc_t *d = data ? kue_jdoc_parse(data, strlen(data), NULL, 0) : NULL;
    const kue_jv_t *v = kue_jdoc_root(d);
    kue_buf_t t;
    kue_buf_init(&t);
    if (!v) {
        if (data) kue_buf_puts(&t, data);
    } else if (v->type == KUE_JOBJ && kue_jv_get(v, "title") &&
               kue_jv_get(v, "title")->type == KUE_JSTR) {
        kue_jv_to_string(&t, kue_jv_get(v, "title"));
    } else if (v->type == KUE_JOBJ && v->len > 0) {
        kue_jv_to_string(&t, v->keys[0]);
        kue_buf_putc(&t, '=');
        if (v->items[0]->type == KUE_JSTR) kue_jv_to_string(&t, v->items[0]);
        else kue_jv_write(&t, v->items[0]);
    } else if (v->type != KUE_JOBJ) {
        kue_jv_write(&t, v);
    }
    kue_jdoc_free(d);
    clip(t.p && !t.oom ? t.p : "", out, max);
    kue_buf_free(&t);
}

struct ls_widths { int id, type; };

static void ls_header(const struct ls_widths *w)
{
    printf("%-*s  %-*s  %-8s  %-8s  %-8s  %-4s  %s\n", w->id, "ID", w->type, "TYPE", "STATE",
           "PRIORITY", "ATTEMPTS", "AGE", "DATA");
}

static void ls_row(const struct ls_widths *w, const kue_job_t *j, int64_t now)
{
    char prio[16], attempts[32], age[16], title[TITLE_MAX + 4], type[TYPE_COL_MAX + 4];
    const char *pn = kue_priority_name(kue_job_priority(j));
    if (pn) kue_strlcpy(prio, pn, sizeof prio);
    else snprintf(prio, sizeof prio, "%d", kue_job_priority(j));
    snprintf(attempts, sizeof attempts, "%d/%d", kue_job_attempts_made(j), kue_job_attempts_max(j));
    format_age(kue_job_field(j, "created_at"), now, age, sizeof age);
    job_title(j, title, TITLE_MAX);
    clip(kue_job_type(j) ? kue_job_type(j) : "", type, TYPE_COL_MAX);
    const char *state = kue_job_state(j);
    printf("%-*lld  %-*s  %-8s  %-8s  %-8s  %-4s  %s\n", w->id, (long long)kue_job_id(j), w->type,
           type, state ? state : "-", prio, attempts, age, title);
}

static void ls_widths(kue_t *k, const struct ls_req *r, const int64_t *ids, size_t n,
                      struct ls_widths *w)
{
    int64_t max = 0;
    for (size_t i = 0; i < n; i++) if (ids[i] > max) max = ids[i];
    char buf[24];
    w->id = snprintf(buf, sizeof buf, "%lld", (long long)max);
    if (w->id < 2) w->id = 2;
    w->type = 4;
    char **types = NULL;
    size_t nt = 0;
    if (r->type) w->type = (int)strlen(r->type);
    else if (kue_types(k, &types, &nt) == 0)
        for (size_t i = 0; i < nt; i++)
            if ((int)strlen(types[i]) > w->type) w->type = (int)strlen(types[i]);
    kue_strings_free(types, nt);
    if (w->type > TYPE_COL_MAX + 3) w->type = TYPE_COL_MAX + 3;
}

/* Load and print ids[0..n) in batches.  Jobs removed meanwhile are skipped. */
static int ls_print(kue_t *k, const struct ls_req *r, const int64_t *ids, size_t n)
{
    struct ls_widths w = { 0, 0 };
    int64_t now = kue_now_ms();
    int first = 1;
    if (r->json) fputs("[", stdout);
    else {
        ls_widths(k, r, ids, n, &w);
        ls_header(&w);
    }
    kue_job_t *jobs[LS_BATCH];
    for (size_t at = 0; at < n; at += LS_BATCH) {
        size_t m = n - at < LS_BATCH ? n - at : LS_BATCH;
        if (kue_jobs_get(k, ids + at, m, jobs) != 0) {
            if (r->json) fputs("]\n", stdout);
            return cli_error("%s", kue_errstr(k));
        }
        for (size_t i = 0; i < m; i++) {
            if (!jobs[i]) continue;
            if (r->json) {
                char *s = kue_job_to_json(jobs[i], 0);
                if (s) printf("%s%s", first ? "" : ",", s);
                if (s) first = 0;
                free(s);
            } else {
                ls_row(&w, jobs[i], now);
            }
            kue_job_free(jobs[i]);
        }
    }
    if (r->json) fputs("]\n", stdout);
    return CLI_OK;
}

int cmd_ls(cli_t *c, int argc, char **argv)
{
    struct ls_req r = { NULL, NULL, 0, 99, 0, 0 };
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, ls_opts);
    int o;
    while ((o = cli_next(&p)) > 0)
        if (ls_option(&r, o, p.arg) != 0) return CLI_USAGE;
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos) return cli_usage_error("ls", "unexpected argument \"%.64s\"", p.pos[0]);
    if (r.type && (!*r.type || strlen(r.type) > KUE_MAX_TYPE_LEN))
        return cli_usage_error("ls", "invalid --type \"%.64s\"", r.type);
    c->json = r.json;
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    int64_t *ids;
    size_t n;
    if (ls_ids(k, &r, &ids, &n) != 0) return cli_error("%s", kue_errstr(k));
    int rc = ls_print(k, &r, ids, n);
    free(ids);
    return rc;
}

/* ---- stats ---------------------------------------------------------------------- */

enum { S_JSON = 1, S_BY_TYPE };

static const struct option stats_opts[] = {
    { "json", no_argument, NULL, S_JSON },
    { "by-type", no_argument, NULL, S_BY_TYPE },
    { NULL, 0, NULL, 0 },
};

/* Counts in Kue's /stats order. */
static const kue_state_t kue_order[] = { KUE_STATE_INACTIVE, KUE_STATE_COMPLETE, KUE_STATE_ACTIVE,
                                         KUE_STATE_FAILED, KUE_STATE_DELAYED };

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int type_counts(kue_t *k, const char *type, long long counts[KUE_STATE__COUNT])
{
    for (int s = 0; s < KUE_STATE__COUNT; s++)
        if ((counts[s] = kue_count(k, type, kue_state_name((kue_state_t)s))) < 0) return -1;
    return 0;
}

static void json_counts(const long long counts[KUE_STATE__COUNT])
{
    for (size_t i = 0; i < KUE_STATE__COUNT; i++)
        printf("%s\"%sCount\":%lld", i ? "," : "", kue_state_name(kue_order[i]),
               counts[kue_order[i]]);
}

static int stats_by_type(kue_t *k, int json)
{
    char **types;
    size_t nt;
    if (kue_types(k, &types, &nt) != 0) return cli_error("%s", kue_errstr(k));
    qsort(types, nt, sizeof *types, cmp_str);
    int w = 4;
    for (size_t i = 0; i < nt; i++) if ((int)strlen(types[i]) > w) w = (int)strlen(types[i]);
    if (json) fputs(",\"types\":{", stdout);
    else printf("\n%-*s  %8s  %8s  %8s  %8s  %8s\n", w, "TYPE", "INACTIVE", "ACTIVE", "COMPLETE",
                "FAILED", "DELAYED");
    int rc = CLI_OK;
    for (size_t i = 0; i < nt && rc == CLI_OK; i++) {
        long long n[KUE_STATE__COUNT];
        if (type_counts(k, types[i], n) != 0) { rc = cli_error("%s", kue_errstr(k)); break; }
        if (json) {
            kue_buf_t qs;
            kue_buf_init(&qs);
            kue_json_str(&qs, types[i], strlen(types[i]));
            printf("%s%s:{", i ? "," : "", qs.p && !qs.oom ? qs.p : "\"?\"");
            kue_buf_free(&qs);
            json_counts(n);
            fputs("}", stdout);
        } else {
            printf("%-*s  %8lld  %8lld  %8lld  %8lld  %8lld\n", w, types[i], n[0], n[1], n[2],
                   n[3], n[4]);
        }
    }
    if (json) fputs("}", stdout);
    kue_strings_free(types, nt);
    return rc;
}

/* The paused types (kue pause), when there are any: a "paused" line, or
 * a "paused" array in the JSON object. */
static int print_paused(kue_t *k, int json)
{
    char **types;
    size_t nt;
    if (kue_paused_types(k, &types, &nt) != 0) return cli_error("%s", kue_errstr(k));
    qsort(types, nt, sizeof *types, cmp_str);
    if (nt) fputs(json ? ",\"paused\":[" : "paused    ", stdout);
    for (size_t i = 0; i < nt; i++) {
        if (json) {
            kue_buf_t qs;
            kue_buf_init(&qs);
            kue_json_str(&qs, types[i], strlen(types[i]));
            printf("%s%s", i ? "," : "", qs.p && !qs.oom ? qs.p : "\"?\"");
            kue_buf_free(&qs);
        } else {
            printf("%s%s", i ? ", " : "", types[i]);
        }
    }
    if (nt) fputs(json ? "]" : "\n", stdout);
    kue_strings_free(types, nt);
    return CLI_OK;
}

int cmd_stats(cli_t *c, int argc, char **argv)
{
    int json = 0, by_type = 0;
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, stats_opts);
    int o;
    while ((o = cli_next(&p)) > 0) {
        if (o == S_JSON) json = 1;
        else by_type = 1;
    }
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos) return cli_usage_error("stats", "unexpected argument \"%.64s\"", p.pos[0]);
    c->json = json;
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    kue_stats_t s;
    if (kue_stats(k, &s) != 0) return cli_error("%s", kue_errstr(k));
    long long n[KUE_STATE__COUNT] = { s.inactive, s.active, s.complete, s.failed, s.delayed };
    char wt[24] = "null";
    if (s.work_time_ms >= 0) snprintf(wt, sizeof wt, "%lld", s.work_time_ms);
    int rc = CLI_OK;
    if (json) {
        fputs("{", stdout);
        json_counts(n);
        printf(",\"workTime\":%s", wt);
        if (by_type) rc = stats_by_type(k, 1);
        if (rc == CLI_OK) rc = print_paused(k, 1);
        fputs("}\n", stdout);
        return rc;
    }
    for (int i = 0; i < KUE_STATE__COUNT; i++)
        printf("%-9s %lld\n", kue_state_name((kue_state_t)i), n[i]);
    printf("%-9s %s\n", "workTime", s.work_time_ms >= 0 ? wt : "-");
    if ((rc = print_paused(k, 0)) != CLI_OK) return rc;
    if (by_type) rc = stats_by_type(k, 0);
    return rc;
}

/* ---- types, promote ------------------------------------------------------------ */

int cmd_types(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, NULL);
    int o;
    while ((o = cli_next(&p)) > 0) {}
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos) return cli_usage_error("types", "takes no arguments");
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    char **types;
    size_t n;
    if (kue_types(k, &types, &n) != 0) return cli_error("%s", kue_errstr(k));
    qsort(types, n, sizeof *types, cmp_str);
    for (size_t i = 0; i < n; i++) printf("%s\n", types[i]);
    kue_strings_free(types, n);
    return CLI_OK;
}

/* Ids whose data matches every word of the query (Kue's reds index: only
 * jobs saved with search on are indexed). */
int cmd_search(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, NULL);
    int o;
    while ((o = cli_next(&p)) > 0) {}
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos < 1) return cli_usage_error("search", "needs the QUERY");
    char q[4096] = "";
    size_t len = 0;
    for (int i = 0; i < p.npos; i++) {
        int w = snprintf(q + len, sizeof q - len, "%s%s", i ? " " : "", p.pos[i]);
        if (w < 0 || (size_t)w >= sizeof q - len) return cli_usage_error("search", "query too long");
        len += (size_t)w;
    }
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    char **ids;
    size_t n;
    if (kue_search(k, q, &ids, &n) != 0) return cli_error("%s", kue_errstr(k));
    for (size_t i = 0; i < n; i++) printf("%s\n", ids[i]);
    kue_strings_free(ids, n);
    return CLI_OK;
}

static const struct option promote_opts[] = {
    { "limit", required_argument, NULL, 'l' },
    { NULL, 0, NULL, 0 },
};

int cmd_promote(cli_t *c, int argc, char **argv)
{
    long long limit = 1000;
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, promote_opts);
    int o;
    while ((o = cli_next(&p)) > 0)
        if (cli_parse_long("promote", "--limit", p.arg, 1, 1000000, &limit)) return CLI_USAGE;
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos) return cli_usage_error("promote", "takes no arguments");
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    long promoted = 0;
    if (kue_promote(k, (long)limit, &promoted, NULL) != 0) return cli_error("%s", kue_errstr(k));
    printf("%ld\n", promoted);
    return CLI_OK;
}
