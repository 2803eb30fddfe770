/*
 * cli.h -- what the files of the `kue` command share: the exit codes, the
 * global settings (Redis URL, prefix, search), the option parser every
 * command uses (getopt_long over the command's own options plus the global
 * ones), and one function per command.
 *
 * A command is `int cmd_NAME(cli_t *c, int argc, char **argv)` with argv[0]
 * the command name; it returns an exit code.  Commands connect through
 * cli_kue() only when they need Redis, so `help` and `version` never do.
 */
#ifndef KUE_CLI_H
#define KUE_CLI_H

#include <getopt.h>
#include <stdint.h>

#include <kue/kue.h>

enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2 };

typedef struct cli {
    const char *url;        /* --redis, else $KUE_REDIS_URL, else NULL (libkue default) */
    const char *prefix;     /* --prefix, else $KUE_PREFIX, else NULL ("q") */
    const char *key_style;  /* --key-style, else $KUE_KEY_STYLE, else NULL ("plain") */
    const char *wait_replicas;  /* --wait-replicas, else $KUE_WAIT_REPLICAS, else NULL (0: off) */
    const char *wait_timeout;   /* --wait-timeout, else $KUE_WAIT_TIMEOUT, else NULL (1s) */
    int search;             /* --search: index the data of created jobs */
    kue_t *k;               /* connected on first use by cli_kue() */
    /* A prefix list (--prefix P1,P2,...): read commands (each_prefix) run
     * once per prefix, round by round; the others refuse it. */
    int each_prefix;        /* this command accepts a list */
    int json;               /* the command prints JSON (a list: one object by prefix) */
    int round;              /* the prefix of the list this run works on */
    int nprefix;            /* prefixes in the list, once known (cli_kue) */
    int refused;            /* a list given to a one-prefix command */
    char cur[128];          /* that prefix */
} cli_t;

/* The longest prefix list, and the most prefixes in it. */
#define CLI_PREFIX_LIST_MAX 4096
#define CLI_MAX_PREFIXES 65

/* Messages on stderr, prefixed "kue: ".  Both return their exit code. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The connection, made on first use; NULL after printing why it failed.
 * With a prefix list, it connects to the prefix of this round and prints
 * that prefix's heading first ("prefix P:" lines, or the key of a JSON
 * object). */
kue_t *cli_kue(cli_t *c);
/* The n-th (0-based) prefix of a comma-separated list into out; the number
 * of prefixes in the list, or -1 when an element is empty, too long or has
 * a space, or there are more than CLI_MAX_PREFIXES. */
int cli_prefix_at(const char *list, int n, char *out, size_t len);

/* ---- option parsing --------------------------------------------------------
 * Usage:
 *     cli_parser_t p;
 *     cli_parse_begin(&p, c, argc, argv, opts);
 *     int o;
 *     while ((o = cli_next(&p)) > 0) switch (o) { ... p.arg ... }
 *     if (o < 0) return cli_parse_end(&p, o);
 *     ... p.pos[0 .. p.npos) ...
 * opts: the command's options (val > 0 and not 'h'), terminated by a zero
 * entry.  The global options are handled inside cli_next().  Arguments
 * that look like negative numbers ("-10") are arguments, not options, so
 * `kue priority 5 -10` works. */
#define CLI_MAX_ARGS 1024
#define CLI_MAX_OPTS 24

typedef struct cli_parser {
    cli_t *c;
    const char *cmd;
    int argc;
    char *argv[CLI_MAX_ARGS + 1];        /* argv with negative numbers masked */
    const char *orig[CLI_MAX_ARGS + 1];  /* what each mask stands for */
    char mask[CLI_MAX_ARGS + 1][2];
    struct option all[CLI_MAX_OPTS + 8];
    const char *arg;                     /* the option's argument (unmasked) */
    const char *pos[CLI_MAX_ARGS];       /* positional arguments, in order */
    int npos;
    int stop_at_arg;                     /* stop at the first positional (the command) */
    int end;                             /* index in argv of the first positional */
} cli_parser_t;

enum { CLI_PARSE_HELP = -1, CLI_PARSE_BAD = -2 };

void cli_parse_begin(cli_parser_t *p, cli_t *c, int argc, char **argv, const struct option *opts);
/* The next command option (its val), 0 at the end (positionals are then
 * in p->pos), CLI_PARSE_HELP for --help/-h, CLI_PARSE_BAD after printing
 * what was wrong. */
int cli_next(cli_parser_t *p);
/* The exit code for a negative cli_next() result (prints the help). */
int cli_parse_end(cli_parser_t *p, int status);

/* Value parsers that print "kue CMD: invalid ..." and return CLI_USAGE,
 * or return 0. */
int cli_parse_id(const char *cmd, const char *s, int64_t *id);
int cli_parse_long(const char *cmd, const char *what, const char *s, long long min,
                   long long max, long long *out);
int cli_parse_priority(const char *cmd, const char *s, int *prio);
int cli_parse_state(const char *cmd, const char *s);

/* Help text of a command (NULL if there is no such command). */
const char *cli_help_text(const char *cmd);
/* Print the help of cmd, or the general help when cmd is NULL. */
int cli_print_help(const char *cmd);

/* ---- commands (argv[0] is the command name) -------------------------------- */
int cmd_create(cli_t *c, int argc, char **argv);
int cmd_cron(cli_t *c, int argc, char **argv);
int cmd_get(cli_t *c, int argc, char **argv);
int cmd_cancel(cli_t *c, int argc, char **argv);
int cmd_pause(cli_t *c, int argc, char **argv);
int cmd_resume(cli_t *c, int argc, char **argv);
int cmd_rm(cli_t *c, int argc, char **argv);
int cmd_retry(cli_t *c, int argc, char **argv);
int cmd_state(cli_t *c, int argc, char **argv);
int cmd_priority(cli_t *c, int argc, char **argv);
int cmd_log(cli_t *c, int argc, char **argv);
int cmd_ls(cli_t *c, int argc, char **argv);
int cmd_stats(cli_t *c, int argc, char **argv);
int cmd_types(cli_t *c, int argc, char **argv);
int cmd_search(cli_t *c, int argc, char **argv);
int cmd_promote(cli_t *c, int argc, char **argv);
int cmd_watch(cli_t *c, int argc, char **argv);

#endif
