/* The simulated disk of one node: a durable hard state and log, plus the
 * writes handed to it since the last fsync. A crash keeps only what was
 * synced, as a real disk with a volatile write cache does (the crash
 * write-list of sqlite's test6.c is the model). Step 1 of the Ready
 * contract in include/raftkv/raft.h defines what a write means. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sim_disk_init(struct sim_disk *d)
{
    memset(d, 0, sizeof *d);
}

static void free_entries(struct raft_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)e[i].data);
}

static void drop_pending(struct sim_disk *d)
{
    for (size_t i = 0; i < d->n_pending; i++) {
        free_entries(d->pending[i].entries, d->pending[i].n);
        free(d->pending[i].entries);
    }
    d->n_pending = 0;
}

void sim_disk_close(struct sim_disk *d)
{
    drop_pending(d);
    free(d->pending);
    free_entries(d->log, d->n_log);
    free(d->log);
    sim_disk_init(d);
}

/* Copy `n` entries and their data; the copy owns its buffers. */
static struct raft_entry *copy_entries(const struct raft_entry *src, size_t n)
{
    struct raft_entry *dst = sim_xmalloc(n * sizeof *dst);
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
        if (src[i].len > 0) {
            uint8_t *buf = sim_xmalloc(src[i].len);
            memcpy(buf, src[i].data, src[i].len);
            dst[i].data = buf;
        } else {
            dst[i].data = NULL;
        }
    }
    return dst;
}

int sim_disk_write(struct sim_disk *d, const struct raft_ready *rd)
{
    struct sim_disk_write *w;
    if (!rd->hs_changed && rd->n_entries == 0)
        return 0;
    if (rd->n_entries > 0 && rd->entries[0].index > d->last_written + 1)
        return RKV_EINVAL;
    if (rd->n_entries > 0 && rd->entries[0].index == 0)
        return RKV_EINVAL;
    if (d->n_pending == d->cap_pending) {
        d->cap_pending = d->cap_pending == 0 ? 8 : d->cap_pending * 2;
        d->pending =
            sim_xrealloc(d->pending, d->cap_pending * sizeof *d->pending);
    }
    w = &d->pending[d->n_pending++];
    w->has_hs = rd->hs_changed;
    w->hs = rd->hs;
    w->n = rd->n_entries;
    w->entries =
        rd->n_entries > 0 ? copy_entries(rd->entries, rd->n_entries) : NULL;
    if (w->n > 0)
        d->last_written = w->entries[w->n - 1].index;
    return 0;
}

/* Apply one write to the durable state: truncate the stored suffix from
 * the first new index, then append. Takes ownership of w's entries. */
static void apply_write(struct sim_disk *d, struct sim_disk_write *w)
{
    raft_index first;
    if (w->has_hs)
        d->hs = w->hs;
    if (w->n == 0)
        return;
    first = w->entries[0].index;
    assert(first >= 1);
    assert(first <= d->n_log + 1);
    if (first <= d->n_log) /* d->log may be NULL otherwise */
        free_entries(d->log + (first - 1), d->n_log - (first - 1));
    d->n_log = first - 1;
    if (d->n_log + w->n > d->cap_log) {
        while (d->n_log + w->n > d->cap_log)
            d->cap_log = d->cap_log == 0 ? 64 : d->cap_log * 2;
        d->log = sim_xrealloc(d->log, d->cap_log * sizeof *d->log);
    }
    memcpy(d->log + d->n_log, w->entries, w->n * sizeof *w->entries);
    d->n_log += w->n;
    free(w->entries);
    w->entries = NULL;
    w->n = 0;
}

void sim_disk_sync(struct sim_disk *d)
{
    for (size_t i = 0; i < d->n_pending; i++)
        apply_write(d, &d->pending[i]);
    d->n_pending = 0;
    assert(d->last_written == d->n_log);
}

void sim_disk_crash(struct sim_disk *d)
{
    drop_pending(d);
    d->last_written = d->n_log;
}
