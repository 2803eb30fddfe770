/*
 * slideshow.c -- the Kue README's example, in C: convert a slideshow of
 * data.slides slides (default 10), one slide every data.ms milliseconds
 * (default 50) on the event loop, with progress ("slide 3 of 10") and log
 * lines, then complete with {"slides":N}.
 *
 *     kue create slideshow '{"title":"welcome","slides":5}'
 *
 * A per-process counter kept with kue_set_userdata() shows the context:
 * init() allocates it, fini() frees it.
 */
#include <ev.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include <kue/plugin.h>

struct show {
    ev_timer timer;            /* first: the watcher pointer is the struct */
    kue_handle_t *job;
    long slides, done;
};

static int init(kue_plugin_ctx_t *ctx)
{
    long *rendered = calloc(1, sizeof *rendered);
    if (!rendered) return -1;
    kue_set_userdata(ctx, rendered);
    return 0;
}

static void fini(kue_plugin_ctx_t *ctx)
{
    free(kue_userdata(ctx));
}

static void next_slide(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct show *s = (struct show *)w;
    (void)revents;
    s->done++;
    long *rendered = kue_userdata(kue_job_ctx(s->job));
    (*rendered)++;
    char pd[64];
    snprintf(pd, sizeof pd, "{\"slide\":%ld}", s->done);
    kue_progress(s->job, s->done, s->slides, pd);
    kue_log(s->job, "rendered slide %ld of %ld", s->done, s->slides);
    if (s->done < s->slides) return;
    ev_timer_stop(loop, w);
    char result[64];
    snprintf(result, sizeof result, "{\"slides\":%ld}", s->slides);
    kue_done(s->job, NULL, result);
    free(s);
}

static void process(kue_handle_t *job)
{
    json_t *d = kue_job_json(job);
    json_t *n = json_object_get(d, "slides"), *ms = json_object_get(d, "ms");
    const char *title = json_string_value(json_object_get(d, "title"));
    struct show *s = calloc(1, sizeof *s);
    if (!s) {
        kue_done(job, "out of memory", NULL);
        return;
    }
    s->job = job;
    s->slides = json_is_integer(n) && json_integer_value(n) > 0 ? (long)json_integer_value(n) : 10;
    double every = (json_is_integer(ms) && json_integer_value(ms) >= 0
                    ? (double)json_integer_value(ms) : 50.0) / 1000.0;
    kue_log(job, "converting slideshow \"%s\" (%ld slides)", title ? title : "untitled", s->slides);
    ev_timer_init(&s->timer, next_slide, every, every > 0 ? every : 0.001);
    ev_timer_start(kue_loop(kue_job_ctx(job)), &s->timer);
}

KUE_PLUGIN(.name = "slideshow", .init = init, .fini = fini, .process = process);
