/*
 * The `kue` command against a private redis-server: the real binary is run
 * for every case, its output (stdout and stderr, one file) and exit status
 * are checked, and so is what it left in Redis.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kue/kue.h>
#include "harness.h"

static kt_redis_t R;
static redisContext *C;
static kue_t *K;

static void setup(void) { kt_store_open(&R, 0, &C, &K); }
static void teardown(void) { kt_store_close(&C, &K); }

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

static const char *next_log(void)
{
    static char path[512];
    static int seq;
    snprintf(path, sizeof path, "%s/cli-%d-%d.out", kt_tmpdir(), (int)getpid(), seq++);
    return path;
}

static int exit_code(pid_t pid)
{
    int st = 0;
    cr_assert_eq(kt_wait(pid, 15000, &st), 0, "kue did not exit");
    cr_assert(WIFEXITED(st), "kue died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

static char *read_out(const char *log)
{
    char *s = kt_read_file(log);
    return s ? s : strdup("");
}

/* Run kue with env entries (NULL-terminated array or NULL) and the
 * NULL-terminated arguments, without adding --redis.  *out gets stdout and
 * stderr together (caller frees; out may be NULL).  Returns the exit code. */
static int run_env(char *const env[], char **out, const char *first, va_list ap)
{
    char bin[512];
    kt_bin("kue", bin, sizeof bin);
    char *argv[64];
    int n = 0;
    argv[n++] = bin;
    for (const char *a = first; a && n < 63; a = va_arg(ap, const char *)) argv[n++] = (char *)a;
    argv[n] = NULL;
    const char *log = next_log();
    int rc = exit_code(kt_spawn_env(argv, env, log));
    char *s = read_out(log);
    if (out) *out = s;
    else free(s);
    return rc;
}

/* kue --redis URL ARGS... */
static int kue(char **out, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    char url[512];
    snprintf(url, sizeof url, "KUE_REDIS_URL=%s", R.url);
    char *env[] = { url, NULL };
    int rc = run_env(env, out, first, ap);
    va_end(ap);
    return rc;
}

/* kue with no KUE_REDIS_URL at all (for the --redis flag and errors). */
static int kue_bare(char **out, const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    static char none[] = "KUE_REDIS_URL=";
    char *env[] = { none, NULL };
    int rc = run_env(env, out, first, ap);
    va_end(ap);
    return rc;
}

/* A shell line with $KUE set to the binary (stdin redirections, split
 * streams). */
static int sh(char **out, const char *line)
{
    char bin[512], script[2048];
    kt_bin("kue", bin, sizeof bin);
    snprintf(script, sizeof script, "KUE='%s'; KUE_REDIS_URL='%s'; export KUE_REDIS_URL; %s",
             bin, R.url, line);
    char *argv[] = { "/bin/sh", "-c", script, NULL };
    const char *log = next_log();
    int rc = exit_code(kt_spawn(argv, log));
    char *s = read_out(log);
    if (out) *out = s;
    else free(s);
    return rc;
}

static char *hget(long long id, const char *field, char *buf, size_t len)
{
    return kt_str(C, buf, len, "HGET q:job:%lld %s", id, field);
}

static long long create_ok(const char *type, const char *data)
{
    char *out;
    int rc = kue(&out, "create", type, data, NULL);
    cr_assert_eq(rc, 0, "create: %s", out);
    long long id = strtoll(out, NULL, 10);
    cr_assert_gt(id, 0, "create printed %s", out);
    free(out);
    return id;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* A line of out that starts with head and ends with tail (the age column
 * between them may read 0s or 1s). */
static int has_row(const char *out, const char *head, const char *tail)
{
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        size_t len = strcspn(l, "\n"), hl = strlen(head), tl = strlen(tail);
        if (len >= hl + tl && !strncmp(l, head, hl) && !strncmp(l + len - tl, tail, tl))
            return 1;
    }
    return 0;
}

/* ---- create ------------------------------------------------------------------ */

Test(cli, create_with_every_option)
{
    char *out;
    cr_assert_eq(kue(&out, "create", "email", "{\"title\":\"héllo ✓\",\"to\":\"a@b.c\"}",
                     "--priority", "high", "--attempts", "3", "--backoff", "exponential:1s:1m",
                     "--ttl", "30s", "--remove-on-complete", NULL), 0, "%s", out);
    cr_assert_str_eq(out, "1\n");
    free(out);
    char b[256];
    cr_assert_str_eq(hget(1, "type", b, sizeof b), "email");
    cr_assert_str_eq(hget(1, "data", b, sizeof b), "{\"title\":\"héllo ✓\",\"to\":\"a@b.c\"}");
    cr_assert_str_eq(hget(1, "priority", b, sizeof b), "-10");
    cr_assert_str_eq(hget(1, "max_attempts", b, sizeof b), "3");
    cr_assert_str_eq(hget(1, "backoff", b, sizeof b),
                     "{\"type\":\"exponential\",\"delay\":1000,\"maxDelay\":60000}");
    cr_assert_str_eq(hget(1, "ttl", b, sizeof b), "30000");
    cr_assert_str_eq(hget(1, "removeOnComplete", b, sizeof b), "true");
    cr_assert_str_eq(hget(1, "state", b, sizeof b), "inactive");
    cr_assert_eq(kt_int(C, "ZSCORE q:jobs:email:inactive 01|1"), -10);
    cr_assert_eq(kt_int(C, "LLEN q:email:jobs"), 1);

    /* A delay: delayed, with its promote_at; a numeric priority. */
    cr_assert_eq(kue(&out, "create", "video", "{}", "--delay", "5s", "--priority", "-7", NULL), 0,
                 "%s", out);
    free(out);
    cr_assert_str_eq(hget(2, "state", b, sizeof b), "delayed");
    cr_assert_str_eq(hget(2, "delay", b, sizeof b), "5000");
    cr_assert_str_eq(hget(2, "priority", b, sizeof b), "-7");
    char c2[32];
    long long created = strtoll(hget(2, "created_at", c2, sizeof c2), NULL, 10);
    cr_assert_eq(strtoll(hget(2, "promote_at", b, sizeof b), NULL, 10), created + 5000);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:video:delayed"), 1);
    cr_assert_eq(kt_int(C, "EXISTS q:video:jobs"), 0);

    /* The other backoff forms, defaults, and an absolute run time. */
    cr_assert_eq(kue(NULL, "create", "t", "--backoff", "true", NULL), 0);
    cr_assert_str_eq(hget(3, "backoff", b, sizeof b), "true");
    cr_assert_str_eq(hget(3, "data", b, sizeof b), "{}");
    cr_assert_str_eq(hget(3, "priority", b, sizeof b), "0");
    cr_assert_str_eq(hget(3, "max_attempts", b, sizeof b), "1");
    cr_assert_null(hget(3, "removeOnComplete", b, sizeof b));
    cr_assert_null(hget(3, "ttl", b, sizeof b));
    cr_assert_eq(kue(NULL, "create", "t", "--backoff", "fixed:2s", NULL), 0);
    cr_assert_str_eq(hget(4, "backoff", b, sizeof b), "{\"type\":\"fixed\",\"delay\":2000}");
    cr_assert_eq(kue(NULL, "create", "t", "--backoff", "{ \"type\": \"exponential\" }", NULL), 0);
    cr_assert_str_eq(hget(5, "backoff", b, sizeof b), "{\"type\":\"exponential\"}");
    char at[32];
    snprintf(at, sizeof at, "%lld", (long long)kt_now_ms() + 3600000);
    cr_assert_eq(kue(NULL, "create", "t", "--run-at", at, NULL), 0);
    cr_assert_str_eq(hget(6, "state", b, sizeof b), "delayed");
    cr_assert_str_eq(hget(6, "promote_at", b, sizeof b), at);
}

Test(cli, create_reads_stdin_and_indexes_with_search)
{
    char *out;
    cr_assert_eq(sh(&out, "printf '{\"title\": \"from stdin\", \"n\": [1, 2]}' | $KUE create batch -"),
                 0, "%s", out);
    cr_assert_str_eq(out, "1\n");
    free(out);
    char b[256];
    cr_assert_str_eq(hget(1, "data", b, sizeof b), "{\"title\":\"from stdin\",\"n\":[1,2]}");
    cr_assert_eq(kt_int(C, "EXISTS q:search:object:1"), 0, "indexed without --search");

    cr_assert_eq(kue(&out, "--search", "create", "doc", "{\"title\":\"zebra\",\"body\":{\"x\":\"giraffe\"}}",
                     "--search-keys", "body.x", NULL), 0, "%s", out);
    free(out);
    cr_assert_gt(kt_int(C, "ZCARD q:search:object:2"), 0);
    /* Only body.x is indexed: one word. */
    cr_assert_eq(kt_int(C, "ZCARD q:search:object:2"), 1);

    /* Data on stdin larger than the limit is refused, nothing written. */
    cr_assert_eq(sh(&out, "head -c 16777300 /dev/zero | tr '\\0' ' ' | $KUE create big -"), 1);
    cr_assert(strstr(out, "kue: job data on stdin is more than the limit"), "%s", out);
    free(out);
    cr_assert_eq(kt_int(C, "GET q:ids"), 2);
}

/* ---- get, ls, stats, log, types -------------------------------------------------- */

Test(cli, get_prints_kue_json)
{
    long long id = create_ok("email", "{\"to\":\"x\"}");
    cr_assert_eq(kue_job_add_log(K, id, "hello"), 0);
    kue_job_t *j = kue_job_get(K, id);
    char *want = kue_job_to_json(j, 1);     /* GET /job/:id's shape, "id" a string */
    kue_job_free(j);
    char *out, ids[16];
    snprintf(ids, sizeof ids, "%lld", id);
    cr_assert_eq(kue(&out, "get", ids, NULL), 0, "%s", out);
    cr_assert_eq(strlen(out), strlen(want) + 1);
    cr_assert(!strncmp(out, want, strlen(want)), "%s", out);
    free(out);
    free(want);

    cr_assert_eq(kue(&out, "get", ids, "--pretty", NULL), 0);
    json_error_t e;
    json_t *v = json_loads(out, 0, &e);
    cr_assert_not_null(v, "--pretty: %s", out);
    cr_assert_str_eq(json_string_value(json_object_get(v, "id")), ids);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "data"), "to")), "x");
    cr_assert(strchr(out, '\n') != out + strlen(out) - 1, "not indented: %s", out);
    json_decref(v);
    free(out);

    cr_assert_eq(kue(&out, "get", "99", NULL), 1);
    cr_assert_str_eq(out, "kue: job \"99\" doesnt exist\n");
    free(out);
}

Test(cli, ls_table_and_json)
{
    create_ok("email", "{\"title\":\"welcome mail\"}");      /* 1 */
    create_ok("video", "{\"file\":\"a.mp4\",\"w\":640}");    /* 2 */
    char *out;
    cr_assert_eq(kue(&out, "create", "email", "[1,2]", "--priority", "critical", "--attempts", "4",
                     NULL), 0);                                /* 3 */
    free(out);
    cr_assert_eq(kue(NULL, "create", "video", "--delay", "1h", NULL), 0);   /* 4 */

    cr_assert_eq(kue(&out, "ls", NULL), 0, "%s", out);
    cr_assert_eq(count_lines(out), 5, "%s", out);
    cr_assert(!strncmp(out, "ID  TYPE   STATE     PRIORITY  ATTEMPTS  AGE   DATA\n", 52), "%s", out);
    cr_assert(has_row(out, "1   email  inactive  normal    0/1       ", "s    welcome mail"), "%s", out);
    cr_assert(has_row(out, "2   video  inactive  normal    0/1       ", "s    file=a.mp4"), "%s", out);
    cr_assert(has_row(out, "3   email  inactive  critical  0/4       ", "s    [1,2]"), "%s", out);
    cr_assert(has_row(out, "4   video  delayed   normal    0/1       ", "s    "), "%s", out);
    free(out);

    /* By state, by type (any state), by type and state. */
    cr_assert_eq(kue(&out, "ls", "--state", "delayed", NULL), 0);
    cr_assert_eq(count_lines(out), 2);
    cr_assert(strstr(out, "\n4 "), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "ls", "--type", "video", NULL), 0);
    cr_assert_eq(count_lines(out), 3, "%s", out);
    cr_assert(strstr(out, "\n2 ") && strstr(out, "\n4 "), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "ls", "--type", "video", "--state", "inactive", NULL), 0);
    cr_assert_eq(count_lines(out), 2, "%s", out);
    free(out);

    /* JSON: Kue's objects, newest first with --desc, and a range. */
    cr_assert_eq(kue(&out, "ls", "--json", "--desc", NULL), 0);
    json_error_t e;
    json_t *v = json_loads(out, 0, &e);
    cr_assert(json_is_array(v), "%s", out);
    cr_assert_eq(json_array_size(v), 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(json_integer_value(json_object_get(json_array_get(v, (size_t)i), "id")), 4 - i);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(v, 0), "state")), "delayed");
    json_decref(v);
    free(out);
    cr_assert_eq(kue(&out, "ls", "--json", "--type", "email", "--from", "-1", "--to", "-1", NULL), 0);
    v = json_loads(out, 0, &e);
    cr_assert_eq(json_array_size(v), 1, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(v, 0), "id")), 3);
    json_decref(v);
    free(out);
    /* The inactive set is ordered by priority: critical (3) comes first. */
    cr_assert_eq(kue(&out, "ls", "--state", "inactive", "--from", "0", "--to", "0", "--json", NULL), 0);
    v = json_loads(out, 0, &e);
    cr_assert_eq(json_array_size(v), 1, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(v, 0), "id")), 3);
    json_decref(v);
    free(out);
    cr_assert_eq(kue(&out, "ls", "--state", "failed", "--json", NULL), 0);
    cr_assert_str_eq(out, "[]\n");
    free(out);
}

Test(cli, stats_counts_and_work_time)
{
    create_ok("email", "{}");
    create_ok("email", "{}");
    cr_assert_eq(kue(NULL, "create", "video", "--delay", "1h", NULL), 0);
    cr_assert_eq(kue(NULL, "state", "2", "failed", NULL), 0);
    char *out;
    cr_assert_eq(kue(&out, "stats", NULL), 0);
    cr_assert_str_eq(out, "inactive  1\nactive    0\ncomplete  0\nfailed    1\ndelayed   1\n"
                          "workTime  -\n");
    free(out);
    cr_assert_eq(kue(&out, "stats", "--json", NULL), 0);
    cr_assert_str_eq(out, "{\"inactiveCount\":1,\"completeCount\":0,\"activeCount\":0,"
                          "\"failedCount\":1,\"delayedCount\":1,\"workTime\":null}\n");
    free(out);
    freeReplyObject(kt_cmd(C, "SET q:stats:work-time 1234"));
    cr_assert_eq(kue(&out, "stats", "--json", "--by-type", NULL), 0);
    cr_assert_str_eq(out, "{\"inactiveCount\":1,\"completeCount\":0,\"activeCount\":0,"
                          "\"failedCount\":1,\"delayedCount\":1,\"workTime\":1234,\"types\":{"
                          "\"email\":{\"inactiveCount\":1,\"completeCount\":0,\"activeCount\":0,"
                          "\"failedCount\":1,\"delayedCount\":0},"
                          "\"video\":{\"inactiveCount\":0,\"completeCount\":0,\"activeCount\":0,"
                          "\"failedCount\":0,\"delayedCount\":1}}}\n");
    free(out);
    cr_assert_eq(kue(&out, "stats", "--by-type", NULL), 0);
    cr_assert(strstr(out, "workTime  1234\n\nTYPE   INACTIVE    ACTIVE  COMPLETE    FAILED   DELAYED\n"
                          "email         1         0         0         1         0\n"
                          "video         0         0         0         0         1\n"), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "types", NULL), 0);
    cr_assert_str_eq(out, "email\nvideo\n");
    free(out);
}

Test(cli, log_lines_oldest_first)
{
    long long id = create_ok("t", "{}");
    char *out, ids[16];
    snprintf(ids, sizeof ids, "%lld", id);
    cr_assert_eq(kue(&out, "log", ids, NULL), 0);
    cr_assert_str_eq(out, "");
    free(out);
    cr_assert_eq(kue_job_add_log(K, id, "first line"), 0);
    cr_assert_eq(kue_job_add_log(K, id, "second ✓"), 0);
    cr_assert_eq(kue(&out, "log", ids, NULL), 0);
    cr_assert_str_eq(out, "first line\nsecond ✓\n");
    free(out);
    cr_assert_eq(kue(&out, "log", "42", NULL), 1);
    cr_assert_str_eq(out, "kue: job \"42\" doesnt exist\n");
    free(out);
}

/* ---- changes --------------------------------------------------------------------- */

Test(cli, rm_retry_state_priority)
{
    for (int i = 0; i < 4; i++) create_ok("t", "{}");
    char *out, b[64];

    cr_assert_eq(kue(&out, "rm", "1", "2", NULL), 0, "%s", out);
    cr_assert_str_eq(out, "");
    free(out);
    cr_assert_eq(kt_int(C, "EXISTS q:job:1"), 0);
    cr_assert_eq(kt_int(C, "EXISTS q:job:2"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs"), 2);
    /* A missing one among others: the rest is done, exit 1. */
    cr_assert_eq(kue(&out, "rm", "77", "3", NULL), 1);
    cr_assert_str_eq(out, "kue: job \"77\" doesnt exist\n");
    free(out);
    cr_assert_eq(kt_int(C, "EXISTS q:job:3"), 0);

    /* retry: refused unless failed, or forced. */
    cr_assert_eq(kue(&out, "retry", "4", NULL), 1);
    cr_assert_str_eq(out, "kue: job \"4\" is inactive, not failed (--force retries it anyway)\n");
    free(out);
    cr_assert_eq(kue(&out, "state", "4", "failed", NULL), 0, "%s", out);
    free(out);
    cr_assert_str_eq(hget(4, "state", b, sizeof b), "failed");
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:t:failed"), 1);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:t:inactive"), 0);
    long long tokens = kt_int(C, "LLEN q:t:jobs");
    cr_assert_eq(kue(&out, "retry", "4", NULL), 0, "%s", out);
    free(out);
    cr_assert_str_eq(hget(4, "state", b, sizeof b), "inactive");
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:failed"), 0);
    cr_assert_eq(kt_int(C, "ZCARD q:jobs:t:inactive"), 1);
    cr_assert_eq(kt_int(C, "LLEN q:t:jobs"), tokens + 1, "retry pushed no wake-up token");
    cr_assert_eq(kue(&out, "state", "4", "complete", NULL), 0);
    free(out);
    cr_assert_eq(kue(&out, "retry", "--force", "4", NULL), 0, "%s", out);
    free(out);
    cr_assert_str_eq(hget(4, "state", b, sizeof b), "inactive");

    /* priority by name and by (negative) number, re-scoring the sets. */
    cr_assert_eq(kue(&out, "priority", "4", "high", NULL), 0, "%s", out);
    free(out);
    cr_assert_str_eq(hget(4, "priority", b, sizeof b), "-10");
    cr_assert_eq(kt_int(C, "ZSCORE q:jobs:t:inactive 01|4"), -10);
    cr_assert_eq(kue(&out, "priority", "4", "-3", NULL), 0, "%s", out);
    free(out);
    cr_assert_str_eq(hget(4, "priority", b, sizeof b), "-3");
    cr_assert_eq(kt_int(C, "ZSCORE q:jobs:inactive 01|4"), -3);
    cr_assert_eq(kue(&out, "priority", "5", "low", NULL), 1);
    cr_assert(strstr(out, "doesnt exist"), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "state", "4", "sleeping", NULL), 2);
    cr_assert(strstr(out, "kue state: unknown state \"sleeping\""), "%s", out);
    free(out);
}

Test(cli, promote_once)
{
    kue_job_t *j = kue_job_new("t", "{}");
    kue_job_set_delay(j, 1);
    cr_assert_gt(kue_job_save(K, j), 0);
    kue_job_free(j);
    cr_assert_eq(kue(NULL, "create", "t", "--delay", "1h", NULL), 0);
    kt_wait_redis_clock(C, kt_int(C, "HGET q:job:1 promote_at"));     /* job 1 is due */
    char *out;
    cr_assert_eq(kue(&out, "promote", NULL), 0, "%s", out);
    cr_assert_str_eq(out, "1\n");
    free(out);
    char b[32];
    cr_assert_str_eq(hget(1, "state", b, sizeof b), "inactive");
    cr_assert_str_eq(hget(2, "state", b, sizeof b), "delayed");
    cr_assert_eq(kue(&out, "promote", NULL), 0);
    cr_assert_str_eq(out, "0\n");
    free(out);
}

/* ---- flags, environment, errors ---------------------------------------------------- */

Test(cli, redis_and_prefix_from_flags_or_environment)
{
    char *out;
    cr_assert_eq(kue_bare(&out, "--redis", R.url, "--prefix", "other", "create", "t", NULL), 0,
                 "%s", out);
    free(out);
    cr_assert_eq(kt_int(C, "EXISTS other:job:1"), 1);
    cr_assert_eq(kt_int(C, "EXISTS q:job:1"), 0);
    /* Global flags after the command too. */
    cr_assert_eq(kue_bare(&out, "get", "1", "--prefix", "other", "--redis", R.url, NULL), 0, "%s", out);
    free(out);

    char url[512], prefix[] = "KUE_PREFIX=envp";
    snprintf(url, sizeof url, "KUE_REDIS_URL=%s", R.url);
    char *env[] = { url, prefix, NULL };
    char bin[512];
    kt_bin("kue", bin, sizeof bin);
    char *argv[] = { bin, "create", "t", NULL };
    const char *log = next_log();
    cr_assert_eq(exit_code(kt_spawn_env(argv, env, log)), 0);
    cr_assert_eq(kt_int(C, "EXISTS envp:job:1"), 1);
    /* A flag wins over the environment. */
    char *argv2[] = { bin, "--prefix", "flagp", "create", "t", NULL };
    cr_assert_eq(exit_code(kt_spawn_env(argv2, env, next_log())), 0);
    cr_assert_eq(kt_int(C, "EXISTS flagp:job:1"), 1);
}

Test(cli, bad_input_exit_codes)
{
    char *out;
    /* Invalid JSON data: an error (1), nothing written. */
    cr_assert_eq(kue(&out, "create", "t", "{\"a\":", NULL), 1);
    cr_assert(!strncmp(out, "kue: job data is not valid JSON", 31), "%s", out);
    free(out);
    cr_assert_eq(kt_int(C, "EXISTS q:ids"), 0);
    cr_assert_eq(kt_int(C, "EXISTS q:job:types"), 0);

    /* Usage errors (2) say which value was wrong. */
    cr_assert_eq(kue(&out, "create", "t", "--priority", "urgent", NULL), 2);
    cr_assert(!strncmp(out, "kue create: unknown priority \"urgent\"", 37), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "create", "t", "--attempts", "-2", NULL), 2);
    cr_assert(!strncmp(out, "kue create: invalid --attempts \"-2\"", 35), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "create", "t", "--attempts", "0", NULL), 2);
    free(out);
    cr_assert_eq(kue(&out, "create", "t", "--delay", "soon", NULL), 2);
    cr_assert(strstr(out, "invalid --delay \"soon\""), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "create", "t", "--backoff", "linear:1s", NULL), 2);
    cr_assert(strstr(out, "invalid --backoff \"linear:1s\""), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "create", "t", "--delay", "1s", "--run-at", "1", NULL), 2);
    free(out);
    cr_assert_eq(kue(&out, "create", NULL), 2);
    cr_assert(strstr(out, "missing the job TYPE"), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "frobnicate", NULL), 2);
    cr_assert(!strncmp(out, "kue: unknown command \"frobnicate\"", 33), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "ls", "--colour", NULL), 2);
    cr_assert(!strncmp(out, "kue ls: unknown option --colour", 31), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "ls", "--state", NULL), 2);
    cr_assert(strstr(out, "option --state needs a value"), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "ls", "--state", "done", NULL), 2);
    free(out);
    cr_assert_eq(kue(&out, "get", "abc", NULL), 2);
    cr_assert(strstr(out, "invalid job id \"abc\""), "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "get", NULL), 2);
    free(out);
    cr_assert_eq(kue(&out, "rm", "1", "0", NULL), 2);
    free(out);
    cr_assert_eq(kue(&out, "priority", "1", NULL), 2);
    free(out);
    cr_assert_eq(kue(&out, "help", "nope", NULL), 2);
    free(out);
    cr_assert_eq(kue_bare(&out, NULL), 2);
    cr_assert(strstr(out, "usage: kue"), "%s", out);
    free(out);
    cr_assert_eq(kt_int(C, "EXISTS q:ids"), 0, "a usage error wrote something");

    /* An unreachable Redis: 1 with the reason. */
    cr_assert_eq(kue_bare(&out, "--redis", "unix:///nonexistent/redis.sock", "stats", NULL), 1);
    cr_assert(!strncmp(out, "kue: cannot connect to Redis at unix:///nonexistent/redis.sock", 62),
              "%s", out);
    free(out);
    cr_assert_eq(kue_bare(&out, "--redis", "redis://127.0.0.1:1/0", "create", "t", NULL), 1);
    cr_assert(strstr(out, "cannot connect to Redis"), "%s", out);
    free(out);
    cr_assert_eq(kue_bare(&out, "--redis", "http://x", "stats", NULL), 2);   /* usage */
    cr_assert(!strncmp(out, "kue: --redis: invalid Redis URL", 31), "%s", out);
    free(out);
}

Test(cli, messages_go_to_stderr_results_to_stdout)
{
    char *out;
    cr_assert_eq(sh(&out, "$KUE create t '{}' 2>/dev/null; $KUE get 9 2>&1 >/dev/null; "
                          "$KUE get 9 2>/dev/null; echo rc=$?"), 0);
    cr_assert_str_eq(out, "1\nkue: job \"9\" doesnt exist\nrc=1\n");
    free(out);
}

Test(cli, help_and_version)
{
    char *out;
    cr_assert_eq(kue_bare(&out, "help", NULL), 0);
    cr_assert(strstr(out, "usage: kue [--redis URL]") && strstr(out, "  watch "), "%s", out);
    free(out);
    cr_assert_eq(kue_bare(&out, "help", "create", NULL), 0);
    cr_assert(!strncmp(out, "usage: kue create TYPE", 22), "%s", out);
    cr_assert(strstr(out, "--remove-on-complete") && strstr(out, "--redis URL"), "%s", out);
    free(out);
    cr_assert_eq(kue_bare(&out, "ls", "--help", NULL), 0);
    cr_assert(!strncmp(out, "usage: kue ls", 13), "%s", out);
    free(out);
    cr_assert_eq(kue_bare(&out, "--help", NULL), 0);
    free(out);
    cr_assert_eq(kue_bare(&out, "version", NULL), 0);
    cr_assert(!strncmp(out, "kue " KUE_VERSION, strlen("kue " KUE_VERSION)), "%s", out);
    free(out);
}

/* ---- watch ------------------------------------------------------------------------ */

static int subscribed(void *arg)
{
    (void)arg;
    redisReply *r = kt_cmd(C, "PUBSUB NUMSUB q:events");
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->integer >= 1;
    freeReplyObject(r);
    return ok;
}

static int unsubscribed(void *arg) { return !subscribed(arg); }

struct grep { const char *log, *what; };

static int log_has(void *arg)
{
    struct grep *g = arg;
    char *s = kt_read_file(g->log);
    int ok = s && strstr(s, g->what);
    free(s);
    return ok;
}

static pid_t start_watch(const char *log, const char *a1, const char *a2)
{
    char bin[512], url[512];
    kt_bin("kue", bin, sizeof bin);
    snprintf(url, sizeof url, "KUE_REDIS_URL=%s", R.url);
    char *env[] = { url, NULL };
    char *argv[] = { bin, "watch", (char *)a1, (char *)a2, NULL };
    pid_t pid = kt_spawn_env(argv, env, log);
    cr_assert(kt_wait_until(subscribed, NULL, 5000), "kue watch did not subscribe");
    return pid;
}

Test(cli, watch_prints_events_until_sigterm)
{
    char log[512];
    snprintf(log, sizeof log, "%s", next_log());
    pid_t pid = start_watch(log, NULL, NULL);
    long long id = create_ok("mail", "{}");
    struct grep g = { log, " 1 enqueue mail\n" };
    cr_assert(kt_wait_until(log_has, &g, 5000), "no enqueue line: %s", kt_read_file(log));
    cr_assert_eq(kue_job_remove(K, id), 0);
    struct grep g3 = { log, " 1 remove mail\n" };
    cr_assert(kt_wait_until(log_has, &g3, 5000), "no remove line: %s", kt_read_file(log));
    kill(pid, SIGTERM);
    cr_assert_eq(exit_code(pid), 0);
    char *s = kt_read_file(log);
    /* One line each, starting with an ISO time. */
    cr_assert_eq(s[4], '-');
    cr_assert(strstr(s, "Z 1 enqueue mail\n"), "%s", s);
    cr_assert_eq(s[strlen(s) - 1], '\n');
    free(s);
    cr_assert(kt_wait_until(unsubscribed, NULL, 5000), "the subscriber connection is still open");
}

Test(cli, watch_filters_by_type_and_stops_on_sigint)
{
    char log[512];
    snprintf(log, sizeof log, "%s", next_log());
    pid_t pid = start_watch(log, "--type", "b");
    create_ok("a", "{}");                   /* 1: not shown */
    create_ok("b", "{}");                   /* 2 */
    cr_assert_eq(kue_job_update_priority(K, 1, -5), 0);
    cr_assert_eq(kue_job_remove(K, 1), 0);  /* not shown either */
    cr_assert_eq(kue_job_remove(K, 2), 0);  /* shown: its type was seen at enqueue */
    struct grep g = { log, " 2 remove b\n" };
    cr_assert(kt_wait_until(log_has, &g, 5000), "no remove line: %s", kt_read_file(log));
    kill(pid, SIGINT);
    cr_assert_eq(exit_code(pid), 0);
    char *s = kt_read_file(log);
    cr_assert_not_null(strstr(s, " 2 enqueue b\n"), "%s", s);
    cr_assert_null(strstr(s, " 1 "), "%s", s);
    cr_assert_eq(count_lines(s), 2, "%s", s);
    free(s);
}

Test(cli, watch_json_prints_messages_as_published)
{
    char log[512];
    snprintf(log, sizeof log, "%s", next_log());
    pid_t pid = start_watch(log, "--json", NULL);
    create_ok("j", "{}");
    struct grep g = { log, "{\"id\":1,\"event\":\"enqueue\",\"args\":[\"enqueue\",\"j\"]}\n" };
    cr_assert(kt_wait_until(log_has, &g, 5000), "%s", kt_read_file(log));
    kill(pid, SIGTERM);
    cr_assert_eq(exit_code(pid), 0);
}

Test(cli, watch_unreachable_redis_is_an_error)
{
    char *out;
    cr_assert_eq(kue_bare(&out, "--redis", "redis://127.0.0.1:1/0", "watch", NULL), 1);
    cr_assert(!strncmp(out, "kue: cannot connect to Redis", 28), "%s", out);
    free(out);
}

Test(cli, search_finds_indexed_jobs)
{
    char *out = NULL;
    cr_assert_eq(kue(&out, "--search", "create", "video", "{\"title\":\"convert avi video\"}", NULL), 0, "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "--search", "create", "video", "{\"title\":\"upload mp4\"}", NULL), 0, "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "create", "video", "{\"title\":\"convert unindexed\"}", NULL), 0, "%s", out);
    free(out);
    cr_assert_eq(kue(&out, "search", "converting", NULL), 0, "%s", out);
    cr_assert_str_eq(out, "1\n");
    free(out);
    cr_assert_eq(kue(&out, "search", "convert", "mp4", NULL), 0, "%s", out);
    cr_assert_str_eq(out, "");
    free(out);
    cr_assert_eq(kue(&out, "search", NULL), 2);
    free(out);
}
