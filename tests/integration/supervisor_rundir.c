/*
 * supervisor_rundir.c -- run_dir safety and start-up checks: a pidfile
 * planted as a symlink is refused and its target left alone; a run_dir
 * others can write is refused (also by -t); a busy web port is named by
 * -t and is fatal at start; a web process that cannot listen after a
 * reload is not restarted in a loop.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "supervisor_common.h"
#include "web_common.h"

static struct sup_t S;
static const char *const plugins[] = { "echo", NULL };

TestSuite(supervisor_rundir, .fini = sup_fini, .timeout = 60);

static int run_t(const char *ini, const char *log)
{
    char bin[600];
    kt_bin("kue-supervisor", bin, sizeof(bin));
    char *argv[] = { bin, "-t", "-c", (char *)ini, NULL };
    pid_t pid = kt_spawn(argv, log);
    int status;
    cr_assert_eq(kt_wait(pid, 15000, &status), 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int wait_exit(pid_t pid, int ms)
{
    int status;
    if (kt_wait(pid, ms, &status) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Test(supervisor_rundir, symlinked_pidfile_is_refused)
{
    sup_setup(&S, plugins, "[type echo]\n");
    char run[700], target[700], link[800];
    snprintf(run, sizeof(run), "%s/run", S.dir);
    mkdir(run, 0755);
    snprintf(target, sizeof(target), "%s/precious", S.dir);
    kt_write_file(target, "precious\n");
    chmod(target, 0600);
    snprintf(link, sizeof(link), "%s/kue-supervisor.pid", run);
    cr_assert_eq(symlink(target, link), 0);

    sup_start(&S);
    int code = wait_exit(S.pid, 10000);
    S.pid = 0;
    cr_expect_eq(code, 1, "exit %d", code);
    char *t = kt_read_file(target);
    cr_expect_str_eq(t, "precious\n");
    free(t);
    cr_expect(sup_log_has(S.log, "kue-supervisor.pid"));
    cr_expect(sup_log_has(S.log, "refused"));
}

Test(supervisor_rundir, run_dir_writable_by_others_is_refused)
{
    sup_setup(&S, plugins, "[type echo]\n");
    char run[700];
    snprintf(run, sizeof(run), "%s/run", S.dir);
    mkdir(run, 0755);
    chmod(run, 0777);
    char log[800];
    snprintf(log, sizeof(log), "%s/t.log", S.dir);
    cr_expect_eq(run_t(S.ini, log), 2);
    cr_expect(sup_log_has(log, "writable by group or others"));

    sup_start(&S);
    cr_expect_eq(wait_exit(S.pid, 10000), 1);
    S.pid = 0;
    cr_expect(sup_log_has(S.log, "run_dir"));
    cr_expect(sup_log_has(S.log, "writable by group or others"));

    /* fixed: accepted */
    chmod(run, 0755);
    cr_expect_eq(run_t(S.ini, log), 0);
}

/* A listening socket on a free loopback port (the caller closes it). */
static int busy_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

Test(supervisor_rundir, busy_web_port_is_named_by_t_and_fatal_at_start)
{
    int port;
    int fd = busy_port(&port);
    char body[256];
    snprintf(body, sizeof(body), "[type echo]\n[web]\nlisten = 127.0.0.1:%d\n", port);
    sup_setup(&S, plugins, body);
    char log[800], addr[64];
    snprintf(log, sizeof(log), "%s/t.log", S.dir);
    snprintf(addr, sizeof(addr), "cannot listen on 127.0.0.1:%d: Address already in use", port);
    cr_expect_eq(run_t(S.ini, log), 2);
    cr_expect(sup_log_has(log, addr));

    sup_start(&S);
    cr_expect_eq(wait_exit(S.pid, 10000), 2);
    S.pid = 0;
    cr_expect(sup_log_has(S.log, addr));
    close(fd);
}

static int web_gave_up(void *arg)
{
    return sup_log_has(S.log, "not restarted until a reload");
}

Test(supervisor_rundir, web_that_cannot_listen_is_not_respawned)
{
    int port = kt_free_port();
    char body[256];
    snprintf(body, sizeof(body), "[type echo]\n[web]\nlisten = 127.0.0.1:%d\n", port);
    sup_setup(&S, plugins, body);
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: web", 1, 10000));
    /* a reload moves web to a busy port */
    int busy;
    int fd = busy_port(&busy);
    char from[64], to[64];
    snprintf(from, sizeof(from), "listen = 127.0.0.1:%d", port);
    snprintf(to, sizeof(to), "listen = 127.0.0.1:%d", busy);
    sup_replace(S.ini, from, to);
    kill(S.pid, SIGHUP);
    cr_assert(kt_wait_until(web_gave_up, NULL, 10000), "web restarted in a loop?");
    /* no further attempt */
    int64_t end = kt_now_ms() + 1500;
    while (kt_now_ms() < end)
        cr_assert_eq(sup_children(S.pid, "kue-supervisor: web", NULL, 0), 0);
    char *t = kt_read_file(S.log);
    int starts = 0;
    for (char *p = t; (p = strstr(p, "started web on")); p++)
        starts++;
    free(t);
    cr_expect_eq(starts, 2);
    close(fd);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
}
