/* The write-ahead log: segment bookkeeping, append, sync, truncation,
 * compaction and rollback. The contract is in wal.h; recovery (replay and
 * torn-tail handling) is in wal_replay.c; the record format in
 * wal_record.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_int.h"
#include "storage/wal_int.h"
#include "storage/wal_record.h"

/* A write buffer larger than this is released after each append, so one
 * huge entry does not pin its size for the life of the WAL. */
#define WAL_BUF_KEEP_BYTES (1u << 20)

void wal__segment_name(raft_index first, char name[WAL_SEGMENT_NAME_SIZE])
{
    snprintf(name, WAL_SEGMENT_NAME_SIZE, "wal-%016" PRIx64 ".log", first);
}

void wal__segment_path(const struct wal *w,
                       raft_index first,
                       char path[WAL_PATH_MAX])
{
    char name[WAL_SEGMENT_NAME_SIZE];
    wal__segment_name(first, name);
    snprintf(path, WAL_PATH_MAX, "%s/%s", w->dir, name);
}

int wal__segment_push(struct wal *w, const struct wal_segment *s)
{
    if (w->n_segs == w->cap_segs) {
        size_t cap = w->cap_segs == 0 ? 8 : 2 * w->cap_segs;
        struct wal_segment *segs = realloc(w->segs, cap * sizeof *segs);
        if (segs == NULL)
            return RKV_ENOMEM;
        w->segs = segs;
        w->cap_segs = cap;
    }
    w->segs[w->n_segs++] = *s;
    return 0;
}

/* Unlink the last segment and make that durable before anything else
 * happens, so no crash can leave a gap in the sequence. */
static int unlink_last_segment(struct wal *w, char *errmsg)
{
    char path[WAL_PATH_MAX];
    int rv;

    ASSERT(w->n_segs > 0);
    ASSERT(w->fd < 0);
    wal__segment_path(w, w->segs[w->n_segs - 1].first, path);
    rv = w->disk->unlink(w->disk->ctx, path, errmsg);
    if (rv != 0)
        return rv;
    w->n_segs--;
    rv = w->disk->sync_dir(w->disk->ctx, w->dir, errmsg);
    if (rv != 0)
        return rv;
    w->dir_unsynced = false;
    return 0;
}

static void close_fd(struct wal *w)
{
    if (w->fd >= 0)
        w->disk->close(w->disk->ctx, w->fd);
    w->fd = -1;
    w->fd_unsynced = false;
}

/* Open the last segment into w->fd, cut it to end->size_bytes and sync. */
static int cut_last_segment(struct wal *w,
                            const struct wal_segment *end,
                            char *errmsg)
{
    char path[WAL_PATH_MAX];
    int rv;

    ASSERT(w->fd < 0);
    ASSERT(w->segs[w->n_segs - 1].first == end->first);
    wal__segment_path(w, end->first, path);
    rv = w->disk->open(w->disk->ctx, path, 0, &w->fd, errmsg);
    if (rv != 0)
        return rv;
    rv = w->disk->truncate(w->disk->ctx, w->fd, end->size_bytes, errmsg);
    if (rv == 0)
        rv = w->disk->sync(w->disk->ctx, w->fd, errmsg);
    if (rv != 0) {
        close_fd(w);
        return rv;
    }
    w->segs[w->n_segs - 1] = *end;
    return 0;
}

int wal__cut(struct wal *w, const struct wal_segment *end, char *errmsg)
{
    int rv;

    ASSERT(end->first == 0 || end->last >= end->first);
    close_fd(w);
    rkv_buf_truncate(&w->buf, 0);
    while (w->n_segs > 0 && w->segs[w->n_segs - 1].first > end->first) {
        rv = unlink_last_segment(w, errmsg);
        if (rv != 0)
            return rv;
    }
    if (end->first != 0) {
        rv = cut_last_segment(w, end, errmsg);
        if (rv != 0)
            return rv;
    }
    if (w->dir_unsynced) {
        rv = w->disk->sync_dir(w->disk->ctx, w->dir, errmsg);
        if (rv != 0)
            return rv;
        w->dir_unsynced = false;
    }
    w->synced = *end;
    return 0;
}

/* After a failed append or sync (error `rv`, described in errmsg): remove
 * what was appended since the last sync. Returns `rv`. */
static int rollback(struct wal *w, int rv, char *errmsg)
{
    char cut_msg[RKV_ERRMSG_LEN];
    int cut_rv = wal__cut(w, &w->synced, cut_msg);

    ASSERT(rv != 0);
    if (cut_rv != 0) {
        w->failed = cut_rv;
        if (errmsg != NULL) {
            size_t len = strlen(errmsg);
            snprintf(errmsg + len, RKV_ERRMSG_LEN - len, "; rollback: %s",
                     cut_msg);
        }
    }
    return rv;
}

static int refuse(const struct wal *w, char *errmsg)
{
    ASSERT(w->failed != 0);
    return storage__errf(errmsg, w->failed,
                         "wal unusable after a failed clean-up: reopen it");
}

static const struct wal_segment *last_segment(const struct wal *w)
{
    return w->n_segs > 0 ? &w->segs[w->n_segs - 1] : NULL;
}

raft_index wal_first_index(const struct wal *w)
{
    return w->n_segs > 0 ? w->segs[0].first : 0;
}

raft_index wal_last_index(const struct wal *w)
{
    return w->n_segs > 0 ? w->segs[w->n_segs - 1].last : 0;
}

/* Check a batch against the rules of wal_append(); sets *bytes to the size
 * of its records. */
static int check_batch(const struct wal *w,
                       const struct raft_entry *e,
                       size_t n,
                       size_t *bytes,
                       char *errmsg)
{
    const struct wal_segment *s = last_segment(w);
    raft_index next = s != NULL ? s->last + 1 : e[0].index;
    raft_term term = s != NULL ? s->last_term : 0;

    ASSERT(n > 0);
    *bytes = 0;
    for (size_t i = 0; i < n; i++, next++) {
        if (e[i].index != next || e[i].index == 0)
            return storage__errf(errmsg, RKV_EINVAL,
                                 "append: index %" PRIu64 ", expected %" PRIu64,
                                 e[i].index, next);
        if (e[i].term < term)
            return storage__errf(errmsg, RKV_EINVAL,
                                 "append: index %" PRIu64 ": term %" PRIu64
                                 " after term %" PRIu64,
                                 e[i].index, e[i].term, term);
        if (e[i].type < RAFT_ENTRY_NORMAL || e[i].type > RAFT_ENTRY_CONF ||
            e[i].len > RAFT_ENTRY_MAX || (e[i].len > 0 && e[i].data == NULL))
            return storage__errf(errmsg, RKV_EINVAL,
                                 "append: index %" PRIu64 ": bad entry",
                                 e[i].index);
        term = e[i].term;
        *bytes += wal__record_size(e[i].len);
    }
    return 0;
}

/* Whether the write buffer holds sound records, after a sound segment
 * header when segment `s` is new. Used only inside ASSERT_DEBUG: the
 * checksums are verified just before write(), as replay verifies them just
 * after read(). */
static bool buf_is_sound(const struct wal *w, const struct wal_segment *s)
{
    size_t off = s->size_bytes == 0 ? WAL_SEGMENT_HEADER_BYTES : 0, n;
    raft_index first;
    struct raft_entry e;

    if (off > 0 &&
        wal__segment_header_decode(w->buf.data, w->buf.len, &first, NULL) != 0)
        return false;
    while (off < w->buf.len) {
        if (wal__record_decode(w->buf.data + off, w->buf.len - off, &e, &n,
                               NULL) != 0)
            return false;
        off += n;
    }
    return true;
}

/* Write the gathered records at the end of the last segment. */
static int flush(struct wal *w, char *errmsg)
{
    struct wal_segment *s = &w->segs[w->n_segs - 1];
    size_t len = w->buf.len;
    int rv;

    ASSERT(w->fd >= 0);
    if (len == 0)
        return 0;
    ASSERT_DEBUG(buf_is_sound(w, s));
    rkv_buf_truncate(&w->buf, 0);
    rv = w->disk->write(w->disk->ctx, w->fd, w->buf.data, len, s->size_bytes,
                        errmsg);
    if (rv != 0) {
        char name[WAL_SEGMENT_NAME_SIZE];
        wal__segment_name(s->first, name);
        return storage__wrapf(errmsg, rv, "%s: offset %" PRIu64, name,
                              s->size_bytes);
    }
    s->size_bytes += len;
    w->fd_unsynced = true;
    return 0;
}

/* Start the segment whose first record is `first`: flush and sync the
 * current one (so a later segment never exists beside an unsynced earlier
 * one), create the file and put its header in the write buffer. */
static int start_segment(struct wal *w, raft_index first, char *errmsg)
{
    struct wal_segment seg = {first, first - 1, 0, 0};
    char path[WAL_PATH_MAX];
    int rv;

    if (w->n_segs > 0) {
        rv = flush(w, errmsg);
        if (rv == 0 && w->fd_unsynced)
            rv = w->disk->sync(w->disk->ctx, w->fd, errmsg);
        if (rv != 0)
            return rv;
        close_fd(w);
    }
    ASSERT(w->fd < 0);
    ASSERT(w->buf.len == 0);
    seg.last_term = w->n_segs > 0 ? w->segs[w->n_segs - 1].last_term : 0;
    rv = wal__segment_push(w, &seg);
    if (rv != 0)
        return rv;
    wal__segment_path(w, first, path);
    rv = w->disk->open(w->disk->ctx, path, DISK_CREATE, &w->fd, errmsg);
    if (rv != 0) {
        w->n_segs--;
        return rv;
    }
    w->dir_unsynced = true;
    wal__segment_header_encode(w->buf.data, first);
    w->buf.len = WAL_SEGMENT_HEADER_BYTES;
    return 0;
}

/* Whether a record of `bytes` must go to a new segment. */
static bool needs_new_segment(const struct wal *w, size_t bytes)
{
    const struct wal_segment *s = last_segment(w);

    if (s == NULL)
        return true;
    if (s->last < s->first) /* just started: takes any record */
        return false;
    return s->size_bytes + w->buf.len + bytes > w->segment_bytes;
}

int wal_append(struct wal *w,
               const struct raft_entry *entries,
               size_t n,
               char *errmsg)
{
    size_t bytes;
    int rv;

    ASSERT(w != NULL);
    ASSERT(entries != NULL || n == 0);
    if (w->failed != 0)
        return refuse(w, errmsg);
    if (n == 0)
        return 0;
    rv = check_batch(w, entries, n, &bytes, errmsg);
    if (rv != 0)
        return rv;
    ASSERT(w->buf.len == 0);
    /* Room for the whole batch and a segment header: a batch that starts a
     * segment is flushed first, so the buffer never holds more. */
    rv = rkv_buf_reserve(&w->buf, bytes + WAL_SEGMENT_HEADER_BYTES);
    if (rv != 0)
        return storage__errf(errmsg, rv, "append: out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct raft_entry *e = &entries[i];
        struct wal_segment *s;
        if (needs_new_segment(w, wal__record_size(e->len))) {
            rv = start_segment(w, e->index, errmsg);
            if (rv != 0)
                goto err;
        }
        wal__record_encode(w->buf.data + w->buf.len, e);
        w->buf.len += wal__record_size(e->len);
        s = &w->segs[w->n_segs - 1];
        s->last = e->index;
        s->last_term = e->term;
    }
    rv = flush(w, errmsg);
    if (rv != 0)
        goto err;
    if (w->buf.cap > WAL_BUF_KEEP_BYTES)
        rkv_buf_close(&w->buf);
    return 0;

err:
    return rollback(w, rv, errmsg);
}

int wal_sync(struct wal *w, char *errmsg)
{
    const struct wal_segment *s = last_segment(w);
    int rv;

    ASSERT(w != NULL);
    ASSERT(w->buf.len == 0);
    if (w->failed != 0)
        return refuse(w, errmsg);
    if (w->fd_unsynced) {
        rv = w->disk->sync(w->disk->ctx, w->fd, errmsg);
        if (rv != 0)
            goto err;
        w->fd_unsynced = false;
    }
    if (w->dir_unsynced) {
        rv = w->disk->sync_dir(w->disk->ctx, w->dir, errmsg);
        if (rv != 0)
            goto err;
        w->dir_unsynced = false;
    }
    w->synced = s != NULL ? *s : (struct wal_segment){0};
    return 0;

err:
    return rollback(w, storage__wrapf(errmsg, rv, "sync"), errmsg);
}

/* Describe segment `s` as it will be once cut right before entry `index`
 * (s->first < index <= s->last): walk its records to find where `index`
 * starts and the term of the record before. */
static int locate(const struct wal *w,
                  const struct wal_segment *s,
                  raft_index index,
                  struct wal_segment *end,
                  char *errmsg)
{
    struct raft_entry e;
    uint8_t *buf;
    size_t size, off = WAL_SEGMENT_HEADER_BYTES, n;
    int rv;

    ASSERT(s->first < index);
    ASSERT(index <= s->last);
    rv = wal__read_segment(w, s->first, &buf, &size, errmsg);
    if (rv != 0)
        return rv;
    *end = (struct wal_segment){s->first, index - 1, 0, 0};
    for (raft_index want = s->first; want < index; want++) {
        rv = wal__record_decode(buf + off, size - off, &e, &n, errmsg);
        if (rv == 0 && e.index != want)
            rv = STORAGE_CORRUPT(errmsg, "index %" PRIu64 ", expected %" PRIu64,
                                 e.index, want);
        if (rv == RKV_EAGAIN)
            rv = STORAGE_CORRUPT(errmsg, "record cut short");
        if (rv != 0) {
            char name[WAL_SEGMENT_NAME_SIZE];
            wal__segment_name(s->first, name);
            rv = storage__wrapf(errmsg, rv, "%s: offset %zu", name, off);
            break;
        }
        end->last_term = e.term;
        off += n;
    }
    end->size_bytes = off;
    free(buf);
    return rv;
}

int wal_truncate_from(struct wal *w, raft_index index, char *errmsg)
{
    struct wal_segment end = {0};
    size_t k = w->n_segs;
    int rv;

    ASSERT(w != NULL);
    ASSERT(w->buf.len == 0);
    if (w->failed != 0)
        return refuse(w, errmsg);
    if (index == 0)
        return storage__errf(errmsg, RKV_EINVAL, "truncate: index 0");
    if (index > wal_last_index(w))
        return 0;
    while (k > 0 && w->segs[k - 1].first >= index)
        k--;
    /* Segments k and later start at or after `index` and go entirely. */
    if (k > 0 && w->segs[k - 1].last >= index) {
        rv = locate(w, &w->segs[k - 1], index, &end, errmsg);
        if (rv != 0)
            return storage__wrapf(errmsg, rv, "truncate");
    } else if (k > 0) {
        end = w->segs[k - 1];
    }
    rv = wal__cut(w, &end, errmsg);
    if (rv != 0) {
        w->failed = rv;
        return storage__wrapf(errmsg, rv, "truncate");
    }
    ASSERT(wal_last_index(w) == index - 1 || w->n_segs == 0);
    return 0;
}

int wal_drop_before(struct wal *w, raft_index index, char *errmsg)
{
    char path[WAL_PATH_MAX];
    size_t k = 0;
    int rv;

    ASSERT(w != NULL);
    rv = wal_sync(w, errmsg);
    if (rv != 0)
        return rv;
    ASSERT(w->buf.len == 0);
    /* Oldest first: a crash part-way leaves a shorter, gapless log. */
    while (k + 1 < w->n_segs && w->segs[k + 1].first <= index) {
        wal__segment_path(w, w->segs[k].first, path);
        rv = w->disk->unlink(w->disk->ctx, path, errmsg);
        if (rv != 0)
            break;
        k++;
        rv = w->disk->sync_dir(w->disk->ctx, w->dir, errmsg);
        if (rv != 0)
            break;
    }
    memmove(w->segs, w->segs + k, (w->n_segs - k) * sizeof *w->segs);
    w->n_segs -= k;
    ASSERT(w->n_segs > 0 || k == 0);
    return rv == 0 ? 0 : storage__wrapf(errmsg, rv, "drop segments");
}

static int check_config(const struct wal_config *cfg, char *errmsg)
{
    if (cfg == NULL || cfg->disk == NULL || cfg->dir == NULL)
        return storage__errf(errmsg, RKV_EINVAL, "wal: missing disk or dir");
    if (strlen(cfg->dir) + 1 + WAL_SEGMENT_NAME_SIZE > WAL_PATH_MAX)
        return storage__errf(errmsg, RKV_EINVAL, "wal: directory too long");
    if (cfg->segment_bytes != 0 &&
        cfg->segment_bytes <= WAL_SEGMENT_HEADER_BYTES)
        return storage__errf(errmsg, RKV_EINVAL, "wal: segment size too small");
    return 0;
}

int wal_open(const struct wal_config *cfg,
             struct wal **out,
             struct wal_replay *rp,
             char *errmsg)
{
    struct wal *w;
    int rv;

    ASSERT(out != NULL);
    ASSERT(rp != NULL);
    *rp = (struct wal_replay){0};
    rv = check_config(cfg, errmsg);
    if (rv != 0)
        return rv;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return storage__errf(errmsg, RKV_ENOMEM, "wal: out of memory");
    w->fd = -1;
    rkv_buf_init(&w->buf);
    w->disk = cfg->disk;
    w->segment_bytes = cfg->segment_bytes != 0 ? cfg->segment_bytes
                                               : WAL_SEGMENT_BYTES_DEFAULT;
    w->dir = strdup(cfg->dir);
    if (w->dir == NULL) {
        rv = storage__errf(errmsg, RKV_ENOMEM, "wal: out of memory");
        goto err;
    }
    rv = wal__replay(w, rp, errmsg);
    if (rv != 0)
        goto err;
    if (w->n_segs > 0 && w->fd < 0) {
        char path[WAL_PATH_MAX];
        wal__segment_path(w, w->segs[w->n_segs - 1].first, path);
        rv = w->disk->open(w->disk->ctx, path, 0, &w->fd, errmsg);
        if (rv != 0)
            goto err;
    }
    w->synced =
        w->n_segs > 0 ? w->segs[w->n_segs - 1] : (struct wal_segment){0};
    *out = w;
    return 0;

err:
    wal_replay_free(rp);
    wal_free(w);
    return rv;
}

void wal_free(struct wal *w)
{
    if (w == NULL)
        return;
    close_fd(w);
    rkv_buf_close(&w->buf);
    free(w->segs);
    free(w->dir);
    free(w);
}
