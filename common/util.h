/*
 * util.h -- small pure helpers shared by every kue program: clocks, the
 * parsers of durations, sizes and booleans used by config and CLI, and the
 * Kue "zid" (sorted-set member) codec.  No allocation, no I/O.
 */
#ifndef KUE_UTIL_H
#define KUE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock, ms since the epoch. */
int64_t kue_now_ms(void);
/* Monotonic clock, ms (for intervals only). */
int64_t kue_mono_ms(void);
/* The absolute CLOCK_REALTIME time ms from now, for pthread timed waits. */
struct timespec;
void kue_deadline_ts(struct timespec *ts, int64_t ms);
/* a + b, saturated to the int64_t range (deadlines never wrap). */
int64_t kue_add_sat(int64_t a, int64_t b);

/* "250ms", "30s", "5m", "1h", "1500" (bare number: ms).  0 ok, -1 bad. */
int kue_parse_duration(const char *s, int64_t *ms);
/* "512", "64K", "512M", "2G" (powers of 1024).  0 ok, -1 bad. */
int kue_parse_size(const char *s, uint64_t *bytes);
/* yes/no, true/false, on/off, 1/0.  0 ok, -1 bad. */
int kue_parse_bool(const char *s, int *out);
/* A decimal integer within [min, max], whole string.  0 ok, -1 bad. */
int kue_parse_int(const char *s, long long min, long long max, long long *out);

/* Kue's zid: the id prefixed with its digit count, zero-padded to two
 * characters: 5 -> "01|5", 123 -> "03|123".  Returns the length written
 * (buf of at least 24 bytes), or -1. */
int kue_zid(int64_t id, char *buf, size_t len);
/* The id in a zid (everything after the first '|'), or -1. */
int64_t kue_zid_id(const char *zid);

/* Copy at most dstlen-1 bytes and NUL-terminate; returns strlen(src). */
size_t kue_strlcpy(char *dst, const char *src, size_t dstlen);
/* The UTF-8 sequence at s (n > 0 bytes left): returns how many bytes to
 * take, with *valid 1 for a well-formed character, or 0 for an invalid
 * one (its maximal subpart, to be replaced by U+FFFD as a UTF-8 decoder
 * such as Node's would: Kue reads Redis bytes that way). */
size_t kue_utf8_seq(const unsigned char *s, size_t n, int *valid);

/* dir + "/" + rel (rel itself when absolute), with rel's leading "./" and
 * "../" applied to dir, which must be absolute and free of symlinks (a
 * realpath), so "/x/etc" + "../build/run" is "/x/build/run".  0, or -1 when
 * it does not fit in len. */
int kue_path_join(char *out, size_t len, const char *dir, const char *rel);

#endif
