/*
 * args.c -- the kue-worker command line (docs/plugins.md), parsed into
 * a kw_config_t.  The supervisor builds this command line; a human can use
 * the same options to run one worker in the foreground for debugging.
 */
#include "worker.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "scoreboard.h"
#include "util.h"

void kw_usage(FILE *f)
{
    fprintf(f,
        "usage: kue-worker --type T --plugin PATH [options]\n"
        "  --redis URL        redis://[:pass@]host[:port][/db] or unix:///path.sock?db=N\n"
        "                     (default redis://127.0.0.1:6379/0)\n"
        "  --prefix P         key prefix (default q)\n"
        "  --key-style S      plain (P:jobs, default) | hashtag ({P}:jobs)\n"
        "  --type T           job type to process (required)\n"
        "  --plugin PATH      handler plugin .so (required)\n"
        "  --concurrency N    jobs in flight (default 1, at most %d)\n"
        "  --slot K           scoreboard slot (with KUE_SCOREBOARD_FD)\n"
        "  --timeout D        hard per-job limit, enforced by the supervisor (e.g. 30s)\n"
        "  --max-jobs N       exit 0 after N jobs (recycling)\n"
        "  --lease D          job lease, renewed every third of it (default 30s)\n"
        "  --rate N/PERIOD    at most N starts of the type per PERIOD, fleet-wide (e.g. 100/1s)\n"
        "  --group-concurrency N  at most N active jobs per job group, fleet-wide\n"
        "  --wait-replicas N  after outcomes, WAIT for N replicas (default 0: off)\n"
        "  --wait-timeout D   how long that WAIT may take (default 1s)\n"
        "  --log-format F     text | json\n"
        "  --log-level L      debug | info | warn | error\n"
        "  --name NAME        name in log lines (default TYPE)\n"
        "exit codes: 0 drained, 1 runtime failure, 2 usage, 78 plugin refused or init failed\n",
        KUE_SB_MAX_INFLIGHT);
}

static const char *opt_name(const struct option *o, int ch)
{
    for (; o->name; o++)
        if (o->val == ch) return o->name;
    return "?";
}

int kw_parse_args(int argc, char **argv, kw_config_t *cfg, char *err, size_t errlen)
{
    static const struct option opts[] = {
        { "redis", required_argument, NULL, 'r' },
        { "prefix", required_argument, NULL, 'p' },
        { "key-style", required_argument, NULL, 'k' },
        { "type", required_argument, NULL, 't' },
        { "plugin", required_argument, NULL, 'P' },
        { "concurrency", required_argument, NULL, 'c' },
        { "slot", required_argument, NULL, 's' },
        { "timeout", required_argument, NULL, 'T' },
        { "max-jobs", required_argument, NULL, 'm' },
        { "lease", required_argument, NULL, 'l' },
        { "log-format", required_argument, NULL, 'f' },
        { "log-level", required_argument, NULL, 'L' },
        { "name", required_argument, NULL, 'n' },
        { "rate", required_argument, NULL, 'R' },
        { "group-concurrency", required_argument, NULL, 'G' },
        { "wait-replicas", required_argument, NULL, 'W' },
        { "wait-timeout", required_argument, NULL, 'w' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->redis_url, sizeof cfg->redis_url, "redis://127.0.0.1:6379/0");
    snprintf(cfg->prefix, sizeof cfg->prefix, "q");
    cfg->concurrency = 1;
    cfg->slot = -1;
    cfg->lease_ms = 30000;
    cfg->wait_timeout_ms = 1000;
    cfg->log_level = KLOG_INFO;

    optind = 1;
    opterr = 0;
    int ch, style = KUE_KEYS_PLAIN;
    long long v;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *a = optarg;
        switch (ch) {
        case 'r': snprintf(cfg->redis_url, sizeof cfg->redis_url, "%s", a); break;
        case 'p':
            if (!*a || strlen(a) >= 128) goto bad;
            snprintf(cfg->prefix, sizeof cfg->prefix, "%s", a);
            break;
        case 'k':
            if ((style = kue_key_style_parse(a)) < 0) goto bad;
            break;
        case 't':
            if (!*a || strlen(a) > KUE_MAX_TYPE_LEN) goto bad;
            snprintf(cfg->type, sizeof cfg->type, "%s", a);
            break;
        case 'P': snprintf(cfg->plugin, sizeof cfg->plugin, "%s", a); break;
        case 'c':
            if (kue_parse_int(a, 1, KUE_SB_MAX_INFLIGHT, &v) != 0) goto bad;
            cfg->concurrency = (int)v;
            break;
        case 's':
            if (kue_parse_int(a, 0, KUE_SB_MAX_SLOTS - 1, &v) != 0) goto bad;
            cfg->slot = (int)v;
            break;
        case 'T':
            if (kue_parse_duration(a, &cfg->timeout_ms) != 0 || cfg->timeout_ms < 0) goto bad;
            break;
        case 'm':
            if (kue_parse_int(a, 0, (long long)1 << 62, &cfg->max_jobs) != 0) goto bad;
            break;
        case 'l':
            if (kue_parse_duration(a, &cfg->lease_ms) != 0 || cfg->lease_ms < 300) goto bad;
            break;
        case 'f':
            if (strcmp(a, "json") == 0) cfg->log_json = 1;
            else if (strcmp(a, "text") == 0) cfg->log_json = 0;
            else goto bad;
            break;
        case 'L':
            if ((cfg->log_level = klog_level_parse(a)) < 0) goto bad;
            break;
        case 'n': snprintf(cfg->name, sizeof cfg->name, "%s", a); break;
        case 'R': {
            /* N/PERIOD; "0": no limit */
            const char *sl = strchr(a, '/');
            char num[24];
            cfg->rate_n = 0;
            cfg->rate_period_ms = 0;
            if (!strcmp(a, "0")) break;
            if (!sl || sl == a || (size_t)(sl - a) >= sizeof num) goto bad;
            memcpy(num, a, (size_t)(sl - a));
            num[sl - a] = '\0';
            if (kue_parse_int(num, 1, KW_MAX_RATE, &cfg->rate_n) != 0 ||
                kue_parse_duration(sl + 1, &cfg->rate_period_ms) != 0 ||
                cfg->rate_period_ms < 1 || cfg->rate_period_ms > KW_MAX_RATE_PERIOD_MS)
                goto bad;
            break;
        }
        case 'W':
            if (kue_parse_int(a, 0, KUE_MAX_WAIT_REPLICAS, &v) != 0) goto bad;
            cfg->wait_replicas = (int)v;
            break;
        case 'w': {
            int64_t ms;
            if (kue_parse_duration(a, &ms) != 0 || ms < 1 || ms > KUE_MAX_WAIT_TIMEOUT_MS) goto bad;
            cfg->wait_timeout_ms = (int)ms;
            break;
        }
        case 'G':
            if (kue_parse_int(a, 0, KW_MAX_GROUP_CONCURRENCY, &cfg->group_concurrency) != 0)
                goto bad;
            break;
        case 'h': kw_usage(stdout); return 1;
        default:
            snprintf(err, errlen, "unknown or incomplete option %s",
                     optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            return -1;
        }
        continue;
bad:
        snprintf(err, errlen, "bad value for --%s: \"%s\"", opt_name(opts, ch), a);
        return -1;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument \"%s\"", argv[optind]);
        return -1;
    }
    if (!cfg->type[0]) {
        snprintf(err, errlen, "--type is required");
        return -1;
    }
    if (!cfg->plugin[0]) {
        snprintf(err, errlen, "--plugin is required");
        return -1;
    }
    if (!cfg->name[0]) snprintf(cfg->name, sizeof cfg->name, "%s", cfg->type);
    if (!strncmp(cfg->redis_url, "redis-cluster://", 16))
        style = KUE_KEYS_HASHTAG;       /* a cluster implies it: one queue, one slot */
    char p[sizeof cfg->prefix];
    kue_key_prefix(p, sizeof p, cfg->prefix, style);
    memcpy(cfg->prefix, p, sizeof p);
    return 0;
}
