/*
 * jobs.c -- the commands on one job at a time: create, get, rm, retry,
 * state, priority and log.  Each validates all its arguments (exit 2)
 * before it connects, then calls libkue; every change is one atomic
 * script on the Redis side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "kue_internal.h"
#include "util.h"

#define MAX_SEARCH_KEYS 64

/* ---- create ------------------------------------------------------------------- */

struct create_req {
    const char *type;
    const char *data;           /* JSON text; NULL: {} */
    int from_stdin;
    int prio, has_prio;
    int attempts;
    int64_t delay_ms, run_at_ms, ttl_ms;
    int has_delay, has_run_at;
    char backoff[256];
    int remove_on_complete;
    char keys_buf[1024];
    const char *keys[MAX_SEARCH_KEYS];
    size_t nkeys;
    const char *unique, *group;
    int64_t unique_for_ms;
};

enum { C_PRIO = 1, C_ATTEMPTS, C_DELAY, C_RUN_AT, C_BACKOFF, C_TTL, C_ROC, C_KEYS, C_UNIQUE,
       C_UNIQUE_FOR, C_GROUP };

static const struct option create_opts[] = {
    { "priority", required_argument, NULL, C_PRIO },
    { "attempts", required_argument, NULL, C_ATTEMPTS },
    { "delay", required_argument, NULL, C_DELAY },
    { "run-at", required_argument, NULL, C_RUN_AT },
    { "backoff", required_argument, NULL, C_BACKOFF },
    { "ttl", required_argument, NULL, C_TTL },
    { "remove-on-complete", no_argument, NULL, C_ROC },
    { "search-keys", required_argument, NULL, C_KEYS },
    { "unique", required_argument, NULL, C_UNIQUE },
    { "unique-for", required_argument, NULL, C_UNIQUE_FOR },
    { "group", required_argument, NULL, C_GROUP },
    { NULL, 0, NULL, 0 },
};

static int parse_duration_opt(const char *opt, const char *s, int64_t *ms)
{
    if (kue_parse_duration(s, ms) != 0)
        return cli_usage_error("create", "invalid --%s \"%.64s\" (a duration: 250ms, 5s, 2m, 1h)",
                               opt, s);
    if (*ms > KUE_MAX_DELAY_MS)        /* the ttl has the same bound */
        return cli_usage_error("create", "--%s \"%.64s\" is more than ten years", opt, s);
    return 0;
}

/* --backoff: true | fixed[:D] | exponential[:D[:MAX]] | a JSON object, into
 * the text Kue stores in the job's backoff field. */
static int parse_backoff(const char *s, char *out, size_t len)
{
    static const char *const what =
        "(true, fixed[:DELAY], exponential[:DELAY[:MAX]] or a JSON object)";
    if (!strcmp(s, "true") || s[0] == '{') {
        if (!kue_backoff_valid(s) || strlen(s) >= len)
            return cli_usage_error("create", "invalid --backoff %.128s %s", s, what);
        kue_strlcpy(out, s, len);
        return 0;
    }
    char kind[16], d1[32] = "", d2[32] = "";
    size_t kl = strcspn(s, ":");
    const char *rest = s + kl;
    if (kl >= sizeof kind) goto bad;
    memcpy(kind, s, kl);
    kind[kl] = '\0';
    if (*rest == ':') {
        rest++;
        size_t l1 = strcspn(rest, ":");
        if (l1 == 0 || l1 >= sizeof d1) goto bad;
        memcpy(d1, rest, l1);
        d1[l1] = '\0';
        rest += l1;
        if (*rest == ':') {
            rest++;
            if (!*rest || strlen(rest) >= sizeof d2 || strchr(rest, ':')) goto bad;
            kue_strlcpy(d2, rest, sizeof d2);
        }
    }
    int fixed = !strcmp(kind, "fixed");
    if (!fixed && strcmp(kind, "exponential")) goto bad;
    if (fixed && d2[0]) goto bad;       /* a maximum only makes sense when it grows */
    int64_t delay = 0, max = 0;
    if ((d1[0] && kue_parse_duration(d1, &delay) != 0) || (d2[0] && kue_parse_duration(d2, &max) != 0))
        goto bad;
    int n = snprintf(out, len, "{\"type\":\"%s\"", kind);
    if (d1[0]) n += snprintf(out + n, len - (size_t)n, ",\"delay\":%lld", (long long)delay);
    if (d2[0]) n += snprintf(out + n, len - (size_t)n, ",\"maxDelay\":%lld", (long long)max);
    snprintf(out + n, len - (size_t)n, "}");
    return 0;
bad:
    return cli_usage_error("create", "invalid --backoff \"%.64s\" %s", s, what);
}

static int parse_search_keys(struct create_req *r, const char *s)
{
    if (strlen(s) >= sizeof r->keys_buf)
        return cli_usage_error("create", "--search-keys is too long");
    kue_strlcpy(r->keys_buf, s, sizeof r->keys_buf);
    r->nkeys = 0;
    char *save = NULL;
    for (char *t = strtok_r(r->keys_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (r->nkeys == MAX_SEARCH_KEYS)
            return cli_usage_error("create", "at most %d --search-keys", MAX_SEARCH_KEYS);
        r->keys[r->nkeys++] = t;
    }
    if (r->nkeys == 0) return cli_usage_error("create", "--search-keys is empty");
    return 0;
}

static int create_option(struct create_req *r, int o, const char *arg)
{
    long long v;
    switch (o) {
    case C_PRIO:
        r->has_prio = 1;
        return cli_parse_priority("create", arg, &r->prio);
    case C_ATTEMPTS:
        if (cli_parse_long("create", "--attempts", arg, 1, 1000000, &v)) return CLI_USAGE;
        r->attempts = (int)v;
        return 0;
    case C_DELAY:
        r->has_delay = 1;
        return parse_duration_opt("delay", arg, &r->delay_ms);
    case C_RUN_AT:
        if (cli_parse_long("create", "--run-at", arg, 0, KUE_MAX_RUN_AT_MS, &v)) return CLI_USAGE;
        r->has_run_at = 1;
        r->run_at_ms = v;
        return 0;
    case C_BACKOFF:
        return parse_backoff(arg, r->backoff, sizeof r->backoff);
    case C_TTL:
        return parse_duration_opt("ttl", arg, &r->ttl_ms);
    case C_ROC:
        r->remove_on_complete = 1;
        return 0;
    case C_KEYS:
        return parse_search_keys(r, arg);
    case C_UNIQUE:
        if (!*arg || strlen(arg) > KUE_MAX_UNIQUE_LEN)
            return cli_usage_error("create", "--unique takes a key of 1 to %d bytes",
                                   KUE_MAX_UNIQUE_LEN);
        r->unique = arg;
        return 0;
    case C_UNIQUE_FOR:
        return parse_duration_opt("unique-for", arg, &r->unique_for_ms);
    case C_GROUP:
        if (!*arg || strlen(arg) > KUE_MAX_GROUP_LEN)
            return cli_usage_error("create", "--group takes a name of 1 to %d bytes",
                                   KUE_MAX_GROUP_LEN);
        r->group = arg;
        return 0;
    }
    return CLI_USAGE;
}

/* Read all of stdin, at most KUE_MAX_DATA_LEN bytes.  Caller frees. */
static char *read_stdin(void)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) abort();
    for (;;) {
        if (len == cap - 1) {
            if (cap > KUE_MAX_DATA_LEN + 1) break;
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) abort();
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, stdin);
        if (n == 0) break;
        len += n;
    }
    if (ferror(stdin)) {
        free(buf);
        cli_error("cannot read the job data from stdin");
        return NULL;
    }
    if (len > KUE_MAX_DATA_LEN) {
        free(buf);
        cli_error("job data on stdin is more than the limit of %u bytes", KUE_MAX_DATA_LEN);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static int parse_create(cli_t *c, int argc, char **argv, struct create_req *r)
{
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, create_opts);
    int o;
    while ((o = cli_next(&p)) > 0)
        if (create_option(r, o, p.arg) != 0) return CLI_USAGE;
    if (o < 0) return cli_parse_end(&p, o) == CLI_OK ? -1 : CLI_USAGE;
    if (p.npos < 1) return cli_usage_error("create", "missing the job TYPE");
    if (!p.pos[0][0]) return cli_usage_error("create", "the job TYPE is empty");
    if (p.npos > 2) return cli_usage_error("create", "too many arguments (quote the JSON data)");
    if (r->has_delay && r->has_run_at)
        return cli_usage_error("create", "--delay and --run-at exclude each other");
    if (r->unique_for_ms && !r->unique)
        return cli_usage_error("create", "--unique-for needs --unique");
    r->type = p.pos[0];
    r->data = p.npos > 1 ? p.pos[1] : NULL;
    r->from_stdin = r->data && !strcmp(r->data, "-");
    return 0;
}

static kue_job_t *build_job(const struct create_req *r, const char *data)
{
    kue_job_t *j = kue_job_new(r->type, data);
    if (!j) abort();
    if (r->has_prio) kue_job_set_priority(j, r->prio);
    if (r->attempts) kue_job_set_attempts(j, r->attempts);
    if (r->has_delay) kue_job_set_delay(j, r->delay_ms);
    if (r->has_run_at) kue_job_set_run_at(j, r->run_at_ms);
    if (r->ttl_ms) kue_job_set_ttl(j, r->ttl_ms);
    if (r->backoff[0]) kue_job_set_backoff(j, r->backoff);    /* validated already */
    if (r->remove_on_complete) kue_job_set_remove_on_complete(j, 1);
    if (r->nkeys) kue_job_set_search_keys(j, r->keys, r->nkeys);
    if (r->unique) kue_job_set_unique(j, r->unique, r->unique_for_ms);   /* validated already */
    if (r->group) kue_job_set_group(j, r->group);
    return j;
}

int cmd_create(cli_t *c, int argc, char **argv)
{
    static struct create_req r;
    memset(&r, 0, sizeof r);
    int rc = parse_create(c, argc, argv, &r);
    if (rc) return rc < 0 ? CLI_OK : rc;
    char *in = NULL;
    if (r.from_stdin && !(in = read_stdin())) return CLI_ERR;
    kue_t *k = cli_kue(c);
    if (!k) { free(in); return CLI_ERR; }
    kue_job_t *j = build_job(&r, in ? in : r.data);
    free(in);
    int64_t id = kue_job_save(k, j);
    int existing = id > 0 && kue_job_existing(j);
    kue_job_free(j);
    if (id <= 0) return cli_error("%s", kue_errstr(k));
    if (existing)
        fprintf(stderr, "kue: job %lld holds the unique key: nothing created\n", (long long)id);
    printf("%lld\n", (long long)id);
    return CLI_OK;
}

/* ---- commands taking job ids ---------------------------------------------------- */

/* Parse a command with no options but `extra` and exactly `want`
 * positionals (want < 0: at least one).  Returns 0, or the exit code. */
static int simple_args(cli_t *c, int argc, char **argv, const struct option *extra,
                       int *flag, int want, cli_parser_t *p, const char *what)
{
    cli_parse_begin(p, c, argc, argv, extra);
    int o;
    while ((o = cli_next(p)) > 0) *flag = 1;
    if (o < 0) return cli_parse_end(p, o) == CLI_OK ? -1 : CLI_USAGE;
    if (want < 0 && p->npos == 0) return cli_usage_error(p->cmd, "missing %s", what);
    if (want >= 0 && p->npos < want) return cli_usage_error(p->cmd, "missing %s", what);
    if (want >= 0 && p->npos > want) return cli_usage_error(p->cmd, "too many arguments");
    return 0;
}

static int exit_of(int rc) { return rc < 0 ? CLI_OK : rc; }

static const struct option get_opts[] = {
    { "pretty", no_argument, NULL, 'p' },
    { NULL, 0, NULL, 0 },
};

static int print_json(const char *text, int pretty)
{
    if (!pretty) {
        printf("%s\n", text);
        return CLI_OK;
    }
    kue_jdoc_t *d = kue_jdoc_parse(text, strlen(text), NULL, 0);
    kue_buf_t b;
    kue_buf_init(&b);
    if (d) kue_jv_write_pretty(&b, kue_jdoc_root(d), 2);
    kue_jdoc_free(d);
    printf("%s\n", d && b.p && !b.oom ? b.p : text);
    kue_buf_free(&b);
    return CLI_OK;
}

int cmd_get(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    int pretty = 0;
    int64_t id;
    int rc = simple_args(c, argc, argv, get_opts, &pretty, 1, &p, "the job ID");
    if (rc) return exit_of(rc);
    if (cli_parse_id("get", p.pos[0], &id)) return CLI_USAGE;
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    kue_job_t *j = kue_job_get(k, id);
    if (!j) return cli_error("%s", kue_errstr(k));
    char *json = kue_job_to_json(j, 1);     /* GET /job/:id's shape: "id" is a string */
    kue_job_free(j);
    if (!json) return cli_error("out of memory");
    rc = print_json(json, pretty);
    free(json);
    return rc;
}

/* Parse every positional as an id into ids (p->npos of them). */
static int parse_ids(const cli_parser_t *p, int64_t *ids)
{
    for (int i = 0; i < p->npos; i++)
        if (cli_parse_id(p->cmd, p->pos[i], &ids[i])) return CLI_USAGE;
    return 0;
}

int cmd_rm(cli_t *c, int argc, char **argv)
{
    static cli_parser_t p;
    static int64_t ids[CLI_MAX_ARGS];
    int unused = 0;
    int rc = simple_args(c, argc, argv, NULL, &unused, -1, &p, "the job ID");
    if (rc || (rc = parse_ids(&p, ids))) return exit_of(rc);
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    for (int i = 0; i < p.npos; i++)
        if (kue_job_remove(k, ids[i]) != 0) rc = cli_error("%s", kue_errstr(k));
    return rc;
}

static const struct option cancel_opts[] = {
    { "grace", required_argument, NULL, 'g' },
    { NULL, 0, NULL, 0 },
};

int cmd_cancel(cli_t *c, int argc, char **argv)
{
    static cli_parser_t p;
    static int64_t ids[CLI_MAX_ARGS];
    int64_t grace = KUE_CANCEL_GRACE_DEFAULT_MS;
    cli_parse_begin(&p, c, argc, argv, cancel_opts);
    int o;
    while ((o = cli_next(&p)) > 0) {
        if (kue_parse_duration(p.arg, &grace) != 0 || grace > KUE_MAX_CANCEL_GRACE_MS)
            return cli_usage_error("cancel", "invalid --grace \"%.64s\" (a duration up to 1d: "
                                   "250ms, 5s, 2m)", p.arg);
    }
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos == 0) return cli_usage_error("cancel", "missing the job ID");
    int rc = parse_ids(&p, ids);
    if (rc) return rc;
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    for (int i = 0; i < p.npos; i++) {
        kue_cancel_t out;
        if (kue_job_cancel(k, ids[i], grace, &out) != 0) {
            rc = cli_error("%s", kue_errstr(k));
            continue;
        }
        switch (out) {
        case KUE_CANCEL_DONE:
            printf("%lld cancelled\n", (long long)ids[i]);
            break;
        case KUE_CANCEL_PENDING:
            printf("%lld cancelling (running: its worker is told; killed after %lldms if it "
                   "has not stopped)\n", (long long)ids[i], (long long)grace);
            break;
        case KUE_CANCEL_COMPLETE:
            rc = cli_error("job %lld had already completed: left complete", (long long)ids[i]);
            break;
        default:
            rc = cli_error("job %lld had already failed: left failed", (long long)ids[i]);
            break;
        }
    }
    return rc;
}

static int pause_cmd(cli_t *c, int argc, char **argv, int on)
{
    static cli_parser_t p;
    int unused = 0;
    int rc = simple_args(c, argc, argv, NULL, &unused, -1, &p, "the job TYPE");
    if (rc) return exit_of(rc);
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    for (int i = 0; i < p.npos; i++) {
        if ((on ? kue_type_pause(k, p.pos[i]) : kue_type_resume(k, p.pos[i])) != 0)
            rc = cli_error("%s", kue_errstr(k));
        else
            printf("%s %s\n", p.pos[i], on ? "paused" : "resumed");
    }
    return rc;
}

int cmd_pause(cli_t *c, int argc, char **argv) { return pause_cmd(c, argc, argv, 1); }
int cmd_resume(cli_t *c, int argc, char **argv) { return pause_cmd(c, argc, argv, 0); }

static const struct option retry_opts[] = {
    { "force", no_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
};

static int job_is_active(kue_t *k, int64_t id)
{
    kue_job_t *j = kue_job_get(k, id);
    int active = j && kue_job_state(j) && !strcmp(kue_job_state(j), "active");
    kue_job_free(j);
    return active;
}

/* failed -> inactive, checked and moved in one atomic step; any state but
 * active when forced (a running job is never queued twice). */
static int retry_one(kue_t *k, int64_t id, int force)
{
    int rc = force ? kue_job_set_state(k, id, "inactive") : kue_job_retry(k, id);
    if (rc == 0) return CLI_OK;
    char err[512];
    snprintf(err, sizeof err, "%s", kue_errstr(k));
    if (!force && kue_errcode(k) == KUE_ERR_WRONGSTATE && !job_is_active(k, id))
        return cli_error("%s (--force retries it anyway)", err);
    return cli_error("%s", err);
}

int cmd_retry(cli_t *c, int argc, char **argv)
{
    static cli_parser_t p;
    static int64_t ids[CLI_MAX_ARGS];
    int force = 0;
    int rc = simple_args(c, argc, argv, retry_opts, &force, -1, &p, "the job ID");
    if (rc || (rc = parse_ids(&p, ids))) return exit_of(rc);
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    for (int i = 0; i < p.npos; i++)
        if (retry_one(k, ids[i], force) != CLI_OK) rc = CLI_ERR;
    return rc;
}

int cmd_state(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    int unused = 0;
    int64_t id;
    int rc = simple_args(c, argc, argv, NULL, &unused, 2, &p, "the job ID and the STATE");
    if (rc) return exit_of(rc);
    if (cli_parse_id("state", p.pos[0], &id) || cli_parse_state("state", p.pos[1]))
        return CLI_USAGE;
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    if (kue_job_set_state(k, id, p.pos[1]) != 0) return cli_error("%s", kue_errstr(k));
    return CLI_OK;
}

int cmd_priority(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    int unused = 0, prio;
    int64_t id;
    int rc = simple_args(c, argc, argv, NULL, &unused, 2, &p, "the job ID and the priority");
    if (rc) return exit_of(rc);
    if (cli_parse_id("priority", p.pos[0], &id) || cli_parse_priority("priority", p.pos[1], &prio))
        return CLI_USAGE;
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    if (kue_job_update_priority(k, id, prio) != 0) return cli_error("%s", kue_errstr(k));
    return CLI_OK;
}

int cmd_log(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    int unused = 0;
    int64_t id;
    int rc = simple_args(c, argc, argv, NULL, &unused, 1, &p, "the job ID");
    if (rc) return exit_of(rc);
    if (cli_parse_id("log", p.pos[0], &id)) return CLI_USAGE;
    kue_t *k = cli_kue(c);
    if (!k) return CLI_ERR;
    char **lines;
    size_t n;
    if (kue_job_log(k, id, &lines, &n) != 0) return cli_error("%s", kue_errstr(k));
    if (n == 0) {
        /* An empty log, or no such job: say which. */
        kue_job_t *j = kue_job_get(k, id);
        if (!j) rc = cli_error("%s", kue_errstr(k));
        kue_job_free(j);
    }
    for (size_t i = 0; i < n; i++) printf("%s\n", lines[i]);
    kue_strings_free(lines, n);
    return rc;
}
