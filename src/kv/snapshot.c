/* Snapshots of the state machine: a byte stream produced from one LMDB read
 * transaction, and its restore into a fresh environment swapped in whole.
 *
 * Why a logical dump of records rather than mdb_env_copyfd2():
 *   (a) bounded memory: records are produced one at a time from cursors,
 *       when the reader asks, so chunks of any size come out of a few bytes
 *       of state; mdb_env_copyfd2() pushes the whole copy into a descriptor
 *       in one call, so chunked reading would need a pipe and a thread, or
 *       a temporary file as big as the state;
 *   (b) checked input: every record is validated as it is restored and the
 *       stream ends with a CRC32C; LMDB keeps no checksums, so a copied file
 *       would be trusted as it comes;
 *   (c) compact and portable: no free pages, no dependence on page size or
 *       LMDB version.
 * Both read from one read transaction (consistency), and both restore by
 * renaming a complete, synced file over state.mdb (atomicity). The price is
 * re-inserting every key on restore, kept sequential by MDB_APPEND.
 *
 * Stream format, version 1, integers little-endian:
 *   header  "RAFTKVSN", u32 version, u64 applied index, u64 applied term
 *   records data records, then session records, each in ascending key
 *           order (bytewise for keys, numeric for client ids):
 *           'K' u32 key_len, u32 value_len, key, value
 *           'S' u64 client id, the session value of kv_int.h (25 bytes)
 *   trailer 'E' u64 number of records, u32 CRC32C of every byte before
 *           the CRC field, header included (storage/crc32c.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kv/kv_int.h"
#include "storage/crc32c.h"

#define SNAP_MAGIC "RAFTKVSN"
#define SNAP_VERSION 1
#define SNAP_HEADER_LEN 28                    /* magic, version, index, term */
#define SNAP_K_LEN 9                          /* 'K', key_len, value_len */
#define SNAP_S_LEN (9 + KV_SESSION_VALUE_LEN) /* 'S', client id, value */
#define SNAP_E_LEN 13                         /* 'E', record count, CRC */
#define SNAP_RECORD_MAX (SNAP_K_LEN + KV_KEY_MAX + KV_VALUE_MAX)
/* A restore commits this often, which bounds LMDB's dirty pages in RAM. */
#define RESTORE_TXN_BYTES (16u << 20)

_Static_assert(sizeof SNAP_MAGIC - 1 == 8, "magic is 8 bytes");
_Static_assert(SNAP_S_LEN == 34, "snapshot format");

enum snap_phase {
    SNAP_HEADER,   /* next: the header */
    SNAP_DATA,     /* next: a data record, or the move to sessions */
    SNAP_SESSIONS, /* next: a session record, or the trailer */
    SNAP_TRAILER,  /* next: the trailer */
    SNAP_END,      /* the stream is over */
};

struct kv_snapshot
{
    struct kv *kv;            /* the source, borrowed; counts this stream */
    MDB_txn *txn;             /* read transaction pinning the state */
    MDB_cursor *cur;          /* over data, then sessions; else NULL */
    MDB_cursor_op next_op;    /* MDB_FIRST on a new cursor, then MDB_NEXT */
    raft_index index;         /* applied index the state reflects */
    raft_term term;           /* its term */
    int phase;                /* enum snap_phase */
    uint64_t n_records;       /* data and session records produced */
    uint32_t crc;             /* CRC32C of the bytes produced */
    uint8_t head[SNAP_S_LEN]; /* fixed part of the current record */
    struct kv_slice seg[3];   /* the current record: head, key, value */
    size_t n_seg;             /* segments of the current record */
    size_t seg_i;             /* segment being copied out */
    size_t seg_off;           /* bytes of seg[seg_i] already copied out */
};

/* Make head[0, head_len), then `a` and `b` if not NULL, the current record. */
static void set_record(struct kv_snapshot *s,
                       size_t head_len,
                       const MDB_val *a,
                       const MDB_val *b)
{
    ASSERT(head_len > 0);
    ASSERT(head_len <= sizeof s->head);
    s->n_seg = 0;
    s->seg[s->n_seg++] = (struct kv_slice){s->head, head_len};
    if (a != NULL)
        s->seg[s->n_seg++] = (struct kv_slice){a->mv_data, a->mv_size};
    if (b != NULL)
        s->seg[s->n_seg++] = (struct kv_slice){b->mv_data, b->mv_size};
    for (size_t i = 0; i < s->n_seg; i++)
        s->crc = crc32c(s->crc, s->seg[i].data, s->seg[i].len);
}

static void emit_header(struct kv_snapshot *s)
{
    memcpy(s->head, SNAP_MAGIC, 8);
    kv__put_u32le(s->head + 8, SNAP_VERSION);
    kv__put_u64le(s->head + 12, s->index);
    kv__put_u64le(s->head + 20, s->term);
    set_record(s, SNAP_HEADER_LEN, NULL, NULL);
}

static int emit_pair(struct kv_snapshot *s,
                     const MDB_val *k,
                     const MDB_val *v,
                     char *errmsg)
{
    if (k->mv_size == 0 || k->mv_size > KV_KEY_MAX || v->mv_size > KV_VALUE_MAX)
        return KV_CORRUPT(errmsg, "stored key of %zu bytes, value of %zu",
                          k->mv_size, v->mv_size);
    s->head[0] = 'K';
    kv__put_u32le(s->head + 1, (uint32_t)k->mv_size);
    kv__put_u32le(s->head + 5, (uint32_t)v->mv_size);
    set_record(s, SNAP_K_LEN, k, v);
    return 0;
}

static int emit_session(struct kv_snapshot *s,
                        const MDB_val *k,
                        const MDB_val *v,
                        char *errmsg)
{
    struct kv__session sess;
    int rv;

    if (k->mv_size != 8)
        return KV_CORRUPT(errmsg, "session key of %zu bytes", k->mv_size);
    rv = kv__session_decode(v->mv_data, v->mv_size, &sess, errmsg);
    if (rv != 0)
        return rv;
    s->head[0] = 'S';
    kv__put_u64le(s->head + 1, kv__get_u64be(k->mv_data));
    memcpy(s->head + 9, v->mv_data, KV_SESSION_VALUE_LEN);
    set_record(s, SNAP_S_LEN, NULL, NULL);
    return 0;
}

static void emit_trailer(struct kv_snapshot *s)
{
    ASSERT(s->phase == SNAP_TRAILER);
    ASSERT(s->cur == NULL);
    s->head[0] = 'E';
    kv__put_u64le(s->head + 1, s->n_records);
    s->crc = crc32c(s->crc, s->head, 9);
    kv__put_u32le(s->head + 9, s->crc);
    s->seg[0] = (struct kv_slice){s->head, SNAP_E_LEN};
    s->n_seg = 1;
}

/* Point the cursor at the next table, `dbi`, or at none if it is NULL. */
static int switch_cursor(struct kv_snapshot *s,
                         const MDB_dbi *dbi,
                         char *errmsg)
{
    int mrc;

    if (s->cur != NULL)
        mdb_cursor_close(s->cur);
    s->cur = NULL;
    s->next_op = MDB_FIRST;
    if (dbi == NULL)
        return 0;
    mrc = mdb_cursor_open(s->txn, *dbi, &s->cur);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "open cursor");
    return 0;
}

/* Produce the next record of the stream, or none (n_seg 0) at its end. */
static int next_record(struct kv_snapshot *s, char *errmsg)
{
    MDB_val k;
    MDB_val v;
    int mrc;

    ASSERT(s->txn != NULL);
    ASSERT(s->seg_i == s->n_seg);
    s->n_seg = 0;
    s->seg_i = 0;
    s->seg_off = 0;
    switch (s->phase) {
        case SNAP_HEADER:
            emit_header(s);
            s->phase = SNAP_DATA;
            return switch_cursor(s, &s->kv->dbs.data, errmsg);
        case SNAP_DATA:
        case SNAP_SESSIONS:
            mrc = mdb_cursor_get(s->cur, &k, &v, s->next_op);
            s->next_op = MDB_NEXT;
            if (mrc == 0) {
                s->n_records++;
                return s->phase == SNAP_DATA ? emit_pair(s, &k, &v, errmsg)
                                             : emit_session(s, &k, &v, errmsg);
            }
            if (mrc != MDB_NOTFOUND)
                return kv__mdb_fail(errmsg, mrc, "read cursor");
            s->phase = s->phase == SNAP_DATA ? SNAP_SESSIONS : SNAP_TRAILER;
            mrc = switch_cursor(
                s, s->phase == SNAP_SESSIONS ? &s->kv->dbs.sessions : NULL,
                errmsg);
            return mrc != 0 ? mrc : next_record(s, errmsg);
        case SNAP_TRAILER:
            emit_trailer(s);
            s->phase = SNAP_END;
            return 0;
        default:
            ASSERT(s->phase == SNAP_END);
            return 0;
    }
}

int kv_snapshot_open(struct kv *kv, struct kv_snapshot **out, char *errmsg)
{
    struct kv_snapshot *s;
    int mrc;
    int rv;

    ASSERT(kv != NULL);
    ASSERT(out != NULL);
    rv = kv__check_live(kv, errmsg);
    if (rv != 0)
        return rv;
    if (kv->restoring)
        return kv__fail(errmsg, RKV_EBUSY, "a restore is in progress");
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return kv__fail(errmsg, RKV_ENOMEM, "snapshot");
    mrc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &s->txn);
    if (mrc != 0) {
        free(s);
        return kv__mdb_fail(errmsg, mrc, "begin snapshot");
    }
    rv = kv__meta_get(s->txn, &kv->dbs, &s->index, &s->term, errmsg);
    if (rv != 0) {
        mdb_txn_abort(s->txn);
        free(s);
        return rv;
    }
    s->kv = kv;
    s->phase = SNAP_HEADER;
    kv->n_snapshots++;
    *out = s;
    return 0;
}

raft_index kv_snapshot_index(const struct kv_snapshot *s)
{
    return s->index;
}

raft_term kv_snapshot_term(const struct kv_snapshot *s)
{
    return s->term;
}

int kv_snapshot_read(struct kv_snapshot *s,
                     uint8_t *buf,
                     size_t cap,
                     size_t *n,
                     char *errmsg)
{
    size_t done = 0;
    int rv;

    ASSERT(buf != NULL);
    ASSERT(cap > 0);
    *n = 0;
    while (done < cap) {
        const struct kv_slice *seg;
        size_t take;
        if (s->seg_i == s->n_seg) {
            rv = next_record(s, errmsg);
            if (rv != 0)
                return rv;
            if (s->n_seg == 0)
                break;
        }
        seg = &s->seg[s->seg_i];
        take = seg->len - s->seg_off;
        take = take < cap - done ? take : cap - done;
        if (take > 0)
            memcpy(buf + done, (const uint8_t *)seg->data + s->seg_off, take);
        done += take;
        s->seg_off += take;
        if (s->seg_off == seg->len) {
            s->seg_i++;
            s->seg_off = 0;
        }
    }
    *n = done;
    return 0;
}

void kv_snapshot_free(struct kv_snapshot *s)
{
    if (s == NULL)
        return;
    ASSERT(s->kv->n_snapshots > 0);
    if (s->cur != NULL)
        mdb_cursor_close(s->cur);
    mdb_txn_abort(s->txn);
    s->kv->n_snapshots--;
    free(s);
}

enum restore_phase {
    RESTORE_HEADER,   /* expecting the header */
    RESTORE_DATA,     /* data records so far */
    RESTORE_SESSIONS, /* session records so far */
    RESTORE_DONE,     /* trailer verified */
};

struct kv_restore
{
    struct kv *kv;      /* the target, borrowed; kv->restoring is set */
    MDB_env *env;       /* temporary environment at kv->restore_path */
    struct kv_dbs dbs;  /* its sub-databases */
    MDB_txn *txn;       /* write transaction into env */
    size_t txn_bytes;   /* record bytes written under txn */
    raft_index index;   /* snapshot's applied index, from the header */
    raft_term term;     /* its term */
    int phase;          /* enum restore_phase */
    uint64_t n_records; /* data and session records loaded */
    uint32_t crc;       /* CRC32C of the bytes consumed */
    bool failed;        /* a call failed: only abort remains */
    size_t len;         /* bytes of the current record in rec */
    uint8_t rec[];      /* the current record, SNAP_RECORD_MAX bytes */
};

/* Bytes the record being assembled in r->rec needs in all, as far as what
 * arrived of it tells. */
static int record_need(const struct kv_restore *r, size_t *need, char *errmsg)
{
    uint32_t klen;
    uint32_t vlen;

    *need = 0;
    if (r->phase == RESTORE_HEADER) {
        *need = SNAP_HEADER_LEN;
        return 0;
    }
    if (r->len == 0) {
        *need = 1;
        return 0;
    }
    switch (r->rec[0]) {
        case 'K':
            if (r->len < SNAP_K_LEN) {
                *need = SNAP_K_LEN;
                return 0;
            }
            klen = kv__get_u32le(r->rec + 1);
            vlen = kv__get_u32le(r->rec + 5);
            if (klen == 0 || klen > KV_KEY_MAX || vlen > KV_VALUE_MAX)
                return KV_CORRUPT(errmsg, "record of key %u bytes, value %u",
                                  klen, vlen);
            *need = SNAP_K_LEN + (size_t)klen + vlen;
            return 0;
        case 'S':
            *need = SNAP_S_LEN;
            return 0;
        case 'E':
            *need = SNAP_E_LEN;
            return 0;
        default:
            return KV_CORRUPT(errmsg, "unknown record type 0x%02x", r->rec[0]);
    }
}

static int load_header(struct kv_restore *r, char *errmsg)
{
    uint32_t version;

    ASSERT(r->phase == RESTORE_HEADER);
    ASSERT(r->len == SNAP_HEADER_LEN);
    if (memcmp(r->rec, SNAP_MAGIC, 8) != 0)
        return KV_CORRUPT(errmsg, "not a snapshot: bad magic");
    version = kv__get_u32le(r->rec + 8);
    if (version != SNAP_VERSION)
        return kv__fail(errmsg, RKV_EPROTO, "snapshot version %u", version);
    r->index = kv__get_u64le(r->rec + 12);
    r->term = kv__get_u64le(r->rec + 20);
    if (r->index < r->kv->applied_index)
        return kv__fail(errmsg, RKV_EINVAL,
                        "snapshot at index %llu is behind applied index %llu",
                        (unsigned long long)r->index,
                        (unsigned long long)r->kv->applied_index);
    r->phase = RESTORE_DATA;
    return 0;
}

static int load_pair(struct kv_restore *r, char *errmsg)
{
    size_t klen = kv__get_u32le(r->rec + 1);
    MDB_val k = {klen, r->rec + SNAP_K_LEN};
    MDB_val v = {r->len - SNAP_K_LEN - klen, r->rec + SNAP_K_LEN + klen};
    int mrc;

    ASSERT(r->rec[0] == 'K');
    ASSERT(klen > 0);
    ASSERT(r->len >= SNAP_K_LEN + klen);
    if (r->phase != RESTORE_DATA)
        return KV_CORRUPT(errmsg, "data record after session records");
    mrc = mdb_put(r->txn, r->dbs.data, &k, &v, MDB_APPEND);
    if (mrc == MDB_KEYEXIST) /* MDB_APPEND's answer to a key out of order */
        return KV_CORRUPT(errmsg, "keys out of order at record %llu",
                          (unsigned long long)r->n_records);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "load key");
    return 0;
}

static int load_session(struct kv_restore *r, char *errmsg)
{
    uint64_t client_id = kv__get_u64le(r->rec + 1);
    struct kv__session s;
    int rv;

    ASSERT(r->rec[0] == 'S');
    ASSERT(r->len == SNAP_S_LEN);
    r->phase = RESTORE_SESSIONS;
    if (client_id == 0)
        return KV_CORRUPT(errmsg, "session of client 0");
    rv = kv__session_decode(r->rec + 9, KV_SESSION_VALUE_LEN, &s, errmsg);
    if (rv != 0)
        return rv;
    if (s.last_index > r->index)
        return KV_CORRUPT(errmsg, "session used at %llu, after the snapshot",
                          (unsigned long long)s.last_index);
    return kv__session_save(r->txn, &r->dbs, client_id, &s, 0, MDB_APPEND,
                            errmsg);
}

static int load_trailer(struct kv_restore *r, char *errmsg)
{
    uint64_t n_records = kv__get_u64le(r->rec + 1);
    uint32_t crc = kv__get_u32le(r->rec + 9);

    ASSERT(r->rec[0] == 'E');
    ASSERT(r->len == SNAP_E_LEN);
    if (crc != r->crc)
        return KV_CORRUPT(errmsg, "checksum mismatch: %08x, computed %08x", crc,
                          r->crc);
    if (n_records != r->n_records)
        return KV_CORRUPT(errmsg, "trailer counts %llu records, read %llu",
                          (unsigned long long)n_records,
                          (unsigned long long)r->n_records);
    r->phase = RESTORE_DONE;
    return 0;
}

/* Load the complete record in r->rec, then commit if the transaction has
 * grown past RESTORE_TXN_BYTES. */
static int load_record(struct kv_restore *r, char *errmsg)
{
    bool is_header = r->phase == RESTORE_HEADER;
    bool is_trailer = !is_header && r->rec[0] == 'E';
    int mrc;
    int rv;

    r->crc = crc32c(r->crc, r->rec, is_trailer ? 9 : r->len);
    if (is_header)
        rv = load_header(r, errmsg);
    else if (is_trailer)
        rv = load_trailer(r, errmsg);
    else if (r->rec[0] == 'K')
        rv = load_pair(r, errmsg);
    else
        rv = load_session(r, errmsg);
    if (rv != 0)
        return rv;
    r->n_records += !is_header && !is_trailer;
    r->txn_bytes += r->len;
    r->len = 0;
    if (r->txn_bytes < RESTORE_TXN_BYTES)
        return 0;
    r->txn_bytes = 0;
    mrc = mdb_txn_commit(r->txn);
    r->txn = NULL;
    if (mrc == 0)
        mrc = mdb_txn_begin(r->env, NULL, 0, &r->txn);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "restore commit");
    return 0;
}

int kv_restore_write(struct kv_restore *r,
                     const uint8_t *data,
                     size_t len,
                     char *errmsg)
{
    size_t need;
    size_t take;
    int rv = 0;

    ASSERT(r != NULL);
    ASSERT(!r->failed);
    ASSERT(data != NULL || len == 0);
    while (rv == 0 && len > 0) {
        if (r->phase == RESTORE_DONE) {
            rv = KV_CORRUPT(errmsg, "%zu bytes after the trailer", len);
            break;
        }
        rv = record_need(r, &need, errmsg);
        if (rv != 0)
            break;
        ASSERT(need > r->len);
        ASSERT(need <= SNAP_RECORD_MAX);
        take = need - r->len < len ? need - r->len : len;
        memcpy(r->rec + r->len, data, take);
        r->len += take;
        data += take;
        len -= take;
        rv = record_need(r, &need, errmsg);
        if (rv == 0 && r->len == need)
            rv = load_record(r, errmsg);
    }
    if (rv != 0) {
        r->failed = true;
        kv__wrapf(errmsg, "restore");
    }
    return rv;
}

/* Drop the temporary environment and its files. */
static void restore_discard(struct kv_restore *r)
{
    if (r->txn != NULL)
        mdb_txn_abort(r->txn);
    if (r->env != NULL)
        mdb_env_close(r->env);
    r->txn = NULL;
    r->env = NULL;
    /* A file left behind is harmless: kv_open() and the next restore
     * remove it before anything reads it. */
    (void)kv__remove_restore_files(r->kv, NULL);
}

static void restore_release(struct kv_restore *r)
{
    ASSERT(r->kv->restoring);
    ASSERT(r->txn == NULL);
    r->kv->restoring = false;
    free(r);
}

int kv_restore_begin(struct kv *kv, struct kv_restore **out, char *errmsg)
{
    struct kv_restore *r;
    int mrc;
    int rv;

    ASSERT(kv != NULL);
    ASSERT(out != NULL);
    rv = kv__check_live(kv, errmsg);
    if (rv != 0)
        return rv;
    if (kv->restoring || kv->n_snapshots > 0)
        return kv__fail(errmsg, RKV_EBUSY, "%s in progress",
                        kv->restoring ? "a restore" : "a snapshot stream");
    if (kv->wtxn != NULL)
        return kv__fail(errmsg, RKV_EBUSY,
                        "uncommitted applies: kv_commit() first");
    r = calloc(1, sizeof *r + SNAP_RECORD_MAX);
    if (r == NULL)
        return kv__fail(errmsg, RKV_ENOMEM, "restore buffer");
    r->kv = kv;
    r->phase = RESTORE_HEADER;
    rv = kv__remove_restore_files(kv, errmsg);
    if (rv == 0)
        rv = kv__env_open(kv->restore_path, kv->opt.map_size_bytes, MDB_NOSYNC,
                          &r->env, &r->dbs, errmsg);
    if (rv != 0)
        goto err_after_alloc;
    mrc = mdb_txn_begin(r->env, NULL, 0, &r->txn);
    if (mrc != 0) {
        rv = kv__mdb_fail(errmsg, mrc, "begin restore");
        goto err_after_alloc;
    }
    kv->restoring = true;
    *out = r;
    return 0;

err_after_alloc:
    restore_discard(r);
    free(r);
    ASSERT(rv != 0);
    return rv;
}

static int sync_dir(const char *dir, char *errmsg)
{
    int fd;
    int rv = 0;

    fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return kv__fail(errmsg, RKV_EIO, "open %s: %s", dir, strerror(errno));
    if (fsync(fd) != 0)
        rv = kv__fail(errmsg, RKV_EIO, "fsync %s: %s", dir, strerror(errno));
    /* Nothing was written through fd: closing it cannot lose data. */
    (void)close(fd);
    return rv;
}

/* Make the verified temporary environment durable and close it. */
static int restore_seal(struct kv_restore *r, char *errmsg)
{
    int mrc;
    int rv;

    ASSERT(r->phase == RESTORE_DONE);
    ASSERT(r->txn != NULL);
    rv = kv__meta_put(r->txn, &r->dbs, r->index, r->term, errmsg);
    if (rv != 0)
        return rv;
    mrc = mdb_txn_commit(r->txn);
    r->txn = NULL;
    if (mrc == 0 && !r->kv->opt.no_sync)
        mrc = mdb_env_sync(r->env, 1);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "seal restore");
    mdb_env_close(r->env);
    r->env = NULL;
    return 0;
}

/* Put the sealed file in place of the live state and open it. */
static int restore_swap(struct kv_restore *r, char *errmsg)
{
    struct kv *kv = r->kv;
    int rv;

    ASSERT(r->env == NULL);
    ASSERT(kv->n_snapshots == 0);
    if (rename(kv->restore_path, kv->state_path) != 0)
        return kv__fail(errmsg, errno == ENOSPC ? RKV_ENOSPC : RKV_EIO,
                        "rename %s: %s", kv->restore_path, strerror(errno));
    /* From here on the new state is the one on disk: open it whatever
     * happens next. */
    rv = kv__reopen(kv, errmsg);
    if (rv != 0) {
        kv__wrapf(errmsg, "reopen after restore");
        return RKV_EIO;
    }
    ASSERT(kv->applied_index == r->index);
    ASSERT(kv->applied_term == r->term);
    return kv->opt.no_sync ? 0 : sync_dir(kv->dir, errmsg);
}

int kv_restore_finish(struct kv_restore *r, char *errmsg)
{
    int rv;

    ASSERT(r != NULL);
    ASSERT(!r->failed);
    if (r->phase != RESTORE_DONE)
        rv = KV_CORRUPT(errmsg, "truncated after %llu records and %zu bytes",
                        (unsigned long long)r->n_records, r->len);
    else if (r->index < r->kv->applied_index)
        rv = kv__fail(errmsg, RKV_EINVAL,
                      "snapshot at index %llu is behind applied index %llu",
                      (unsigned long long)r->index,
                      (unsigned long long)r->kv->applied_index);
    else
        rv = restore_seal(r, errmsg);
    if (rv == 0)
        rv = restore_swap(r, errmsg);
    if (rv != 0)
        kv__wrapf(errmsg, "restore");
    restore_discard(r);
    restore_release(r);
    return rv;
}

void kv_restore_abort(struct kv_restore *r)
{
    if (r == NULL)
        return;
    restore_discard(r);
    restore_release(r);
}
