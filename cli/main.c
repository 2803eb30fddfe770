/*
 * main.c -- the `kue` command: global options, the command table with
 * each command's help, and dispatch.  The commands live in jobs.c (one
 * job), list.c (many jobs, counts, promotion) and watch.c (events).
 *
 * Exit codes: 0 ok, 1 error (message on stderr), 2 usage (unknown command
 * or option, bad value: the message says which).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int cmd_help(cli_t *c, int argc, char **argv);
static int cmd_version(cli_t *c, int argc, char **argv);

#define GLOBAL_HELP \
    "\nGlobal options (before or after the command):\n" \
    "  --redis URL    redis://[:password@]host[:port][/db] or unix:///path.sock[?db=N]\n" \
    "                 (default: $KUE_REDIS_URL, else redis://127.0.0.1:6379/0)\n" \
    "  --prefix P     key prefix (default: $KUE_PREFIX, else q); ls, stats, types\n" \
    "                 and search take a list P1,P2,... and show each prefix\n" \
    "  --key-style S  plain (P:jobs) or hashtag ({P}:jobs, Kue on ioredis)\n" \
    "                 (default: $KUE_KEY_STYLE, else plain)\n" \
    "  --search       index the data of created jobs for Kue's search\n" \
    "  --wait-replicas N  after creating a job, WAIT until N replicas have it\n" \
    "                 (default: $KUE_WAIT_REPLICAS, else 0: off)\n" \
    "  --wait-timeout D   at most this long (default: $KUE_WAIT_TIMEOUT, else 1s)\n"

static const struct command {
    const char *name;
    int each_prefix;        /* reads: runs once per prefix of a --prefix list */
    int (*fn)(cli_t *, int, char **);
    const char *summary;
    const char *help;
} commands[] = {
    { "create", 0, cmd_create, "create a job and print its id",
      "usage: kue create TYPE [JSON|-] [options]\n"
      "Create a job of TYPE with JSON data (default {}; - reads it from stdin,\n"
      "at most 16 MiB) and print its id.\n"
      "  --priority P          low, normal, medium, high, critical or an integer\n"
      "  --attempts N          attempts before the job fails for good (>= 1)\n"
      "  --delay D             run not before D from now (250ms, 5s, 2m, 1h)\n"
      "  --run-at EPOCH_MS     run not before this time (ms since the epoch)\n"
      "  --backoff B           true, fixed[:D], exponential[:D[:MAX]] or Kue's JSON\n"
      "  --ttl D               time a worker may hold the job\n"
      "  --remove-on-complete  delete the job once it completes\n"
      "  --search-keys a,b.c   index only these data paths (with --search)\n"
      "  --unique KEY          no new job while one of TYPE with KEY is queued or running\n"
      "  --unique-for D        keep the key this long after that job completes\n"
      "  --group G             the job's group (the type's group_concurrency)\n" },
    { "get", 0, cmd_get, "print a job as JSON",
      "usage: kue get ID [--pretty]\n"
      "Print the job as Kue's JSON API shows it (--pretty: indented).\n" },
    { "ls", 1, cmd_ls, "list jobs",
      "usage: kue ls [--state S] [--type T] [--from N --to M] [--desc] [--json]\n"
      "List jobs as a table (id, type, state, priority, attempts made/max, age,\n"
      "title or first data field), or with --json as one JSON array.\n"
      "  --state S      inactive, active, complete, failed or delayed\n"
      "  --type T       only jobs of type T (with no --state: in any state)\n"
      "  --from N       first index of the range (default 0)\n"
      "  --to M         last index, inclusive; negatives count from the end\n"
      "                 (default 99; --to -1 lists all)\n"
      "  --desc         newest (highest id) first\n"
      "As in Kue, the range is taken in the set's order (priority, then id) and\n"
      "the jobs it holds are shown by id; with --type alone, by id.\n" },
    { "rm", 0, cmd_rm, "remove jobs",
      "usage: kue rm ID...\n"
      "Remove jobs with their logs and index entries.\n" },
    { "retry", 0, cmd_retry, "move failed jobs back to inactive",
      "usage: kue retry ID... [--force]\n"
      "Move failed jobs to inactive so a worker runs them again.  A job that is\n"
      "not failed is refused unless --force is given.\n" },
    { "cancel", 0, cmd_cancel, "cancel jobs, running ones included",
      "usage: kue cancel ID... [--grace D]\n"
      "Cancel jobs.  An inactive or delayed job fails at once with the error\n"
      "\"cancelled\" and is not retried.  For an active job, the worker running it\n"
      "(on any host) calls its plugin's cancel hook; if the job is still running\n"
      "after the grace time (default 5s, at most 1d), or the plugin has no cancel\n"
      "hook, its supervisor kills that worker process; the job fails with\n"
      "\"cancelled\" and the process's other jobs go back to the queue without\n"
      "spending an attempt.  A job already complete or failed is left as it is\n"
      "(said on stderr, exit 1).\n"
      "  --grace D      250ms, 5s, 2m ...\n" },
    { "pause", 0, cmd_pause, "stop every worker of a type taking jobs",
      "usage: kue pause TYPE...\n"
      "Pause job types on every host: once this returns, no kue worker claims a\n"
      "job of the type; jobs in flight finish and jobs can still be created.  The\n"
      "pause is kept in Redis (restarts and supervisors started later honour it)\n"
      "until `kue resume`.  Node Kue workers do not honour it.\n" },
    { "resume", 0, cmd_resume, "let a paused type run again",
      "usage: kue resume TYPE...\n"
      "Resume paused job types: idle workers take their jobs at once.\n" },
    { "state", 0, cmd_state, "move a job to a state",
      "usage: kue state ID STATE\n"
      "Move a job to inactive, active, complete, failed or delayed.\n" },
    { "priority", 0, cmd_priority, "change a job's priority",
      "usage: kue priority ID P\n"
      "Set the priority: low, normal, medium, high, critical or an integer.\n" },
    { "stats", 1, cmd_stats, "job counts per state and work time",
      "usage: kue stats [--by-type] [--json]\n"
      "Print the number of jobs in each state and the total work time (ms);\n"
      "--by-type adds the counts of each type; --json prints Kue's /stats object\n"
      "(with \"types\" when --by-type).\n" },
    { "log", 0, cmd_log, "print a job's log",
      "usage: kue log ID\n"
      "Print the job's log lines, oldest first.\n" },
    { "watch", 0, cmd_watch, "print events as they happen",
      "usage: kue watch [--type T] [--id N] [--json]\n"
      "Print one line per job event (time, id, event, arguments) until\n"
      "interrupted; --json prints each event message as published.\n" },
    { "promote", 0, cmd_promote, "promote due delayed jobs once",
      "usage: kue promote [--limit N]\n"
      "Move delayed jobs that are due to inactive (at most N, default 1000) and\n"
      "print how many moved.\n" },
    { "search", 1, cmd_search, "find jobs by the words of their data",
      "usage: kue search WORD...\n"
      "Print the ids of jobs whose data holds every word (Kue's search index:\n"
      "only jobs created with search on are indexed), best match first.\n" },
    { "cron", 0, cmd_cron, "list, add or remove cron schedules",
      "usage: kue cron ls [--json]\n"
      "       kue cron add NAME --schedule S --type T [options]\n"
      "       kue cron rm NAME\n"
      "ls: every schedule the leading kue-supervisor runs (from its INI file and\n"
      "added here), with its next and last tick and the last job it made.\n"
      "add: add or replace a run-time schedule (the leader picks it up within a\n"
      "second); rm: remove one.  Schedules of the INI file change there.\n"
      "  --json                ls: one JSON array\n"
      "  --schedule S          5-field cron, or @every 30s, @hourly, @daily, ...\n"
      "  --type T              job type of the jobs made\n"
      "  --data JSON           job data (default {})\n"
      "  --priority P          low, normal, medium, high, critical or an integer\n"
      "  --attempts N          attempts of each job\n"
      "  --backoff B           true, or Kue's JSON backoff object\n"
      "  --ttl D               ttl of each job (250ms, 5s, 2m, 1h)\n"
      "  --delay D             each job is made delayed by D\n"
      "  --timezone TZ         zone of the schedule (default UTC)\n"
      "  --catch-up C          none, one (default) or all: ticks missed without a leader\n" },
    { "types", 1, cmd_types, "list job types",
      "usage: kue types\n"
      "Print the known job types, one a line.\n" },
    { "version", 0, cmd_version, "print the version",
      "usage: kue version\n" },
    { "help", 0, cmd_help, "help on a command",
      "usage: kue help [COMMAND]\n" },
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

const char *cli_help_text(const char *cmd)
{
    const struct command *c = cmd ? find_command(cmd) : NULL;
    return c ? c->help : NULL;
}

static void general_help(FILE *f)
{
    fputs("usage: kue [--redis URL] [--prefix P] [--key-style S] [--search] COMMAND [ARGS]\n\n"
          "Commands:\n", f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs(GLOBAL_HELP, f);
    fputs("\nExit codes: 0 ok, 1 error, 2 usage.  `kue help COMMAND` for details.\n", f);
}

int cli_print_help(const char *cmd)
{
    const char *h = cli_help_text(cmd);
    if (!cmd || !h) {
        general_help(stdout);
        return CLI_OK;
    }
    fputs(h, stdout);
    if (strcmp(cmd, "help") && strcmp(cmd, "version")) fputs(GLOBAL_HELP, stdout);
    return CLI_OK;
}

static int cmd_help(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, NULL);
    int o;
    while ((o = cli_next(&p)) > 0) {}
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos > 1) return cli_usage_error("help", "too many arguments");
    if (p.npos == 1 && !find_command(p.pos[0]))
        return cli_usage_error("help", "unknown command \"%.64s\"", p.pos[0]);
    return cli_print_help(p.npos ? p.pos[0] : NULL);
}

static int cmd_version(cli_t *c, int argc, char **argv)
{
    cli_parser_t p;
    cli_parse_begin(&p, c, argc, argv, NULL);
    int o;
    while ((o = cli_next(&p)) > 0) {}
    if (o < 0) return cli_parse_end(&p, o);
    if (p.npos) return cli_usage_error("version", "takes no arguments");
    printf("kue %s (Kue 0.11 wire format)\n", KUE_VERSION);
    return CLI_OK;
}

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* stdout must have reached its reader: a full disk or a closed pipe is an
 * error, not a silent success. */
static int finish_output(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE) fprintf(stderr, "kue: cannot write the output: %s\n", strerror(errno));
        return rc ? rc : CLI_ERR;
    }
    return rc;
}

/* The command, once per prefix of a --prefix list (cli_kue() learns the
 * list and prints each prefix's heading); a JSON output becomes one
 * object keyed by prefix. */
static int run_rounds(cli_t *c, const struct command *cmd, int argc, char **argv)
{
    for (;;) {
        int rc = cmd->fn(c, argc, argv);
        if (c->refused) return CLI_USAGE;
        if (rc != CLI_OK || c->nprefix <= 1) return rc;
        if (++c->round >= c->nprefix) {
            if (c->json) fputs("}\n", stdout);
            return CLI_OK;
        }
        kue_free(c->k);
        c->k = NULL;
    }
}

int main(int argc, char **argv)
{
    static cli_t c;
    static cli_parser_t p;
    static const struct option top[] = {
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    c.url = env_or_null("KUE_REDIS_URL");
    c.prefix = env_or_null("KUE_PREFIX");
    c.key_style = env_or_null("KUE_KEY_STYLE");
    c.wait_replicas = env_or_null("KUE_WAIT_REPLICAS");
    c.wait_timeout = env_or_null("KUE_WAIT_TIMEOUT");
    argv[0] = "kue";
    cli_parse_begin(&p, &c, argc, argv, top);
    p.stop_at_arg = 1;
    p.cmd = NULL;
    int o;
    while ((o = cli_next(&p)) > 0)
        if (o == 'V') return cmd_version(&c, 1, (char *[]){ "version", NULL });
    if (o == CLI_PARSE_HELP) return finish_output(cli_print_help(NULL));
    if (o < 0) return CLI_USAGE;
    if (p.npos == 0) {
        general_help(stderr);
        return CLI_USAGE;
    }
    const struct command *cmd = find_command(p.pos[0]);
    if (!cmd) return cli_usage_error(NULL, "unknown command \"%.64s\"", p.pos[0]);
    c.each_prefix = cmd->each_prefix;
    int rc = run_rounds(&c, cmd, argc - p.end, argv + p.end);
    rc = finish_output(rc);
    if (c.k) kue_free(c.k);
    return rc;
}
