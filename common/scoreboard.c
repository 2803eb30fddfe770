/*
 * scoreboard.c -- the shared-memory table of worker slots (see
 * scoreboard.h).
 *
 * The table lives in a memfd so that it survives fork + exec: the master
 * creates and sizes it, children find the descriptor in KUE_SCOREBOARD_FD
 * and map it.  Pages are only touched when a slot is used, so the full
 * table costs almost nothing until it is needed.
 *
 * Consistency is a per-slot seqlock: a writer makes seq odd, writes, makes
 * it even again; a reader copies the slot and retries while seq was odd or
 * changed under it.  Each slot has exactly one writer at a time (the master
 * before the child starts and after it is reaped, the worker in between),
 * so writers need no lock among themselves.
 */
#include "scoreboard.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sched.h>
#include <unistd.h>

static size_t sb_size(uint32_t nslots)
{
    return sizeof(struct kue_sb_header) + (size_t)nslots * sizeof(struct kue_sb_slot);
}

static void sb_set(kue_scoreboard_t *sb, void *base, int fd, size_t size)
{
    sb->hdr = base;
    /* The slot array follows the header; struct kue_sb_header's size is a
     * multiple of 8, which keeps the int64 members aligned. */
    sb->slots = (struct kue_sb_slot *)((char *)base + sizeof(struct kue_sb_header));
    sb->fd = fd;
    sb->size = size;
}

int kue_sb_create(kue_scoreboard_t *sb, uint32_t nslots)
{
    if (nslots == 0 || nslots > KUE_SB_MAX_SLOTS) {
        errno = EINVAL;
        return -1;
    }
    size_t size = sb_size(nslots);
    int fd = memfd_create("kue-scoreboard", MFD_ALLOW_SEALING);   /* inheritable on purpose */
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        goto fail;
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        goto fail;
    sb_set(sb, base, fd, size);
    sb->hdr->magic = KUE_SB_MAGIC;
    sb->hdr->version = KUE_SB_VERSION;
    sb->hdr->nslots = nslots;
    sb->nslots = nslots;
    sb->hdr->master_pid = (int32_t)getpid();
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

static int attach(kue_scoreboard_t *sb, int fd, int prot);

int kue_sb_attach(kue_scoreboard_t *sb, int fd)
{
    return attach(sb, fd, PROT_READ | PROT_WRITE);
}

int kue_sb_attach_ro(kue_scoreboard_t *sb, int fd)
{
    return attach(sb, fd, PROT_READ);
}

static int attach(kue_scoreboard_t *sb, int fd, int prot)
{
    if (fd < 0) {
        const char *s = getenv("KUE_SCOREBOARD_FD");
        char *end;
        if (!s || !*s) {
            errno = ENOENT;
            return -1;
        }
        long v = strtol(s, &end, 10);
        if (*end || v < 0 || v > 1 << 20) {
            errno = EINVAL;
            return -1;
        }
        fd = (int)v;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if ((size_t)st.st_size < sizeof(struct kue_sb_header)) {
        errno = EINVAL;
        return -1;
    }
    void *base = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return -1;
    const struct kue_sb_header *h = base;
    /* the slot count comes from the size of the memfd (sealed by the
     * master), not from the header any child can write */
    size_t fit = ((size_t)st.st_size - sizeof(struct kue_sb_header)) / sizeof(struct kue_sb_slot);
    if (h->magic != KUE_SB_MAGIC || h->version != KUE_SB_VERSION || fit == 0 ||
        fit > KUE_SB_MAX_SLOTS) {
        munmap(base, (size_t)st.st_size);
        errno = EINVAL;
        return -1;
    }
    sb_set(sb, base, fd, (size_t)st.st_size);
    sb->nslots = (uint32_t)fit;
    return 0;
}

/* Unmaps; the descriptor stays open (the owner decides about it). */
void kue_sb_detach(kue_scoreboard_t *sb)
{
    if (sb->hdr)
        munmap(sb->hdr, sb->size);
    sb->hdr = NULL;
    sb->slots = NULL;
    sb->size = 0;
    sb->nslots = 0;
}

void kue_sb_write_begin(struct kue_sb_slot *s)
{
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, seq | 1u, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

void kue_sb_write_end(struct kue_sb_slot *s)
{
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, (seq | 1u) + 1u, __ATOMIC_RELEASE);
}

int kue_sb_read_slot(const kue_scoreboard_t *sb, uint32_t i, struct kue_sb_slot *out)
{
    if (!sb->hdr || i >= sb->nslots)
        return -1;
    const struct kue_sb_slot *s = &sb->slots[i];
    for (unsigned tries = 0;; tries++) {
        uint32_t a = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (!(a & 1u)) {
            memcpy(out, s, sizeof(*out));
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            uint32_t b = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
            if (a == b) {
                out->seq = a;
                return 0;
            }
        }
        /* A writer died mid-update (killed between begin and end): after
         * many tries take the copy as it is rather than spin forever. */
        if (tries > 100000) {
            memcpy(out, s, sizeof(*out));
            return 0;
        }
        if (tries > 64)
            sched_yield();
    }
}

const char *kue_sb_state_name(uint32_t state)
{
    switch (state) {
    case KUE_SB_FREE: return "free";
    case KUE_SB_STARTING: return "starting";
    case KUE_SB_READY: return "ready";
    case KUE_SB_QUIET: return "quiet";
    case KUE_SB_DRAINING: return "draining";
    case KUE_SB_EXITED: return "exited";
    }
    return "unknown";
}

/* Between counts_open and counts_close, readers of the counts retry. */
static uint32_t counts_open(struct kue_sb_header *h)
{
    uint32_t seq = __atomic_load_n(&h->counts_seq, __ATOMIC_RELAXED);
    __atomic_store_n(&h->counts_seq, seq | 1u, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return seq;
}

static void counts_close(struct kue_sb_header *h, uint32_t seq)
{
    __atomic_store_n(&h->counts_seq, (seq | 1u) + 1u, __ATOMIC_RELEASE);
}

/* The retired[] entry of type, added when missing (between counts_open
 * and counts_close); NULL when the table is full. */
static struct kue_sb_retired *retired_entry(struct kue_sb_header *h, const char *type)
{
    uint32_t n = h->nretired < KUE_SB_MAX_SLOTS ? h->nretired : KUE_SB_MAX_SLOTS;
    for (uint32_t k = 0; k < n; k++)
        if (strncmp(h->retired[k].type, type, KUE_SB_TYPE_LEN) == 0)
            return &h->retired[k];
    if (n >= KUE_SB_MAX_SLOTS)
        return NULL;
    struct kue_sb_retired *r = &h->retired[n];
    memset(r, 0, sizeof(*r));
    kue_strlcpy(r->type, type, sizeof(r->type));
    __atomic_store_n(&h->nretired, n + 1, __ATOMIC_RELEASE);
    return r;
}

void kue_sb_retire_counts(kue_scoreboard_t *sb, uint32_t i)
{
    if (!sb->hdr || i >= sb->nslots)
        return;
    struct kue_sb_header *h = sb->hdr;
    struct kue_sb_slot *s = &sb->slots[i];
    if (!s->jobs_done && !s->jobs_failed)
        return;
    char type[KUE_SB_TYPE_LEN];
    memcpy(type, s->type, sizeof(type));
    type[sizeof(type) - 1] = '\0';
    uint32_t seq = counts_open(h);
    struct kue_sb_retired *r = retired_entry(h, type);
    if (r) {
        r->jobs_done += s->jobs_done;
        r->jobs_failed += s->jobs_failed;
    }
    kue_sb_write_begin(s);
    s->jobs_done = 0;
    s->jobs_failed = 0;
    kue_sb_write_end(s);
    counts_close(h, seq);
}

void kue_sb_count_restart(kue_scoreboard_t *sb, const char *type)
{
    if (!sb->hdr)
        return;
    struct kue_sb_header *h = sb->hdr;
    uint32_t seq = counts_open(h);
    struct kue_sb_retired *r = retired_entry(h, type);
    if (r)
        r->restarts++;
    counts_close(h, seq);
}

uint32_t kue_sb_counts_begin(const kue_scoreboard_t *sb)
{
    if (!sb->hdr)
        return 0;
    for (unsigned tries = 0;; tries++) {
        uint32_t a = __atomic_load_n(&sb->hdr->counts_seq, __ATOMIC_ACQUIRE);
        if (!(a & 1u) || tries > 100000)
            return a;
        if (tries > 64)
            sched_yield();
    }
}

int kue_sb_counts_retry(const kue_scoreboard_t *sb, uint32_t begin)
{
    if (!sb->hdr)
        return 0;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint32_t b = __atomic_load_n(&sb->hdr->counts_seq, __ATOMIC_RELAXED);
    return b != begin && !(begin & 1u);
}
