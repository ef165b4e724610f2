/* Internals shared by the files of the key-value state machine (kv.c,
 * apply.c, session.c, snapshot.c, cmd.c): the layout of struct kv, the LMDB
 * sub-databases, error and assertion helpers and the byte-order helpers of
 * the on-disk and wire formats. Not to be included outside src/kv/. */
#ifndef KV_INT_H
#define KV_INT_H

#include <limits.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kv/kv.h"

/* ASSERT stays on in every build (STYLE.md §7). */
#define ASSERT(x)                                    \
    do {                                             \
        if (!(x))                                    \
            kv__assert_fail(#x, __FILE__, __LINE__); \
    } while (0)

_Noreturn void kv__assert_fail(const char *expr, const char *file, int line);

/* Write a message into `errmsg` (may be NULL) and return `rv`. */
int kv__fail(char *errmsg, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report bad bytes: RKV_ECORRUPT, with the line of the failed check appended
 * to the message so a corruption report names the exact check. */
#define KV_CORRUPT(errmsg, ...) \
    kv__corrupt((errmsg), __FILE__, __LINE__, __VA_ARGS__)
int kv__corrupt(char *errmsg, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix the message already in `errmsg` with context: "ctx: message". */
void kv__wrapf(char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Map an mdb_* error `mrc` to an RKV_E* code with "what: reason" in
 * `errmsg`: MDB_MAP_FULL and ENOSPC give RKV_ENOSPC, MDB_TXN_FULL gives
 * RKV_ETOOBIG, damaged-file errors RKV_ECORRUPT, MDB_READERS_FULL RKV_EBUSY,
 * ENOMEM RKV_ENOMEM, anything else RKV_EIO. */
int kv__mdb_fail(char *errmsg, int mrc, const char *what);

/* The four sub-databases of one LMDB environment. */
struct kv_dbs
{
    MDB_dbi data;     /* key bytes -> value bytes */
    MDB_dbi sessions; /* client id (u64 BE) -> session value (session.c) */
    MDB_dbi lru;      /* last used index (u64 BE) + client id (u64 BE) -> "" */
    MDB_dbi meta;     /* "applied" -> applied index u64 LE, term u64 LE */
};

/* Open (creating if needed) the environment in file `path` (MDB_NOSUBDIR,
 * lock file `path`-lock) with `flags` added to MDB_NOSUBDIR | MDB_NOTLS,
 * and its sub-databases. On error nothing stays open. */
int kv__env_open(const char *path,
                 size_t map_size_bytes,
                 unsigned flags,
                 MDB_env **env,
                 struct kv_dbs *dbs,
                 char *errmsg);

/* Read / write the applied index and term. A missing record reads 0, 0. */
int kv__meta_get(MDB_txn *txn,
                 const struct kv_dbs *dbs,
                 raft_index *index,
                 raft_term *term,
                 char *errmsg);
int kv__meta_put(MDB_txn *txn,
                 const struct kv_dbs *dbs,
                 raft_index index,
                 raft_term term,
                 char *errmsg);

/* The state machine. */
struct kv
{
    MDB_env *env;             /* the live state; NULL after a failed swap */
    struct kv_dbs dbs;        /* its sub-databases */
    MDB_txn *rtxn;            /* reset read txn renewed by each read, or NULL */
    struct kv_options opt;    /* options with defaults filled in */
    MDB_txn *wtxn;            /* deferred_commit: the open write txn */
    raft_index applied_index; /* last applied entry (in wtxn, if open) */
    raft_term applied_term;   /* its term */
    raft_index durable_index; /* last applied entry committed to disk */
    raft_term durable_term;   /* its term */
    unsigned n_snapshots;     /* open kv_snapshot streams */
    bool restoring;           /* a kv_restore is in progress */
    char dir[PATH_MAX];       /* the directory given to kv_open */
    char state_path[PATH_MAX];   /* dir/state.mdb: the live environment */
    char restore_path[PATH_MAX]; /* dir/restore.mdb: a restore under way */
    struct kv_slice keys[KV_CMD_KEYS_MAX];   /* kv_apply decode scratch */
    struct kv_slice values[KV_CMD_KEYS_MAX]; /* kv_apply decode scratch */
};

/* Fail with RKV_EIO if a failed restore swap left `kv` without state. */
int kv__check_live(const struct kv *kv, char *errmsg);

/* Remove what an interrupted restore left beside the live state. */
int kv__remove_restore_files(const struct kv *kv, char *errmsg);

/* Replace kv's environment by the file just renamed over state_path. */
int kv__reopen(struct kv *kv, char *errmsg);

/* Client sessions (session.c). The stored value, also the body of a session
 * record in a snapshot, is KV_SESSION_VALUE_LEN bytes: seq u64 LE,
 * last_index u64 LE, result status u8, result value i64 LE. */
#define KV_SESSION_VALUE_LEN 25

struct kv__session
{
    uint64_t seq;            /* last sequence number applied */
    raft_index last_index;   /* entry that last used the session */
    struct kv_result result; /* result of command `seq` */
};

void kv__session_encode(const struct kv__session *s,
                        uint8_t out[KV_SESSION_VALUE_LEN]);
int kv__session_decode(const uint8_t *buf,
                       size_t len,
                       struct kv__session *s,
                       char *errmsg);
int kv__session_load(MDB_txn *txn,
                     const struct kv_dbs *dbs,
                     uint64_t client_id,
                     struct kv__session *s,
                     bool *found,
                     char *errmsg);
/* Store session `client_id` and its LRU key; `prev_index` is the session's
 * previous last_index (its old LRU key is deleted) or 0 for a new one.
 * `put_flags` is passed to mdb_put for the session record. */
int kv__session_save(MDB_txn *txn,
                     const struct kv_dbs *dbs,
                     uint64_t client_id,
                     const struct kv__session *s,
                     raft_index prev_index,
                     unsigned put_flags,
                     char *errmsg);
int kv__session_expire(MDB_txn *txn,
                       const struct kv_dbs *dbs,
                       raft_index index,
                       uint64_t ttl_entries,
                       char *errmsg);
int kv__session_make_room(MDB_txn *txn,
                          const struct kv_dbs *dbs,
                          uint64_t max_sessions,
                          char *errmsg);

/* Byte order helpers. Formats are little-endian; keys that must sort
 * numerically in LMDB are big-endian. */
static inline void kv__put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t kv__get_u32le(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void kv__put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t kv__get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void kv__put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t kv__get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Two's complement reading of `v`, without an implementation-defined cast. */
static inline int64_t kv__i64_of_u64(uint64_t v)
{
    return v <= INT64_MAX ? (int64_t)v : -(int64_t)(UINT64_MAX - v) - 1;
}

#endif /* KV_INT_H */
