/*
 * enqueue.h -- the arguments of the enqueue script for one job, shared by
 * the blocking saves (kue_job_save, kue_job_save_bulk) and the
 * non-blocking producer (libkue/async.c), so every producer validates the
 * same way, with the same messages, and writes the same thing.
 * Implemented in kue.c, next to the job's fields.
 */
#ifndef KUE_ENQUEUE_H
#define KUE_ENQUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <kue/kue.h>

#include "kue_internal.h"
#include "search.h"

#define KUE_ENQ_MAX_ARGS (14 + 2 * KUE_SEARCH_MAX_TERMS)

/* ARGV of one enqueue call; argv/lens point into storage owned here. */
typedef struct kue_enq_args {
    const char *argv[KUE_ENQ_MAX_ARGS];
    size_t lens[KUE_ENQ_MAX_ARGS];
    int argc;
    size_t bytes;                  /* sum of lens */
    kue_search_term_t *terms;
    size_t nterms;
    char *data;
    char prio[32], maxa[16], delay[32], ttl[24], runat[24], ufor[24], nsearch[16];
    char (*counts)[24];
} kue_enq_args_t;

/* Validate job j and build its enqueue arguments for key prefix (search:
 * index its data too).  0, or -1 with the reason in err (the text
 * kue_errstr() shows for kue_job_save).  Call kue_enq_free() either way. */
int kue_enq_build(const char *prefix, int search, const kue_job_t *j, kue_enq_args_t *a,
                  char *err, size_t errlen);
void kue_enq_free(kue_enq_args_t *a);

/* Several jobs in one enqueue call: the script takes one record per job
 * after the prefix (each record is a single call's ARGV[2..]), gives the
 * jobs consecutive ids and returns the first.  A batch copies the records
 * it is given and ends at KUE_ENQ_BATCH_MAX_JOBS jobs, KUE_SCRIPT_MAX_ARGS
 * arguments or KUE_ENQ_BATCH_MAX_BYTES bytes, whichever comes first (one
 * job always fits, whatever its size). */
#define KUE_ENQ_BATCH_MAX_JOBS  100
#define KUE_ENQ_BATCH_MAX_BYTES (1u << 20)

typedef struct kue_enq_batch {
    char *bytes;                   /* every argument, back to back */
    size_t nbytes, capbytes;
    size_t *lens;                  /* per argument; [0] is the prefix */
    const char **argv;             /* built by kue_enq_batch_args() */
    size_t nargs, capargs;
    size_t njobs;
} kue_enq_batch_t;

void kue_enq_batch_init(kue_enq_batch_t *b);
void kue_enq_batch_reset(kue_enq_batch_t *b);   /* empty, storage kept */
void kue_enq_batch_free(kue_enq_batch_t *b);
/* Would the record of a still fit (always, in an empty batch)? */
int kue_enq_batch_fits(const kue_enq_batch_t *b, const kue_enq_args_t *a);
/* Append a's record (its prefix too, for the first one). */
void kue_enq_batch_add(kue_enq_batch_t *b, const kue_enq_args_t *a);
/* The call's arguments, valid until the batch changes; returns argc. */
int kue_enq_batch_args(kue_enq_batch_t *b, const char ***argv, const size_t **lens);

/* The id the enqueue script returned, stored in the job as kue_job_save
 * does (negative: an existing job holding the unique key). */
void kue_job_set_saved(kue_job_t *j, int64_t id);
/* The id of record i in an enqueue reply (the first id, or one entry per
 * record when a record had a unique key: negative for an existing job);
 * 0 when the reply has none. */
struct redisReply;
int64_t kue_enq_reply_id(const struct redisReply *r, size_t i);
/* Non-blocking saves mark a job while its save is in flight. */
void kue_job_set_saving(kue_job_t *j, int saving);
int kue_job_saving(const kue_job_t *j);

#endif
