/* Applying committed entries: kv_apply() checks a batch, then runs each
 * entry's command (cmd.h) under the session rule of kv.h, all in one LMDB
 * write transaction together with the new applied index. Every outcome is
 * a function of the state and the entry alone, so replicas stay equal. */
#include <inttypes.h>
#include <stdio.h>

#include "kv/kv_int.h"

static int data_get(struct kv *kv,
                    MDB_txn *txn,
                    const struct kv_slice *key,
                    MDB_val *val,
                    bool *found,
                    char *errmsg)
{
    MDB_val k = {key->len, (void *)key->data};
    int mrc;

    ASSERT(key->len > 0);
    ASSERT(key->len <= KV_KEY_MAX);
    mrc = mdb_get(txn, kv->dbs.data, &k, val);
    *found = mrc == 0;
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        return kv__mdb_fail(errmsg, mrc, "get");
    return 0;
}

static int data_put(struct kv *kv,
                    MDB_txn *txn,
                    const struct kv_slice *key,
                    const struct kv_slice *val,
                    char *errmsg)
{
    MDB_val k = {key->len, (void *)key->data};
    MDB_val v = {val->len, (void *)val->data};
    int mrc;

    ASSERT(key->len > 0);
    ASSERT(val->len <= KV_VALUE_MAX);
    mrc = mdb_put(txn, kv->dbs.data, &k, &v, 0);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "put");
    return 0;
}

/* Parse a whole value as a decimal int64 the way Redis does: an optional
 * '-', no '+', no spaces, no leading zeros, no "-0". */
static bool parse_i64(const uint8_t *p, size_t len, int64_t *out)
{
    size_t i = len > 0 && p[0] == '-';
    uint64_t v = 0;

    if (len == i || len > 20)
        return false;
    if (p[i] == '0' && len != 1) /* a leading zero, or "-0" */
        return false;
    for (; i < len; i++) {
        unsigned d = (unsigned)p[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (p[0] != '-') {
        if (v > INT64_MAX)
            return false;
        *out = (int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = kv__i64_of_u64(0 - v);
    }
    return true;
}

static int op_put(struct kv *kv,
                  MDB_txn *txn,
                  const struct kv_cmd *cmd,
                  struct kv_result *res,
                  char *errmsg)
{
    MDB_val old;
    bool found;
    int rv;

    ASSERT(cmd->op == KV_OP_PUT);
    ASSERT(cmd->n == 1);
    if (cmd->cond != KV_COND_NONE) {
        rv = data_get(kv, txn, &cmd->keys[0], &old, &found, errmsg);
        if (rv != 0)
            return rv;
        if (found != (cmd->cond == KV_COND_XX)) {
            res->status = KV_RES_COND_FAILED;
            return 0;
        }
    }
    return data_put(kv, txn, &cmd->keys[0], &cmd->values[0], errmsg);
}

static int op_del(struct kv *kv,
                  MDB_txn *txn,
                  const struct kv_cmd *cmd,
                  struct kv_result *res,
                  char *errmsg)
{
    int64_t count = 0;
    int mrc;

    ASSERT(cmd->op == KV_OP_DEL);
    ASSERT(cmd->n > 0);
    for (size_t i = 0; i < cmd->n; i++) {
        MDB_val k = {cmd->keys[i].len, (void *)cmd->keys[i].data};
        mrc = mdb_del(txn, kv->dbs.data, &k, NULL);
        if (mrc != 0 && mrc != MDB_NOTFOUND)
            return kv__mdb_fail(errmsg, mrc, "delete");
        count += mrc == 0;
    }
    res->status = count > 0 ? KV_RES_OK : KV_RES_NOT_FOUND;
    res->value = count;
    return 0;
}

static int op_incrby(struct kv *kv,
                     MDB_txn *txn,
                     const struct kv_cmd *cmd,
                     struct kv_result *res,
                     char *errmsg)
{
    char text[24];
    struct kv_slice val = {text, 0};
    MDB_val old;
    int64_t cur = 0;
    int64_t d = cmd->delta;
    bool found;
    int rv;

    ASSERT(cmd->op == KV_OP_INCRBY);
    ASSERT(cmd->n == 1);
    rv = data_get(kv, txn, &cmd->keys[0], &old, &found, errmsg);
    if (rv != 0)
        return rv;
    if (found && !parse_i64(old.mv_data, old.mv_size, &cur)) {
        res->status = KV_RES_NOT_INTEGER;
        return 0;
    }
    if ((d > 0 && cur > INT64_MAX - d) || (d < 0 && cur < INT64_MIN - d)) {
        res->status = KV_RES_OVERFLOW;
        return 0;
    }
    res->value = cur + d;
    val.len = (size_t)snprintf(text, sizeof text, "%" PRId64, res->value);
    ASSERT(val.len < sizeof text);
    return data_put(kv, txn, &cmd->keys[0], &val, errmsg);
}

static int op_mset(struct kv *kv,
                   MDB_txn *txn,
                   const struct kv_cmd *cmd,
                   char *errmsg)
{
    int rv = 0;

    ASSERT(cmd->op == KV_OP_MSET);
    ASSERT(cmd->n > 0);
    for (size_t i = 0; rv == 0 && i < cmd->n; i++)
        rv = data_put(kv, txn, &cmd->keys[i], &cmd->values[i], errmsg);
    return rv;
}

static int apply_cmd(struct kv *kv,
                     MDB_txn *txn,
                     const struct kv_cmd *cmd,
                     struct kv_result *res,
                     char *errmsg)
{
    res->status = KV_RES_OK;
    res->value = 0;
    switch (cmd->op) {
        case KV_OP_PUT:
            return op_put(kv, txn, cmd, res, errmsg);
        case KV_OP_DEL:
            return op_del(kv, txn, cmd, res, errmsg);
        case KV_OP_INCRBY:
            return op_incrby(kv, txn, cmd, res, errmsg);
        case KV_OP_MSET:
            return op_mset(kv, txn, cmd, errmsg);
        default:
            ASSERT(false); /* kv_cmd_decode() accepts no other op */
            return RKV_EINTERNAL;
    }
}

/* The session rule of kv.h for a command carrying (client_id, seq). */
static int apply_in_session(struct kv *kv,
                            MDB_txn *txn,
                            raft_index index,
                            const struct kv_cmd *cmd,
                            struct kv_result *res,
                            char *errmsg)
{
    struct kv__session s;
    raft_index prev = 0;
    bool found;
    int rv;

    ASSERT(cmd->client_id != 0);
    ASSERT(cmd->seq != 0);
    rv = kv__session_load(txn, &kv->dbs, cmd->client_id, &s, &found, errmsg);
    if (rv != 0)
        return rv;
    if (found)
        prev = s.last_index;
    if (found && cmd->seq < s.seq) {
        res->status = KV_RES_STALE;
        res->value = 0;
    } else if (found && cmd->seq == s.seq) {
        *res = s.result; /* a retry: answer as the first time */
    } else {
        if (!found)
            rv = kv__session_make_room(txn, &kv->dbs, kv->opt.max_sessions,
                                       errmsg);
        if (rv == 0)
            rv = apply_cmd(kv, txn, cmd, res, errmsg);
        if (rv != 0)
            return rv;
        s.seq = cmd->seq;
        s.result = *res;
    }
    s.last_index = index;
    return kv__session_save(txn, &kv->dbs, cmd->client_id, &s, prev, 0, errmsg);
}

static int apply_entry(struct kv *kv,
                       MDB_txn *txn,
                       const struct raft_entry *e,
                       struct kv_result *res,
                       char *errmsg)
{
    struct kv_cmd cmd;
    int rv;

    ASSERT(e->index > kv->applied_index);
    ASSERT(e->term >= kv->applied_term);
    rv = kv__session_expire(txn, &kv->dbs, e->index,
                            kv->opt.session_ttl_entries, errmsg);
    if (rv != 0)
        return rv;
    res->status = KV_RES_OK;
    res->value = 0;
    if (e->type == RAFT_ENTRY_NOOP || e->type == RAFT_ENTRY_CONF)
        return 0;
    /* The same bytes fail the same way on every replica, so skipping them
     * keeps the replicas equal, and no bad proposal can stop the log. */
    if (e->type != RAFT_ENTRY_NORMAL ||
        kv_cmd_decode(e->data, e->len, &cmd, kv->keys, kv->values, NULL) != 0) {
        res->status = KV_RES_BAD_COMMAND;
        return 0;
    }
    if (cmd.client_id == 0)
        return apply_cmd(kv, txn, &cmd, res, errmsg);
    return apply_in_session(kv, txn, e->index, &cmd, res, errmsg);
}

/* Check the batch and count the entries at or below the applied index,
 * which must come first. */
static int check_batch(const struct kv *kv,
                       const struct raft_entry *e,
                       size_t n,
                       size_t *skip,
                       char *errmsg)
{
    ASSERT(e != NULL || n == 0);
    ASSERT(skip != NULL);
    *skip = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned long long i = e[k].index;
        if (i == 0 || (k > 0 && i != e[k - 1].index + 1))
            return kv__fail(errmsg, RKV_EINVAL, "entry %llu out of sequence",
                            i);
        if (k > 0 && e[k].term < e[k - 1].term)
            return kv__fail(errmsg, RKV_EINVAL, "term decreases at entry %llu",
                            i);
        if (e[k].len > 0 && e[k].data == NULL)
            return kv__fail(errmsg, RKV_EINVAL, "entry %llu has no data", i);
        if (i == kv->applied_index && e[k].term != kv->applied_term)
            return KV_CORRUPT(errmsg, "entry %llu has term %llu, not %llu", i,
                              (unsigned long long)e[k].term,
                              (unsigned long long)kv->applied_term);
        if (i <= kv->applied_index)
            (*skip)++;
        else if (k == *skip && i != kv->applied_index + 1)
            return kv__fail(errmsg, RKV_EINVAL, "entry %llu after index %llu",
                            i, (unsigned long long)kv->applied_index);
        else if (k == *skip && e[k].term < kv->applied_term)
            return kv__fail(errmsg, RKV_EINVAL, "term decreases at entry %llu",
                            i);
    }
    return 0;
}

int kv_apply(struct kv *kv,
             const struct raft_entry *entries,
             size_t n,
             struct kv_result *results,
             char *errmsg)
{
    struct kv_result res;
    const struct raft_entry *last;
    MDB_txn *txn;
    size_t skip;
    int mrc;
    int rv;

    ASSERT(kv != NULL);
    ASSERT(entries != NULL || n == 0);
    rv = kv__check_live(kv, errmsg);
    if (rv == 0)
        rv = check_batch(kv, entries, n, &skip, errmsg);
    if (rv != 0)
        return rv;
    for (size_t k = 0; results != NULL && k < skip; k++)
        results[k] = (struct kv_result){KV_RES_SKIPPED, 0};
    if (skip == n)
        return 0;
    last = &entries[n - 1];
    /* Deferred commits: each batch is a child of the long write txn, so a
     * failed batch is undone alone. */
    if (kv->opt.deferred_commit && kv->wtxn == NULL) {
        mrc = mdb_txn_begin(kv->env, NULL, 0, &kv->wtxn);
        if (mrc != 0)
            return kv__mdb_fail(errmsg, mrc, "begin");
    }
    mrc = mdb_txn_begin(kv->env, kv->wtxn, 0, &txn);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "begin");
    for (size_t k = skip; k < n; k++) {
        rv = apply_entry(kv, txn, &entries[k], &res, errmsg);
        if (rv != 0) {
            kv__wrapf(errmsg, "apply entry %llu",
                      (unsigned long long)entries[k].index);
            goto err_after_begin;
        }
        if (results != NULL)
            results[k] = res;
    }
    rv = kv__meta_put(txn, &kv->dbs, last->index, last->term, errmsg);
    if (rv != 0)
        goto err_after_begin;
    mrc = mdb_txn_commit(txn); /* frees txn, even on failure */
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "commit");
    ASSERT(last->index > kv->applied_index);
    kv->applied_index = last->index;
    kv->applied_term = last->term;
    if (kv->wtxn == NULL) {
        kv->durable_index = last->index;
        kv->durable_term = last->term;
    }
    return 0;

err_after_begin:
    mdb_txn_abort(txn);
    ASSERT(rv != 0);
    return rv;
}
