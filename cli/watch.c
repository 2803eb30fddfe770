/*
 * watch.c -- `kue watch`: print job events as they are published.
 *
 * kue_watch() blocks in a read on its own subscriber connection and hiredis
 * resumes that read after EINTR, so a signal handler cannot end it.  The
 * subscription therefore runs in a second thread while the main thread
 * waits for SIGINT/SIGTERM with sigwait() (both blocked in every thread, so
 * no handler runs at all).  On a signal the main thread takes the stdout
 * lock, so no event line is cut in half, flushes, and exits; the kernel
 * closes the subscriber socket.  When the subscription ends by itself
 * (connection lost, stdout closed) the thread wakes the main thread with
 * SIGUSR1.
 *
 * --type needs the type of each event's job: an enqueue event carries it,
 * other events are looked up once (HGETALL on the command connection, used
 * only by the watch thread) and remembered in a small cache.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "util.h"

#define TYPE_CACHE 256

struct watch {
    cli_t *c;
    const char *type;           /* only events of jobs of this type, or NULL */
    int64_t id;                 /* only events of this job, or 0 */
    int json;
    pthread_t main_thread;
    int rc;
    char err[512];
    struct { int64_t id; char type[KUE_MAX_TYPE_LEN + 1]; } cache[TYPE_CACHE];
};

enum { W_TYPE = 1, W_ID, W_JSON };

static const struct option watch_opts[] = {
    { "type", required_argument, NULL, W_TYPE },
    { "id", required_argument, NULL, W_ID },
    { "json", no_argument, NULL, W_JSON },
    { NULL, 0, NULL, 0 },
};

/* The type of job id (an enqueue event names it; else ask Redis once). */
static const char *event_type(struct watch *w, int64_t id, const char *event, const kue_jv_t *args)
{
    size_t slot = (size_t)id % TYPE_CACHE;
    if (w->cache[slot].id == id) return w->cache[slot].type;
    const char *t = NULL;
    kue_job_t *j = NULL;
    if (!strcmp(event, "enqueue") && args && args->len > 1 && args->items[1]->type == KUE_JSTR)
        t = args->items[1]->str;
    else if ((j = kue_job_get(w->c->k, id)))
        t = kue_job_type(j);
    if (t) {
        w->cache[slot].id = id;
        kue_strlcpy(w->cache[slot].type, t, sizeof w->cache[slot].type);
    }
    kue_job_free(j);
    return t ? w->cache[slot].type : NULL;
}

/* A string argument bare when it is one plain word, else as JSON. */
static void print_arg(const kue_jv_t *a)
{
    if (a->type == KUE_JSTR) {
        const char *s = a->str;
        int plain = *s != '\0';
        for (const char *q = s; *q && plain; q++)
            if ((unsigned char)*q <= ' ' || *q == '"' || *q == '\\' || *q == 0x7f) plain = 0;
        if (plain) {
            printf(" %s", s);
            return;
        }
    }
    kue_buf_t t;
    kue_buf_init(&t);
    kue_jv_write(&t, a);
    printf(" %s", t.p && !t.oom ? t.p : "?");
    kue_buf_free(&t);
}

/* "2024-05-01T10:00:00.123Z 5 failed boom 2": time, id, event, the
 * arguments after the event name, trailing nulls dropped. */
static void print_line(int64_t id, const char *event, const kue_jv_t *args)
{
    char ts[40];
    int64_t now = kue_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t l = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + l, sizeof ts - l, ".%03dZ", (int)(now % 1000));
    size_t n = args && args->type == KUE_JARR ? args->len : 0;
    while (n > 1 && args->items[n - 1]->type == KUE_JNULL) n--;
    printf("%s %lld %s", ts, (long long)id, event);
    for (size_t i = 1; i < n; i++) print_arg(args->items[i]);
    putchar('\n');
}

static int on_event(int64_t id, const char *event, const char *msg, void *privdata)
{
    struct watch *w = privdata;
    if (w->id && id != w->id) return 0;
    kue_jdoc_t *d = kue_jdoc_parse(msg, strlen(msg), NULL, 0);
    const kue_jv_t *args = kue_jv_get(kue_jdoc_root(d), "args");
    int show = 1;
    if (w->type) {
        const char *t = event_type(w, id, event, args);
        show = t && !strcmp(t, w->type);
    }
    if (show) {
        flockfile(stdout);
        if (w->json) printf("%s\n", msg);
        else print_line(id, event, args);
        funlockfile(stdout);
    }
    kue_jdoc_free(d);
    /* A reader that went away ends the watch. */
    return show && (fflush(stdout) != 0 || ferror(stdout));
}

static void *watch_thread(void *arg)
{
    struct watch *w = arg;
    w->rc = kue_watch(w->c->k, on_event, w);
    if (w->rc != 0) kue_strlcpy(w->err, kue_errstr(w->c->k), sizeof w->err);
    pthread_kill(w->main_thread, SIGUSR1);
    return NULL;
}

static int parse_watch(cli_t *c, int argc, char **argv, struct watch *w)
{
    cli_parser_t p;
    long long id;
    cli_parse_begin(&p, c, argc, argv, watch_opts);
    int o;
    while ((o = cli_next(&p)) > 0) {
        if (o == W_TYPE) w->type = p.arg;
        else if (o == W_JSON) w->json = 1;
        else if (cli_parse_long("watch", "--id", p.arg, 1, INT64_MAX, &id)) return CLI_USAGE;
        else w->id = id;
    }
    if (o < 0) return cli_parse_end(&p, o) == CLI_OK ? -1 : CLI_USAGE;
    if (p.npos) return cli_usage_error("watch", "unexpected argument \"%.64s\"", p.pos[0]);
    return 0;
}

int cmd_watch(cli_t *c, int argc, char **argv)
{
    static struct watch w;
    memset(&w, 0, sizeof w);
    w.c = c;
    int rc = parse_watch(c, argc, argv, &w);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (!cli_kue(c)) return CLI_ERR;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    w.main_thread = pthread_self();
    pthread_t t;
    if (pthread_create(&t, NULL, watch_thread, &w) != 0) return cli_error("cannot start watching");
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGUSR1) {
        pthread_join(t, NULL);
        if (w.rc != 0) return cli_error("%s", w.err);
        return CLI_OK;
    }
    /* Interrupted: end with whole lines, leave the blocked thread to exit. */
    flockfile(stdout);
    fflush(stdout);
    _exit(ferror(stdout) ? CLI_ERR : CLI_OK);
}
