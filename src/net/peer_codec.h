/* The peer wire protocol: how one struct raft_msg (include/raftkv/raft.h)
 * and the connection handshake travel between raftkv nodes. Pure functions
 * over byte buffers, so the fuzzer and the tests call them directly; the
 * libuv transport that moves the bytes is peer.h.
 *
 * Every integer is little-endian. A connection starts with one handshake
 * (PEER_HANDSHAKE_LEN bytes, dialer to acceptor):
 *
 *   "RKVP"  u8 version  u64 cluster_id  u64 from  u64 to  u32 crc32c
 *
 * then carries message frames, each:
 *
 *   u32 len          bytes that follow this field
 *   u32 crc32c       of every byte after this field
 *   u8  version      PEER_WIRE_VERSION
 *   u8  type         enum raft_msg_type
 *   u8  flags        bit 0 reject, bit 1 done; other bits zero
 *   u64 from, to, term, index, log_term, commit, context,
 *       hint_index, hint_term, offset
 *   u32 n_entries    then per entry: u64 term, u64 index, u8 type,
 *                    u32 len, len bytes
 *   u32 data_len     then data_len bytes (snapshot chunk)
 *
 * Entries travel only in APPEND, PROPOSE and SNAPSHOT (its configuration
 * entry), data only in SNAPSHOT.
 *
 * Why a checksum although TCP has one: TCP's 16-bit sum misses some
 * multi-bit errors (and NICs that offload it do not cover what happens in
 * memory before), and a frame-level CRC also catches our own bugs (a
 * misframed stream decodes into plausible garbage). The payload matters
 * most: a follower writes received entries to its WAL and checksums them
 * there, so a flipped bit that passed the wire would become durable. CRC32C
 * is the checksum the storage layer already uses. */
#ifndef NET_PEER_CODEC_H
#define NET_PEER_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "raftkv/raft.h"

#define PEER_WIRE_VERSION 1 /* of the handshake and of every frame */

/* Largest frame, bytes, length field included: one entry of RAFT_ENTRY_MAX
 * plus 1 MiB for headers. The core fills an APPEND with entries until
 * their payload would pass max_msg_bytes, but puts in at least one; so with
 * max_msg_bytes <= 1 MiB (the default) an APPEND is either one entry of up
 * to RAFT_ENTRY_MAX, or at most 1 MiB of payload in at most
 * PEER_ENTRIES_MAX entries (only no-op entries are empty) with 21 bytes of
 * header each: both fit. A snapshot chunk may take up to 64 MiB. */
#define PEER_FRAME_MAX (RAFT_ENTRY_MAX + (1u << 20))

/* Most entries in one frame; bounds the decoder's entries array to 32 MiB,
 * and a peer must send the bytes that back a count before it is
 * believed. */
#define PEER_ENTRIES_MAX (1u << 20)

#define PEER_FRAME_HEADER_LEN 99 /* a frame without entries or data */
#define PEER_ENTRY_HEADER_LEN 21 /* per entry, before its bytes */
#define PEER_HANDSHAKE_LEN 33    /* bytes of the handshake */

/* What the dialer of a connection says first. */
struct peer_handshake
{
    uint64_t cluster_id; /* both ends must agree */
    raft_id from;        /* the dialer */
    raft_id to;          /* whom the dialer believes it reached */
};

/* A decoded message and the memory behind it. msg.entries points into
 * `entries`, which the struct owns; every entry's data and msg.data point
 * into the input buffer given to peer_msg_decode() (zero-copy). So the
 * message is valid until the input buffer changes or the next decode into
 * the same struct, whichever comes first. */
struct peer_decoded
{
    struct raft_msg msg;        /* the message */
    struct raft_entry *entries; /* heap array backing msg.entries */
    size_t entries_cap;         /* its capacity, in entries */
};

/* Empty; holds no memory until the first decode with entries. */
void peer_decoded_init(struct peer_decoded *d);

/* Free the entries array; `d` is as after peer_decoded_init(). */
void peer_decoded_close(struct peer_decoded *d);

/* Size in bytes of the frame peer_msg_encode() would write for `m`, or
 * SIZE_MAX if `m` has more than PEER_ENTRIES_MAX entries. */
size_t peer_msg_encoded_size(const struct raft_msg *m);

/* Encode `m` as one frame into buf[0..cap) and set *len to its size. The
 * message is only read. Returns 0; RKV_ETOOBIG if the frame would exceed
 * PEER_FRAME_MAX or carry more than PEER_ENTRIES_MAX entries; RKV_EINVAL if
 * `m` is not a valid message (type out of range, entries or data on a type
 * that carries none, entry type unknown or len over RAFT_ENTRY_MAX) or cap
 * is smaller than peer_msg_encoded_size(m). Nothing is written on error. */
int peer_msg_encode(const struct raft_msg *m,
                    uint8_t *buf,
                    size_t cap,
                    size_t *len);

/* Decode the frame at the start of buf[0..len) into `out` (see struct
 * peer_decoded for how long it stays valid) and set *consumed to the
 * frame's size: the next frame starts at buf + *consumed.
 * Returns 0; RKV_EAGAIN if buf holds only part of a frame (nothing is
 * decoded; call again with more bytes); RKV_EPROTO, with the reason in
 * `errmsg` (RKV_ERRMSG_LEN bytes, may be NULL), for bytes that are no
 * valid frame: length over PEER_FRAME_MAX or under the header, checksum
 * mismatch, wrong version, bad type, flags or entry type, counts or
 * lengths inconsistent with the frame's length, bytes left over; or
 * RKV_ENOMEM (entries array). A length over the limit is refused as soon
 * as its 4 bytes are in, before the rest arrives. On error `out->msg` is
 * unspecified. */
int peer_msg_decode(const uint8_t *buf,
                    size_t len,
                    struct peer_decoded *out,
                    size_t *consumed,
                    char *errmsg);

/* Write the handshake `h` (with PEER_WIRE_VERSION) into out. */
void peer_handshake_encode(const struct peer_handshake *h,
                           uint8_t out[PEER_HANDSHAKE_LEN]);

/* Decode the handshake at the start of buf[0..len) into *out and set
 * *consumed to PEER_HANDSHAKE_LEN. Returns 0; RKV_EAGAIN if fewer bytes are
 * in and those match so far; RKV_EPROTO with the reason in `errmsg` (may be
 * NULL) for a wrong magic (refused from the first differing byte, so a
 * stray client is told off at once), another protocol version, or a
 * checksum mismatch. Checking cluster and node ids is the caller's job. */
int peer_handshake_decode(const uint8_t *buf,
                          size_t len,
                          struct peer_handshake *out,
                          size_t *consumed,
                          char *errmsg);

#endif /* NET_PEER_CODEC_H */
