/* Internals of the WAL shared by wal.c (writing) and wal_replay.c
 * (recovery). */
#ifndef STORAGE_WAL_INT_H
#define STORAGE_WAL_INT_H

#include <stdbool.h>

#include "storage/wal.h"
#include "util/buf.h"

/* "wal-" + 16 hex digits + ".log" + NUL */
#define WAL_SEGMENT_NAME_SIZE 25

/* One segment file, as known in memory. */
struct wal_segment
{
    raft_index first;    /* index of its first record; 0: no segment */
    raft_index last;     /* index of its last record (>= first, except
                            for a moment while a segment is started) */
    raft_term last_term; /* term of that record */
    uint64_t size_bytes; /* bytes written: header and records */
};

struct wal
{
    const struct disk *disk;   /* borrowed */
    char *dir;                 /* directory of the segments, owned copy */
    uint64_t segment_bytes;    /* rotation threshold, bytes */
    struct wal_segment *segs;  /* oldest first; appends go to the last */
    size_t n_segs;             /* segments in use */
    size_t cap_segs;           /* allocated length of segs */
    int fd;                    /* handle of the last segment, or -1 */
    bool fd_unsynced;          /* fd written since it was last synced */
    bool dir_unsynced;         /* a segment created since the last
                                  directory sync */
    struct wal_segment synced; /* the last segment as of the last sync or
                                  open: where a rollback returns to
                                  (first == 0: the WAL was empty) */
    int failed;                /* error that made the WAL unusable, or 0 */
    struct rkv_buf buf;        /* records gathered for one write */
};

/* Format the file name of the segment starting at `first`. */
void wal__segment_name(raft_index first, char name[WAL_SEGMENT_NAME_SIZE]);

/* Format "<dir>/<segment name>"; wal_open() checked it fits. */
void wal__segment_path(const struct wal *w,
                       raft_index first,
                       char path[WAL_PATH_MAX]);

/* Append a copy of `s` to w->segs. Returns 0 or RKV_ENOMEM. */
int wal__segment_push(struct wal *w, const struct wal_segment *s);

/* Make the WAL end, durably, as `end` describes its last segment: later
 * segments are unlinked newest first (each unlink synced before the next),
 * then the segment starting at end->first is cut to end->size_bytes,
 * synced and opened for appending. end->first == 0 removes every segment.
 * Sets w->synced = *end. Returns 0, RKV_EIO or RKV_ENOSPC. */
int wal__cut(struct wal *w, const struct wal_segment *end, char *errmsg);

/* Read the whole segment starting at `first` into a new buffer that the
 * caller frees (*buf, *size). Returns 0, RKV_ENOMEM, RKV_EIO. */
int wal__read_segment(const struct wal *w,
                      raft_index first,
                      uint8_t **buf,
                      size_t *size,
                      char *errmsg);

/* Find the segment files in w->dir, replay them into *rp and settle a torn
 * tail (see wal_open()). On return w->segs describes the sound segments
 * and w->fd may hold the last one open. On error *rp keeps what it has
 * gathered, for the caller to free. */
int wal__replay(struct wal *w, struct wal_replay *rp, char *errmsg);

#endif /* STORAGE_WAL_INT_H */
