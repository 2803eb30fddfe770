/*
 * search_glue.c -- turns job data into the (code, count) pairs the enqueue
 * script writes to Kue's reds index.  The tokeniser itself lives in
 * search.c; until it is linked in, indexing is reported as unavailable.
 */
#include <stdlib.h>

#include "kue_internal.h"

int kue_search_index_terms(const char *data, const char *const *keys, size_t nkeys,
                           struct kue_search_pair **terms, size_t *n)
{
    (void)data; (void)keys; (void)nkeys;
    *terms = NULL;
    *n = 0;
    return -1;
}
