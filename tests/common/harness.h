/*
 * harness.h -- the shared test fixture: private redis-servers and real
 * child processes, always stopped and reaped.
 *
 * kt_redis_start() runs redis-server in a fresh temporary directory on a
 * unix socket (and, when asked, a free loopback TCP port; never 6379), with
 * no persistence unless asked, and waits until it answers PING.  Every
 * process started through kt_spawn() is remembered and killed by
 * kt_cleanup(), which the suites call from their .fini (and which also runs
 * at exit), so a failing assertion never leaves a process behind; children
 * also get PR_SET_PDEATHSIG(SIGKILL), so even a crashed test leaves none.
 */
#ifndef KUE_TEST_HARNESS_H
#define KUE_TEST_HARNESS_H

#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>
#include <kue/kue.h>

typedef struct kt_redis {
    pid_t pid;
    char dir[256];      /* temporary directory (removed on stop) */
    char sock[320];     /* unix socket path */
    int port;           /* TCP port, 0 if none */
    char url[400];      /* unix:///...sock */
    char tcp_url[64];   /* redis://127.0.0.1:PORT/0 when port != 0 */
} kt_redis_t;

enum { KT_TCP = 1, KT_AOF = 2 };

/* Start a private redis-server (flags: KT_TCP, KT_AOF).  Aborts the test on
 * failure. */
void kt_redis_start(kt_redis_t *r, int flags);
/* Start it again in the same directory (same socket/port, same data when
 * KT_AOF was given): for "Redis restarted mid-run" tests. */
void kt_redis_restart(kt_redis_t *r, int flags);
/* The same with extra redis-server arguments (NULL-terminated), e.g.
 * "--key-load-delay", "200000" to keep it loading its data for a while. */
void kt_redis_restart_args(kt_redis_t *r, int flags, char *const extra[]);
/* Stop (SIGTERM, then SIGKILL after 2 s), reap, remove the directory
 * unless keep_dir. */
void kt_redis_stop_keep(kt_redis_t *r, int keep_dir);
void kt_redis_stop(kt_redis_t *r);
/* A blocking connection to it (asserts). Caller frees with redisFree. */
redisContext *kt_redis_connect(const kt_redis_t *r);
/* Run a command and return the reply (asserts non-NULL). Caller frees. */
redisReply *kt_cmd(redisContext *c, const char *fmt, ...);
/* Shorthands: integer reply, or string reply copied into buf. */
long long kt_int(redisContext *c, const char *fmt, ...);
/* Calls of one command since the last CONFIG RESETSTAT ("evalsha"), from
 * INFO commandstats; 0 if it never ran. */
long long kt_cmd_calls(redisContext *c, const char *cmd);
char *kt_str(redisContext *c, char *buf, size_t len, const char *fmt, ...);
/* Clients blocked in cmd ("blpop": idle workers waiting for a job), from
 * CLIENT LIST (flags with 'b'). */
int kt_clients_in(redisContext *c, const char *cmd);
/* Redis's clock (TIME) in ms; the scripts stamp jobs with it. */
int64_t kt_redis_now_ms(redisContext *c);
/* Wait (asserts, 5 s at most) until Redis's clock reaches ms. */
void kt_wait_redis_clock(redisContext *c, int64_t ms);
/* Wait until every job of a delayed sorted set (scored by its due time)
 * is due by Redis's clock. */
void kt_wait_delayed_due(redisContext *c, const char *key);

/* The usual fixture of a store-level suite: start a private Redis (flags
 * as kt_redis_start), open a raw connection *c and a libkue connection *k
 * (prefix "q").  kt_store_close() frees both, NULLs them, and runs
 * kt_cleanup(). */
void kt_store_open(kt_redis_t *r, int flags, redisContext **c, kue_t **k);
void kt_store_close(redisContext **c, kue_t **k);

/* Absolute path of the build directory ($KUE_BUILD, else ./build). */
const char *kt_build(void);
/* $KUE_BUILD/bin/NAME into buf. */
const char *kt_bin(const char *name, char *buf, size_t len);
/* Absolute path of the source tree root. */
const char *kt_srcdir(void);

/* Start argv[0] with argv; stdout+stderr to log_path (NULL: inherit).
 * The pid is remembered for kt_cleanup(). */
/* A loopback port free right now (never 6379 or 26379). */
int kt_free_port(void);
pid_t kt_spawn(char *const argv[], const char *log_path);
/* Same, with extra environment entries "K=V" (NULL-terminated, may be NULL). */
pid_t kt_spawn_env(char *const argv[], char *const env[], const char *log_path);
/* Wait up to timeout_ms for pid to exit; 0 and *status on exit, -1 on
 * timeout.  The pid is forgotten once reaped. */
int kt_wait(pid_t pid, int timeout_ms, int *status);
/* Kill (SIGKILL) and reap every process kt_spawn started, and every
 * redis-server still running.  Safe to call twice. */
void kt_cleanup(void);

/* Poll fn(arg) every 10 ms until it returns non-zero or timeout_ms
 * passes; returns the last result. */
int kt_wait_until(int (*fn)(void *), void *arg, int timeout_ms);
int64_t kt_now_ms(void);
void kt_sleep_ms(int ms);

/* A temporary directory under /tmp (mkdtemp) made for this process. */
const char *kt_tmpdir(void);
/* Write text to path (asserts). */
void kt_write_file(const char *path, const char *text);
/* Read a whole file (caller frees), NULL if missing. */
char *kt_read_file(const char *path);
/* How many times needle occurs in the file (0 if missing). */
int kt_file_count(const char *path, const char *needle);
/* Poll until needle occurs at least times in the file (a log); non-zero
 * when it did before timeout_ms. */
int kt_wait_file_has(const char *path, const char *needle, int times, int timeout_ms);

/* Node interop: non-zero when node and tests/node/node_modules/kue exist. */
int kt_node_available(void);
/* Run `node tests/node/SCRIPT args...`, capturing stdout into *out (caller
 * frees; may be NULL).  Returns the exit status (or -1). timeout_ms bounds it. */
int kt_node_run(const char *script, char *const args[], char **out, int timeout_ms);

#endif
