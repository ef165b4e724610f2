/* The client session table of the exactly-once rule in kv.h: one record per
 * client id in the `sessions` sub-database, and an index ordered by the
 * entry that last used each session (`lru`), which both expiry rules walk
 * from its oldest end. Keys are big-endian so LMDB orders them by number. */
#include "kv/kv_int.h"

#define LRU_KEY_LEN 16 /* last used index, client id */

void kv__session_encode(const struct kv__session *s,
                        uint8_t out[KV_SESSION_VALUE_LEN])
{
    ASSERT(s->seq != 0);
    ASSERT(s->last_index != 0);
    kv__put_u64le(out, s->seq);
    kv__put_u64le(out + 8, s->last_index);
    out[16] = s->result.status;
    kv__put_u64le(out + 17, (uint64_t)s->result.value);
}

int kv__session_decode(const uint8_t *buf,
                       size_t len,
                       struct kv__session *s,
                       char *errmsg)
{
    if (len != KV_SESSION_VALUE_LEN)
        return KV_CORRUPT(errmsg, "session record of %zu bytes", len);
    s->seq = kv__get_u64le(buf);
    s->last_index = kv__get_u64le(buf + 8);
    s->result.status = buf[16];
    s->result.value = kv__i64_of_u64(kv__get_u64le(buf + 17));
    if (s->seq == 0 || s->last_index == 0)
        return KV_CORRUPT(errmsg, "session with seq %llu, last index %llu",
                          (unsigned long long)s->seq,
                          (unsigned long long)s->last_index);
    /* Only the result of an applied command is ever stored. */
    if (s->result.status > KV_RES_OVERFLOW)
        return KV_CORRUPT(errmsg, "session result status %u", s->result.status);
    return 0;
}

static void lru_key(uint8_t key[LRU_KEY_LEN], raft_index index, uint64_t id)
{
    kv__put_u64be(key, index);
    kv__put_u64be(key + 8, id);
}

int kv__session_load(MDB_txn *txn,
                     const struct kv_dbs *dbs,
                     uint64_t client_id,
                     struct kv__session *s,
                     bool *found,
                     char *errmsg)
{
    uint8_t kb[8];
    MDB_val k = {sizeof kb, kb};
    MDB_val v;
    int mrc;
    int rv;

    ASSERT(client_id != 0);
    *found = false;
    kv__put_u64be(kb, client_id);
    mrc = mdb_get(txn, dbs->sessions, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return 0;
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "read session");
    rv = kv__session_decode(v.mv_data, v.mv_size, s, errmsg);
    if (rv != 0) {
        kv__wrapf(errmsg, "session %llu", (unsigned long long)client_id);
        return rv;
    }
    *found = true;
    return 0;
}

int kv__session_save(MDB_txn *txn,
                     const struct kv_dbs *dbs,
                     uint64_t client_id,
                     const struct kv__session *s,
                     raft_index prev_index,
                     unsigned put_flags,
                     char *errmsg)
{
    uint8_t kb[8];
    uint8_t vb[KV_SESSION_VALUE_LEN];
    uint8_t lb[LRU_KEY_LEN];
    MDB_val k = {sizeof kb, kb};
    MDB_val v = {sizeof vb, vb};
    MDB_val lk = {sizeof lb, lb};
    MDB_val empty = {0, NULL};
    int mrc;

    ASSERT(client_id != 0);
    ASSERT(prev_index < s->last_index);
    if (prev_index != 0) {
        lru_key(lb, prev_index, client_id);
        mrc = mdb_del(txn, dbs->lru, &lk, NULL);
        if (mrc == MDB_NOTFOUND)
            return KV_CORRUPT(errmsg, "session %llu missing from lru",
                              (unsigned long long)client_id);
        if (mrc != 0)
            return kv__mdb_fail(errmsg, mrc, "delete lru key");
    }
    kv__put_u64be(kb, client_id);
    kv__session_encode(s, vb);
    mrc = mdb_put(txn, dbs->sessions, &k, &v, put_flags);
    if (mrc == MDB_KEYEXIST) /* only MDB_APPEND fails so: out of order */
        return KV_CORRUPT(errmsg, "session %llu out of order",
                          (unsigned long long)client_id);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "write session");
    lru_key(lb, s->last_index, client_id);
    mrc = mdb_put(txn, dbs->lru, &lk, &empty, 0);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "write lru key");
    return 0;
}

/* Drop the least recently used session if it was last used before index
 * `below`; *dropped tells whether there was one. */
static int drop_oldest(MDB_txn *txn,
                       const struct kv_dbs *dbs,
                       raft_index below,
                       bool *dropped,
                       char *errmsg)
{
    MDB_cursor *cur;
    MDB_val lk;
    MDB_val lv;
    uint8_t kb[8];
    MDB_val k = {sizeof kb, kb};
    int mrc;

    *dropped = false;
    mrc = mdb_cursor_open(txn, dbs->lru, &cur);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "open lru cursor");
    mrc = mdb_cursor_get(cur, &lk, &lv, MDB_FIRST);
    if (mrc == MDB_NOTFOUND) {
        mdb_cursor_close(cur);
        return 0;
    }
    if (mrc == 0 && lk.mv_size != LRU_KEY_LEN) {
        mdb_cursor_close(cur);
        return KV_CORRUPT(errmsg, "lru key of %zu bytes", lk.mv_size);
    }
    if (mrc == 0 && kv__get_u64be(lk.mv_data) < below) {
        /* The session key is the second half of the lru key. */
        memcpy(kb, (const uint8_t *)lk.mv_data + 8, sizeof kb);
        mrc = mdb_del(txn, dbs->sessions, &k, NULL);
        if (mrc == 0)
            mrc = mdb_cursor_del(cur, 0);
        *dropped = mrc == 0;
    }
    mdb_cursor_close(cur);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "drop session");
    return 0;
}

int kv__session_expire(MDB_txn *txn,
                       const struct kv_dbs *dbs,
                       raft_index index,
                       uint64_t ttl_entries,
                       char *errmsg)
{
    bool dropped = true;
    int rv = 0;

    ASSERT(index > 0);
    ASSERT(ttl_entries > 0);
    /* Rule (a) of kv.h: drop sessions last used before index - ttl. */
    if (index <= ttl_entries)
        return 0;
    while (rv == 0 && dropped)
        rv = drop_oldest(txn, dbs, index - ttl_entries, &dropped, errmsg);
    return rv;
}

int kv__session_make_room(MDB_txn *txn,
                          const struct kv_dbs *dbs,
                          uint64_t max_sessions,
                          char *errmsg)
{
    MDB_stat st;
    uint64_t count;
    bool dropped = true;
    int mrc;
    int rv = 0;

    ASSERT(max_sessions > 0);
    mrc = mdb_stat(txn, dbs->sessions, &st);
    if (mrc != 0)
        return kv__mdb_fail(errmsg, mrc, "count sessions");
    /* Rule (b) of kv.h: evict the least recently used. */
    for (count = st.ms_entries; rv == 0 && dropped && count >= max_sessions;
         count--)
        rv = drop_oldest(txn, dbs, UINT64_MAX, &dropped, errmsg);
    if (rv == 0 && !dropped)
        return KV_CORRUPT(errmsg, "%llu sessions but an empty lru index",
                          (unsigned long long)count);
    return rv;
}
