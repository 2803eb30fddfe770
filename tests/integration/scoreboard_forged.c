/*
 * scoreboard_forged.c -- the shared scoreboard is writable by every child,
 * so a forged slot count must change nothing: readers keep their own count
 * (no read past the mapping, no loop of 2^31), the memfd cannot be resized,
 * kue-web's /metrics and /workers answer at once, and the master still
 * enforces a hard timeout after a worker wrote nslots = 0.
 */
#include <jansson.h>
#include <signal.h>

#include "scoreboard.h"
#include "supervisor_common.h"
#include "web_common.h"

static kt_redis_t R;
static wt_web_t W;
static struct sup_t S;

static void fini(void)
{
    if (W.pid > 0) wt_web_stop(&W);
    W.pid = 0;
    sup_fini();
}

TestSuite(scoreboard_forged, .fini = fini, .timeout = 60);

Test(scoreboard_forged, readers_keep_their_own_count)
{
    kue_scoreboard_t sb;
    cr_assert_eq(kue_sb_create(&sb, 8), 0);
    struct kue_sb_slot s;
    sb.hdr->nslots = 0;
    cr_expect_eq(kue_sb_read_slot(&sb, 3, &s), 0);
    sb.hdr->nslots = 0x7fffffff;
    cr_expect_eq(kue_sb_read_slot(&sb, 8, &s), -1);
    cr_expect_eq(kue_sb_read_slot(&sb, 100000, &s), -1);
    /* a child's view: the count comes from the sealed size */
    kue_scoreboard_t child;
    sb.hdr->nslots = 0;
    cr_assert_eq(kue_sb_attach(&child, sb.fd), 0);
    cr_expect_eq(child.nslots, 8);
    kue_sb_detach(&child);
    /* nobody can shrink (SIGBUS for the others) or grow it */
    cr_expect_neq(ftruncate(sb.fd, 64), 0);
    cr_expect_neq(ftruncate(sb.fd, (off_t)sb.size * 2), 0);
    kue_sb_detach(&sb);
    close(sb.fd);
}

static int64_t timed_get(const char *path, int *status)
{
    int64_t t0 = kt_now_ms();
    wt_resp_t r = wt_get(W.port, path);
    *status = r.status;
    wt_resp_free(&r);
    return kt_now_ms() - t0;
}

Test(scoreboard_forged, web_answers_with_a_forged_count)
{
    kt_redis_start(&R, 0);
    kue_scoreboard_t sb;
    cr_assert_eq(kue_sb_create(&sb, 4), 0);
    sb.hdr->master_pid = getpid();
    struct kue_sb_slot *s = &sb.slots[2];
    kue_sb_write_begin(s);
    s->state = KUE_SB_READY;
    s->pid = 4242;
    snprintf(s->type, sizeof s->type, "email");
    kue_sb_write_end(s);
    char envv[64];
    snprintf(envv, sizeof envv, "KUE_SCOREBOARD_FD=%d", sb.fd);
    char *env[] = { envv, NULL };
    wt_web_start(&W, R.url, NULL, env);
    sb.hdr->nslots = 0x7fffffff;
    int st;
    int64_t ms = timed_get("/metrics", &st);
    cr_expect_eq(st, 200);
    cr_expect_lt(ms, 2000, "/metrics took %lld ms", (long long)ms);
    ms = timed_get("/readyz", &st);
    cr_expect_lt(ms, 2000, "/readyz took %lld ms", (long long)ms);
    wt_resp_t r = wt_get(W.port, "/workers");
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.body, "\"pid\":4242"), "%s", r.body);
    wt_resp_free(&r);
    sb.hdr->nslots = 0;
    r = wt_get(W.port, "/workers");
    cr_expect(strstr(r.body, "\"pid\":4242"), "%s", r.body);
    wt_resp_free(&r);
    /* kue-web maps it read-only */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)W.pid);
    char *maps = kt_read_file(path);
    cr_assert(maps);
    char *line = strstr(maps, "kue-scoreboard");
    cr_assert(line, "%s", maps);
    while (line > maps && line[-1] != '\n') line--;
    cr_expect(strstr(line, " r--s ") && strstr(line, " r--s ") < strstr(line, "kue-scoreboard"),
              "%.200s", line);
    free(maps);
    kue_sb_detach(&sb);
    close(sb.fd);
}

Test(scoreboard_forged, master_timeouts_survive_a_forged_count)
{
    static const char *const none[] = { NULL };
    sup_setup(&S, none, "[type forge]\nprocesses = 1\ntimeout = 1s\n");
    /* the job forges the header's count, then hangs */
    sup_build_plugin(&S, "forge",
                     "#include <stdlib.h>\n#include <stdint.h>\n#include <unistd.h>\n"
                     "#include <sys/mman.h>\n#include <kue/plugin.h>\n"
                     "static void process(kue_handle_t *j) {\n"
                     "  (void)j;\n"
                     "  const char *e = getenv(\"KUE_SCOREBOARD_FD\");\n"
                     "  uint32_t *h = e ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,\n"
                     "                         atoi(e), 0) : MAP_FAILED;\n"
                     "  if (h != MAP_FAILED) h[2] = 0;   /* magic, version, nslots */\n"
                     "  for (;;) pause();\n"
                     "}\n"
                     "KUE_PLUGIN(.process = process);\n");
    sup_start(&S);
    cr_assert(sup_wait_children(S.pid, "kue-supervisor: worker forge#1", 1, 5000));
    int64_t id = sup_job(&S, "forge", "{}", 1, 0);
    cr_assert(sup_wait_state(&S, id, "failed", 8000), "the hard timeout did not fire");
    char err[256];
    sup_field(&S, id, "error", err, sizeof(err));
    cr_expect(strstr(err, "timeout"), "error: %s", err);
    cr_assert_eq(sup_stop(&S, SIGTERM, 10000), 0);
    S.pid = 0;
}
