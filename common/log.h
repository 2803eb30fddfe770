/*
 * log.h -- the one logger of every kue process.
 *
 * Each line carries time, level, pid and role ("master", "worker email#2",
 * "web"); text or one JSON object per line, always on stderr.  Set up once
 * per process with klog_init(); children call klog_set_role() after fork.
 */
#ifndef KUE_LOG_H
#define KUE_LOG_H

enum { KLOG_DEBUG = 0, KLOG_INFO, KLOG_WARN, KLOG_ERROR };

/* level: one of KLOG_*; json: non-zero for JSON lines. */
void klog_init(const char *role, int level, int json);
void klog_set_role(const char *role);
void klog_set_level(int level);
/* "debug|info|warn|error" -> level, or -1. */
int klog_level_parse(const char *s);
/* Reopen stderr onto path (USR1); no-op when logging to a terminal/pipe. */
void klog_reopen(const char *path);
int klog_enabled(int level);

void klog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define klog_debug(...) do { if (klog_enabled(KLOG_DEBUG)) klog(KLOG_DEBUG, __VA_ARGS__); } while (0)
#define klog_info(...)  klog(KLOG_INFO, __VA_ARGS__)
#define klog_warn(...)  klog(KLOG_WARN, __VA_ARGS__)
#define klog_error(...) klog(KLOG_ERROR, __VA_ARGS__)

#endif
