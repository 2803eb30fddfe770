/*
 * scripts.c -- the compiled-in Lua scripts (the .lua files in libkue/lua) and the calls
 * that run them.  Each script's full source is the shared prelude followed
 * by the script; its SHA1 is computed once, so callers go straight to
 * EVALSHA and fall back to EVAL (which caches the script) on NOSCRIPT.
 */
#include "scripts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha1.h"

struct kue_embedded { const char *name; const char *data; size_t len; };
extern const struct kue_embedded kue_lua_files[];

static const char *const names[KS__COUNT] = {
    [KS_ENQUEUE] = "enqueue",   [KS_CLAIM] = "claim",       [KS_COMPLETE] = "complete",
    [KS_FAIL] = "fail",         [KS_REQUEUE] = "requeue",   [KS_PROGRESS] = "progress",
    [KS_LOG] = "log",           [KS_RENEW] = "renew",       [KS_PROMOTE] = "promote",
    [KS_RECOVER] = "recover",   [KS_SETTLE] = "settle",     [KS_SET_STATE] = "set_state",
    [KS_SET_PRIORITY] = "set_priority", [KS_REMOVE] = "remove",
    [KS_CANCEL] = "cancel",     [KS_PAUSE] = "pause",
};

static struct {
    char *src;
    size_t len;
    char sha[41];
} scripts[KS__COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const struct kue_embedded *find(const char *name)
{
    for (const struct kue_embedded *e = kue_lua_files; e->name; e++)
        if (!strcmp(e->name, name)) return e;
    return NULL;
}

static void init(void)
{
    const struct kue_embedded *pre = find("prelude");
    for (int i = 0; i < KS__COUNT; i++) {
        const struct kue_embedded *e = find(names[i]);
        if (!pre || !e) {
            fprintf(stderr, "kue: script %s missing from the build\n", names[i]);
            abort();
        }
        size_t len = pre->len + 1 + e->len;
        char *s = malloc(len + 1);
        if (!s) abort();
        memcpy(s, pre->data, pre->len);
        s[pre->len] = '\n';
        memcpy(s + pre->len + 1, e->data, e->len);
        s[len] = '\0';
        scripts[i].src = s;
        scripts[i].len = len;
        kue_sha1_hex(s, len, scripts[i].sha);
    }
}

const char *kue_script_name(kue_script_id id)
{
    return (unsigned)id < KS__COUNT ? names[id] : "?";
}

const char *kue_script_source(kue_script_id id)
{
    pthread_once(&once, init);
    return scripts[id].src;
}

const char *kue_script_sha(kue_script_id id)
{
    pthread_once(&once, init);
    return scripts[id].sha;
}

/* Room for "EVALSHA sha 0 ARGV...": on the stack for the usual calls, on
 * the heap for large ones (the enqueue script with many search terms). */
#define STACK_ARGS 64

struct cmdv {
    const char **v;
    size_t *l;
    const char *sv[STACK_ARGS];
    size_t sl[STACK_ARGS];
};

static int cmdv_init(struct cmdv *c, int argc)
{
    if (argc < 1 || argc > KUE_SCRIPT_MAX_ARGS) return -1;
    c->v = c->sv;
    c->l = c->sl;
    if (argc + 3 > STACK_ARGS) {
        c->v = malloc((size_t)(argc + 3) * sizeof *c->v);
        c->l = malloc((size_t)(argc + 3) * sizeof *c->l);
        if (!c->v || !c->l) abort();
    }
    return 0;
}

static void cmdv_free(struct cmdv *c)
{
    if (c->v != c->sv) free(c->v);
    if (c->l != c->sl) free(c->l);
}

/* Fill "EVALSHA sha 0 argv..." (or EVAL src 0 ...) into c; returns the
 * number of arguments. */
static int build(struct cmdv *c, kue_script_id id, int eval, int argc, const char **argv,
                 const size_t *lens)
{
    pthread_once(&once, init);
    const char **v = c->v;
    size_t *l = c->l;
    v[0] = eval ? "EVAL" : "EVALSHA"; l[0] = strlen(v[0]);
    v[1] = eval ? scripts[id].src : scripts[id].sha;
    l[1] = eval ? scripts[id].len : 40;
    v[2] = "0"; l[2] = 1;
    for (int i = 0; i < argc; i++) {
        v[3 + i] = argv[i];
        l[3 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    return argc + 3;
}

static int is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8);
}

redisReply *kue_script_call(redisContext *c, kue_script_id id, int argc,
                            const char **argv, const size_t *lens)
{
    struct cmdv cv;
    if (cmdv_init(&cv, argc) != 0) return NULL;
    int n = build(&cv, id, 0, argc, argv, lens);
    redisReply *r = redisCommandArgv(c, n, cv.v, cv.l);
    if (is_noscript(r)) {
        freeReplyObject(r);
        build(&cv, id, 1, argc, argv, lens);
        r = redisCommandArgv(c, n, cv.v, cv.l);
    }
    cmdv_free(&cv);
    return r;
}

int kue_script_append(redisContext *c, kue_script_id id, int argc,
                      const char **argv, const size_t *lens)
{
    struct cmdv cv;
    if (cmdv_init(&cv, argc) != 0) return -1;
    int n = build(&cv, id, 0, argc, argv, lens);
    int rc = redisAppendCommandArgv(c, n, cv.v, cv.l) == REDIS_OK ? 0 : -1;
    cmdv_free(&cv);
    return rc;
}

int kue_script_is_noscript(const redisReply *r) { return is_noscript(r); }
