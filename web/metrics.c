/*
 * metrics.c -- GET /metrics (Prometheus text), /workers (the scoreboard as
 * JSON), /healthz and /readyz.
 *
 * Queue depths come from Redis on each scrape (ZCARDs, one per type and
 * state), for every queue, labelled queue="P"; worker processes, restarts and promotion figures from the
 * supervisor's scoreboard when the process was given one.
 */
#include "web.h"
#include "scoreboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEARTBEAT_STALE_MS 10000

static const char *const states[] = { "inactive", "active", "complete", "failed", "delayed" };

static void label(web_buf_t *b, const char *k, const char *v)
{
    web_buf_puts(b, k);
    web_buf_puts(b, "=");
    web_buf_json_str(b, v);
}

/* Per-type worker aggregates from the scoreboard. */
struct wagg {
    char type[KUE_SB_TYPE_LEN];
    uint64_t done, failed, restarts, inflight, rss_kb;
    int by_state[8];
};

static struct wagg *agg_find(struct wagg *agg, int *n, int max, const char *type)
{
    for (int j = 0; j < *n; j++)
        if (strcmp(agg[j].type, type) == 0) return &agg[j];
    if (*n >= max) return NULL;
    struct wagg *a = &agg[(*n)++];
    memset(a, 0, sizeof *a);
    snprintf(a->type, sizeof a->type, "%s", type);
    return a;
}

/* Job counts are those of the live slots plus the retired counts of
 * exited workers (moved there by the master), read consistently; restarts
 * by type come from retired[] alone (counted there as they happen, kept
 * when a type is removed). */
static int collect(const kue_scoreboard_t *sb, struct wagg *agg, int max, int *by_state)
{
    for (int tries = 0;; tries++) {
        uint32_t seq = kue_sb_counts_begin(sb);
        int n = 0;
        memset(by_state, 0, 8 * sizeof *by_state);
        for (uint32_t i = 0; i < sb->nslots; i++) {
            struct kue_sb_slot s;
            if (kue_sb_read_slot(sb, i, &s) < 0 || s.state == KUE_SB_FREE) continue;
            if (s.state < 8) by_state[s.state]++;
            s.type[KUE_SB_TYPE_LEN - 1] = '\0';
            struct wagg *a = agg_find(agg, &n, max, s.type);
            if (!a) continue;
            a->done += s.jobs_done;
            a->failed += s.jobs_failed;
            a->inflight += s.inflight_n;
            a->rss_kb += s.rss_kb;
            if (s.state < 8) a->by_state[s.state]++;
        }
        uint32_t nr = __atomic_load_n(&sb->hdr->nretired, __ATOMIC_ACQUIRE);
        for (uint32_t k = 0; k < nr && k < KUE_SB_MAX_SLOTS; k++) {
            char type[KUE_SB_TYPE_LEN];
            memcpy(type, sb->hdr->retired[k].type, sizeof type);
            type[sizeof type - 1] = '\0';
            struct wagg *a = agg_find(agg, &n, max, type);
            if (!a) continue;
            a->done += sb->hdr->retired[k].jobs_done;
            a->failed += sb->hdr->retired[k].jobs_failed;
            a->restarts += sb->hdr->retired[k].restarts;
        }
        if (!kue_sb_counts_retry(sb, seq) || tries > 1000) return n;
    }
}

/* The families read from Redis, one set of samples per queue, each
 * sample labelled queue="P" (docs/kue-web.md#metrics).  A family is
 * written once, its samples for every queue together. */
enum {
    F_REDIS_UP, F_JOBS, F_WORK_TIME, F_BY_TYPE, F_PAUSED, F_RATE_LIMITED, F_PROMO_LAG,
    F_EVENTS_UP, NFAM
};

static const struct { const char *name, *type, *help; } qfam[NFAM] = {
    { "kue_redis_up", "gauge", "Whether Redis answered this scrape." },
    { "kue_jobs", "gauge", "Jobs by state (all types)." },
    { "kue_work_time_seconds_total", "counter", "Total run time of completed jobs (Kue's workTime)." },
    { "kue_jobs_by_type", "gauge", "Jobs by type and state." },
    { "kue_type_paused", "gauge", "Whether the type is paused on every host (kue pause)." },
    { "kue_rate_limited_total", "counter", "Claims cut short by the type's rate limit (fleet-wide)." },
    { "kue_promotion_lag_seconds", "gauge", "How overdue the earliest delayed job is." },
    { "kue_events_up", "gauge", "Whether this web process is subscribed to the events channel." },
};

struct qfams {
    web_buf_t b[NFAM];
    int used[NFAM];
    const char *queue;       /* of the samples being written */
};

/* Start a sample of family f: name{queue="P" -- the caller ends it. */
static web_buf_t *sample(struct qfams *fs, int f)
{
    web_buf_t *b = &fs->b[f];
    fs->used[f] = 1;
    web_buf_puts(b, qfam[f].name);
    web_buf_puts(b, "{");
    label(b, "queue", fs->queue);
    return b;
}

/* kue_type_paused{type}: 1 for each paused type (kue pause), 0 for the
 * other known types. */
static void paused_metric(kue_t *k, struct qfams *fs, char **types, size_t nt)
{
    char **paused = NULL;
    size_t np = 0;
    if (kue_paused_types(k, &paused, &np) != 0) return;
    fs->used[F_PAUSED] = 1;
    for (size_t t = 0; t < nt && t < 1000; t++) {
        int on = 0;
        for (size_t i = 0; i < np && !on; i++) on = !strcmp(paused[i], types[t]);
        web_buf_t *b = sample(fs, F_PAUSED);
        web_buf_puts(b, ",");
        label(b, "type", types[t]);
        web_buf_printf(b, "} %d\n", on);
    }
    for (size_t i = 0; i < np && i < 1000; i++) {      /* paused before any job was saved */
        int known = 0;
        for (size_t t = 0; t < nt && !known; t++) known = !strcmp(paused[i], types[t]);
        if (known) continue;
        web_buf_t *b = sample(fs, F_PAUSED);
        web_buf_puts(b, ",");
        label(b, "type", paused[i]);
        web_buf_puts(b, "} 1\n");
    }
    kue_strings_free(paused, np);
}

static void types_metrics(kue_t *k, struct qfams *fs)
{
    char **types = NULL;
    size_t nt = 0;
    if (kue_types(k, &types, &nt) != 0) return;
    fs->used[F_BY_TYPE] = 1;
    for (size_t t = 0; t < nt && t < 1000; t++)
        for (int i = 0; i < 5; i++) {
            long long c = kue_count(k, types[t], states[i]);
            if (c < 0) continue;
            web_buf_t *b = sample(fs, F_BY_TYPE);
            web_buf_puts(b, ",");
            label(b, "type", types[t]);
            web_buf_printf(b, ",state=\"%s\"} %lld\n", states[i], c);
        }
    paused_metric(k, fs, types, nt);
    kue_strings_free(types, nt);
}

static void rate_limited_metric(kue_t *k, struct qfams *fs)
{
    char **rl = NULL;
    size_t nrl = 0;
    if (kue_rate_limited_counts(k, &rl, &nrl) != 0) return;
    fs->used[F_RATE_LIMITED] = 1;
    for (size_t i = 0; i + 1 < nrl && i < 2000; i += 2) {
        web_buf_t *b = sample(fs, F_RATE_LIMITED);
        web_buf_puts(b, ",");
        label(b, "type", rl[i]);
        web_buf_printf(b, "} %lld\n", atoll(rl[i + 1]));
    }
    kue_strings_free(rl, nrl);
}

/* promotion lag: how overdue the earliest delayed job is */
static void promotion_lag_metric(kue_t *k, const kue_stats_t *st, int64_t now, struct qfams *fs)
{
    double lag = 0;
    int64_t *ids = NULL;
    size_t n = 0;
    if (st->delayed > 0 && kue_range(k, NULL, "delayed", 0, 0, 0, &ids, &n) == 0 && n > 0) {
        kue_job_t *job = kue_job_get(k, ids[0]);
        const char *pa = job ? kue_job_field(job, "promote_at") : NULL;
        if (pa) {
            double due = atof(pa);
            if (due < (double)now) lag = ((double)now - due) / 1000.0;
        }
        kue_job_free(job);
    }
    free(ids);
    web_buf_printf(sample(fs, F_PROMO_LAG), "} %.3f\n", lag);
}

/* The Redis families of one queue on its connection k (NULL: unreachable). */
static void queue_metrics(kue_t *k, int64_t now, struct qfams *fs)
{
    kue_stats_t st;
    int up = k && kue_stats(k, &st) == 0;
    web_buf_printf(sample(fs, F_REDIS_UP), "} %d\n", up);
    if (!up) return;
    long long v[5] = { st.inactive, st.active, st.complete, st.failed, st.delayed };
    for (int i = 0; i < 5; i++)
        web_buf_printf(sample(fs, F_JOBS), ",state=\"%s\"} %lld\n", states[i], v[i]);
    web_buf_printf(sample(fs, F_WORK_TIME), "} %.3f\n",
                   st.work_time_ms < 0 ? 0.0 : st.work_time_ms / 1000.0);
    types_metrics(k, fs);
    rate_limited_metric(k, fs);
    promotion_lag_metric(k, &st, now, fs);
}

static void queues_metrics(const web_ctx_t *ctx, kue_t *const *ks, int64_t now, web_buf_t *out)
{
    struct qfams fs;
    memset(&fs, 0, sizeof fs);
    for (int f = 0; f < NFAM; f++) web_buf_init(&fs.b[f]);
    int nq = web_ctx_nqueues(ctx);
    for (int q = 0; q < nq; q++) {
        fs.queue = web_ctx_queue(ctx, q);
        queue_metrics(ks ? ks[q] : NULL, now, &fs);
        if (ctx->events[q])
            web_buf_printf(sample(&fs, F_EVENTS_UP), "} %d\n", web_events_up(ctx->events[q]));
    }
    for (int f = 0; f < NFAM; f++) {
        if (fs.used[f]) {
            web_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", qfam[f].name, qfam[f].help,
                           qfam[f].name, qfam[f].type);
            if (fs.b[f].p) web_buf_put(out, fs.b[f].p, fs.b[f].len);
        }
        web_buf_free(&fs.b[f]);
    }
    web_events_t *evs[WEB_MAX_QUEUES];
    const char *names[WEB_MAX_QUEUES];
    int any = 0;
    for (int q = 0; q < nq; q++) {
        evs[q] = ctx->events[q];
        names[q] = web_ctx_queue(ctx, q);
        any |= evs[q] != NULL;
    }
    if (any) web_events_metrics(evs, names, nq, out);
}

void web_metrics(const web_ctx_t *ctx, kue_t *const *ks, web_resp_t *resp)
{
    web_buf_t *b = &resp->body;
    resp->ctype = WEB_CT_PROM;
    resp->status = 200;
    int64_t now = kue_now_ms();
    queues_metrics(ctx, ks, now, b);

    kue_scoreboard_t *sb = ctx->sb;
    if (sb && sb->hdr) {
        struct kue_sb_header h = *sb->hdr;
        web_buf_puts(b, "# HELP kue_supervisor_heartbeat_age_seconds Age of the master's last heartbeat.\n"
                        "# TYPE kue_supervisor_heartbeat_age_seconds gauge\n");
        web_buf_printf(b, "kue_supervisor_heartbeat_age_seconds %.3f\n",
                       (now - h.master_heartbeat_ms) / 1000.0);
        web_buf_printf(b, "# HELP kue_supervisor_draining Whether the supervisor is draining (1) or not (0).\n"
                          "# TYPE kue_supervisor_draining gauge\nkue_supervisor_draining %u\n",
                       h.draining);
        web_buf_printf(b, "# HELP kue_promoted_total Delayed jobs promoted by the supervisor.\n"
                          "# TYPE kue_promoted_total counter\nkue_promoted_total %llu\n",
                       (unsigned long long)h.promoted_total);
        web_buf_printf(b, "# HELP kue_promotion_lag_last_seconds Lag of the last promoted job.\n"
                          "# TYPE kue_promotion_lag_last_seconds gauge\n"
                          "kue_promotion_lag_last_seconds %.3f\n",
                       h.promotion_lag_ms_last / 1000.0);
        web_buf_printf(b, "# HELP kue_recovered_total Jobs settled after a worker died or a lease expired.\n"
                          "# TYPE kue_recovered_total counter\nkue_recovered_total %llu\n",
                       (unsigned long long)h.recovered_total);
        web_buf_printf(b, "# HELP kue_worker_restarts_total Worker processes restarted after they died.\n"
                          "# TYPE kue_worker_restarts_total counter\nkue_worker_restarts_total %llu\n",
                       (unsigned long long)h.restarts_total);

        web_buf_puts(b, "# HELP kue_leader Whether this supervisor holds the leader lease of the prefix (cron, retention).\n"
                        "# TYPE kue_leader gauge\nkue_leader{");
        label(b, "prefix", web_ctx_queue(ctx, 0));
        web_buf_printf(b, "} %u\n", h.leader ? 1u : 0u);
        web_buf_puts(b, "# HELP kue_pruned_total Jobs removed by retention while this supervisor led.\n"
                        "# TYPE kue_pruned_total counter\n");
        uint32_t np = __atomic_load_n(&sb->hdr->npruned, __ATOMIC_ACQUIRE);
        for (uint32_t i = 0; i < np && i < KUE_SB_MAX_PRUNED; i++) {
            char type[KUE_SB_TYPE_LEN];
            memcpy(type, sb->hdr->pruned[i].type, sizeof type);
            type[sizeof type - 1] = '\0';
            for (int fs = 0; fs < 2; fs++) {
                web_buf_puts(b, "kue_pruned_total{");
                label(b, "type", type);
                web_buf_printf(b, ",state=\"%s\"} %llu\n", fs ? "failed" : "complete",
                               (unsigned long long)(fs ? sb->hdr->pruned[i].failed
                                                       : sb->hdr->pruned[i].complete));
            }
        }

        struct wagg agg[64];
        int by_state[8] = { 0 };
        int na = collect(sb, agg, 64, by_state);
        web_buf_puts(b, "# HELP kue_worker_processes Worker processes by state.\n"
                        "# TYPE kue_worker_processes gauge\n");
        for (uint32_t s = KUE_SB_STARTING; s <= KUE_SB_EXITED; s++)
            web_buf_printf(b, "kue_worker_processes{state=\"%s\"} %d\n", kue_sb_state_name(s),
                           by_state[s]);
        static const struct { const char *name, *type, *help; } fam[] = {
            { "kue_jobs_processed_total", "counter", "Jobs completed by this supervisor's workers since it started." },
            { "kue_jobs_failed_total", "counter", "Job attempts failed in this supervisor's workers since it started." },
            { "kue_worker_restarts_by_type_total", "counter", "Worker process restarts by job type." },
            { "kue_worker_inflight_jobs", "gauge", "Jobs being run." },
            { "kue_worker_rss_bytes", "gauge", "Resident memory of worker processes." },
        };
        for (int f = 0; f < 5; f++) {
            web_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help,
                           fam[f].name, fam[f].type);
            for (int i = 0; i < na; i++) {
                uint64_t v = f == 0 ? agg[i].done : f == 1 ? agg[i].failed :
                             f == 2 ? agg[i].restarts : f == 3 ? agg[i].inflight :
                             agg[i].rss_kb * 1024;
                web_buf_printf(b, "%s{", fam[f].name);
                label(b, "type", agg[i].type);
                web_buf_printf(b, "} %llu\n", (unsigned long long)v);
            }
        }
    }
}

/* ,"paused":[types] (null when Redis did not answer) */
static void paused_json(kue_t *k, web_buf_t *b)
{
    char **paused = NULL;
    size_t np = 0;
    if (!k || kue_paused_types(k, &paused, &np) != 0) {
        web_buf_puts(b, ",\"paused\":null");
        return;
    }
    web_buf_puts(b, ",\"paused\":[");
    for (size_t i = 0; i < np && i < 1000; i++) {
        if (i) web_buf_puts(b, ",");
        web_buf_json_str(b, paused[i]);
    }
    web_buf_puts(b, "]");
    kue_strings_free(paused, np);
}

void web_workers_json(const web_ctx_t *ctx, kue_t *k, web_resp_t *resp)
{
    web_buf_t *b = &resp->body;
    kue_scoreboard_t *sb = ctx->sb;
    int64_t now = kue_now_ms();
    if (!sb || !sb->hdr) {
        web_buf_printf(b, "{\"scoreboard\":false,\"now\":%lld", (long long)now);
        paused_json(k, b);
        web_buf_puts(b, ",\"workers\":[]}");
        return;
    }
    struct kue_sb_header h = *sb->hdr;
    web_buf_printf(b, "{\"scoreboard\":true,\"now\":%lld", (long long)now);
    paused_json(k, b);
    web_buf_printf(b, ",\"master\":{\"pid\":%d,"
                      "\"heartbeat_ms\":%lld,\"started_ms\":%lld,\"draining\":%s,\"quiet\":%s,"
                      "\"redis_up\":%s,\"promoted_total\":%llu,\"promotion_lag_ms_last\":%lld,"
                      "\"recovered_total\":%llu,\"restarts_total\":%llu,\"leader\":%s,"
                      "\"leader_token\":%lld,\"leader_since_ms\":%lld,\"leader_holder\":",
                   h.master_pid, (long long)h.master_heartbeat_ms,
                   (long long)h.started_ms, h.draining ? "true" : "false",
                   h.quiet ? "true" : "false", h.redis_up ? "true" : "false",
                   (unsigned long long)h.promoted_total, (long long)h.promotion_lag_ms_last,
                   (unsigned long long)h.recovered_total, (unsigned long long)h.restarts_total,
                   h.leader ? "true" : "false", (long long)h.leader_token,
                   (long long)(h.leader ? h.leader_since_ms : 0));
    h.leader_holder[sizeof h.leader_holder - 1] = '\0';
    web_buf_json_str(b, h.leader_holder);
    web_buf_puts(b, "},\"workers\":[");
    int first = 1;
    struct kue_sb_slot *s = malloc(sizeof *s);
    if (!s) { web_buf_puts(b, "]}"); return; }
    for (uint32_t i = 0; i < sb->nslots; i++) {
        if (kue_sb_read_slot(sb, i, s) < 0 || s->state == KUE_SB_FREE) continue;
        s->type[KUE_SB_TYPE_LEN - 1] = '\0';
        if (!first) web_buf_puts(b, ",");
        first = 0;
        web_buf_printf(b, "{\"slot\":%u,\"pid\":%d,\"type\":", i, s->pid);
        web_buf_json_str(b, s->type);
        web_buf_printf(b, ",\"state\":\"%s\",\"generation\":%u,\"started_ms\":%lld,"
                          "\"heartbeat_ms\":%lld,\"heartbeat_age_ms\":%lld,\"jobs_done\":%llu,"
                          "\"jobs_failed\":%llu,\"rss_kb\":%llu,\"restarts\":%u,"
                          "\"concurrency\":%u,\"redis_up\":%s,\"inflight\":[",
                       kue_sb_state_name(s->state), s->generation, (long long)s->started_ms,
                       (long long)s->heartbeat_ms, (long long)(now - s->heartbeat_ms),
                       (unsigned long long)s->jobs_done, (unsigned long long)s->jobs_failed,
                       (unsigned long long)s->rss_kb, s->restarts, s->concurrency,
                       s->redis_up ? "true" : "false");
        uint32_t nin = s->inflight_n < KUE_SB_MAX_INFLIGHT ? s->inflight_n : KUE_SB_MAX_INFLIGHT;
        for (uint32_t j = 0; j < nin; j++)
            web_buf_printf(b, "%s{\"id\":%lld,\"started_ms\":%lld,\"age_ms\":%lld,"
                              "\"deadline_ms\":%lld}",
                           j ? "," : "", (long long)s->inflight[j].id,
                           (long long)s->inflight[j].started_ms,
                           (long long)(now - s->inflight[j].started_ms),
                           (long long)s->inflight[j].deadline_ms);
        web_buf_puts(b, "]}");
    }
    free(s);
    web_buf_puts(b, "]}");
}

void web_healthz(const web_ctx_t *ctx, web_resp_t *resp)
{
    kue_scoreboard_t *sb = ctx->sb;
    if (sb && sb->hdr) {
        int64_t age = kue_now_ms() - sb->hdr->master_heartbeat_ms;
        if (age > HEARTBEAT_STALE_MS) {
            resp->status = 503;
            web_buf_printf(&resp->body, "{\"status\":\"stale\",\"master_heartbeat_age_ms\":%lld}",
                           (long long)age);
            return;
        }
        web_buf_printf(&resp->body, "{\"status\":\"ok\",\"master_heartbeat_age_ms\":%lld}",
                       (long long)age);
        return;
    }
    web_buf_puts(&resp->body, "{\"status\":\"ok\"}");
}

void web_readyz(const web_ctx_t *ctx, kue_t *const *ks, web_resp_t *resp)
{
    /* every queue's connection must answer */
    int nq = web_ctx_nqueues(ctx), nup = 0;
    for (int q = 0; q < nq; q++) {
        kue_stats_t st;
        nup += ks && ks[q] && kue_stats(ks[q], &st) == 0;
    }
    int redis = nup == nq;
    int workers_ready = -1, draining = 0;
    kue_scoreboard_t *sb = ctx->sb;
    if (sb && sb->hdr) {
        draining = sb->hdr->draining != 0;
        int by_state[8] = { 0 };
        struct wagg agg[64];
        int na = collect(sb, agg, 64, by_state);
        workers_ready = na == 0 ? 1 : by_state[KUE_SB_READY] > 0;
    }
    int ok = redis && workers_ready != 0 && !draining;
    resp->status = ok ? 200 : 503;
    /* counts, not names: this route is open without auth */
    web_buf_printf(&resp->body, "{\"ready\":%s,\"redis\":%s,\"workers\":%s,\"draining\":%s,"
                                "\"queues\":%d,\"queues_up\":%d}",
                   ok ? "true" : "false", redis ? "true" : "false",
                   workers_ready < 0 ? "null" : workers_ready ? "true" : "false",
                   draining ? "true" : "false", nq, nup);
}
