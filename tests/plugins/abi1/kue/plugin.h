/*
 * plugin.h -- the job handler ABI of kue workers.
 *
 * This is the only header a handler plugin needs.  A plugin is a shared
 * object that exports one function, kue_plugin_entry(), returning a static
 * descriptor.  Workers dlopen() it (RTLD_NOW | RTLD_LOCAL), check the ABI
 * version and the descriptor size, call init() once per process, then
 * process() for every job.  Every service the worker offers (progress, log,
 * done, the event loop, pause/resume) is reached through function pointers
 * carried by the handles, so a plugin links against nothing of kue:
 *
 *     cc -shared -fPIC $(pkg-config --cflags kue) -o email.so email.c
 *
 * (add -ljansson if the plugin calls jansson on kue_job_json()).
 *
 * A complete synchronous handler:
 *
 *     #include <kue/plugin.h>
 *
 *     static void process(kue_handle_t *job)
 *     {
 *         kue_log(job, "sending to %s", "someone");
 *         kue_progress(job, 1, 2, NULL);
 *         kue_done(job, NULL, "{\"sent\":true}");
 *     }
 *
 *     KUE_PLUGIN(.process = process);
 *
 * An asynchronous handler returns from process() without calling kue_done()
 * and calls it later from a libev watcher on kue_loop(kue_job_ctx(job)).
 *
 * Threading: every hook and every kue_* call runs on the worker's single
 * event-loop thread.  A handler that starts threads must hand results back
 * to the loop (e.g. with an ev_async watcher) before calling kue_done().
 */
#ifndef KUE_PLUGIN_H
#define KUE_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of the structures below. */
#define KUE_PLUGIN_ABI 1

struct ev_loop;     /* libev */
struct json_t;      /* jansson */

typedef struct kue_handle kue_handle_t;       /* one job being processed */
typedef struct kue_plugin_ctx kue_plugin_ctx_t; /* one plugin in one process */

/* Services of the worker, reached through the handles.  Plugins never call
 * these directly: use the inline wrappers below. */
struct kue_host_api {
    uint32_t size;                                  /* sizeof(struct kue_host_api) */
    int64_t (*job_id)(const kue_handle_t *h);
    const char *(*job_type)(const kue_handle_t *h);
    const char *(*job_data)(const kue_handle_t *h);  /* JSON text, as stored */
    struct json_t *(*job_json)(const kue_handle_t *h); /* parsed data, borrowed; may be NULL */
    int (*job_priority)(const kue_handle_t *h);
    int (*job_attempts)(const kue_handle_t *h);      /* attempts made before this one */
    int (*job_max_attempts)(const kue_handle_t *h);
    int64_t (*job_created_at)(const kue_handle_t *h); /* ms since the epoch */
    kue_plugin_ctx_t *(*job_ctx)(const kue_handle_t *h);
    void (*progress)(kue_handle_t *h, long done, long total, const char *data_json);
    void (*logv)(kue_handle_t *h, const char *fmt, va_list ap);
    void (*done)(kue_handle_t *h, const char *error, const char *result_json);
    struct ev_loop *(*loop)(kue_plugin_ctx_t *ctx);
    void (*pause)(kue_plugin_ctx_t *ctx, int64_t timeout_ms);
    void (*resume)(kue_plugin_ctx_t *ctx);
    void *(*get_userdata)(kue_plugin_ctx_t *ctx);
    void (*set_userdata)(kue_plugin_ctx_t *ctx, void *p);
    const char *(*ctx_type)(kue_plugin_ctx_t *ctx);
};

/* The first member of both handles; the rest is private to the worker. */
struct kue_handle { const struct kue_host_api *api; };
struct kue_plugin_ctx { const struct kue_host_api *api; };

/* The descriptor a plugin returns.  Unused hooks are NULL. */
struct kue_plugin {
    uint32_t abi;                   /* KUE_PLUGIN_ABI */
    uint32_t size;                  /* sizeof(struct kue_plugin) */
    const char *name;               /* for logs; NULL: the file name */
    /* Job types served, NULL-terminated; NULL: the file's stem
     * ("email.so" serves "email"). */
    const char *const *types;
    /* Once per worker process, before the first job.  Non-zero refuses to
     * start (the worker exits and the supervisor does not respawn it in a
     * loop). */
    int (*init)(kue_plugin_ctx_t *ctx);
    /* Once per worker process, after the last job. */
    void (*fini)(kue_plugin_ctx_t *ctx);
    /* Run one job.  Call kue_done() exactly once, before returning or later
     * from the event loop.  Required. */
    void (*process)(kue_handle_t *job);
    /* Optional: the delay in ms before the next attempt of a job whose
     * backoff Kue stored as a JavaScript function (the C counterpart of
     * Kue's custom backoff).  attempts: attempts made; delay_ms: the job's
     * delay field.  Without this hook such jobs wait their delay field. */
    int64_t (*backoff)(int attempts, int64_t delay_ms);
};

#define KUE_PLUGIN_ENTRY_SYMBOL "kue_plugin_entry"
typedef const struct kue_plugin *kue_plugin_entry_fn(void);

/* Define the entry symbol from designated initialisers:
 *     KUE_PLUGIN(.process = fn, .init = my_init);                         */
#define KUE_PLUGIN(...)                                                     \
    __attribute__((visibility("default")))                                 \
    const struct kue_plugin *kue_plugin_entry(void);                       \
    const struct kue_plugin *kue_plugin_entry(void)                        \
    {                                                                       \
        static const struct kue_plugin d = {                               \
            .abi = KUE_PLUGIN_ABI, .size = sizeof(struct kue_plugin),      \
            __VA_ARGS__ };                                                  \
        return &d;                                                          \
    }

/* ---- the job handle ---------------------------------------------------- */

static inline int64_t kue_job_id_of(const kue_handle_t *h) { return h->api->job_id(h); }
static inline const char *kue_job_type_of(const kue_handle_t *h) { return h->api->job_type(h); }
/* The job's data: exactly the stored JSON text (borrowed until
 * kue_done()).  Always available: any text JavaScript's JSON.parse accepts
 * reaches the handler, including integers beyond 64 bits
 * (150000000000000000000) and lone surrogate escapes ("\ud800"). */
static inline const char *kue_job_data_of(const kue_handle_t *h) { return h->api->job_data(h); }
/* The job's data parsed by jansson (borrowed until kue_done()).  NULL when
 * jansson cannot represent valid JSON (an integer beyond 64 bits, a lone
 * surrogate, a \u0000 in a key): read kue_job_data_of() then.  Jobs whose
 * data is not JSON at all fail before reaching a handler. */
static inline struct json_t *kue_job_json(const kue_handle_t *h) { return h->api->job_json(h); }
static inline int kue_job_priority_of(const kue_handle_t *h) { return h->api->job_priority(h); }
static inline int kue_job_attempts_of(const kue_handle_t *h) { return h->api->job_attempts(h); }
static inline int kue_job_max_attempts_of(const kue_handle_t *h) { return h->api->job_max_attempts(h); }
static inline int64_t kue_job_created_at_of(const kue_handle_t *h) { return h->api->job_created_at(h); }
static inline kue_plugin_ctx_t *kue_job_ctx(const kue_handle_t *h) { return h->api->job_ctx(h); }

/* Report progress: Kue stores min(100, done*100/total); data_json (may be
 * NULL) is stored as progress_data and sent with the event. */
static inline void kue_progress(kue_handle_t *h, long done, long total, const char *data_json)
{ h->api->progress(h, done, total, data_json); }

/* Append a printf-formatted line to the job's log. */
static inline void kue_log(kue_handle_t *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void kue_log(kue_handle_t *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    h->api->logv(h, fmt, ap);
    va_end(ap);
}

/* Finish the job: error NULL completes it with result_json (NULL: no
 * result); a non-NULL error fails this attempt (retried while attempts
 * remain).  Exactly once per job.  After it the handle must not be used; a
 * repeated call, or a call after the worker took the job away (timeout,
 * drain deadline), is ignored with a warning. */
static inline void kue_done(kue_handle_t *h, const char *error, const char *result_json)
{ h->api->done(h, error, result_json); }

/* ---- the per-process context ------------------------------------------- */

/* The worker's libev loop, for asynchronous handlers. */
static inline struct ev_loop *kue_loop(kue_plugin_ctx_t *c) { return c->api->loop(c); }
/* Stop taking new jobs of this type (Kue's ctx.pause); jobs in flight go
 * on.  timeout_ms > 0: resume by itself after that long. */
static inline void kue_pause(kue_plugin_ctx_t *c, int64_t timeout_ms) { c->api->pause(c, timeout_ms); }
static inline void kue_resume(kue_plugin_ctx_t *c) { c->api->resume(c); }
static inline void *kue_userdata(kue_plugin_ctx_t *c) { return c->api->get_userdata(c); }
static inline void kue_set_userdata(kue_plugin_ctx_t *c, void *p) { c->api->set_userdata(c, p); }
/* The job type this process works on. */
static inline const char *kue_ctx_type(kue_plugin_ctx_t *c) { return c->api->ctx_type(c); }

#ifdef __cplusplus
}
#endif
#endif
