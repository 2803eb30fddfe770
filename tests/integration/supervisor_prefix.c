/*
 * supervisor_prefix.c -- types on their own prefixes under one supervisor
 * ([type NAME] prefix): each type's jobs are claimed, completed, leased
 * and settled under its prefix, delayed jobs are promoted on every prefix,
 * a worker killed mid-job on the second prefix has its job settled and
 * retried there, nothing lands under the wrong prefix, and `kue --prefix
 * A,B` shows both; a reload moves a type to a new prefix.  On a cluster, two
 * hashtag prefixes in slots of different masters both run.
 */
#include "supervisor_common.h"
#include "topology.h"

#include "cluster.h"

static struct sup_t S;

TestSuite(supervisor_prefix, .fini = sup_fini, .timeout = 120);

static kue_t *K2;   /* prefix p2 */

static int64_t save_on(kue_t *k, const char *type, const char *data, int attempts, int64_t delay)
{
    kue_job_t *j = kue_job_new(type, data);
    cr_assert(j);
    if (attempts > 1)
        kue_job_set_attempts(j, attempts);
    if (delay > 0)
        kue_job_set_delay(j, delay);
    int64_t id = kue_job_save(k, j);
    cr_assert_gt(id, 0, "save: %s", kue_errstr(k));
    kue_job_free(j);
    return id;
}

struct on_arg { kue_t *k; int64_t id; const char *state; };

static int state_on_is(void *a)
{
    struct on_arg *x = a;
    kue_job_t *j = kue_job_get(x->k, x->id);
    int r = j && !strcmp(kue_job_field(j, "state"), x->state);
    kue_job_free(j);
    return r;
}

static int wait_on(kue_t *k, int64_t id, const char *state, int ms)
{
    struct on_arg a = { k, id, state };
    return kt_wait_until(state_on_is, &a, ms);
}

static long long count_all(kue_t *k, const char *type)
{
    static const char *const st[] = { "inactive", "active", "complete", "failed", "delayed" };
    long long n = 0;
    for (int i = 0; i < 5; i++)
        n += kue_count(k, type, st[i]);
    return n;
}

/* The supervisor's log, for a failure message (static, at most 4 KiB). */
static const char *log_tail(void)
{
    static char buf[4097];
    char *t = kt_read_file(S.log);
    size_t n = t ? strlen(t) : 0;
    snprintf(buf, sizeof buf, "%s", t ? t + (n > 4096 ? n - 4096 : 0) : "(no log)");
    free(t);
    return buf;
}

static void field_on(kue_t *k, int64_t id, const char *f, char *buf, size_t len)
{
    buf[0] = '\0';
    kue_job_t *j = kue_job_get(k, id);
    if (j && kue_job_field(j, f))
        snprintf(buf, len, "%s", kue_job_field(j, f));
    kue_job_free(j);
}

/* The stdout of a command line (at most 64 KiB). */
static char *run_out(const char *cmd, int *code)
{
    FILE *f = popen(cmd, "r");
    cr_assert(f, "%s", cmd);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    int st = pclose(f);
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

/* Every key is under q: or p2:; each prefix knows only its own type. */
static void check_keys_by_prefix(void)
{
    redisContext *c = kt_redis_connect(&S.redis);
    redisReply *r = kt_cmd(c, "KEYS *");
    for (size_t i = 0; i < r->elements; i++) {
        const char *key = r->element[i]->str;
        cr_expect(!strncmp(key, "q:", 2) || !strncmp(key, "p2:", 3), "key %s under no prefix", key);
        cr_expect(!(strstr(key, ":sleep:") && !strncmp(key, "q:", 2)), "sleep key under q: %s", key);
        cr_expect(!(strstr(key, ":echo:") && !strncmp(key, "p2:", 3)), "echo key under p2: %s", key);
    }
    freeReplyObject(r);
    r = kt_cmd(c, "SMEMBERS q:job:types");
    cr_assert_eq(r->elements, 1);
    cr_assert_str_eq(r->element[0]->str, "echo");
    freeReplyObject(r);
    r = kt_cmd(c, "SMEMBERS p2:job:types");
    cr_assert_eq(r->elements, 1);
    cr_assert_str_eq(r->element[0]->str, "sleep");
    freeReplyObject(r);
    /* each prefix has its own leader lease */
    cr_assert_eq(kt_int(c, "EXISTS q:leader"), 1);
    cr_assert_eq(kt_int(c, "EXISTS p2:leader"), 1);
    redisFree(c);
}

Test(supervisor_prefix, two_types_on_two_prefixes)
{
    static const char *const plugins[] = { "echo", "sleep", NULL };
    sup_setup(&S, plugins,
              "[type echo]\nprocesses = 1\nconcurrency = 4\n"
              "[type sleep]\nprocesses = 1\nconcurrency = 1\nprefix = p2\n");
    char err[256];
    K2 = kue_connect(S.redis.url, "p2", err, sizeof err);
    cr_assert(K2, "%s", err);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker ", 2, 5000));
    cr_assert(kt_wait_file_has(S.log, "leader of prefix p2", 1, 10000), "log %s", S.log);
    cr_assert(kt_wait_file_has(S.log, "leader of prefix q ", 1, 10000), "log %s", S.log);

    /* each type runs on its prefix, immediate and delayed */
    int64_t e1 = sup_job(&S, "echo", "{\"n\":1}", 1, 0);
    int64_t s1 = save_on(K2, "sleep", "{\"ms\":10}", 1, 0);
    int64_t e2 = sup_job(&S, "echo", "{\"n\":2}", 1, 300);
    int64_t s2 = save_on(K2, "sleep", "{\"ms\":10}", 1, 300);
    cr_assert(sup_wait_state(&S, e1, "complete", 5000));
    cr_assert(wait_on(K2, s1, "complete", 5000), "sleep job on p2 (log %s)", S.log);
    cr_assert(sup_wait_state(&S, e2, "complete", 5000), "delayed echo promoted on q");
    cr_assert(wait_on(K2, s2, "complete", 5000), "delayed sleep promoted on p2 (log %s)", S.log);
    char buf[128];
    field_on(K2, s1, "workerId", buf, sizeof buf);
    cr_assert(strstr(buf, ":sleep:"), "workerId %s", buf);

    /* a worker killed mid-job on p2: settled there at once, retried, done */
    pid_t w[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker sleep#1", w, 4), 1);
    int64_t s3 = save_on(K2, "sleep", "{\"ms\":1500}", 2, 0);
    cr_assert(wait_on(K2, s3, "active", 5000));
    redisContext *c = kt_redis_connect(&S.redis);
    char host[256], member[300];
    gethostname(host, sizeof host);
    snprintf(member, sizeof member, "%s:%d", host, (int)w[0]);
    cr_assert_eq(kt_int(c, "SISMEMBER p2:held:%s %lld", member, (long long)s3), 1,
                 "held under p2");
    redisReply *r = kt_cmd(c, "ZSCORE p2:leases %s", member);
    cr_assert_eq(r->type, REDIS_REPLY_STRING, "leased under p2");
    freeReplyObject(r);
    r = kt_cmd(c, "ZSCORE q:leases %s", member);
    cr_assert_eq(r->type, REDIS_REPLY_NIL, "no lease under q");
    freeReplyObject(r);
    int64_t t0 = kt_now_ms();
    kill(w[0], SIGKILL);
    struct on_arg act = { K2, s3, "active" };
    int still = 1;
    while (kt_now_ms() - t0 < 2000 && (still = state_on_is(&act)))
        kt_sleep_ms(10);
    cr_assert(!still, "job left active after its worker died (log %s)", S.log);
    field_on(K2, s3, "error", buf, sizeof buf);
    char want[64];
    snprintf(want, sizeof want, "worker %d killed by signal 9", (int)w[0]);
    cr_assert(strstr(buf, want), "error \"%s\" lacks \"%s\"", buf, want);
    cr_assert(wait_on(K2, s3, "complete", 8000), "retried on p2 (log %s)", S.log);
    field_on(K2, s3, "attempts", buf, sizeof buf);
    cr_assert_str_eq(buf, "2");
    cr_assert_eq(kt_int(c, "EXISTS p2:held:%s", member), 0, "settled: its holder set is gone");
    redisFree(c);
    cr_assert_eq(count_all(S.k, "sleep"), 0, "no sleep job under q");
    cr_assert_eq(count_all(K2, "echo"), 0, "no echo job under p2");
    cr_assert_eq(count_all(K2, "sleep"), 3);
    check_keys_by_prefix();

    /* the CLI on both prefixes at once; a write command refuses a list */
    char kue[600], cmd[2048];
    kt_bin("kue", kue, sizeof kue);
    int code;
    snprintf(cmd, sizeof cmd, "'%s' --redis '%s' --prefix q,p2 stats --json", kue, S.redis.url);
    char *out = run_out(cmd, &code);
    cr_assert_eq(code, 0, "%s", out);
    cr_assert(!strncmp(out, "{\"q\":{", 6) && strstr(out, ",\"p2\":{"), "%s", out);
    cr_assert(strstr(out, "\"completeCount\":2") && strstr(out, "\"completeCount\":3"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --redis '%s' types --prefix q,p2", kue, S.redis.url);
    out = run_out(cmd, &code);
    cr_assert_eq(code, 0);
    cr_assert_str_eq(out, "prefix q:\necho\n\nprefix p2:\nsleep\n");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' --redis '%s' --prefix q,p2 create echo 2>&1", kue, S.redis.url);
    out = run_out(cmd, &code);
    cr_assert_eq(code, 2, "%s", out);
    cr_assert(strstr(out, "works on one prefix"), "%s", out);
    free(out);

    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
    kue_free(K2);
    K2 = NULL;
}

/* A reload that moves a type to a new prefix: its workers are replaced,
 * the new prefix gets promotion, and kue-web would get the new list. */
Test(supervisor_prefix, reload_moves_a_type)
{
    static const char *const plugins[] = { "echo", NULL };
    sup_setup(&S, plugins, "[type echo]\nprocesses = 1\n");
    char err[256];
    K2 = kue_connect(S.redis.url, "p2", err, sizeof err);
    cr_assert(K2, "%s", err);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#1", 1, 5000));
    int64_t a = sup_job(&S, "echo", "{}", 1, 0);
    cr_assert(sup_wait_state(&S, a, "complete", 5000));
    pid_t w[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker echo#1", w, 4), 1);
    sup_replace(S.ini, "[type echo]\n", "[type echo]\nprefix = p2\n");
    kill(S.pid, SIGHUP);
    cr_assert(kt_wait_file_has(S.log, "reload: prefixes in use: q,p2", 1, 5000), "log %s", S.log);
    cr_assert(kt_wait_file_has(S.log, "leader of prefix p2", 1, 10000), "log %s", S.log);
    int64_t b = save_on(K2, "echo", "{}", 1, 200);
    cr_assert(wait_on(K2, b, "complete", 8000), "delayed job on the new prefix (log %s)", S.log);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker echo#", 1, 5000), "%s", log_tail());
    pid_t w2[4];
    cr_assert_eq(sup_children(S.pid, "kue-supervisor: worker echo#", w2, 4), 1);
    cr_assert_neq(w2[0], w[0], "replaced");
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
    kue_free(K2);
    K2 = NULL;
}

/* Two hashtag prefixes whose slots live on different masters of a
 * cluster: each type runs, delayed jobs are promoted, on its own shard. */
Test(supervisor_prefix, cluster_two_slots)
{
    static kt_cluster_t CL;
    kt_cluster_start(&CL);
    /* {q} and {mail} are served by different masters */
    redisContext *rc = kt_cluster_node(&CL, 0);
    redisReply *r = kt_cmd(rc, "CLUSTER SLOTS");
    kue_slot_range_t map[64];
    int n = kue_cluster_parse_slots(r, "127.0.0.1", map, 64);
    freeReplyObject(r);
    redisFree(rc);
    const kue_slot_range_t *oq = kue_cluster_lookup(map, n, kue_key_slot("{q}", 3));
    const kue_slot_range_t *om = kue_cluster_lookup(map, n, kue_key_slot("{mail}", 6));
    cr_assert(oq && om && oq->port != om->port, "the test needs the prefixes on two masters");
    memset(&S, 0, sizeof S);
    sup_current = &S;
    snprintf(S.dir, sizeof S.dir, "%s/sup-pfx-cluster", kt_tmpdir());
    mkdir(S.dir, 0755);
    static const char *const plugins[] = { "echo", "sleep", NULL };
    sup_plugins(&S, plugins);
    snprintf(S.ini, sizeof S.ini, "%s/workers.ini", S.dir);
    snprintf(S.log, sizeof S.log, "%s/supervisor.log", S.dir);
    char text[2048];
    snprintf(text, sizeof text,
             "[supervisor]\nplugins = plugins\nrun_dir = run\nshutdown_timeout = 5s\n"
             "[redis]\nurl = %s\nprefix = q\n[promotion]\ninterval = 200ms\n"
             "[type echo]\nprocesses = 1\n[type sleep]\nprefix = mail\n",
             CL.url);
    kt_write_file(S.ini, text);
    char err[512];
    S.k = kue_connect(CL.url, "q", err, sizeof err);
    cr_assert(S.k, "%s", err);
    K2 = kue_connect(CL.url, "mail", err, sizeof err);
    cr_assert(K2, "%s", err);
    cr_assert_eq(kue_set_key_style(S.k, "hashtag"), 0);
    cr_assert_eq(kue_set_key_style(K2, "hashtag"), 0);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker ", 2, 10000), "%s", log_tail());
    int64_t a = save_on(S.k, "echo", "{}", 1, 0), b = save_on(K2, "sleep", "{\"ms\":1}", 1, 0);
    int64_t c = save_on(S.k, "echo", "{}", 1, 300), d = save_on(K2, "sleep", "{\"ms\":1}", 1, 300);
    cr_assert(wait_on(S.k, a, "complete", 10000), "log %s", S.log);
    cr_assert(wait_on(K2, b, "complete", 10000), "log %s", S.log);
    cr_assert(wait_on(S.k, c, "complete", 10000), "delayed on {q} (log %s)", S.log);
    cr_assert(wait_on(K2, d, "complete", 10000), "delayed on {mail} (log %s)", S.log);
    cr_assert_eq(count_all(S.k, "sleep"), 0);
    cr_assert_eq(count_all(K2, "echo"), 0);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
    kue_free(K2);
    K2 = NULL;
}
