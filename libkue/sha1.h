/*
 * sha1.h -- SHA-1 of a buffer as 40 lower-case hex digits, the name Redis
 * gives a script (EVALSHA).  Not for security.
 */
#ifndef KUE_SHA1_H
#define KUE_SHA1_H
#include <stddef.h>
void kue_sha1_hex(const void *data, size_t len, char out[41]);
#endif
