/*
 * scripts.c -- the compiled-in Lua scripts (the .lua files in libkue/lua) and the calls
 * that run them.  On Redis 7 they are one function library, loaded once
 * (FUNCTION LOAD) and run with FCALL: the shared prelude runs at load, not
 * on every call.  Where a server has no functions (older than 7, FCALL
 * renamed away or not allowed to the user) each script runs as an EVAL
 * source, the prelude followed by the script: its SHA1 is computed once,
 * so callers go straight to EVALSHA and fall back to EVAL (which caches
 * the script) on NOSCRIPT.
 */
#include "scripts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Scripts that may run when Redis is over maxmemory: they only delete.
 * Every other function is refused before it reads anything then (the
 * default of a Redis function); an EVAL script is refused at its first
 * write that could grow memory, which for most of them is the first. */
static const unsigned char allow_oom[KS__COUNT] = { [KS_PRUNE] = 1, [KS_REMOVE] = 1 };

/* What each call starts with, in both forms: kue_begin() (prelude.lua)
 * sets the call's state and checks the declared KEYS. */
#define BEGIN "local __kue_err = kue_begin(KEYS, ARGV)\nif __kue_err then return __kue_err end\n"

static struct {
    char *src;                   /* EVAL form: prelude, BEGIN, body (made on first use) */
    size_t len;
    char sha[41];
    char fname[64];              /* FCALL name: <library>_<script> */
} scripts[KS__COUNT];
static char *library;            /* "#!lua name=kue_<hash>" + prelude + one function each */
static size_t library_len;
static char library_name[32];
static int functions = 1;        /* 0: EVALSHA only (a server without functions, or
                                  * KUE_REDIS_FUNCTIONS=0); read and set atomically */
static pthread_once_t once = PTHREAD_ONCE_INIT, once_eval = PTHREAD_ONCE_INIT;

static const struct kue_embedded *find(const char *name)
{
    const struct kue_embedded *e = kue_lua_files;
    for (; e->name; e++)
        if (!strcmp(e->name, name)) return e;
    fprintf(stderr, "kue: script %s missing from the build\n", name);
    abort();
}

static char *cat(char *dst, const char *s, size_t n)
{
    memcpy(dst, s, n);
    return dst + n;
}

/* The library's text under the name given ("kue_" and 16 characters). */
static char *library_text(const char *name, size_t *len)
{
    const struct kue_embedded *pre = find("prelude");
    size_t cap = pre->len + 64;
    for (int i = 0; i < KS__COUNT; i++) cap += find(names[i])->len + 256 + strlen(BEGIN);
    char *lib = malloc(cap), *e = lib;
    if (!lib) abort();
    e += sprintf(e, "#!lua name=%s\n", name);
    e = cat(e, pre->data, pre->len);
    for (int i = 0; i < KS__COUNT; i++) {
        const struct kue_embedded *body = find(names[i]);
        e += sprintf(e,
                     "\nredis.register_function{function_name='%s_%s', flags={%s}, "
                     "callback=function(KEYS, ARGV)\n" BEGIN,
                     name, names[i],
                     allow_oom[i] ? "'allow-cross-slot-keys', 'allow-oom'"
                                  : "'allow-cross-slot-keys'");
        e = cat(e, body->data, body->len);
        e = cat(e, "\nend}\n", 6);
    }
    *e = '\0';
    *len = (size_t)(e - lib);
    return lib;
}

/* The library, named after its contents (the SHA1 of its text under a
 * placeholder name), so each build has its own: two versions on one Redis
 * (a rolling upgrade) never replace each other's functions.  The EVAL
 * sources (the prelude once per script, about 0.5 MB in all) are made
 * only when a server without functions needs them. */
static void init(void)
{
    static const char placeholder[] = "kue_0000000000000000";
    char hash[41];
    library = library_text(placeholder, &library_len);
    kue_sha1_hex(library, library_len, hash);
    snprintf(library_name, sizeof library_name, "kue_%.16s", hash);
    /* the same length: written over each place the placeholder stands */
    for (char *p = library; (p = strstr(p, placeholder)) != NULL; p += sizeof placeholder - 1)
        memcpy(p, library_name, sizeof placeholder - 1);
    for (int i = 0; i < KS__COUNT; i++)
        snprintf(scripts[i].fname, sizeof scripts[i].fname, "%s_%s", library_name, names[i]);
    const char *env = getenv("KUE_REDIS_FUNCTIONS");
    if (env && !strcmp(env, "0")) functions = 0;
}

static void init_eval(void)
{
    const struct kue_embedded *pre = find("prelude");
    for (int i = 0; i < KS__COUNT; i++) {
        const struct kue_embedded *body = find(names[i]);
        size_t len = pre->len + 1 + strlen(BEGIN) + body->len;
        char *s = malloc(len + 1), *e = s;
        if (!s) abort();
        e = cat(e, pre->data, pre->len);
        *e++ = '\n';
        e = cat(e, BEGIN, strlen(BEGIN));
        e = cat(e, body->data, body->len);
        *e = '\0';
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
    pthread_once(&once_eval, init_eval);
    return scripts[id].src;
}

const char *kue_script_sha(kue_script_id id)
{
    pthread_once(&once_eval, init_eval);
    return scripts[id].sha;
}

const char *kue_script_fname(kue_script_id id)
{
    pthread_once(&once, init);
    return scripts[id].fname;
}

const char *kue_script_library(size_t *len)
{
    pthread_once(&once, init);
    if (len) *len = library_len;
    return library;
}

const char *kue_script_library_name(void)
{
    pthread_once(&once, init);
    return library_name;
}

int kue_script_functions(void)
{
    pthread_once(&once, init);
    return __atomic_load_n(&functions, __ATOMIC_RELAXED);
}

void kue_script_functions_off(void)
{
    pthread_once(&once, init);
    __atomic_store_n(&functions, 0, __ATOMIC_RELAXED);
}

kue_script_reply kue_script_reply_kind(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ERROR || !r->str) return KUE_SR_OK;
    if (!strncmp(r->str, "NOSCRIPT", 8)) return KUE_SR_NOSCRIPT;
    if (!strncmp(r->str, "ERR Function not found", 22)) return KUE_SR_NOFUNC;
    /* FCALL unknown (Redis 6, or renamed away) or not allowed to this user */
    if (!strncasecmp(r->str, "ERR unknown command", 19) || !strncmp(r->str, "NOPERM", 6))
        return KUE_SR_NOFCALL;
    return KUE_SR_OK;
}

int kue_script_load_reply_ok(const redisReply *r)
{
    if (!r) return 0;
    if (r->type != REDIS_REPLY_ERROR) return 1;
    /* loaded by another client (or by us, earlier): the same contents */
    return r->str && strstr(r->str, "already exists") != NULL;
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

enum { AS_EVALSHA, AS_EVAL, AS_FCALL };

/* Fill "EVALSHA sha 2 K1 K2 argv..." (or EVAL src 2 ..., FCALL name 2 ...)
 * into c; returns the number of arguments, -1 for a prefix too long. */
static int build(struct cmdv *c, kue_script_id id, int as, int argc, const char **argv,
                 const size_t *lens)
{
    pthread_once(&once, init);
    if (as != AS_FCALL) pthread_once(&once_eval, init_eval);
    const char **v = c->v;
    size_t *l = c->l;
    v[0] = as == AS_FCALL ? "FCALL" : as == AS_EVAL ? "EVAL" : "EVALSHA";
    l[0] = strlen(v[0]);
    v[1] = as == AS_FCALL ? scripts[id].fname : as == AS_EVAL ? scripts[id].src : scripts[id].sha;
    l[1] = as == AS_EVAL ? scripts[id].len : strlen(v[1]);
    _Static_assert(KUE_SCRIPT_NKEYS == 2, "the key count below");
    v[2] = "2"; l[2] = 1;
    for (int i = 0; i < argc; i++) {
        v[HEAD + i] = argv[i];
        l[HEAD + i] = lens ? lens[i] : strlen(argv[i]);
    }
    if (kue_script_keys(v[HEAD], l[HEAD], c->keys, v + 3, l + 3) != 0) return -1;
    return argc + HEAD;
}

/* FUNCTION LOAD the library on c: 1 when it is there now (loaded, or it
 * already was), 0 when it is not (-1 on a connection error).  Functions go
 * off for the process only when the server cannot have them (unknown
 * command, not allowed); a refusal for now (OOM, LOADING, READONLY) only
 * sends this call the EVALSHA way. */
static int load_library(redisContext *c)
{
    const char *v[] = { "FUNCTION", "LOAD", library };
    size_t l[] = { 8, 4, library_len };
    redisReply *r = redisCommandArgv(c, 3, v, l);
    if (!r) return -1;
    int ok = kue_script_load_reply_ok(r);
    int never = !ok && kue_script_reply_kind(r) == KUE_SR_NOFCALL;
    freeReplyObject(r);
    if (never) kue_script_functions_off();
    return ok;
}

redisReply *kue_script_call(redisContext *c, kue_script_id id, int argc,
                            const char **argv, const size_t *lens)
{
    struct cmdv cv;
    if (cmdv_init(&cv, argc) != 0) return NULL;
    redisReply *r = NULL;
    int n = -1;
    if (kue_script_functions()) {
        n = build(&cv, id, AS_FCALL, argc, argv, lens);
        if (n < 0) goto out;
        r = redisCommandArgv(c, n, cv.v, cv.l);
        kue_script_reply k = kue_script_reply_kind(r);
        if (k == KUE_SR_NOFUNC) {
            /* a server restarted without its data, or FUNCTION FLUSH */
            freeReplyObject(r);
            r = NULL;
            int loaded = load_library(c);
            if (loaded < 0) goto out;
            if (loaded) {
                r = redisCommandArgv(c, n, cv.v, cv.l);
                k = kue_script_reply_kind(r);
            }
        }
        if (k == KUE_SR_NOFCALL) kue_script_functions_off();
        if (r && k == KUE_SR_OK) goto out;
        freeReplyObject(r);
        r = NULL;
        if (k == KUE_SR_OK) goto out;            /* connection error */
    }
    n = build(&cv, id, AS_EVALSHA, argc, argv, lens);
    if (n < 0) goto out;
    r = redisCommandArgv(c, n, cv.v, cv.l);
    if (kue_script_reply_kind(r) == KUE_SR_NOSCRIPT) {
        freeReplyObject(r);
        build(&cv, id, AS_EVAL, argc, argv, lens);
        r = redisCommandArgv(c, n, cv.v, cv.l);
    }
out:
    cmdv_free(&cv);
    return r;
}

int kue_script_append(redisContext *c, kue_script_id id, int argc,
                      const char **argv, const size_t *lens)
{
    struct cmdv cv;
    if (cmdv_init(&cv, argc) != 0) return -1;
    int n = build(&cv, id, kue_script_functions() ? AS_FCALL : AS_EVALSHA, argc, argv, lens);
    int rc = n > 0 && redisAppendCommandArgv(c, n, cv.v, cv.l) == REDIS_OK ? 0 : -1;
    cmdv_free(&cv);
    return rc;
}

int kue_script_rerun(const redisReply *r)
{
    return kue_script_reply_kind(r) != KUE_SR_OK;
}
