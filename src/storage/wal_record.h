/* The WAL's on-disk format: segment headers and records, as pure encode and
 * decode functions (shared by wal.c, the tests and the fuzz target).
 *
 * A segment file `wal-<first index, 16 hex digits>.log` is a segment header
 * followed by records, back to back. All integers are little-endian.
 *
 *   segment header, 24 bytes          record header, 32 bytes
 *    0 u32 crc32c of bytes 4..23       0 u32 crc32c of header bytes 4..31
 *    4 u32 magic WAL_MAGIC             4 u32 crc32c of the payload
 *    8 u32 version WAL_VERSION         8 u32 payload length, bytes
 *   12 u32 reserved, 0                12 u8  record type WAL_RECORD_ENTRY
 *   16 u64 index of first record      13 u8  entry type (raft_entry_type)
 *                                     14 u16 reserved, 0
 *                                     16 u64 entry term
 *                                     24 u64 entry index
 *                                     32 payload
 *
 * The header checksum covers the length, so a damaged length is caught
 * before it is trusted; the payload has its own. */
#ifndef STORAGE_WAL_RECORD_H
#define STORAGE_WAL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "raftkv/raft.h"

#define WAL_MAGIC 0x4c41574bu /* "KWAL" read as little-endian bytes */
#define WAL_VERSION 1u
#define WAL_RECORD_ENTRY 1u /* the only record type: one log entry */

/* Layout of a segment header; encoded field by field at these offsets. */
struct wal_segment_header
{
    uint32_t crc;      /* crc32c of the 20 bytes after this field */
    uint32_t magic;    /* WAL_MAGIC */
    uint32_t version;  /* WAL_VERSION */
    uint32_t reserved; /* zero */
    raft_index first;  /* index of the segment's first record */
};
#define WAL_SEGMENT_HEADER_BYTES 24u
_Static_assert(sizeof(struct wal_segment_header) == WAL_SEGMENT_HEADER_BYTES,
               "on-disk format");

/* Layout of a record header; encoded field by field at these offsets. */
struct wal_record_header
{
    uint32_t header_crc;  /* crc32c of the 28 header bytes after this */
    uint32_t payload_crc; /* crc32c of the payload */
    uint32_t len;         /* payload length, bytes, <= RAFT_ENTRY_MAX */
    uint8_t type;         /* WAL_RECORD_ENTRY */
    uint8_t entry_type;   /* enum raft_entry_type */
    uint16_t reserved;    /* zero */
    raft_term term;       /* the entry's term */
    raft_index index;     /* the entry's index */
};
#define WAL_RECORD_HEADER_BYTES 32u
_Static_assert(sizeof(struct wal_record_header) == WAL_RECORD_HEADER_BYTES,
               "on-disk format");

/* Bytes a record with a `len`-byte payload takes on disk. */
static inline size_t wal__record_size(uint32_t len)
{
    return WAL_RECORD_HEADER_BYTES + (size_t)len;
}

/* Write the segment header for a segment starting at index `first` into
 * the WAL_SEGMENT_HEADER_BYTES bytes at `buf`. */
void wal__segment_header_encode(uint8_t *buf, raft_index first);

/* Decode the segment header at the start of `buf` (`len` bytes) into
 * *first. Returns 0; RKV_EAGAIN if len < WAL_SEGMENT_HEADER_BYTES; or
 * RKV_ECORRUPT (checksum mismatch, bad magic, unsupported version, non-zero
 * reserved field), with the reason in errmsg. */
int wal__segment_header_decode(const uint8_t *buf,
                               size_t len,
                               raft_index *first,
                               char *errmsg);

/* Encode entry `e` as one record into the wal__record_size(e->len) bytes
 * at `buf`. Preconditions: e->len <= RAFT_ENTRY_MAX, e->data != NULL when
 * e->len > 0. */
void wal__record_encode(uint8_t *buf, const struct raft_entry *e);

/* Decode the record at the start of `buf` (`len` bytes available). On
 * success returns 0, fills *e (e->data points into buf) and sets *consumed
 * to the record's size. Returns RKV_EAGAIN when buf holds only a prefix of
 * a record (fewer bytes than a header, or a sound header whose payload runs
 * past len), or RKV_ECORRUPT (header or payload checksum mismatch, unknown
 * record or entry type, non-zero reserved field, length over
 * RAFT_ENTRY_MAX), with the reason in errmsg. Never reads past buf+len. */
int wal__record_decode(const uint8_t *buf,
                       size_t len,
                       struct raft_entry *e,
                       size_t *consumed,
                       char *errmsg);

#endif /* STORAGE_WAL_RECORD_H */
