/*
 * enqueue.h -- the arguments of the enqueue script for one job, shared by
 * the blocking saves (kue_job_save, kue_job_save_bulk) and the
 * non-blocking producer (lib/async.c), so every producer validates the
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

#define KUE_ENQ_MAX_ARGS (11 + 2 * KUE_SEARCH_MAX_TERMS)

/* ARGV of one enqueue call; argv/lens point into storage owned here. */
typedef struct kue_enq_args {
    const char *argv[KUE_ENQ_MAX_ARGS];
    size_t lens[KUE_ENQ_MAX_ARGS];
    int argc;
    size_t bytes;                  /* sum of lens */
    kue_search_term_t *terms;
    size_t nterms;
    char *data;
    char prio[16], maxa[16], delay[24], ttl[24], runat[24], nsearch[16];
    char (*counts)[24];
} kue_enq_args_t;

/* Validate job j and build its enqueue arguments for key prefix (search:
 * index its data too).  0, or -1 with the reason in err (the text
 * kue_errstr() shows for kue_job_save).  Call kue_enq_free() either way. */
int kue_enq_build(const char *prefix, int search, const kue_job_t *j, kue_enq_args_t *a,
                  char *err, size_t errlen);
void kue_enq_free(kue_enq_args_t *a);

/* The id the enqueue script returned, stored in the job as kue_job_save
 * does. */
void kue_job_set_saved(kue_job_t *j, int64_t id);
/* Non-blocking saves mark a job while its save is in flight. */
void kue_job_set_saving(kue_job_t *j, int saving);
int kue_job_saving(const kue_job_t *j);

#endif
