/* The hard state file: Raft's term, vote and commit index, in one small
 * checksummed file `hardstate` beside the WAL, replaced atomically on
 * every save (write a temporary file, fsync, rename, fsync the directory),
 * so a reader sees the old state or the new one, never a mix.
 *
 * File format, 40 bytes, little-endian:
 *    0 u32 crc32c of bytes 4..39     16 u64 term
 *    4 u32 magic HS_MAGIC            24 u64 vote
 *    8 u32 version HS_VERSION        32 u64 commit
 *   12 u32 reserved, 0 */
#ifndef STORAGE_HARDSTATE_H
#define STORAGE_HARDSTATE_H

#include "raftkv/raft.h"
#include "storage/disk.h"

#define HS_FILE "hardstate"
#define HS_TMP_FILE "hardstate.tmp"
#define HS_PATH_MAX 4096 /* longest file path, bytes, NUL included */

/* Read the hard state saved in `dir` into *hs. A missing file is a fresh
 * node: *hs is zeroed and 0 returned. Returns 0; RKV_ECORRUPT (wrong size,
 * checksum mismatch, bad magic or version), with errmsg naming the file;
 * RKV_EINVAL (dir too long); RKV_EIO. On error *hs is zeroed. */
int hs_load(const struct disk *disk,
            const char *dir,
            struct raft_hard_state *hs,
            char *errmsg);

/* Save `hs` in `dir`, durably, replacing what was there. Costs two fsyncs
 * and a rename: call it when term or vote change (before answering any
 * message that depends on them); commit alone need not be saved at once
 * (raft.h) and can ride along. Returns 0; RKV_EINVAL (dir too long);
 * RKV_ENOSPC or RKV_EIO: `hs` is not known to be durable, and the file
 * holds the previous hard state, or the new one if only the final
 * directory fsync failed (a stale HS_TMP_FILE may remain; it is ignored
 * and overwritten). */
int hs_save(const struct disk *disk,
            const char *dir,
            const struct raft_hard_state *hs,
            char *errmsg);

#endif /* STORAGE_HARDSTATE_H */
