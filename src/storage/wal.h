/* The write-ahead log: Raft log entries in segmented files of checksummed
 * records (format in wal_record.h), in one directory, through the disk seam
 * (disk.h). The hard state is kept apart, in hardstate.h.
 *
 * Segments. Records go to the last segment; a new segment is started when
 * the next record would take the current one past `segment_bytes` (a
 * segment always takes at least one record, so one large entry may exceed
 * it). Each segment is named after its first index and holds at least one
 * record; segments follow each other without gaps.
 *
 * Durability. wal_append() writes, wal_sync() makes durable: one write per
 * batch (two when the batch crosses into a new segment) and one fsync per
 * sync, plus a directory fsync when a segment was created. That is group
 * commit: the caller hands over everything gathered while the previous
 * sync ran (in the server, one raft_ready() batch) and pays one fsync for
 * all of it. wal_truncate_from() and wal_drop_before() are durable when
 * they return.
 *
 * Failure. If wal_append() or wal_sync() fails on the disk, every entry
 * appended since the last successful wal_sync() (or wal_open()) is removed
 * again, on disk too, and wal_last_index() tells where the log now ends:
 * the caller may append those entries again later, for example once space
 * is back after RKV_ENOSPC. (After a failed fsync nobody knows what reached
 * the disk, and a second fsync proves nothing, so the WAL cuts back to what
 * an fsync did confirm.) If that clean-up itself fails, the WAL refuses
 * every further call but wal_free() with the same error: reopen it, and
 * recovery settles what is on disk.
 *
 * Threading. A struct wal is not thread-safe and has no thread of its own.
 * All calls on one wal must be serialized by the caller, but may come from
 * different threads: the server runs wal_append() + wal_sync() on a libuv
 * worker (uv_queue_work) and touches neither the wal nor the entries'
 * buffers on the loop thread until the work's after-callback runs;
 * uv_queue_work orders the two threads' memory accesses. Separate wals may
 * be used from separate threads at once. */
#ifndef STORAGE_WAL_H
#define STORAGE_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "raftkv/raft.h"
#include "storage/disk.h"

#define WAL_SEGMENT_BYTES_DEFAULT (64u << 20) /* 64 MiB */
#define WAL_PATH_MAX 4096 /* longest segment path, bytes, NUL included */

struct wal_config
{
    const struct disk *disk; /* borrowed: must outlive the wal */
    const char *dir;         /* existing directory of the segments; copied */
    uint64_t segment_bytes;  /* rotation size; 0 means the default */
};

/* What wal_open() found on disk. */
struct wal_replay
{
    struct raft_entry *entries; /* ascending, contiguous; data points into
                                   `bufs` */
    size_t n_entries;
    uint64_t dropped_bytes; /* torn tail cut off during recovery, bytes */
    uint8_t **bufs;         /* segment contents the entries point into */
    size_t n_bufs;
};

struct wal; /* opaque */

/* Open the WAL in cfg->dir, creating nothing until the first append, and
 * replay it into *rp, which the caller releases with wal_replay_free().
 *
 * Recovery: an incomplete or damaged record at the end of the last segment
 * that no sound record follows is the trace of a write cut short by a
 * crash: it is cut off (the file truncated, a segment left without records
 * removed) and counted in rp->dropped_bytes. Damage anywhere else is
 * RKV_ECORRUPT, with errmsg naming the file and byte offset, e.g.
 * "wal-0000000000000001.log: offset 4096: record payload checksum
 * mismatch"; so are a gap in the index sequence between segments and a
 * term going backwards.
 *
 * Returns 0 and sets *out; RKV_EINVAL (bad config, dir too long);
 * RKV_ECORRUPT as above; RKV_ENOMEM; or RKV_EIO / RKV_ENOSPC from the disk
 * (listing, reading, or cutting off a torn tail). On error nothing is
 * allocated and *rp is zeroed. */
int wal_open(const struct wal_config *cfg,
             struct wal **out,
             struct wal_replay *rp,
             char *errmsg);

/* Release the buffers of a replay; *rp is zeroed. The entries (and their
 * data) are dead after this: raft_load() copies what it keeps. */
void wal_replay_free(struct wal_replay *rp);

/* Close the segment files and free `w`. Nothing is synced: call wal_sync()
 * first to keep what was appended since the last sync. */
void wal_free(struct wal *w);

/* Append `n` entries (borrowed for the call) with one write, not yet
 * durable. entries[0].index must be wal_last_index() + 1 (any index >= 1
 * when the WAL is empty), indexes consecutive, terms not decreasing from
 * the last stored entry, types valid, len <= RAFT_ENTRY_MAX. Returns 0;
 * RKV_EINVAL if the entries break those rules or RKV_ENOMEM (nothing done
 * in either case); RKV_ENOSPC or RKV_EIO from the disk (see "Failure"
 * above). */
int wal_append(struct wal *w,
               const struct raft_entry *entries,
               size_t n,
               char *errmsg);

/* Make everything appended so far durable: fsync of the segment written
 * and, if a segment was created, of the directory. A no-op when nothing is
 * pending. Returns 0, RKV_ENOSPC or RKV_EIO (see "Failure" above). */
int wal_sync(struct wal *w, char *errmsg);

/* Remove entries with index >= `index` (Raft's conflicting suffix),
 * durably, before any entry is appended in their place: later segments
 * are unlinked newest first, each unlink made durable before the next,
 * then the segment holding `index` is cut and synced (pending appends
 * before `index` become durable with it). Returns 0, at once if no entry
 * is at or after `index`; RKV_EINVAL if index == 0; RKV_ECORRUPT,
 * RKV_ENOMEM or RKV_EIO while reading the segment to cut (nothing done);
 * RKV_EIO or RKV_ENOSPC while cutting, after which the WAL refuses further
 * calls. */
int wal_truncate_from(struct wal *w, raft_index index, char *errmsg);

/* Compaction after a snapshot: sync pending appends, then remove, oldest
 * first and each durably, the segments whose entries all lie below
 * `index`. The last segment always stays, so the WAL may keep some entries
 * below `index`. Returns 0, RKV_EIO or RKV_ENOSPC (the segments removed so
 * far stay removed; the WAL stays usable). */
int wal_drop_before(struct wal *w, raft_index index, char *errmsg);

/* Index of the first and last entry held; both 0 when the WAL is empty. */
raft_index wal_first_index(const struct wal *w);
raft_index wal_last_index(const struct wal *w);

#endif /* STORAGE_WAL_H */
