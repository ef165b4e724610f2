/* The simulated disk of one node. It holds four files: the hard state
 * (replaced atomically), the WAL (log records, each an entry and its
 * checksum), the current snapshot (replaced atomically) and the incoming
 * snapshot (written chunk by chunk while a leader sends one). Writes handed
 * to it queue until the next fsync; a crash keeps only what was synced, as
 * a real disk with a volatile write cache does (the crash write-list of
 * sqlite's test6.c is the model).
 *
 * A write is laid down in this order: term and vote first (the entries of
 * a term must never outlive the term itself, or raft_load() refuses them),
 * then the snapshot chunk, the install, the entries, and the commit index
 * last, so that a commit index on disk never points past entries or a
 * snapshot that did not make it.
 *
 * With tearing on, a crash may instead come while the cache was being
 * written back, in order, inside the last unsynced write: the earlier ones
 * survive whole and the last one in part (its term and vote, then a prefix
 * of its entries and the next record cut short; or a prefix of its chunk).
 * At restart the torn record fails its checksum and the WAL is cut there,
 * never keeping half an entry, as src/storage/wal_replay.c does. Step 1 of
 * the Ready contract in include/raftkv/raft.h defines what a write means. */
#include <assert.h>
#include <stdio.h>
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

static void free_write(struct sim_disk_write *w)
{
    free_entries(w->entries, w->n);
    free(w->entries);
    free(w->chunk);
    memset(w, 0, sizeof *w);
}

static void drop_pending(struct sim_disk *d)
{
    for (size_t i = 0; i < d->n_pending; i++)
        free_write(&d->pending[i]);
    d->n_pending = 0;
}

void sim_disk_close(struct sim_disk *d)
{
    drop_pending(d);
    free(d->pending);
    free_entries(d->log, d->n_log);
    free(d->log);
    free(d->sums);
    free(d->snap.bytes);
    free(d->incoming.bytes);
    sim_disk_init(d);
}

/* The checksum a WAL record carries: FNV-1a over the entry's header and
 * payload. A torn record stores 0, which no whole record has in practice. */
static uint64_t record_sum(const struct raft_entry *e)
{
    uint64_t h = 14695981039346656037ull;
    uint64_t head[4] = {e->index, e->term, e->type, e->len};
    for (size_t i = 0; i < 4; i++)
        for (int b = 0; b < 64; b += 8)
            h = (h ^ ((head[i] >> b) & 0xff)) * 1099511628211ull;
    for (uint32_t i = 0; i < e->len; i++)
        h = (h ^ e->data[i]) * 1099511628211ull;
    return h;
}

/* Last index the durable WAL holds; an empty one ends where the current
 * snapshot does. */
static raft_index log_last(const struct sim_disk *d)
{
    return d->n_log > 0 ? d->log[d->n_log - 1].index : d->snap.meta.index;
}

static bool meta_equal(const struct raft_snapshot_meta *a,
                       const struct raft_snapshot_meta *b)
{
    return a->index == b->index && a->term == b->term;
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

/* Can `rd` follow what the pending writes leave on disk? */
static int check_write(const struct sim_disk *d,
                       const struct raft_ready *rd,
                       char *errmsg)
{
    raft_index last = d->last_written, snap = d->snap_written;
    if (rd->has_chunk && rd->chunk_offset != 0 &&
        (!meta_equal(&rd->chunk_meta, &d->incoming_written) ||
         rd->chunk_offset != d->incoming_len_written)) {
        snprintf(errmsg, RKV_ERRMSG_LEN,
                 "snapshot chunk at offset %llu of %llu/%llu, but the "
                 "incoming file holds %llu bytes of %llu/%llu",
                 (unsigned long long)rd->chunk_offset,
                 (unsigned long long)rd->chunk_meta.index,
                 (unsigned long long)rd->chunk_meta.term,
                 (unsigned long long)d->incoming_len_written,
                 (unsigned long long)d->incoming_written.index,
                 (unsigned long long)d->incoming_written.term);
        return RKV_EINVAL;
    }
    if (rd->install) {
        bool received = rd->has_chunk
                            ? meta_equal(&rd->snapshot, &rd->chunk_meta)
                            : meta_equal(&rd->snapshot, &d->incoming_written);
        if (!received || rd->snapshot.index <= snap) {
            snprintf(errmsg, RKV_ERRMSG_LEN,
                     "installs snapshot %llu/%llu, not the one received, "
                     "or not past its snapshot %llu",
                     (unsigned long long)rd->snapshot.index,
                     (unsigned long long)rd->snapshot.term,
                     (unsigned long long)snap);
            return RKV_EINVAL;
        }
        last = snap = rd->snapshot.index;
    }
    if (rd->n_entries > 0 &&
        (rd->entries[0].index > last + 1 || rd->entries[0].index <= snap)) {
        snprintf(errmsg, RKV_ERRMSG_LEN,
                 "hands out entries from %llu, its disk ends at %llu and "
                 "its snapshot at %llu",
                 (unsigned long long)rd->entries[0].index,
                 (unsigned long long)last, (unsigned long long)snap);
        return RKV_EINVAL;
    }
    return 0;
}

static struct sim_disk_write *push_write(struct sim_disk *d)
{
    struct sim_disk_write *w;
    if (d->n_pending == d->cap_pending) {
        d->cap_pending = d->cap_pending == 0 ? 8 : d->cap_pending * 2;
        d->pending =
            sim_xrealloc(d->pending, d->cap_pending * sizeof *d->pending);
    }
    w = &d->pending[d->n_pending++];
    memset(w, 0, sizeof *w);
    return w;
}

int sim_disk_write(struct sim_disk *d,
                   const struct raft_ready *rd,
                   char *errmsg)
{
    struct sim_disk_write *w;
    int rv;
    if (!rd->hs_changed && !rd->has_chunk && !rd->install && rd->n_entries == 0)
        return 0;
    rv = check_write(d, rd, errmsg);
    if (rv != 0)
        return rv;
    w = push_write(d);
    w->has_hs = rd->hs_changed;
    w->hs = rd->hs;
    if (rd->has_chunk) {
        w->has_chunk = true;
        w->chunk_meta = rd->chunk_meta;
        w->chunk_offset = rd->chunk_offset;
        w->chunk_len = rd->chunk_len;
        w->chunk = sim_xmalloc(rd->chunk_len);
        if (rd->chunk_len > 0)
            memcpy(w->chunk, rd->chunk, rd->chunk_len);
        d->incoming_written = rd->chunk_meta;
        d->incoming_len_written = rd->chunk_offset + rd->chunk_len;
    }
    if (rd->install) {
        w->install = true;
        w->install_meta = rd->snapshot;
        w->has_install_conf = rd->snapshot_conf != NULL;
        if (w->has_install_conf)
            w->install_conf = *rd->snapshot_conf;
        d->last_written = d->snap_written = rd->snapshot.index;
        memset(&d->incoming_written, 0, sizeof d->incoming_written);
        d->incoming_len_written = 0;
    }
    w->n = rd->n_entries;
    if (w->n > 0) {
        w->entries = copy_entries(rd->entries, rd->n_entries);
        d->last_written = w->entries[w->n - 1].index;
    }
    return 0;
}

/* Write `len` bytes at `offset` of snapshot file `f`; offset 0 starts a
 * new file for `meta`. */
static void file_write(struct sim_snap_file *f,
                       const struct raft_snapshot_meta *meta,
                       uint64_t offset,
                       const uint8_t *bytes,
                       size_t len)
{
    if (offset == 0) {
        f->meta = *meta;
        f->len = 0;
    }
    assert(offset == f->len && meta_equal(meta, &f->meta));
    if (f->len + len > f->cap) {
        while (f->len + len > f->cap)
            f->cap = f->cap == 0 ? 256 : f->cap * 2;
        f->bytes = sim_xrealloc(f->bytes, f->cap);
    }
    if (len > 0)
        memcpy(f->bytes + f->len, bytes, len);
    f->len += len;
}

/* Drop the durable records from index `from` on (from > snapshot). */
static void log_truncate(struct sim_disk *d, raft_index from)
{
    size_t keep;
    if (d->n_log == 0 || from > log_last(d))
        return;
    keep = from <= d->log[0].index ? 0 : (size_t)(from - d->log[0].index);
    free_entries(d->log + keep, d->n_log - keep);
    d->n_log = keep;
}

/* Drop the durable records up to index `to`, covered by the snapshot. */
static void log_drop_prefix(struct sim_disk *d, raft_index to)
{
    size_t drop = 0;
    assert(to <= d->snap.meta.index);
    while (drop < d->n_log && d->log[drop].index <= to)
        drop++;
    free_entries(d->log, drop);
    memmove(d->log, d->log + drop, (d->n_log - drop) * sizeof *d->log);
    memmove(d->sums, d->sums + drop, (d->n_log - drop) * sizeof *d->sums);
    d->n_log -= drop;
}

/* Append record `e` (taking its data) with checksum `sum`. */
static void log_append(struct sim_disk *d,
                       const struct raft_entry *e,
                       uint64_t sum)
{
    assert(e->index == log_last(d) + 1);
    if (d->n_log == d->cap_log) {
        d->cap_log = d->cap_log == 0 ? 64 : d->cap_log * 2;
        d->log = sim_xrealloc(d->log, d->cap_log * sizeof *d->log);
        d->sums = sim_xrealloc(d->sums, d->cap_log * sizeof *d->sums);
    }
    d->log[d->n_log] = *e;
    d->sums[d->n_log] = sum;
    d->n_log++;
}

/* Apply the parts of `w` before its entries: term and vote, chunk,
 * install. */
static void apply_head(struct sim_disk *d, const struct sim_disk_write *w)
{
    if (w->has_hs) {
        d->hs.term = w->hs.term;
        d->hs.vote = w->hs.vote;
    }
    if (w->has_chunk)
        file_write(&d->incoming, &w->chunk_meta, w->chunk_offset, w->chunk,
                   w->chunk_len);
    if (w->install) {
        struct sim_snap_file old = d->snap;
        assert(meta_equal(&w->install_meta, &d->incoming.meta));
        d->snap = d->incoming;
        d->snap.meta = w->install_meta; /* as the core names it */
        d->snap.has_conf = w->has_install_conf;
        d->snap.conf = w->install_conf;
        memset(&d->incoming, 0, sizeof d->incoming);
        free(old.bytes);
        free_entries(d->log, d->n_log);
        d->n_log = 0;
    }
}

/* Apply one whole write to the durable state; the disk takes its entries'
 * data, and frees the rest with the write. */
static void apply_write(struct sim_disk *d, struct sim_disk_write *w)
{
    apply_head(d, w);
    if (w->n > 0) {
        assert(w->entries[0].index > d->snap.meta.index);
        log_truncate(d, w->entries[0].index);
        for (size_t i = 0; i < w->n; i++)
            log_append(d, &w->entries[i], record_sum(&w->entries[i]));
        w->n = 0;
    }
    if (w->has_hs)
        d->hs.commit = w->hs.commit;
    if (w->drop_to > 0)
        log_drop_prefix(d, w->drop_to);
    free_write(w);
}

/* The written views, when nothing is pending. */
static void reset_written(struct sim_disk *d)
{
    d->last_written = log_last(d);
    d->snap_written = d->snap.meta.index;
    d->incoming_written = d->incoming.meta;
    d->incoming_len_written = d->incoming.len;
}

void sim_disk_sync(struct sim_disk *d)
{
    for (size_t i = 0; i < d->n_pending; i++)
        apply_write(d, &d->pending[i]);
    d->n_pending = 0;
    assert(d->last_written == log_last(d));
}

void sim_disk_save_snapshot(struct sim_disk *d, struct sim_snap_file *f)
{
    struct sim_disk_write *w;
    assert(f->meta.index > d->snap.meta.index);
    assert(d->snap_written == d->snap.meta.index); /* no install pending */
    free(d->snap.bytes);
    d->snap = *f;
    memset(f, 0, sizeof *f);
    d->snap_written = d->snap.meta.index;
    w = push_write(d);
    w->drop_to = d->snap.meta.index;
}

/* Tear the last pending write `w` (the earlier ones are durable): keep its
 * head, and maybe the truncation of the stored suffix its entries replace,
 * `m` whole entries and, unless all of them made it (only the commit index
 * is lost then), a record cut short; or keep a prefix of its chunk, without
 * the install after it. */
static void tear_last(struct sim_disk *d,
                      struct sim_disk_write *w,
                      struct sim_rng *g)
{
    if (w->n > 0) {
        size_t k = (size_t)sim_rng_range(g, 0, w->n + 1), m, kept;
        apply_head(d, w);
        if (k == 0) { /* power went before the log was touched */
            free_write(w);
            return;
        }
        m = kept = k - 1;
        log_truncate(d, w->entries[0].index);
        for (size_t i = 0; i < m; i++)
            log_append(d, &w->entries[i], record_sum(&w->entries[i]));
        if (m < w->n) {
            struct raft_entry cut = w->entries[m];
            if (cut.len > 0)
                cut.len = (uint32_t)sim_rng_range(g, 0, cut.len - 1);
            log_append(d, &cut, 0); /* its checksum never made it */
            kept++;
        }
        memmove(w->entries, w->entries + kept,
                (w->n - kept) * sizeof *w->entries);
        w->n -= kept;
    } else {
        w->install = false;
        w->chunk_len = (size_t)sim_rng_range(g, 0, w->chunk_len - 1);
        apply_head(d, w);
    }
    free_write(w);
}

bool sim_disk_crash(struct sim_disk *d, struct sim_rng *tear)
{
    struct sim_disk_write *last =
        d->n_pending > 0 ? &d->pending[d->n_pending - 1] : NULL;
    bool torn = tear != NULL && last != NULL &&
                (last->n > 0 || (last->has_chunk && last->chunk_len > 0));
    if (torn) {
        for (size_t i = 0; i + 1 < d->n_pending; i++)
            apply_write(d, &d->pending[i]);
        tear_last(d, last, tear);
        d->n_pending = 0;
    }
    drop_pending(d);
    reset_written(d);
    return torn;
}

size_t sim_disk_recover(struct sim_disk *d)
{
    size_t good = 0, cut;
    while (good < d->n_log && d->sums[good] == record_sum(&d->log[good]))
        good++;
    cut = d->n_log - good;
    free_entries(d->log + good, cut);
    d->n_log = good;
    reset_written(d);
    return cut;
}
