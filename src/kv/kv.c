/* The state machine's environment: opening and closing the LMDB files laid
 * out in kv.h, reads (kv_get, kv_stats), and the error helpers shared by
 * the files of src/kv/ (kv_int.h). Applying entries is in apply.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kv/kv_int.h"

#define KV_N_DBS 4 /* sub-databases in struct kv_dbs */

static const char META_APPLIED[] = "applied"; /* meta key of applied index */

void kv__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

__attribute__((format(printf, 2, 0))) static void vformat(char *errmsg,
                                                          const char *fmt,
                                                          va_list ap)
{
    if (errmsg != NULL)
        vsnprintf(errmsg, RKV_ERRMSG_LEN, fmt, ap);
}

int kv__fail(char *errmsg, int rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(errmsg, fmt, ap);
    va_end(ap);
    return rv;
}

int kv__corrupt(char *errmsg, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    size_t used;

    if (errmsg == NULL)
        return RKV_ECORRUPT;
    va_start(ap, fmt);
    vformat(errmsg, fmt, ap);
    va_end(ap);
    used = strlen(errmsg);
    snprintf(errmsg + used, RKV_ERRMSG_LEN - used, " (%s:%d)", file, line);
    return RKV_ECORRUPT;
}

void kv__wrapf(char *errmsg, const char *fmt, ...)
{
    char prefix[RKV_ERRMSG_LEN];
    char full[2 * RKV_ERRMSG_LEN + 2]; /* prefix, ": ", message */
    va_list ap;

    if (errmsg == NULL)
        return;
    errmsg[RKV_ERRMSG_LEN - 1] = '\0';
    va_start(ap, fmt);
    vformat(prefix, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s: %s", prefix, errmsg);
    memcpy(errmsg, full, RKV_ERRMSG_LEN - 1);
}

int kv__mdb_fail(char *errmsg, int mrc, const char *what)
{
    int rv;

    ASSERT(mrc != 0);
    switch (mrc) {
        case MDB_MAP_FULL:
        case ENOSPC:
            rv = RKV_ENOSPC;
            break;
        case MDB_TXN_FULL:
            rv = RKV_ETOOBIG;
            break;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
            rv = RKV_ECORRUPT;
            break;
        case MDB_READERS_FULL:
            rv = RKV_EBUSY;
            break;
        case ENOMEM:
            rv = RKV_ENOMEM;
            break;
        default:
            rv = RKV_EIO;
            break;
    }
    if (mrc == MDB_MAP_FULL)
        return kv__fail(errmsg, rv, "%s: map full (raise map_size_bytes)",
                        what);
    return kv__fail(errmsg, rv, "%s: %s", what, mdb_strerror(mrc));
}

static int open_dbs(MDB_env *env, struct kv_dbs *dbs, char *errmsg)
{
    MDB_txn *txn;
    int mrc;

    mrc = mdb_txn_begin(env, NULL, 0, &txn);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "begin");
    mrc = mdb_dbi_open(txn, "data", MDB_CREATE, &dbs->data);
    if (mrc == 0)
        mrc = mdb_dbi_open(txn, "sessions", MDB_CREATE, &dbs->sessions);
    if (mrc == 0)
        mrc = mdb_dbi_open(txn, "lru", MDB_CREATE, &dbs->lru);
    if (mrc == 0)
        mrc = mdb_dbi_open(txn, "meta", MDB_CREATE, &dbs->meta);
    if (mrc != 0) {
        mdb_txn_abort(txn);
        return kv__mdb_fail(errmsg, mrc, "open sub-database");
    }
    mrc = mdb_txn_commit(txn);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "commit");
    return 0;
}

int kv__env_open(const char *path,
                 size_t map_size_bytes,
                 unsigned flags,
                 MDB_env **env,
                 struct kv_dbs *dbs,
                 char *errmsg)
{
    int stale;
    int mrc;
    int rv;

    ASSERT(path != NULL);
    ASSERT(map_size_bytes > 0);
    mrc = mdb_env_create(env);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "create environment");
    mrc = mdb_env_set_mapsize(*env, map_size_bytes);
    if (mrc == 0)
        mrc = mdb_env_set_maxdbs(*env, KV_N_DBS);
    if (mrc == 0)
        mrc = mdb_env_open(*env, path, MDB_NOSUBDIR | MDB_NOTLS | flags, 0600);
    if (mrc == 0) /* free the reader slots of dead processes */
        mrc = mdb_reader_check(*env, &stale);
    if (mrc != 0) {
        rv = kv__mdb_fail(errmsg, mrc, path);
        goto err_after_create;
    }
    if (mdb_env_get_maxkeysize(*env) < KV_KEY_MAX) {
        rv = kv__fail(errmsg, RKV_ECONFIG, "LMDB keys are limited to %d bytes",
                      mdb_env_get_maxkeysize(*env));
        goto err_after_create;
    }
    rv = open_dbs(*env, dbs, errmsg);
    if (rv != 0) {
        kv__wrapf(errmsg, "%s", path);
        goto err_after_create;
    }
    return 0;

err_after_create:
    mdb_env_close(*env);
    *env = NULL;
    ASSERT(rv != 0);
    return rv;
}

int kv__meta_get(MDB_txn *txn,
                 const struct kv_dbs *dbs,
                 raft_index *index,
                 raft_term *term,
                 char *errmsg)
{
    MDB_val k = {sizeof META_APPLIED - 1, (void *)META_APPLIED};
    MDB_val v;
    int mrc;

    *index = 0;
    *term = 0;
    mrc = mdb_get(txn, dbs->meta, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return 0;
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "read applied index");
    if (v.mv_size != 16)
        return KV_CORRUPT(errmsg, "applied index record of %zu bytes",
                          v.mv_size);
    *index = kv__get_u64le(v.mv_data);
    *term = kv__get_u64le((const uint8_t *)v.mv_data + 8);
    return 0;
}

int kv__meta_put(MDB_txn *txn,
                 const struct kv_dbs *dbs,
                 raft_index index,
                 raft_term term,
                 char *errmsg)
{
    MDB_val k = {sizeof META_APPLIED - 1, (void *)META_APPLIED};
    uint8_t buf[16];
    MDB_val v = {sizeof buf, buf};
    int mrc;

    kv__put_u64le(buf, index);
    kv__put_u64le(buf + 8, term);
    mrc = mdb_put(txn, dbs->meta, &k, &v, 0);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "write applied index");
    return 0;
}

/* Open kv->state_path into kv->env and load the applied index. */
static int open_state(struct kv *kv, char *errmsg)
{
    unsigned flags = kv->opt.no_sync ? MDB_NOSYNC : MDB_NOMETASYNC;
    MDB_txn *txn;
    int mrc;
    int rv;

    ASSERT(kv->env == NULL);
    ASSERT(kv->rtxn == NULL);
    rv = kv__env_open(kv->state_path, kv->opt.map_size_bytes, flags, &kv->env,
                      &kv->dbs, errmsg);
    if (rv != 0)
        return rv;
    mrc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0) {
        rv = kv__mdb_fail(errmsg, mrc, "begin");
        goto err_after_open;
    }
    rv = kv__meta_get(txn, &kv->dbs, &kv->applied_index, &kv->applied_term,
                      errmsg);
    mdb_txn_abort(txn);
    if (rv != 0)
        goto err_after_open;
    kv->durable_index = kv->applied_index;
    kv->durable_term = kv->applied_term;
    return 0;

err_after_open:
    mdb_env_close(kv->env);
    kv->env = NULL;
    return rv;
}

/* Remove `path`; a missing file is fine. */
static int remove_file(const char *path, char *errmsg)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return kv__fail(errmsg, errno == ENOSPC ? RKV_ENOSPC : RKV_EIO,
                        "remove %s: %s", path, strerror(errno));
    return 0;
}

int kv__remove_restore_files(const struct kv *kv, char *errmsg)
{
    char lock[PATH_MAX + 8];
    int rv;

    snprintf(lock, sizeof lock, "%s-lock", kv->restore_path);
    rv = remove_file(kv->restore_path, errmsg);
    if (rv == 0)
        rv = remove_file(lock, errmsg);
    return rv;
}

static void fill_options(struct kv_options *o, const struct kv_options *in)
{
    if (in != NULL)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (o->map_size_bytes == 0)
        o->map_size_bytes = KV_MAP_SIZE_DEFAULT;
    if (o->session_ttl_entries == 0)
        o->session_ttl_entries = KV_SESSION_TTL_ENTRIES;
    if (o->max_sessions == 0)
        o->max_sessions = KV_SESSIONS_MAX;
}

int kv_open(const char *dir,
            const struct kv_options *opt,
            struct kv **out,
            char *errmsg)
{
    struct kv *kv;
    int rv;

    ASSERT(dir != NULL);
    ASSERT(out != NULL);
    if (strlen(dir) + sizeof "/restore.mdb-lock" > PATH_MAX)
        return kv__fail(errmsg, RKV_EINVAL, "path too long: %s", dir);
    kv = calloc(1, sizeof *kv);
    if (kv == NULL)
        return kv__fail(errmsg, RKV_ENOMEM, "open %s", dir);
    fill_options(&kv->opt, opt);
    snprintf(kv->dir, sizeof kv->dir, "%s", dir);
    snprintf(kv->state_path, sizeof kv->state_path, "%s/state.mdb", dir);
    snprintf(kv->restore_path, sizeof kv->restore_path, "%s/restore.mdb", dir);
    rv = kv__remove_restore_files(kv, errmsg);
    if (rv == 0)
        rv = open_state(kv, errmsg);
    if (rv != 0) {
        free(kv);
        return rv;
    }
    *out = kv;
    return 0;
}

/* Release the environment; kv->env is NULL afterwards. */
static void close_state(struct kv *kv)
{
    if (kv->wtxn != NULL) {
        /* Closing without kv_commit() keeps only what was committed: the
         * log replays the rest, as after a crash. */
        mdb_txn_abort(kv->wtxn);
        kv->wtxn = NULL;
        kv->applied_index = kv->durable_index;
        kv->applied_term = kv->durable_term;
    }
    if (kv->rtxn != NULL) {
        mdb_txn_abort(kv->rtxn);
        kv->rtxn = NULL;
    }
    if (kv->env != NULL) {
        mdb_env_close(kv->env);
        kv->env = NULL;
    }
}

void kv_close(struct kv *kv)
{
    if (kv == NULL)
        return;
    ASSERT(kv->n_snapshots == 0);
    ASSERT(!kv->restoring);
    close_state(kv);
    free(kv);
}

int kv__check_live(const struct kv *kv, char *errmsg)
{
    if (kv->env == NULL)
        return kv__fail(errmsg, RKV_EIO,
                        "no state since a failed restore: reopen %s", kv->dir);
    return 0;
}

int kv__reopen(struct kv *kv, char *errmsg)
{
    ASSERT(kv->n_snapshots == 0);
    close_state(kv);
    return open_state(kv, errmsg);
}

raft_index kv_applied_index(const struct kv *kv)
{
    return kv->applied_index;
}

raft_term kv_applied_term(const struct kv *kv)
{
    return kv->applied_term;
}

raft_index kv_durable_index(const struct kv *kv)
{
    return kv->durable_index;
}

int kv_commit(struct kv *kv, char *errmsg)
{
    int mrc;

    ASSERT(kv != NULL);
    if (kv->wtxn == NULL)
        return 0;
    mrc = mdb_txn_commit(kv->wtxn); /* frees it, even on failure */
    kv->wtxn = NULL;
    if (mrc != 0) {
        /* What the transaction held is gone: fall back to the state on
         * disk, which the caller re-applies from. */
        kv->applied_index = kv->durable_index;
        kv->applied_term = kv->durable_term;
        return kv__mdb_fail(errmsg, mrc, "commit");
    }
    kv->durable_index = kv->applied_index;
    kv->durable_term = kv->applied_term;
    return 0;
}

/* Start a short read and set *txn to read in: the open write transaction
 * of deferred commits (it sees every applied entry), else the reused read
 * transaction, renewed. End it with read_end(). */
static int read_begin(struct kv *kv, MDB_txn **txn, char *errmsg)
{
    int mrc;
    int rv;

    rv = kv__check_live(kv, errmsg);
    if (rv != 0)
        return rv;
    if (kv->wtxn != NULL) {
        *txn = kv->wtxn;
        return 0;
    }
    if (kv->rtxn == NULL)
        mrc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &kv->rtxn);
    else
        mrc = mdb_txn_renew(kv->rtxn);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "begin read");
    *txn = kv->rtxn;
    return 0;
}

static void read_end(struct kv *kv, MDB_txn *txn)
{
    if (txn == kv->rtxn)
        mdb_txn_reset(kv->rtxn); /* keeps its reader slot for the next */
}

int kv_get(struct kv *kv,
           const void *key,
           size_t key_len,
           struct kv_buf *value,
           char *errmsg)
{
    MDB_val k = {key_len, (void *)key};
    MDB_val v;
    MDB_txn *txn;
    int mrc;
    int rv;

    ASSERT(kv != NULL);
    ASSERT(value != NULL);
    value->data = NULL;
    value->len = 0;
    if (key_len == 0 || key_len > KV_KEY_MAX)
        return kv__fail(errmsg, RKV_EINVAL, "key of %zu bytes", key_len);
    rv = read_begin(kv, &txn, errmsg);
    if (rv != 0)
        return rv;
    mrc = mdb_get(txn, kv->dbs.data, &k, &v);
    if (mrc == MDB_NOTFOUND)
        rv = kv__fail(errmsg, RKV_ENOTFOUND, "no such key");
    else if (mrc != 0)
        rv = kv__mdb_fail(errmsg, mrc, "get");
    else if ((value->data = malloc(v.mv_size > 0 ? v.mv_size : 1)) == NULL)
        rv = kv__fail(errmsg, RKV_ENOMEM, "value of %zu bytes", v.mv_size);
    else {
        memcpy(value->data, v.mv_data, v.mv_size);
        value->len = v.mv_size;
    }
    read_end(kv, txn);
    return rv;
}

int kv_stats(struct kv *kv, struct kv_stats *st, char *errmsg)
{
    MDB_stat data;
    MDB_stat sessions;
    MDB_txn *txn;
    int mrc;
    int rv;

    ASSERT(kv != NULL);
    ASSERT(st != NULL);
    rv = read_begin(kv, &txn, errmsg);
    if (rv != 0)
        return rv;
    mrc = mdb_stat(txn, kv->dbs.data, &data);
    if (mrc == 0)
        mrc = mdb_stat(txn, kv->dbs.sessions, &sessions);
    read_end(kv, txn);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "stat");
    st->keys = data.ms_entries;
    st->data_bytes =
        (uint64_t)data.ms_psize *
        (data.ms_branch_pages + data.ms_leaf_pages + data.ms_overflow_pages);
    st->sessions = sessions.ms_entries;
    st->applied_index = kv->applied_index;
    st->applied_term = kv->applied_term;
    return 0;
}

int kv_sync(struct kv *kv, char *errmsg)
{
    int mrc;
    int rv;

    ASSERT(kv != NULL);
    rv = kv_commit(kv, errmsg);
    if (rv != 0)
        return rv;
    mrc = mdb_env_sync(kv->env, 1);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "sync");
    return 0;
}
