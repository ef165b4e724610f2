/* The client command codec: the binary payload of a RAFT_ENTRY_NORMAL entry,
 * which the state machine (kv.h) applies. The front ends encode, kv_apply()
 * decodes. Layout of version 1, integers little-endian:
 *
 *   u8  version     KV_CMD_VERSION
 *   u8  op          enum kv_op
 *   u8  cond        enum kv_cond; KV_COND_NONE unless op is KV_OP_PUT
 *   u64 client_id   client session, 0 = none
 *   u64 seq         sequence number in the session, 0 iff client_id is 0
 *   then, by op:
 *     PUT     u32 key_len, key, u32 value_len, value
 *     DEL     u32 n, then n times: u32 key_len, key
 *     INCRBY  u32 key_len, key, i64 delta (two's complement)
 *     MSET    u32 n, then n times: u32 key_len, key, u32 value_len, value
 *
 * Nothing may follow. Keys are 1..KV_KEY_MAX bytes, values 0..KV_VALUE_MAX
 * bytes, n is 1..KV_CMD_KEYS_MAX and the whole command at most KV_CMD_MAX
 * bytes. A new version is needed for any change of layout or meaning, and
 * every replica must understand it before any node proposes it: a replica
 * that cannot decode a command answers KV_RES_BAD_COMMAND and skips it. */
#ifndef KV_CMD_H
#define KV_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "raftkv/raft.h"

#define KV_CMD_VERSION 1
#define KV_CMD_HEADER_LEN 19    /* version, op, cond, client_id, seq */
#define KV_KEY_MAX 511          /* bytes; LMDB's maximum key size */
#define KV_VALUE_MAX (1u << 20) /* bytes, 1 MiB */
#define KV_CMD_KEYS_MAX 1024    /* keys of one DEL, pairs of one MSET */
#define KV_CMD_MAX (8u << 20)   /* bytes of one encoded command */

_Static_assert(KV_CMD_MAX <= RAFT_ENTRY_MAX, "a command fits in an entry");
_Static_assert(KV_CMD_HEADER_LEN + 8 + KV_KEY_MAX + KV_VALUE_MAX <= KV_CMD_MAX,
               "the largest PUT is a valid command");

enum kv_op {
    KV_OP_PUT = 1,    /* set one key (Redis SET, with its NX/XX condition) */
    KV_OP_DEL = 2,    /* delete one or more keys */
    KV_OP_INCRBY = 3, /* add `delta` to the integer stored at one key */
    KV_OP_MSET = 4,   /* set several keys at once */
};

enum kv_cond {
    KV_COND_NONE = 0, /* unconditional */
    KV_COND_NX = 1,   /* only if the key does not exist */
    KV_COND_XX = 2,   /* only if the key exists */
};

/* A borrowed run of bytes. */
struct kv_slice
{
    const void *data; /* NULL only when len is 0 */
    size_t len;       /* bytes */
};

/* Bytes owned by whoever received them: free with kv_buf_free(). */
struct kv_buf
{
    uint8_t *data; /* malloc'ed, NULL when empty */
    size_t len;    /* bytes */
};

/* Free `b->data` and zero `b`. `b` may be all zero. */
void kv_buf_free(struct kv_buf *b);

/* A command. Keys and values are borrowed: from the caller when encoding,
 * from the decoded buffer when decoding. */
struct kv_cmd
{
    uint8_t op;                    /* enum kv_op */
    uint8_t cond;                  /* enum kv_cond, PUT only */
    uint64_t client_id;            /* session owner, 0 = no session */
    uint64_t seq;                  /* sequence number, 0 iff no session */
    int64_t delta;                 /* INCRBY only */
    size_t n;                      /* keys: 1 for PUT and INCRBY */
    const struct kv_slice *keys;   /* n keys */
    const struct kv_slice *values; /* n values for PUT and MSET, else NULL */
};

/* Encode `cmd` into `buf` (caller-owned, `cap` bytes) and set *len to the
 * bytes written. Returns 0; RKV_ETOOBIG if a key, a value or the whole
 * command exceeds its limit; RKV_EINVAL if the command is otherwise
 * malformed (unknown op or cond, n out of range, empty key, session fields
 * inconsistent) or `cap` is too small. On error `buf` is unspecified. */
int kv_cmd_encode(const struct kv_cmd *cmd,
                  uint8_t *buf,
                  size_t cap,
                  size_t *len,
                  char *errmsg);

/* As kv_cmd_encode(), into a buffer of the exact size that the caller owns
 * on success and frees with kv_buf_free(). Also RKV_ENOMEM. On error `out`
 * is zeroed. */
int kv_cmd_encode_alloc(const struct kv_cmd *cmd,
                        struct kv_buf *out,
                        char *errmsg);

/* Decode `len` untrusted bytes at `buf` into `cmd`. The key and value slices
 * are written to the caller's arrays `keys` and `values` (KV_CMD_KEYS_MAX
 * entries each), which `cmd` then points to; all slices point into `buf`,
 * so they are valid while `buf` is. Returns 0; RKV_EPROTO for an unknown
 * version, op or cond, inconsistent session fields, or a count or length
 * beyond the limits; RKV_ECORRUPT if the bytes end early or run on after
 * the command. Never reads outside buf[0, len). */
int kv_cmd_decode(const uint8_t *buf,
                  size_t len,
                  struct kv_cmd *cmd,
                  struct kv_slice keys[KV_CMD_KEYS_MAX],
                  struct kv_slice values[KV_CMD_KEYS_MAX],
                  char *errmsg);

#endif /* KV_CMD_H */
