/* Recovery of the WAL at open: find the segment files, replay their
 * records in order, and tell a torn tail, which is cut off, from
 * corruption, which is refused (the rules are in wal.h, wal_open()). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_int.h"
#include "storage/wal_int.h"
#include "storage/wal_record.h"

/* Parse "wal-<16 lowercase hex digits>.log" into *first (> 0). */
static bool parse_segment_name(const char *name, raft_index *first)
{
    raft_index v = 0;

    if (strlen(name) != WAL_SEGMENT_NAME_SIZE - 1 ||
        strncmp(name, "wal-", 4) != 0 || strcmp(name + 20, ".log") != 0)
        return false;
    for (size_t i = 4; i < 20; i++) {
        char c = name[i];
        unsigned digit;
        if (c >= '0' && c <= '9')
            digit = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            digit = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = v << 4 | digit;
    }
    *first = v;
    return v > 0;
}

static int collect_segment(void *arg, const char *name)
{
    struct wal *w = arg;
    struct wal_segment s = {0};

    if (!parse_segment_name(name, &s.first))
        return 0; /* not a segment: the directory is shared */
    return wal__segment_push(w, &s);
}

static int by_first_index(const void *a, const void *b)
{
    const struct wal_segment *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

static int list_segments(struct wal *w, char *errmsg)
{
    int rv = w->disk->list(w->disk->ctx, w->dir, collect_segment, w, errmsg);

    if (rv == RKV_ENOMEM)
        return storage__errf(errmsg, rv, "wal: out of memory");
    if (rv != 0)
        return rv;
    if (w->n_segs > 0)
        qsort(w->segs, w->n_segs, sizeof *w->segs, by_first_index);
    return 0;
}

int wal__read_segment(const struct wal *w,
                      raft_index first,
                      uint8_t **out,
                      size_t *out_size,
                      char *errmsg)
{
    char path[WAL_PATH_MAX];
    uint8_t *buf = NULL;
    uint64_t size;
    size_t n;
    int fd, rv;

    wal__segment_path(w, first, path);
    rv = w->disk->open(w->disk->ctx, path, 0, &fd, errmsg);
    if (rv != 0)
        return rv;
    rv = w->disk->size(w->disk->ctx, fd, &size, errmsg);
    if (rv == 0 && size >= SIZE_MAX)
        rv = storage__errf(errmsg, RKV_ENOMEM, "%s: too large", path);
    if (rv == 0) {
        buf = malloc((size_t)size + 1); /* + 1: never malloc(0) */
        if (buf == NULL)
            rv = storage__errf(errmsg, RKV_ENOMEM, "%s: out of memory", path);
    }
    if (rv == 0)
        rv = w->disk->read(w->disk->ctx, fd, buf, (size_t)size, 0, &n, errmsg);
    if (rv == 0 && n != size)
        rv = storage__errf(errmsg, RKV_EIO, "%s: short read", path);
    w->disk->close(w->disk->ctx, fd);
    if (rv != 0) {
        free(buf);
        return rv;
    }
    *out = buf;
    *out_size = (size_t)size;
    return 0;
}

/* Whether damage found at `off` in the last segment (decode error `rv`) is
 * the torn tail of an interrupted write: the record is merely incomplete,
 * or no sound record starts anywhere after `off`. A sound record further
 * on means bytes in the middle went bad, which no crash explains. */
static bool is_torn_tail(const uint8_t *buf, size_t size, size_t off, int rv)
{
    const size_t type_off = offsetof(struct wal_record_header, type);
    struct raft_entry e;
    size_t n;

    ASSERT(rv == RKV_EAGAIN || rv == RKV_ECORRUPT);
    if (rv == RKV_EAGAIN)
        return true;
    for (size_t at = off + 1; at + WAL_RECORD_HEADER_BYTES <= size; at++) {
        if (buf[at + type_off] != WAL_RECORD_ENTRY)
            continue; /* cheap filter before the checksums */
        if (wal__record_decode(buf + at, size - at, &e, &n, NULL) == 0)
            return false;
    }
    return true;
}

/* Check the header of segment `i` (bytes `buf`, `size`). Returns 0;
 * RKV_EAGAIN when it is the last segment and its header is torn, so that
 * the segment never received a record; or RKV_ECORRUPT. */
static int check_header(const struct wal *w,
                        size_t i,
                        const uint8_t *buf,
                        size_t size,
                        char *errmsg)
{
    raft_index first = 0;
    int rv = wal__segment_header_decode(buf, size, &first, errmsg);

    if (rv != 0 && i + 1 == w->n_segs && is_torn_tail(buf, size, 0, rv))
        return RKV_EAGAIN;
    if (rv == RKV_EAGAIN)
        rv = STORAGE_CORRUPT(errmsg, "segment header cut short");
    if (rv == 0 && first != w->segs[i].first)
        rv = STORAGE_CORRUPT(errmsg, "header says first index %" PRIu64, first);
    return rv;
}

static int push_entry(struct wal_replay *rp,
                      size_t *cap,
                      const struct raft_entry *e)
{
    if (rp->n_entries == *cap) {
        size_t new_cap = *cap == 0 ? 1024 : 2 * *cap;
        struct raft_entry *entries =
            realloc(rp->entries, new_cap * sizeof *entries);
        if (entries == NULL)
            return RKV_ENOMEM;
        rp->entries = entries;
        *cap = new_cap;
    }
    rp->entries[rp->n_entries++] = *e;
    return 0;
}

/* Replay the records of segment `i` into rp (entries capacity *cap), and
 * set its last index, term and size_bytes (where sound records end; less
 * than `size` only for a torn tail of the last segment). */
static int replay_records(struct wal *w,
                          size_t i,
                          const uint8_t *buf,
                          size_t size,
                          struct wal_replay *rp,
                          size_t *cap,
                          char *errmsg)
{
    struct wal_segment *s = &w->segs[i];
    size_t off = WAL_SEGMENT_HEADER_BYTES, n;
    struct raft_entry e;
    int rv;

    ASSERT(i < w->n_segs);
    ASSERT(size >= WAL_SEGMENT_HEADER_BYTES);
    s->last = s->first - 1;
    s->last_term = i > 0 ? w->segs[i - 1].last_term : 0;
    while (off < size) {
        rv = wal__record_decode(buf + off, size - off, &e, &n, errmsg);
        if (rv != 0 && i + 1 == w->n_segs && is_torn_tail(buf, size, off, rv))
            break;
        if (rv == RKV_EAGAIN)
            rv = STORAGE_CORRUPT(errmsg, "record cut short");
        if (rv == 0 && e.index != s->last + 1)
            rv = STORAGE_CORRUPT(errmsg, "index %" PRIu64 ", expected %" PRIu64,
                                 e.index, s->last + 1);
        if (rv == 0 && e.term < s->last_term)
            rv = STORAGE_CORRUPT(errmsg, "term %" PRIu64 " after term %" PRIu64,
                                 e.term, s->last_term);
        if (rv == 0 && push_entry(rp, cap, &e) != 0)
            rv = storage__errf(errmsg, RKV_ENOMEM, "out of memory");
        if (rv != 0)
            return storage__wrapf(errmsg, rv, "offset %zu", off);
        s->last = e.index;
        s->last_term = e.term;
        off += n;
    }
    s->size_bytes = off;
    return 0;
}

/* Replay segment `i`; a torn last segment is cut, or removed if it is left
 * without records. */
static int replay_segment(struct wal *w,
                          size_t i,
                          struct wal_replay *rp,
                          size_t *cap,
                          char *errmsg)
{
    struct wal_segment *s = &w->segs[i];
    bool last = i + 1 == w->n_segs;
    char name[WAL_SEGMENT_NAME_SIZE];
    uint8_t *buf;
    size_t size;
    int rv;

    ASSERT(i < w->n_segs);
    ASSERT(rp->n_bufs == i);
    wal__segment_name(s->first, name);
    if (i > 0 && s->first != w->segs[i - 1].last + 1)
        return STORAGE_CORRUPT(errmsg,
                               "%s: starts at index %" PRIu64
                               " but the previous segment ends at %" PRIu64,
                               name, s->first, w->segs[i - 1].last);
    rv = wal__read_segment(w, s->first, &buf, &size, errmsg);
    if (rv != 0)
        return storage__wrapf(errmsg, rv, "%s", name);
    rp->bufs[rp->n_bufs++] = buf;
    rv = check_header(w, i, buf, size, errmsg);
    if (rv == RKV_ECORRUPT)
        return storage__wrapf(errmsg, rv, "%s: offset 0", name);
    if (rv == 0)
        rv = replay_records(w, i, buf, size, rp, cap, errmsg);
    if (rv != 0 && rv != RKV_EAGAIN)
        return storage__wrapf(errmsg, rv, "%s", name);
    if (rv == 0 && s->last >= s->first) {
        if (s->size_bytes == size)
            return 0;
        rp->dropped_bytes += size - s->size_bytes;
        rv = wal__cut(w, s, errmsg);
    } else if (last) {
        /* Torn before its first record, or left empty: remove it. */
        rp->dropped_bytes += size;
        rv = wal__cut(w, i > 0 ? &w->segs[i - 1] : &(struct wal_segment){0},
                      errmsg);
    } else {
        return STORAGE_CORRUPT(errmsg, "%s: holds no records", name);
    }
    return rv == 0 ? 0 : storage__wrapf(errmsg, rv, "%s: cut torn tail", name);
}

int wal__replay(struct wal *w, struct wal_replay *rp, char *errmsg)
{
    size_t cap = 0;
    int rv;

    ASSERT(w->n_segs == 0);
    ASSERT(rp->n_entries == 0);
    rv = list_segments(w, errmsg);
    if (rv != 0)
        return rv;
    if (w->n_segs == 0)
        return 0;
    rp->bufs = calloc(w->n_segs, sizeof *rp->bufs);
    if (rp->bufs == NULL)
        return storage__errf(errmsg, RKV_ENOMEM, "wal: out of memory");
    /* The loop re-reads n_segs: the last segment may be removed. */
    for (size_t i = 0; i < w->n_segs; i++) {
        rv = replay_segment(w, i, rp, &cap, errmsg);
        if (rv != 0)
            return rv;
    }
    ASSERT(rp->n_entries == 0 ||
           rp->entries[rp->n_entries - 1].index == wal_last_index(w));
    return 0;
}

void wal_replay_free(struct wal_replay *rp)
{
    for (size_t i = 0; i < rp->n_bufs; i++)
        free(rp->bufs[i]);
    free(rp->bufs);
    free(rp->entries);
    *rp = (struct wal_replay){0};
}
