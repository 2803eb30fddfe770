/*
 * main.c -- kue-supervisor's command line.
 *
 *   kue-supervisor [-c FILE] [-t] [--print-defaults] [-h] [-V]
 *
 * Everything is validated before the first fork: the config (file:line for
 * every error) and each type's plugin, loaded once in a throwaway child;
 * -t also checks that run_dir is safe and writable and that the web
 * address can be bound.
 * Exit codes: 0 clean drain, 1 runtime failure, 2 usage or config error,
 * 3 the drain deadline passed and jobs were put back.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kue/kue.h>

#include "config.h"
#include "master.h"

int sup_master_run(struct sup_config *cfg);

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kue-supervisor [-c FILE] [-t]\n"
            "  -c, --config FILE   configuration (default: /etc/kue/workers.ini)\n"
            "  -t, --test          check the configuration and load each plugin once, then exit\n"
            "      --print-defaults  print every key with its default and exit\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this help\n"
            "Environment: KUE_REDIS_URL, KUE_PREFIX, KUE_WEB_LISTEN override the file.\n"
            "Signals: TERM/INT drain, QUIT fast stop, HUP reload, USR1 reopen log,\n"
            "         TSTP/CONT quiet/resume, TTIN/TTOU one more/fewer worker per type.\n");
}

int main(int argc, char **argv)
{
    /* The master's large structs (the config, about 400 KB; the master
     * with its process table, about 180 KB) are mostly room never used.
     * Allocated with mmap, calloc leaves their pages untouched, so only
     * what is used becomes resident; a fixed threshold keeps glibc from
     * raising it (it does after the config file's read buffer, 1 MB, is
     * freed) and serving them from the heap, where calloc writes every
     * byte. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    const char *file = "/etc/kue/workers.ini";
    int test = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
            file = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            file = a + 9;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--test")) {
            test = 1;
        } else if (!strcmp(a, "-tc") && i + 1 < argc) {
            test = 1;
            file = argv[++i];
        } else if (!strcmp(a, "--print-defaults")) {
            sup_config_print_defaults();
            return 0;
        } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("kue-supervisor %s\n", KUE_VERSION);
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "kue-supervisor: unknown or incomplete option %s\n", a);
            usage(stderr);
            return SUP_EXIT_CONFIG;
        }
    }

    struct sup_config *cfg = calloc(1, sizeof(*cfg));
    char err[2048];
    if (!cfg) {
        fprintf(stderr, "kue-supervisor: out of memory\n");
        return SUP_EXIT_FAIL;
    }
    if (sup_config_load(cfg, file, err, sizeof(err)) < 0 ||
        sup_config_check_plugins(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "kue-supervisor: %s\n", err);
        free(cfg);
        return SUP_EXIT_CONFIG;
    }
    if (test && (sup_rundir_check(cfg->run_dir, err, sizeof(err)) < 0 ||
                 (cfg->web && sup_check_bind(cfg->web_listen, err, sizeof(err)) < 0))) {
        fprintf(stderr, "kue-supervisor: %s: %s\n", file, err);
        free(cfg);
        return SUP_EXIT_CONFIG;
    }
    if (test) {
        long long procs = 0;
        for (int i = 0; i < cfg->ntypes; i++)
            procs += cfg->types[i].processes;
        printf("kue-supervisor: configuration %s is valid: %d type(s), %lld worker process(es)%s\n",
               file, cfg->ntypes, procs, cfg->web ? ", web" : "");
        free(cfg);
        return 0;
    }
    return sup_master_run(cfg);
}
