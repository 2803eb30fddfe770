/*
 * faults.c -- a test plugin for the failure tests (tests/integration/
 * supervisor_faults.c), built by the test itself.  The job's data picks
 * what the handler does:
 *
 *   {"ms": N, "log": PATH}  append "<id>\n" to PATH (one line per run), wait
 *                           N ms on the event loop, complete
 *   {"spin": true}          hold the event loop forever (a busy loop)
 *   {"spin_after": N}       wait N ms on the event loop, log a line, then
 *                           hold the loop forever from that timer's callback
 *   {"child": PATH}         fork a child that writes its pid to PATH and
 *                           waits forever, then hold the loop (the handler
 *                           never returns)
 */
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kue/plugin.h>

struct nap {
    ev_timer timer;              /* first: the watcher pointer is the struct */
    kue_handle_t *job;
};

static void wake(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct nap *n = (struct nap *)w;
    (void)revents;
    ev_timer_stop(loop, w);
    kue_done(n->job, NULL, NULL);
    free(n);
}

static void spin(void)
{
    volatile unsigned long x = 0;
    for (;;)
        x++;
}

static void spin_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct nap *n = (struct nap *)w;
    (void)loop;
    (void)revents;
    kue_log(n->job, "spinning from a timer");
    spin();
}

static void process(kue_handle_t *job)
{
    json_t *d = kue_job_json(job);
    const char *log = json_string_value(json_object_get(d, "log"));
    const char *child = json_string_value(json_object_get(d, "child"));
    if (log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            char line[32];
            int n = snprintf(line, sizeof line, "%lld\n", (long long)kue_job_id_of(job));
            if (write(fd, line, (size_t)n) != n) { /* the test sees a missing line */ }
            close(fd);
        }
    }
    if (child) {
        pid_t pid = fork();
        if (pid == 0) {
            FILE *f = fopen(child, "w");
            if (f) {
                fprintf(f, "%d\n", (int)getpid());
                fclose(f);
            }
            for (;;)
                pause();
        }
        spin();
    }
    if (json_is_true(json_object_get(d, "spin")))
        spin();
    json_t *ms = json_object_get(d, "ms"), *later = json_object_get(d, "spin_after");
    struct nap *n = calloc(1, sizeof *n);
    if (!n) {
        kue_done(job, "out of memory", NULL);
        return;
    }
    n->job = job;
    if (json_is_integer(later))
        ev_timer_init(&n->timer, spin_later, (double)json_integer_value(later) / 1e3, 0.);
    else
        ev_timer_init(&n->timer, wake, json_is_integer(ms) ? (double)json_integer_value(ms) / 1e3 : 0., 0.);
    ev_timer_start(kue_loop(kue_job_ctx(job)), &n->timer);
}

KUE_PLUGIN(.name = "faults", .process = process);
