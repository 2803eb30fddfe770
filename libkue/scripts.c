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

#include "keys.h"
#include "sha1.h"

struct kue_embedded { const char *name; const char *data; size_t len; };
extern const struct kue_embedded kue_lua_files[];

static const char *const names[KS__COUNT] = {
    [KS_ENQUEUE] = "enqueue",   [KS_CLAIM] = "claim",       [KS_COMPLETE] = "complete",
    [KS_FAIL] = "fail",         [KS_REQUEUE] = "requeue",   [KS_PROGRESS] = "progress",
    [KS_LOG] = "log",           [KS_RENEW] = "renew",       [KS_PROMOTE] = "promote",
    [KS_RECOVER] = "recover",   [KS_SETTLE] = "settle",     [KS_SET_STATE] = "set_state",
    [KS_SET_PRIORITY] = "set_priority", [KS_REMOVE] = "remove",
    [KS_LEADER] = "leader",     [KS_PRUNE] = "prune",       [KS_CRON] = "cron",
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

int kue_script_keys(const char *pfx, size_t pfxlen, char *buf, const char **k, size_t *kl)
{
    char p[KUE_KEY_PREFIX_MAX];
    if (pfxlen >= sizeof p) return -1;
    memcpy(p, pfx, pfxlen);
    p[pfxlen] = '\0';
    size_t half = KUE_SCRIPT_KEYS_BUF / 2;
    int a = kue_key_ids(buf, half, p), b = kue_key_fence(buf + half, half, p);
    if (a < 0 || b < 0) return -1;
    k[0] = buf;
    kl[0] = (size_t)a;
    k[1] = buf + half;
    kl[1] = (size_t)b;
    return 0;
}

/* Room for "EVALSHA sha 2 K1 K2 ARGV...": on the stack for the usual calls,
 * on the heap for large ones (the enqueue script with many search terms). */
#define STACK_ARGS 64
#define HEAD (3 + KUE_SCRIPT_NKEYS)

struct cmdv {
    char keys[KUE_SCRIPT_KEYS_BUF];
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
    if (argc + HEAD > STACK_ARGS) {
        c->v = malloc((size_t)(argc + HEAD) * sizeof *c->v);
        c->l = malloc((size_t)(argc + HEAD) * sizeof *c->l);
        if (!c->v || !c->l) abort();
    }
    return 0;
}

static void cmdv_free(struct cmdv *c)
{
    if (c->v != c->sv) free(c->v);
    if (c->l != c->sl) free(c->l);
}

/* Fill "EVALSHA sha 2 K1 K2 argv..." (or EVAL src 2 ...) into c; returns
 * the number of arguments, -1 for a prefix too long. */
static int build(struct cmdv *c, kue_script_id id, int eval, int argc, const char **argv,
                 const size_t *lens)
{
    pthread_once(&once, init);
    const char **v = c->v;
    size_t *l = c->l;
    v[0] = eval ? "EVAL" : "EVALSHA"; l[0] = strlen(v[0]);
    v[1] = eval ? scripts[id].src : scripts[id].sha;
    l[1] = eval ? scripts[id].len : 40;
    _Static_assert(KUE_SCRIPT_NKEYS == 2, "the key count below");
    v[2] = "2"; l[2] = 1;
    for (int i = 0; i < argc; i++) {
        v[HEAD + i] = argv[i];
        l[HEAD + i] = lens ? lens[i] : strlen(argv[i]);
    }
    if (kue_script_keys(v[HEAD], l[HEAD], c->keys, v + 3, l + 3) != 0) return -1;
    return argc + HEAD;
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
    if (n < 0) { cmdv_free(&cv); return NULL; }
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
    int rc = n > 0 && redisAppendCommandArgv(c, n, cv.v, cv.l) == REDIS_OK ? 0 : -1;
    cmdv_free(&cv);
    return rc;
}

int kue_script_is_noscript(const redisReply *r) { return is_noscript(r); }
