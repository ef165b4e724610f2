/* The key-value state machine: committed Raft entries in, an ordered map of
 * byte keys to byte values out, kept in LMDB. It also keeps the client
 * sessions that make retried commands apply exactly once, and streams and
 * restores snapshots of the whole state (format: snapshot.c).
 *
 * Files. kv_open() takes a directory holding `state.mdb` (the environment,
 * opened with MDB_NOSUBDIR) and its lock file `state.mdb-lock`; a snapshot
 * being restored is built in `restore.mdb` beside it and renamed over
 * `state.mdb` when complete.
 *
 * Durability. The Raft WAL, not this store, is what makes a write durable:
 * an entry is acknowledged once it is in a majority of WALs, and after a
 * restart the host replays the committed entries after kv_applied_index().
 * So the state machine need not flush the last few applies; it only has to
 * stay intact and never run ahead of what its applied index says. That rules
 * out MDB_NOSYNC: without a flush the kernel may write LMDB's meta page
 * before the pages it points to, and a machine crash then leaves a damaged
 * tree that LMDB cannot detect (it keeps no page checksums). We open with
 * MDB_NOMETASYNC instead: each kv_apply() batch costs one fdatasync of the
 * data pages, and the meta page is flushed by the next batch, so a machine
 * crash can undo the last batch but never damages the tree; the undone
 * entries are replayed from the WAL. The host must therefore keep WAL
 * entries after the last kv_sync() (see kv_sync()). A process crash loses
 * nothing: committed pages are in the page cache.
 *
 * Sessions (exactly-once, after the Raft thesis §6.3). A command may carry
 * (client id, seq). The session table maps a client id to the last seq
 * applied for it and that command's result. A command whose seq is below
 * the client's last seq is not applied and answers KV_RES_STALE; one equal
 * to it is not applied again and answers the stored result; a higher one is
 * applied and becomes the stored one. An unknown client id opens a session.
 * Sessions are dropped by a rule every replica evaluates identically, since
 * it depends only on entry indexes, never on a clock:
 *   (a) before the entry at index i is applied, every session last used by
 *       an entry at index < i - session_ttl_entries is dropped;
 *   (b) before a new session is opened, while there are max_sessions or more
 *       sessions, the one least recently used (smallest last-used index) is
 *       dropped.
 * A retry that arrives after its session was dropped is applied again, so
 * clients must give up retrying well within session_ttl_entries entries.
 * The two limits are part of the replicated state machine: every replica
 * MUST be opened with the same values.
 *
 * Threads. A struct kv is used by one thread at a time, and so is each
 * snapshot stream and restore. A stream, once open, may be read on another
 * thread than its kv's (kv_snapshot_read() touches nothing the kv's thread
 * changes); open and free it on the kv's thread. Reads (kv_get, streams)
 * run in LMDB read transactions, so a stream sees one consistent state
 * while kv_apply() goes on. */
#ifndef KV_KV_H
#define KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/cmd.h"
#include "raftkv/raft.h"

#define KV_MAP_SIZE_DEFAULT (1ull << 30) /* bytes of address space, 1 GiB */
#define KV_SESSION_TTL_ENTRIES 10000000u /* rule (a): ~100 s at 100k/s */
#define KV_SESSIONS_MAX 100000u          /* rule (b) */

/* Outcome of one applied entry. Deterministic: every replica computes the
 * same one, and a session stores it to answer retries. */
enum kv_status {
    KV_RES_OK = 0,          /* done; value: INCRBY's new value, DEL's count */
    KV_RES_NOT_FOUND = 1,   /* DEL removed no key (value 0) */
    KV_RES_COND_FAILED = 2, /* PUT's NX/XX condition not met, nothing done */
    KV_RES_NOT_INTEGER = 3, /* INCRBY on a value that is not an int64 */
    KV_RES_OVERFLOW = 4,    /* INCRBY result outside int64 */
    KV_RES_STALE = 5,       /* seq below the client's last one: not applied */
    KV_RES_BAD_COMMAND = 6, /* payload not a valid command, or unknown
                               entry type: skipped */
    KV_RES_SKIPPED = 7,     /* entry at or below the applied index */
};
#define KV_RES_MAX 7

struct kv_result
{
    uint8_t status; /* enum kv_status */
    int64_t value;  /* see enum kv_status, else 0 */
};

struct kv_options
{
    size_t map_size_bytes;        /* LMDB map size, the most the state can use;
                                     0: KV_MAP_SIZE_DEFAULT. Only address space
                                     is reserved; the file grows as data does */
    uint64_t session_ttl_entries; /* rule (a); 0: KV_SESSION_TTL_ENTRIES */
    uint64_t max_sessions;        /* rule (b); 0: KV_SESSIONS_MAX */
    bool no_sync;         /* never fsync (MDB_NOSYNC, restores too): for state
                             thrown away after a machine crash (tests, simulation) */
    bool deferred_commit; /* kv_apply() leaves its changes in one open
                             write transaction that kv_commit() makes
                             durable (see "Deferred commits") */
};

struct kv_stats
{
    uint64_t keys;            /* keys in the map */
    uint64_t data_bytes;      /* pages used by the map, bytes */
    uint64_t sessions;        /* open client sessions */
    raft_index applied_index; /* last applied entry */
    raft_term applied_term;   /* its term */
};

struct kv; /* opaque */

/* Open the state kept in directory `dir` (which must exist), creating it
 * empty if there is none, and remove what an interrupted restore left.
 * `opt` may be NULL for defaults; it is copied. On success *out is set and
 * freed with kv_close(). Returns 0; RKV_EINVAL if the path is too long;
 * RKV_ECONFIG if LMDB's key size limit is below KV_KEY_MAX; RKV_ECORRUPT if
 * the file is not a valid environment; RKV_EBUSY if the reader table is
 * full; RKV_ENOMEM; RKV_EIO. */
int kv_open(const char *dir,
            const struct kv_options *opt,
            struct kv **out,
            char *errmsg);

/* Close and free `kv`. Precondition: every snapshot stream of it is freed
 * and no restore is in progress. Does not flush (see kv_sync()). */
void kv_close(struct kv *kv);

/* Apply committed entries `entries[0..n)` (ascending index) in one LMDB
 * write transaction that also records the last one's index and term as
 * applied, so a batch is applied entirely or not at all. Entries at or
 * below the applied index are skipped (KV_RES_SKIPPED): after a restart the
 * host may replay from any earlier index. NOOP and CONF entries only
 * advance the applied index. results[k] (caller-owned array of n, or NULL)
 * receives entry k's outcome; it is unspecified on error. Entries are
 * borrowed for the call. Returns 0; RKV_EINVAL if the entries after the
 * applied index are not contiguous from it, their terms decrease, or one
 * has len > 0 and no data; RKV_ECORRUPT if the entry at the applied index
 * has another term than the one applied (diverged log); RKV_ENOSPC if the
 * map is full (raise map_size_bytes); RKV_ETOOBIG if the batch is too big
 * for one transaction (apply fewer entries); RKV_ENOMEM; RKV_EIO. On error
 * nothing is applied. */
int kv_apply(struct kv *kv,
             const struct raft_entry *entries,
             size_t n,
             struct kv_result *results,
             char *errmsg);

/* The last applied entry and its term (0, 0 before the first). */
raft_index kv_applied_index(const struct kv *kv);
raft_term kv_applied_term(const struct kv *kv);

/* Copy the value of `key` (`key_len` bytes, borrowed) into `value`, which
 * the caller frees with kv_buf_free(). Returns 0; RKV_ENOTFOUND (value
 * zeroed); RKV_EINVAL if key_len is 0 or above KV_KEY_MAX; RKV_ENOMEM;
 * RKV_EIO. */
int kv_get(struct kv *kv,
           const void *key,
           size_t key_len,
           struct kv_buf *value,
           char *errmsg);

/* Fill `st` (caller-owned). Returns 0, or RKV_EIO. */
int kv_stats(struct kv *kv, struct kv_stats *st, char *errmsg);

/* Flush everything applied so far to disk (fsync, meta page included), so
 * that kv_applied_index() survives a machine crash. The host calls it
 * before discarding WAL entries up to kv_applied_index(). Returns 0, or
 * RKV_EIO / RKV_ENOSPC. */
int kv_sync(struct kv *kv, char *errmsg);

/* Deferred commits (kv_options.deferred_commit). With them, kv_apply()
 * writes into one long LMDB write transaction and returns without any
 * fsync; kv_get() and kv_stats() read through that transaction, so they see
 * every applied entry; kv_commit() makes it all durable with one fsync.
 * What was applied but not committed is lost at a crash or at kv_close():
 * kv_durable_index() tells where the state on disk ends, and the caller
 * must keep the Raft log after it (the WAL replays it). Snapshot streams
 * see the committed state only. The write transaction ties the kv to the
 * thread that applies: kv_apply, kv_get, kv_stats and kv_commit must all
 * run on it.
 *
 * kv_commit: commit the open write transaction, if any. Returns 0, or
 * RKV_ENOSPC / RKV_EIO: then what it held is lost, kv_applied_index() falls
 * back to kv_durable_index(), and the caller applies those entries again. */
int kv_commit(struct kv *kv, char *errmsg);
raft_index kv_durable_index(const struct kv *kv);

/* A snapshot stream: the whole state (data, sessions, applied index and
 * term) as of kv_snapshot_open(), read in chunks of any size while
 * kv_apply() goes on. Memory is bounded whatever the state's size; the open
 * LMDB read transaction keeps the pages it sees from being reused, so the
 * file grows while a stream stays open under writes. */
struct kv_snapshot;

/* Start a stream; free it with kv_snapshot_free(). Returns 0; RKV_EBUSY if
 * a restore is in progress or the reader table is full; RKV_ENOMEM;
 * RKV_EIO. */
int kv_snapshot_open(struct kv *kv, struct kv_snapshot **out, char *errmsg);

/* The applied index and term the stream reflects. */
raft_index kv_snapshot_index(const struct kv_snapshot *s);
raft_term kv_snapshot_term(const struct kv_snapshot *s);

/* Copy the next bytes of the stream into `buf` (caller-owned, `cap` > 0
 * bytes) and set *n to their number: `cap` except at the end of the
 * stream, 0 once it is over. Returns 0; RKV_ECORRUPT if a stored record is
 * damaged; RKV_EIO. After an error the stream can only be freed. */
int kv_snapshot_read(struct kv_snapshot *s,
                     uint8_t *buf,
                     size_t cap,
                     size_t *n,
                     char *errmsg);

void kv_snapshot_free(struct kv_snapshot *s);

/* Restoring a snapshot stream replaces the whole state of a kv, atomically:
 * chunks are checked and loaded into a separate environment, which only
 * replaces the live one once the stream's trailer and checksum verify. The
 * live state stays readable and appliable meanwhile. */
struct kv_restore;

/* Start a restore into `kv`. On success *out is set; it is released by
 * kv_restore_finish() or kv_restore_abort(). Returns 0; RKV_EBUSY if a
 * snapshot stream of `kv` is open or another restore is in progress;
 * RKV_ENOMEM; RKV_EIO. */
int kv_restore_begin(struct kv *kv, struct kv_restore **out, char *errmsg);

/* Feed the next `len` bytes of the stream (borrowed; any chunking).
 * Returns 0; RKV_ECORRUPT for a damaged stream (bad magic, bad record,
 * keys out of order, bytes after the trailer, checksum mismatch); RKV_EPROTO
 * for an unknown format version; RKV_EINVAL if the snapshot is older than
 * what `kv` has applied; RKV_ENOSPC; RKV_ENOMEM; RKV_EIO. After an error the
 * only valid call is kv_restore_abort(). */
int kv_restore_write(struct kv_restore *r,
                     const uint8_t *data,
                     size_t len,
                     char *errmsg);

/* End of the stream: verify it is complete, make it durable and swap it in
 * as kv's state; then kv_applied_index() is the snapshot's. Releases `r` in
 * every case. Returns 0; RKV_ECORRUPT if the stream is truncated; RKV_EINVAL
 * if `kv` has meanwhile applied past the snapshot; RKV_ENOSPC; RKV_EIO. The
 * state is unchanged on error, except for an RKV_EIO after the swap: if the
 * message says "reopen", the new state is on disk but could not be opened
 * and every later call on `kv` fails until it is closed and opened again;
 * otherwise the swap is done but may not survive a machine crash. */
int kv_restore_finish(struct kv_restore *r, char *errmsg);

/* Discard the restore; kv's state is unchanged. Releases `r`. */
void kv_restore_abort(struct kv_restore *r);

#endif /* KV_KV_H */
