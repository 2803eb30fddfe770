/*
 * main.c -- kue-web: Kue's JSON API, the dashboard, /metrics, /healthz,
 * /readyz, /events and /workers over one Redis.
 *
 *   kue-web --redis URL --prefix P[,P2...] --listen HOST:PORT [--title T]
 *           [--auth user:pass] [--tls-cert F --tls-key F] [--search yes|no]
 *           [--threads N] [--max-body SIZE] [--max-connections N]
 *           [--timeout DURATION] [--log-level L] [--log-format text|json]
 *           [--events-buffer SIZE] [--max-per-client N] [--max-streams N]
 *           [--allowed-hosts NAME,...]
 *
 * Several prefixes are several queues, the first the default one
 * (queues.c).  The password may also come from the environment (KUE_WEB_AUTH), which
 * keeps it out of the process list.  With KUE_SCOREBOARD_FD set (by the
 * supervisor) worker processes and health come from the scoreboard.
 * TERM/INT stop the server cleanly.
 */
#include "web.h"
#include "server.h"
#include "log.h"
#include "scoreboard.h"
#include "settings.h"
#include "util.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kue-web --redis URL --prefix P[,P2...] --listen HOST:PORT [--title T]\n"
            "               [--auth user:pass] [--tls-cert F --tls-key F] [--search yes|no]\n"
            "               [--threads N] [--max-body SIZE] [--max-connections N]\n"
            "               [--timeout DURATION] [--log-level L] [--log-format text|json]\n"
            "               [--events-buffer SIZE] [--max-per-client N] [--max-streams N]\n"
            "               [--allowed-hosts NAME,...] [--key-style plain|hashtag]\n"
            "               [--wait-replicas N] [--wait-timeout DURATION]\n");
}

static void stop_events(web_ctx_t *ctx)
{
    for (int q = 0; q < ctx->queues.n; q++) {
        web_events_stop(ctx->events[q]);
        web_events_free(ctx->events[q]);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "redis", required_argument, NULL, 'r' },
        { "prefix", required_argument, NULL, 'p' },
        { "listen", required_argument, NULL, 'l' },
        { "title", required_argument, NULL, 't' },
        { "auth", required_argument, NULL, 'a' },
        { "tls-cert", required_argument, NULL, 'c' },
        { "tls-key", required_argument, NULL, 'k' },
        { "search", required_argument, NULL, 's' },
        { "threads", required_argument, NULL, 'T' },
        { "max-body", required_argument, NULL, 'B' },
        { "max-connections", required_argument, NULL, 'C' },
        { "timeout", required_argument, NULL, 'O' },
        { "log-level", required_argument, NULL, 'L' },
        { "log-format", required_argument, NULL, 'F' },
        { "events-buffer", required_argument, NULL, 'E' },
        { "max-per-client", required_argument, NULL, 'M' },
        { "max-streams", required_argument, NULL, 'S' },
        { "allowed-hosts", required_argument, NULL, 'H' },
        { "key-style", required_argument, NULL, 'K' },
        { "wait-replicas", required_argument, NULL, 'W' },
        { "wait-timeout", required_argument, NULL, 'w' },
        { "tls-cert-pem", required_argument, NULL, 'x' },
        { "tls-key-pem", required_argument, NULL, 'y' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static web_ctx_t ctx = { .redis_url = NULL, .prefix = "q", .title = "Kue" };
    const char *prefixes = "q";
    web_server_opts_t o = { .listen = "127.0.0.1:3000" };
    int level = KLOG_INFO, json = 0;
    size_t events_buffer = WEB_EVENTS_REPLAY_BYTES;
    int opt;
    char serr[256];
    /* started by the supervisor: the options come through a descriptor */
    if (kue_settings_argv(&argc, &argv, serr, sizeof serr) != 0) {
        fprintf(stderr, "kue-web: %s\n", serr);
        return 2;
    }
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        long long v;
        int64_t ms;
        uint64_t bytes;
        switch (opt) {
        case 'r': ctx.redis_url = optarg; break;
        case 'p': prefixes = optarg; break;
        case 'K':
            if (web_set_key_style(optarg) < 0) { usage(stderr); return 2; }
            break;
        case 'W':
            if (kue_parse_int(optarg, 0, KUE_MAX_WAIT_REPLICAS, &v) < 0 ||
                web_set_wait_replicas((int)v, -1) < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'w':
            if (kue_parse_duration(optarg, &ms) < 0 || ms < 1 || ms > KUE_MAX_WAIT_TIMEOUT_MS ||
                web_set_wait_replicas(-1, (int)ms) < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'l': o.listen = optarg; break;
        case 't': ctx.title = optarg; break;
        case 'a': o.auth = optarg; break;
        case 'c': o.tls_cert = optarg; break;
        case 'k': o.tls_key = optarg; break;
        case 's':
            if (kue_parse_bool(optarg, &ctx.search) < 0) { usage(stderr); return 2; }
            break;
        case 'T':
            if (kue_parse_int(optarg, 1, 64, &v) < 0) { usage(stderr); return 2; }
            o.threads = (unsigned)v;
            break;
        case 'B':
            if (kue_parse_size(optarg, &bytes) < 0 || bytes == 0 || bytes > KUE_MAX_DATA_LEN * 4ull) {
                usage(stderr);
                return 2;
            }
            o.max_body = (size_t)bytes;
            break;
        case 'C':
            if (kue_parse_int(optarg, 1, 100000, &v) < 0) { usage(stderr); return 2; }
            o.max_connections = (unsigned)v;
            break;
        case 'O':
            if (kue_parse_duration(optarg, &ms) < 0 || ms < 1000) { usage(stderr); return 2; }
            o.timeout_s = (unsigned)(ms / 1000);
            break;
        case 'L':
            if ((level = klog_level_parse(optarg)) < 0) { usage(stderr); return 2; }
            break;
        case 'F':
            if (strcmp(optarg, "json") == 0) json = 1;
            else if (strcmp(optarg, "text") == 0) json = 0;
            else { usage(stderr); return 2; }
            break;
        case 'M':
            if (kue_parse_int(optarg, 1, 100000, &v) < 0) { usage(stderr); return 2; }
            o.max_per_client = (unsigned)v;
            break;
        case 'S':
            if (kue_parse_int(optarg, 1, 100000, &v) < 0) { usage(stderr); return 2; }
            o.max_streams = (unsigned)v;
            break;
        case 'H': o.allowed_hosts = optarg; break;
        case 'x': o.tls_cert_pem = optarg; break;
        case 'y': o.tls_key_pem = optarg; break;
        case 'E':
            if (kue_parse_size(optarg, &bytes) < 0 || bytes > (1ull << 30)) { usage(stderr); return 2; }
            events_buffer = (size_t)bytes;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) { usage(stderr); return 2; }
    klog_init("web", level, json);
    char qerr[320];
    if (web_queues_parse(prefixes, &ctx.queues, qerr, sizeof qerr) < 0) {
        fprintf(stderr, "kue-web: %s\n", qerr);
        return 2;
    }
    ctx.prefix = ctx.queues.name[0];
    if (!o.auth) {
        const char *env = getenv("KUE_WEB_AUTH");
        if (env && *env) o.auth = env;
    }
    if (o.auth && !strchr(o.auth, ':')) {
        klog_error("--auth wants user:password");
        return 2;
    }

    static kue_scoreboard_t sb;
    if (getenv("KUE_SCOREBOARD_FD")) {
        if (kue_sb_attach_ro(&sb, -1) == 0) ctx.sb = &sb;
        else klog_warn("KUE_SCOREBOARD_FD is set but the scoreboard could not be attached");
    }

    /* Signals are taken synchronously by this thread; every thread started
     * from here on inherits the blocked mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int q = 0; q < ctx.queues.n; q++) {
        ctx.events[q] = web_events_start(ctx.redis_url, ctx.queues.name[q]);
        if (!ctx.events[q]) klog_warn("events relay of %s not started (out of memory)", ctx.queues.name[q]);
        web_events_set_replay_bytes(ctx.events[q], events_buffer);
    }

    char err[512];
    web_server_t *srv = web_server_start(&ctx, &o, err, sizeof err);
    if (!srv) {
        /* 78 (EX_CONFIG): the supervisor does not restart it in a loop */
        klog_error("%s", err);
        stop_events(&ctx);
        if (ctx.sb) kue_sb_detach(&sb);
        return 78;
    }
    klog_info("listening on %s://%s (port %d)%s", o.tls_cert || o.tls_cert_pem ? "https" : "http", o.listen,
              web_server_port(srv), o.auth ? ", basic auth on" : "");
    if (ctx.queues.n > 1) klog_info("queues: %s (the first is the default)", prefixes);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) continue;
        klog_info("signal %d: stopping", sig);
        break;
    }
    for (int q = 0; q < ctx.queues.n; q++) web_events_stop(ctx.events[q]);
    web_server_stop(srv);
    for (int q = 0; q < ctx.queues.n; q++) web_events_free(ctx.events[q]);
    if (ctx.sb) kue_sb_detach(&sb);
    klog_info("stopped");
    return 0;
}
