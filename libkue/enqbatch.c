/*
 * enqbatch.c -- several jobs' enqueue records in one script call (see
 * enqueue.h), used by kue_job_save_bulk() and the non-blocking producer.
 * Allocation failure aborts, as elsewhere in libkue.
 */
#include "enqueue.h"

#include <stdlib.h>
#include <string.h>

#include "scripts.h"

void kue_enq_batch_init(kue_enq_batch_t *b)
{
    memset(b, 0, sizeof *b);
}

void kue_enq_batch_reset(kue_enq_batch_t *b)
{
    b->nbytes = 0;
    b->nargs = 0;
    b->njobs = 0;
}

void kue_enq_batch_free(kue_enq_batch_t *b)
{
    free(b->bytes);
    free(b->lens);
    free(b->argv);
    kue_enq_batch_init(b);
}

int kue_enq_batch_fits(const kue_enq_batch_t *b, const kue_enq_args_t *a)
{
    if (b->njobs == 0) return 1;
    return b->njobs < KUE_ENQ_BATCH_MAX_JOBS &&
           b->nargs + (size_t)a->argc - 1 <= KUE_SCRIPT_MAX_ARGS &&
           b->nbytes + a->bytes <= KUE_ENQ_BATCH_MAX_BYTES;
}

static size_t next_cap(size_t cap, size_t need)
{
    size_t c = cap ? cap : 64;
    while (c < need) c *= 2;
    return c;
}

void kue_enq_batch_add(kue_enq_batch_t *b, const kue_enq_args_t *a)
{
    int from = b->njobs == 0 ? 0 : 1;         /* the prefix once */
    size_t need = b->nargs + (size_t)a->argc;
    if (need > b->capargs) {
        size_t c = next_cap(b->capargs, need);
        size_t *l = realloc(b->lens, c * sizeof *l);
        if (!l) abort();
        b->lens = l;
        const char **v = realloc(b->argv, c * sizeof *v);
        if (!v) abort();
        b->argv = v;
        b->capargs = c;
    }
    if (b->nbytes + a->bytes + 1 > b->capbytes) {
        size_t c = next_cap(b->capbytes, b->nbytes + a->bytes + 1);
        char *p = realloc(b->bytes, c);
        if (!p) abort();
        b->bytes = p;
        b->capbytes = c;
    }
    for (int i = from; i < a->argc; i++) {
        memcpy(b->bytes + b->nbytes, a->argv[i], a->lens[i]);
        b->nbytes += a->lens[i];
        b->lens[b->nargs++] = a->lens[i];
    }
    b->njobs++;
}

int kue_enq_batch_args(kue_enq_batch_t *b, const char ***argv, const size_t **lens)
{
    size_t off = 0;
    for (size_t i = 0; i < b->nargs; i++) {
        b->argv[i] = b->bytes + off;
        off += b->lens[i];
    }
    *argv = b->argv;
    *lens = b->lens;
    return (int)b->nargs;
}
