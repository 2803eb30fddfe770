/*
 * args.c -- the `kue` command's plumbing: messages and exit codes, the
 * lazy Redis connection, the option parser shared by every command, and
 * the parsers of ids, numbers, priorities and states.
 *
 * The parser runs getopt_long over a copy of the command's arguments in
 * which every argument that looks like a negative number is replaced by a
 * masking string that does not start with '-'; the masks are mapped back
 * in option values and positional arguments.  So `kue priority 5 -10` and
 * `kue ls --from -10` both mean what they say, while option permutation
 * (`kue create email '{}' --priority high`) still works.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "keys.h"
#include "url.h"
#include "util.h"

enum { G_REDIS = 1001, G_PREFIX, G_SEARCH, G_KEY_STYLE, G_WAIT_REPLICAS, G_WAIT_TIMEOUT };

static const struct option global_opts[] = {
    { "redis", required_argument, NULL, G_REDIS },
    { "prefix", required_argument, NULL, G_PREFIX },
    { "key-style", required_argument, NULL, G_KEY_STYLE },
    { "search", no_argument, NULL, G_SEARCH },
    { "wait-replicas", required_argument, NULL, G_WAIT_REPLICAS },
    { "wait-timeout", required_argument, NULL, G_WAIT_TIMEOUT },
    { "help", no_argument, NULL, 'h' },
};

/* ---- messages ---------------------------------------------------------------- */

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("kue: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_ERR;
}

/* "usage: kue ..." is the first line of every help text. */
static void print_synopsis(const char *cmd)
{
    const char *h = cmd ? cli_help_text(cmd) : NULL;
    if (!h) {
        fprintf(stderr, "Try 'kue help'.\n");
        return;
    }
    const char *nl = strchr(h, '\n');
    fprintf(stderr, "%.*s\nTry 'kue help %s'.\n", (int)(nl ? nl - h : (long)strlen(h)), h, cmd);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "kue%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    print_synopsis(cmd);
    return CLI_USAGE;
}

/* ---- connection ---------------------------------------------------------------- */

int cli_prefix_at(const char *list, int n, char *out, size_t len)
{
    int count = 0;
    const char *s = list;
    if (strlen(list) > CLI_PREFIX_LIST_MAX) return -1;
    for (;;) {
        size_t l = strcspn(s, ",");
        if (l == 0 || l >= len || l >= 128) return -1;
        for (size_t i = 0; i < l; i++)
            if (isspace((unsigned char)s[i])) return -1;
        if (count == n) snprintf(out, len, "%.*s", (int)l, s);
        if (++count > CLI_MAX_PREFIXES) return -1;
        if (!s[l]) return count;
        s += l + 1;
    }
}

static void json_key(const char *s)
{
    putchar('"');
    for (; *s; s++)
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    fputs("\":", stdout);
}

/* The prefix of this round (see cli.h); NULL after printing why not. */
static const char *round_prefix(cli_t *c)
{
    if (!c->prefix || !strchr(c->prefix, ',')) return c->prefix;
    int n = cli_prefix_at(c->prefix, c->round, c->cur, sizeof c->cur);
    if (n < 0) {
        c->refused = 1;
        cli_error("--prefix: \"%.64s\": expected P or P1,P2,... (no empty element, no spaces, "
                  "at most %d prefixes)", c->prefix, CLI_MAX_PREFIXES);
        return NULL;
    }
    if (!c->each_prefix) {
        c->refused = 1;
        cli_error("--prefix: this command works on one prefix; got the list \"%.64s\"", c->prefix);
        return NULL;
    }
    c->nprefix = n;
    if (c->json) {
        fputs(c->round ? "," : "{", stdout);
        json_key(c->cur);
    } else {
        printf("%sprefix %s:\n", c->round ? "\n" : "", c->cur);
    }
    return c->cur;
}

/* --wait-replicas and --wait-timeout (or their variables): 0, or -1 with
 * the reason in why. */
static int wait_values(const cli_t *c, int *n, int *ms, char *why, size_t wl)
{
    long long v = 0;
    int64_t t = 1000;
    if (c->wait_replicas && kue_parse_int(c->wait_replicas, 0, KUE_MAX_WAIT_REPLICAS, &v) != 0) {
        snprintf(why, wl, "--wait-replicas/KUE_WAIT_REPLICAS: \"%.32s\": expected 0 .. %d",
                 c->wait_replicas, KUE_MAX_WAIT_REPLICAS);
        return -1;
    }
    if (c->wait_timeout && (kue_parse_duration(c->wait_timeout, &t) != 0 || t < 1 ||
                            t > KUE_MAX_WAIT_TIMEOUT_MS)) {
        snprintf(why, wl, "--wait-timeout/KUE_WAIT_TIMEOUT: \"%.32s\": expected a duration "
                 "from 1ms to %ds", c->wait_timeout, KUE_MAX_WAIT_TIMEOUT_MS / 1000);
        return -1;
    }
    *n = (int)v;
    *ms = (int)t;
    return 0;
}

kue_t *cli_kue(cli_t *c)
{
    if (c->k) return c->k;
    char err[512] = "";
    const char *prefix = round_prefix(c);
    if (c->prefix && !prefix) return NULL;
    c->k = kue_connect(c->url, prefix, err, sizeof err);
    if (!c->k) {
        cli_error("%s", err[0] ? err : "cannot connect to Redis");
        return NULL;
    }
    kue_set_search(c->k, c->search);
    if (c->key_style && kue_set_key_style(c->k, c->key_style) != 0) {
        cli_error("%s", kue_errstr(c->k));
        kue_free(c->k);
        c->k = NULL;
        return NULL;
    }
    int n, ms;
    char why[160] = "";
    if (wait_values(c, &n, &ms, why, sizeof why) != 0 || kue_set_wait_replicas(c->k, n, ms) != 0) {
        cli_error("%s", c->k && !why[0] ? kue_errstr(c->k) : why);
        kue_free(c->k);
        c->k = NULL;
    }
    return c->k;
}

/* ---- option parsing ---------------------------------------------------------- */

static int looks_negative(const char *s)
{
    return s[0] == '-' && isdigit((unsigned char)s[1]);
}

static const char *unmask(const cli_parser_t *p, const char *s)
{
    for (int i = 0; i < p->argc; i++)
        if (s == p->mask[i]) return p->orig[i];
    return s;
}

void cli_parse_begin(cli_parser_t *p, cli_t *c, int argc, char **argv, const struct option *opts)
{
    memset(p, 0, sizeof *p);
    p->c = c;
    p->cmd = argv[0];
    p->argc = argc;
    p->stop_at_arg = 0;
    if (argc > CLI_MAX_ARGS) return;    /* cli_next() reports it */
    for (int i = 0; i < argc; i++) {
        p->argv[i] = argv[i];
        if (i > 0 && looks_negative(argv[i])) {
            p->mask[i][0] = '#';
            p->orig[i] = argv[i];
            p->argv[i] = p->mask[i];
        }
    }
    size_t n = 0;
    for (; opts && opts[n].name && n < CLI_MAX_OPTS; n++) p->all[n] = opts[n];
    for (size_t i = 0; i < sizeof global_opts / sizeof global_opts[0]; i++) p->all[n++] = global_opts[i];
    optind = 0;     /* glibc: start over, including its internal state */
    opterr = 0;
}

static int bad_option(cli_parser_t *p, int o)
{
    const char *tok = optind > 0 && optind <= p->argc ? unmask(p, p->argv[optind - 1]) : "?";
    if (o == ':') return cli_usage_error(p->cmd, "option %s needs a value", tok);
    if (optopt && optopt != '?') return cli_usage_error(p->cmd, "unknown option -%c", optopt);
    return cli_usage_error(p->cmd, "unknown option %s", tok);
}

int cli_next(cli_parser_t *p)
{
    if (p->argc > CLI_MAX_ARGS) {
        cli_usage_error(p->cmd, "too many arguments (at most %d)", CLI_MAX_ARGS - 1);
        return CLI_PARSE_BAD;
    }
    for (;;) {
        int o = getopt_long(p->argc, p->argv, p->stop_at_arg ? "+:h" : ":h", p->all, NULL);
        if (o == -1) {
            p->end = optind;
            for (int i = optind; i < p->argc && p->npos < CLI_MAX_ARGS; i++)
                p->pos[p->npos++] = unmask(p, p->argv[i]);
            return 0;
        }
        p->arg = optarg ? unmask(p, optarg) : NULL;
        switch (o) {
        case 'h': return CLI_PARSE_HELP;
        case G_REDIS: {
            /* a malformed --redis is a usage error (2), like any bad option */
            kue_url_t u;
            char why[600];
            if (kue_url_parse(p->arg, &u, why, sizeof why) < 0) {
                cli_usage_error(p->cmd, "--redis: %s", why);
                return CLI_PARSE_BAD;
            }
            p->c->url = p->arg;
            break;
        }
        case G_PREFIX: p->c->prefix = p->arg; break;
        case G_KEY_STYLE:
            if (kue_key_style_parse(p->arg) < 0) {
                cli_usage_error(p->cmd, "--key-style: \"%s\": expected plain or hashtag", p->arg);
                return CLI_PARSE_BAD;
            }
            p->c->key_style = p->arg;
            break;
        case G_SEARCH: p->c->search = 1; break;
        case G_WAIT_REPLICAS:
        case G_WAIT_TIMEOUT: {
            cli_t probe = *p->c;
            *(o == G_WAIT_REPLICAS ? &probe.wait_replicas : &probe.wait_timeout) = p->arg;
            int n, ms;
            char why[160];
            if (wait_values(&probe, &n, &ms, why, sizeof why) != 0) {
                cli_usage_error(p->cmd, "%s", why);
                return CLI_PARSE_BAD;
            }
            *p->c = probe;
            break;
        }
        case ':': case '?':
            bad_option(p, o);
            return CLI_PARSE_BAD;
        default: return o;
        }
    }
}

int cli_parse_end(cli_parser_t *p, int status)
{
    if (status == CLI_PARSE_HELP) return cli_print_help(p->cmd);
    return CLI_USAGE;
}

/* ---- values -------------------------------------------------------------------- */

int cli_parse_id(const char *cmd, const char *s, int64_t *id)
{
    long long v;
    if (kue_parse_int(s, 1, INT64_MAX, &v) != 0)
        return cli_usage_error(cmd, "invalid job id \"%.64s\" (a positive integer)", s);
    *id = v;
    return 0;
}

int cli_parse_long(const char *cmd, const char *what, const char *s, long long min,
                   long long max, long long *out)
{
    if (kue_parse_int(s, min, max, out) != 0)
        return cli_usage_error(cmd, "invalid %s \"%.64s\" (an integer from %lld to %lld)",
                               what, s, min, max);
    return 0;
}

int cli_parse_priority(const char *cmd, const char *s, int *prio)
{
    if (kue_priority_parse(s, prio) != 0)
        return cli_usage_error(cmd, "unknown priority \"%.64s\" (low, normal, medium, high, "
                               "critical or an integer)", s);
    return 0;
}

int cli_parse_state(const char *cmd, const char *s)
{
    if (kue_state_parse(s) == KUE_STATE_UNKNOWN)
        return cli_usage_error(cmd, "unknown state \"%.64s\" (inactive, active, complete, "
                               "failed or delayed)", s);
    return 0;
}
