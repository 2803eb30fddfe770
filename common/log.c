/*
 * log.c -- one line per event, on stderr, with time, level, pid and role.
 * Text:  2026-11-28T22:41:07.123Z INFO  [master 1234] message
 * JSON:  {"ts":"...","level":"info","pid":1234,"role":"master","msg":"..."}
 * A line is formatted into one buffer and written with a single write(2),
 * so lines from several processes sharing stderr do not interleave.
 */
#include "log.h"

#include "buf.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_role[64] = "kue";
static int log_level = KLOG_INFO;
static int log_json;

static const char *level_names[] = { "debug", "info", "warn", "error" };

void klog_init(const char *role, int level, int json)
{
    klog_set_role(role);
    log_level = level;
    log_json = json;
}

void klog_set_role(const char *role)
{
    snprintf(log_role, sizeof log_role, "%s", role ? role : "kue");
}

void klog_set_level(int level) { log_level = level; }

int klog_enabled(int level) { return level >= log_level; }

int klog_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && !strcasecmp(s, level_names[i])) return i;
    if (s && !strcasecmp(s, "warning")) return KLOG_WARN;
    return -1;
}

void klog_reopen(const char *path)
{
    if (!path || !*path) return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* One JSON log line into line (cap bytes) with the common writer, which
 * allocates nothing here; a message too long for the line is cut between
 * whole escapes and characters and its string closed. */
static size_t json_line(char *line, size_t cap, const char *ts, int level, const char *msg)
{
    kue_buf_t b;
    kue_buf_fixed(&b, line, cap - 4);          /* room for "}\n after a cut */
    kue_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"pid\":%d,\"role\":", ts,
                   level_names[level], (int)getpid());
    kue_json_str(&b, log_role, strlen(log_role));
    kue_buf_puts(&b, ",\"msg\":");
    kue_json_str(&b, msg, strlen(msg));
    size_t len = b.len;
    if (b.oom) line[len++] = '"';
    line[len++] = '}';
    line[len++] = '\n';
    line[len] = '\0';
    return len;
}

void klog(int level, const char *fmt, ...)
{
    if (level < log_level) return;
    if (level < 0 || level > KLOG_ERROR) level = KLOG_ERROR;
    int saved = errno;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03dZ", (int)(tv.tv_usec / 1000));

    char line[4096];
    size_t len;
    if (log_json) {
        len = json_line(line, sizeof line, ts, level, msg);
    } else {
        len = (size_t)snprintf(line, sizeof line, "%s %-5s [%s %d] %s\n", ts,
                               level == KLOG_WARN ? "WARN" : level == KLOG_ERROR ? "ERROR"
                               : level == KLOG_INFO ? "INFO" : "DEBUG",
                               log_role, (int)getpid(), msg);
    }
    if (len >= sizeof line) { len = sizeof line - 1; line[len - 1] = '\n'; }
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    errno = saved;
}
