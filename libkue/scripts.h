/*
 * scripts.h -- the Lua scripts that make every job state change one atomic
 * server-side step, and the calls that run them: FCALL of kue's function
 * library on Redis 7 (loaded with FUNCTION LOAD when a connection comes up,
 * or when a call finds it missing), else EVALSHA, falling back to EVAL when
 * the server answers NOSCRIPT, which also caches the script.
 *
 * The sources live in libkue/lua/ (a shared prelude plus one file per script)
 * and are compiled into the library; the library, the function names and
 * each EVAL source's SHA1 are made at start-up.  Every script has ARGV[1] = the key
 * prefix (P or {P}, keys.h) and declares the two KEYS kue_script_keys()
 * builds from it; the remaining ARGV are documented in each .lua file and
 * in docs/ARCHITECTURE.md.  Time inside scripts is the Redis server's
 * clock (TIME), so every host promotes and expires leases against one clock.
 */
#ifndef KUE_SCRIPTS_H
#define KUE_SCRIPTS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "keys.h"

typedef enum {
    KS_ENQUEUE = 0,
    KS_CLAIM,
    KS_COMPLETE,
    KS_FAIL,
    KS_REQUEUE,
    KS_PROGRESS,
    KS_LOG,
    KS_RENEW,
    KS_PROMOTE,
    KS_RECOVER,
    KS_SETTLE,
    KS_SET_STATE,
    KS_SET_PRIORITY,
    KS_REMOVE,
    KS_LEADER,
    KS_PRUNE,
    KS_CRON,
    KS_CANCEL,
    KS_PAUSE,
    KS__COUNT
} kue_script_id;

const char *kue_script_name(kue_script_id id);
const char *kue_script_source(kue_script_id id);   /* EVAL source, prelude included */
const char *kue_script_sha(kue_script_id id);      /* 40 hex characters */

/* Redis functions (7.0 and later).  The library ("#!lua name=kue_<hash>",
 * the hash of every script's source: each build has its own name, so two
 * versions on one server do not replace each other), for FUNCTION LOAD;
 * its name; each script's function name (<library>_<script>). */
const char *kue_script_library(size_t *len);
const char *kue_script_library_name(void);
const char *kue_script_fname(kue_script_id id);
/* 1 while calls should use FCALL: until a server showed it has no
 * functions (then EVALSHA for the rest of the process), or from the start
 * with KUE_REDIS_FUNCTIONS=0 in the environment. */
int kue_script_functions(void);
void kue_script_functions_off(void);
/* What a script call's reply says about how it ran. */
typedef enum {
    KUE_SR_OK = 0,         /* it ran (or failed on its own terms), or NULL */
    KUE_SR_NOSCRIPT,       /* EVALSHA: the script is not cached: EVAL it */
    KUE_SR_NOFUNC,         /* FCALL: the library is not loaded: load it */
    KUE_SR_NOFCALL,        /* FCALL is unknown or not allowed: use EVALSHA */
} kue_script_reply;
kue_script_reply kue_script_reply_kind(const redisReply *r);
/* A FUNCTION LOAD reply that leaves the library loaded ("already exists"
 * included). */
int kue_script_load_reply_ok(const redisReply *r);

/* The most ARGV one script call takes: room for the enqueue script with
 * KUE_SEARCH_MAX_TERMS search terms (11 + 2 x 2048). */
#define KUE_SCRIPT_MAX_ARGS 8192

/* Run a script on a blocking connection: argv holds the ARGV (argv[0] is
 * the prefix, at most KUE_SCRIPT_MAX_ARGS), lens may be NULL for
 * NUL-terminated strings.  FCALL, loading the library when it is missing;
 * EVALSHA/EVAL on a server without functions.  Returns the
 * reply (caller frees with freeReplyObject) or NULL on a connection error. */
redisReply *kue_script_call(redisContext *c, kue_script_id id, int argc,
                            const char **argv, const size_t *lens);
/* Append an FCALL (or EVALSHA) call to c's output buffer for pipelining;
 * read the replies with redisGetReply.  A call whose reply satisfies
 * kue_script_rerun() did not run and must be re-run with kue_script_call
 * (which loads what is missing). */
int kue_script_append(redisContext *c, kue_script_id id, int argc,
                      const char **argv, const size_t *lens);
int kue_script_rerun(const redisReply *r);

/* The KEYS of a call whose ARGV[1] is pfx (pfxlen bytes): KUE_SCRIPT_NKEYS
 * names written into buf (at least KUE_SCRIPT_KEYS_BUF bytes), pointed to
 * by k[] with their lengths in kl[].  -1 when the prefix is too long. */
#define KUE_SCRIPT_KEYS_BUF 320
int kue_script_keys(const char *pfx, size_t pfxlen, char *buf, const char **k, size_t *kl);

#endif
