/* Snapshot files in a node's data directory. The bytes are the state
 * machine's snapshot stream (src/kv/snapshot.c, which carries its own
 * header and checksum); this module only names, writes, finds and reads the
 * files:
 *   snapshot-<index 16 hex>-<term 16 hex>.snap   a complete snapshot
 *   snapshot.tmp                                 one being written locally
 *   snapshot.incoming                            one arriving from a leader
 *   snapshot-<index 16 hex>-<term 16 hex>.conf   the configuration in force
 *                                                at that snapshot's index
 *                                                (raft_conf_encode bytes)
 * A file gets its final name only once fsynced, by rename, followed by a
 * fsync of the directory; then older snapshots are removed. */
#ifndef STORAGE_SNAPSHOT_FILE_H
#define STORAGE_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "raftkv/raft.h"

#define SNAPF_PATH_MAX 4096 /* bytes of a snapshot path, NUL included */

/* Find the newest complete snapshot in `dir`: sets *meta (index 0 if none)
 * and `path` (SNAPF_PATH_MAX bytes). Removes leftovers of interrupted
 * writes and older snapshots. Returns 0 or RKV_EIO. */
int snapf_find_latest(const char *dir,
                      struct raft_snapshot_meta *meta,
                      char *path,
                      char *errmsg);

/* Path of the complete snapshot `meta` in `dir`, into `path`. */
void snapf_path(const char *dir,
                const struct raft_snapshot_meta *meta,
                char *path);

/* Write `len` bytes at `offset` of the temporary file `name` ("snapshot.tmp"
 * or "snapshot.incoming") in `dir`; offset 0 starts it anew. Not synced.
 * Returns 0, RKV_ENOSPC or RKV_EIO. */
int snapf_write(const char *dir,
                const char *name,
                uint64_t offset,
                const void *data,
                size_t len,
                char *errmsg);

/* Make the temporary file `name` the complete snapshot `meta`: fsync, rename,
 * fsync the directory, remove older snapshots. Returns 0, RKV_ENOSPC or
 * RKV_EIO. */
int snapf_commit(const char *dir,
                 const char *name,
                 const struct raft_snapshot_meta *meta,
                 char *errmsg);

/* Read up to `cap` bytes at `offset` of the file `path`; *n < cap only at
 * its end. Returns 0 or RKV_EIO. */
int snapf_read(const char *path,
               uint64_t offset,
               void *buf,
               size_t cap,
               size_t *n,
               char *errmsg);

/* Store the encoded configuration `conf` (`len` bytes) of the snapshot
 * `meta` beside it: written to a temporary file, fsynced, renamed. Call
 * before snapf_commit() of that snapshot, whose directory fsync makes the
 * rename durable; a .conf without its snapshot is removed like any
 * leftover. Returns 0, RKV_ENOSPC or RKV_EIO. */
int snapf_write_conf(const char *dir,
                     const struct raft_snapshot_meta *meta,
                     const uint8_t *conf,
                     size_t len,
                     char *errmsg);

/* Read the configuration stored beside the snapshot `meta` into `buf`
 * (`cap` bytes) and set *len. Returns 0, RKV_ENOTFOUND if there is none
 * (a snapshot taken before configurations were stored), RKV_ECORRUPT if it
 * is larger than `cap`, or RKV_EIO. The bytes are not checked: decode them
 * with raft_conf_decode(). */
int snapf_read_conf(const char *dir,
                    const struct raft_snapshot_meta *meta,
                    uint8_t *buf,
                    size_t cap,
                    size_t *len,
                    char *errmsg);

/* Size of the file `path`, bytes. Returns 0 or RKV_EIO. */
int snapf_size(const char *path, uint64_t *size, char *errmsg);

#endif /* STORAGE_SNAPSHOT_FILE_H */
