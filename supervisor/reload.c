/*
 * reload.c -- SIGHUP: the configuration file read again, without holding
 * the master's loop.
 *
 * The file is read and validated at once (that is fast).  Its plugins are
 * then checked beside the loop, one exec'd check per type, all at once
 * (check.c): reaping, respawning, timeouts, promotion, signals and the
 * drain go on while they run.  The new configuration is applied only when
 * every check has passed; the first check that fails ends the reload with
 * the same line as an invalid file ("reload failed, keeping the running
 * configuration: file:line: [type T] handler: why") and nothing changes.
 *
 * One reload is pending at a time: a HUP while one is pending abandons it
 * (its checks are killed, and reaped) and starts over from the file as it
 * is now, so the newest file wins.  A drain (TERM, INT, QUIT) abandons it
 * too.  The running configuration is never touched until the apply.
 */
#include "master.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "slot.h"
#include "util.h"

struct sup_reload {
    struct sup_config *cfg;                  /* read, validated, fixed keys kept */
    uint32_t seq;
    int left;                                /* checks still running */
    int64_t started;                         /* monotonic ms */
    char fixed[512];                         /* fixed keys the file changed */
    struct sup_fileid id[SUP_MAX_TYPES];     /* each plugin file as checked */
};

static void pending_free(struct master *m)
{
    if (!m->reload)
        return;
    free(m->reload->cfg);
    free(m->reload);
    m->reload = NULL;
}

void sup_reload_abandon(struct master *m, const char *why)
{
    struct sup_reload *r = m->reload;
    if (!r)
        return;
    int n = sup_pcheck_cancel(m, 1);
    klog_warn("%s: the pending reload of %s (started %lld ms ago) is abandoned, %d plugin "
              "check(s) killed", why, r->cfg->file, (long long)(kue_mono_ms() - r->started), n);
    pending_free(m);
}

/* The reload ends without applying anything; err says why. */
static void fail(struct master *m, const char *err)
{
    klog_error("reload failed, keeping the running configuration: %s", err);
    sup_pcheck_cancel(m, 1);
    pending_free(m);
}

/* Type ti of the pending file cannot be used: the line of the
 * synchronous check ("file:line: [type T] handler: why"). */
static void fail_type(struct master *m, int ti, const char *err)
{
    const struct sup_config *nc = m->reload->cfg;
    const struct sup_type *t = &nc->types[ti];
    char why[SUP_PATH_LEN + KUE_SB_TYPE_LEN + 1024 + 64];
    snprintf(why, sizeof(why), "%s:%d: [type %s] handler: %s", nc->file, t->handler_line,
             t->name, err);
    fail(m, why);
}

/* Mark the running workers of type t for replacement; how many. */
static int retire_type(struct master *m, const char *type)
{
    int n = 0;
    for (int j = 0; j < SUP_TABLE_SIZE; j++) {
        struct sup_proc *p = &m->tab.p[j];
        if (p->kind == SK_WORKER && p->state == SS_RUNNING && !strcmp(p->type, type) &&
            !p->retire) {
            p->retire = 1;
            n++;
        }
    }
    return n;
}

/* Per type of nc: the process count, the plugin file that will run, and
 * which running workers must be replaced.  Returns how many. */
static int plan_types(struct master *m, const struct sup_reload *r, unsigned g, int *want,
                      struct sup_fileid *hid)
{
    const struct sup_config *oc = m->cfg, *nc = r->cfg;
    int rolled = 0;
    for (int i = 0; i < nc->ntypes; i++) {
        const struct sup_type *t = &nc->types[i];
        const struct sup_type *o = sup_config_type(oc, t->name);
        int oi = o ? (int)(o - oc->types) : -1;
        want[i] = (int)t->processes;
        hid[i] = r->id[i];
        if (!o)
            continue;
        char tch[512];
        unsigned tb = sup_type_changes(o, t, tch, sizeof(tch));
        int file = !sup_fileid_eq(&r->id[i], &m->hid[oi]);
        if (tch[0])
            klog_info("reload: [type %s] changed: %s", t->name, tch);
        if (!(tb & SUP_APPLY_WORKERS) && !file && !(g & SUP_APPLY_WORKERS))
            continue;
        int n = retire_type(m, t->name);
        if (n)
            klog_info("reload: replacing %d worker(s) of type %s (%s)", n, t->name,
                      tb & SUP_APPLY_WORKERS ? "its settings changed"
                      : file               ? "its plugin file changed"
                                           : "settings of every worker changed");
        rolled += n;
    }
    return rolled;
}

static void apply_web(struct master *m, int web_changed)
{
    const struct sup_config *nc = m->cfg;
    if (!web_changed && !(nc->web && m->web_idx < 0))
        return;
    if (m->web_idx >= 0) {
        klog_info("reload: restarting web (its settings changed)");
        sup_stop_proc(m, m->web_idx, SIGTERM, "configuration changed");
    }
    if (nc->web && m->web_idx < 0) {
        int i = sup_table_alloc(&m->tab);
        if (i >= 0) {
            m->tab.p[i].kind = SK_WEB;
            sup_slot_event(&m->tab.p[i], SE_WANT, &(struct sup_ev){ .at = 0 });
            m->web_idx = i;
        }
    }
}

/* Every check passed: the new configuration replaces the running one.
 * What to apply comes from the key table: each key says whether a change
 * is the master's, replaces workers, or restarts web. */
static void apply(struct master *m)
{
    struct sup_reload *r = m->reload;
    struct sup_config *oc = m->cfg, *nc = r->cfg;
    if (r->fixed[0])
        klog_warn("reload: %s changed; these take effect only after a restart", r->fixed);
    char changed[1024];
    unsigned g = sup_config_changes(oc, nc, changed, sizeof(changed));
    if (changed[0])
        klog_info("reload: changed: %s", changed);
    int want[SUP_MAX_TYPES];
    struct sup_fileid hid[SUP_MAX_TYPES];
    memset(hid, 0, sizeof(hid));
    int rolled = plan_types(m, r, g, want, hid);
    int web_changed = (g & SUP_APPLY_WEB) != 0;
    /* a prefix added or dropped: kue-web's --prefix list changes; a new
     * prefix gets its queue before its workers start */
    char opl[SUP_MAX_QUEUES * 64], npl[SUP_MAX_QUEUES * 64];
    if (sup_config_prefix_list(oc, opl, sizeof(opl)) < 0 ||
        sup_config_prefix_list(nc, npl, sizeof(npl)) < 0 || strcmp(opl, npl) != 0) {
        klog_info("reload: prefixes in use: %s", npl);
        web_changed = 1;
    }
    sup_queues_sync(m, nc);

    r->cfg = NULL;   /* now the running one */
    m->cfg = nc;
    m->gen++;
    memcpy(m->want, want, sizeof(want));
    memcpy(m->hid, hid, sizeof(hid));
    memset(m->hid_bad, 0, sizeof(m->hid_bad));
    memset(m->plugin_dirty, 0, sizeof(m->plugin_dirty));
    klog_set_level(klog_level_parse(nc->log_level));
    klog_init("master", klog_level_parse(nc->log_level), !strcmp(nc->log_format, "json"));
    if (strcmp(oc->plugins, nc->plugins))
        sup_watch_restart(m);
    apply_web(m, web_changed);
    if (oc->promotion_interval_ms != nc->promotion_interval_ms ||
        oc->recovery_interval_ms != nc->recovery_interval_ms)
        sup_rds_timers(m, 1);
    free(oc);
    klog_info("reloaded (generation %u): %d type(s), %d worker(s) to replace; plugin checks "
              "took %lld ms", m->gen, nc->ntypes, rolled, (long long)(kue_mono_ms() - r->started));
    pending_free(m);

    /* a plugin file replaced while its check ran: the watcher checks the
     * newer one (workers keep the file that passed until then) */
    int dirty = 0;
    for (int i = 0; i < nc->ntypes; i++) {
        struct sup_fileid now;
        sup_fileid_get(nc->types[i].handler, &now);
        if (!sup_fileid_eq(&now, &m->hid[i]))
            dirty = m->plugin_dirty[i] = 1;
    }
    if (dirty)
        sup_check_plugins_changed(m);
}

void sup_reload_checked(struct master *m, uint32_t seq, int ti, int ok, const char *err)
{
    struct sup_reload *r = m->reload;
    if (!r || r->seq != seq || ti < 0 || ti >= r->cfg->ntypes)
        return;   /* an abandoned reload's (killed first, so not reached) */
    if (!ok) {
        fail_type(m, ti, err);
        return;
    }
    klog_debug("reload: plugin %s of type %s passed its check", r->cfg->types[ti].handler,
               r->cfg->types[ti].name);
    if (--r->left == 0)
        apply(m);
}

/* One check per type of the new file, all at once. */
static void start_checks(struct master *m)
{
    struct sup_reload *r = m->reload;
    const struct sup_config *nc = r->cfg;
    for (int i = 0; i < nc->ntypes; i++) {
        char err[1024];
        sup_fileid_get(nc->types[i].handler, &r->id[i]);
        if (sup_pcheck_start_reload(m, nc, i, r->seq, err, sizeof(err)) < 0) {
            fail_type(m, i, err);
            return;
        }
        r->left++;
    }
    if (r->left)
        klog_info("reload: checking %d plugin(s); the running configuration stays until they "
                  "pass", r->left);
    else
        apply(m);
}

void sup_reload_start(struct master *m)
{
    if (m->reload)
        sup_reload_abandon(m, "SIGHUP again");
    char err[2048];
    struct sup_reload *r = calloc(1, sizeof(*r));
    struct sup_config *nc = calloc(1, sizeof(*nc));
    if (!r || !nc) {
        free(r);
        free(nc);
        klog_error("SIGHUP: out of memory; keeping the running configuration");
        return;
    }
    klog_info("SIGHUP: reloading %s", m->cfg->file);
    if (sup_config_load(nc, m->cfg->file, err, sizeof(err)) < 0) {
        klog_error("reload failed, keeping the running configuration: %s", err);
        free(nc);
        free(r);
        return;
    }
    sup_config_fixed_changes(m->cfg, nc, r->fixed, sizeof(r->fixed));
    /* keys that cannot change at run time keep their running values (so
     * the checks run as the user the workers will run as) */
    sup_config_keep_fixed(nc, m->cfg);
    r->cfg = nc;
    r->seq = ++m->reload_seq;
    r->started = kue_mono_ms();
    m->reload = r;
    start_checks(m);
}
