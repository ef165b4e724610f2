/* Encoding and decoding of client commands; the layout is described in
 * cmd.h. Decoding reads untrusted bytes, so every length is checked against
 * what is left before it is used. */
#include "kv/cmd.h"

#include <stdbool.h>
#include <stdlib.h>

#include "kv/kv_int.h"

void kv_buf_free(struct kv_buf *b)
{
    ASSERT(b != NULL);
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

static bool op_is_multi(uint8_t op)
{
    return op == KV_OP_DEL || op == KV_OP_MSET;
}

static bool op_has_values(uint8_t op)
{
    return op == KV_OP_PUT || op == KV_OP_MSET;
}

/* Check the fields shared by encoder and decoder; `rv` is the code to fail
 * with (RKV_EINVAL when encoding, RKV_EPROTO when decoding). */
static int check_header(const struct kv_cmd *cmd, int rv, char *errmsg)
{
    if (cmd->op < KV_OP_PUT || cmd->op > KV_OP_MSET)
        return kv__fail(errmsg, rv, "unknown op %u", cmd->op);
    if (cmd->cond > KV_COND_XX)
        return kv__fail(errmsg, rv, "unknown condition %u", cmd->cond);
    if (cmd->cond != KV_COND_NONE && cmd->op != KV_OP_PUT)
        return kv__fail(errmsg, rv, "condition on op %u", cmd->op);
    if ((cmd->client_id == 0) != (cmd->seq == 0))
        return kv__fail(errmsg, rv, "session of client %llu with seq %llu",
                        (unsigned long long)cmd->client_id,
                        (unsigned long long)cmd->seq);
    return 0;
}

/* Validate `cmd` for encoding and compute its encoded size. */
static int cmd_size(const struct kv_cmd *cmd, size_t *size, char *errmsg)
{
    bool multi = op_is_multi(cmd->op);
    bool has_values = op_has_values(cmd->op);
    size_t total;
    int rv;

    rv = check_header(cmd, RKV_EINVAL, errmsg);
    if (rv != 0)
        return rv;
    if (multi ? cmd->n == 0 || cmd->n > KV_CMD_KEYS_MAX : cmd->n != 1)
        return kv__fail(errmsg, RKV_EINVAL, "%zu keys for op %u", cmd->n,
                        cmd->op);
    total =
        KV_CMD_HEADER_LEN + (multi ? 4 : 0) + (cmd->op == KV_OP_INCRBY ? 8 : 0);
    for (size_t i = 0; i < cmd->n; i++) {
        size_t klen = cmd->keys[i].len;
        if (klen == 0)
            return kv__fail(errmsg, RKV_EINVAL, "key %zu is empty", i);
        if (klen > KV_KEY_MAX)
            return kv__fail(errmsg, RKV_ETOOBIG, "key of %zu bytes exceeds %d",
                            klen, KV_KEY_MAX);
        total += 4 + klen;
        if (has_values) {
            size_t vlen = cmd->values[i].len;
            if (vlen > KV_VALUE_MAX)
                return kv__fail(errmsg, RKV_ETOOBIG,
                                "value of %zu bytes exceeds %u", vlen,
                                KV_VALUE_MAX);
            total += 4 + vlen;
        }
    }
    if (total > KV_CMD_MAX)
        return kv__fail(errmsg, RKV_ETOOBIG, "command of %zu bytes exceeds %u",
                        total, KV_CMD_MAX);
    *size = total;
    return 0;
}

static uint8_t *put_slice(uint8_t *p, const struct kv_slice *s)
{
    kv__put_u32le(p, (uint32_t)s->len);
    if (s->len > 0)
        memcpy(p + 4, s->data, s->len);
    return p + 4 + s->len;
}

int kv_cmd_encode(const struct kv_cmd *cmd,
                  uint8_t *buf,
                  size_t cap,
                  size_t *len,
                  char *errmsg)
{
    uint8_t *p = buf;
    size_t size;
    int rv;

    ASSERT(cmd != NULL);
    ASSERT(len != NULL);
    rv = cmd_size(cmd, &size, errmsg);
    if (rv != 0)
        return rv;
    if (cap < size)
        return kv__fail(errmsg, RKV_EINVAL, "buffer of %zu bytes, need %zu",
                        cap, size);
    p[0] = KV_CMD_VERSION;
    p[1] = cmd->op;
    p[2] = cmd->cond;
    kv__put_u64le(p + 3, cmd->client_id);
    kv__put_u64le(p + 11, cmd->seq);
    p += KV_CMD_HEADER_LEN;
    if (op_is_multi(cmd->op)) {
        kv__put_u32le(p, (uint32_t)cmd->n);
        p += 4;
    }
    for (size_t i = 0; i < cmd->n; i++) {
        p = put_slice(p, &cmd->keys[i]);
        if (op_has_values(cmd->op))
            p = put_slice(p, &cmd->values[i]);
    }
    if (cmd->op == KV_OP_INCRBY) {
        kv__put_u64le(p, (uint64_t)cmd->delta);
        p += 8;
    }
    ASSERT((size_t)(p - buf) == size);
    *len = size;
    return 0;
}

int kv_cmd_encode_alloc(const struct kv_cmd *cmd,
                        struct kv_buf *out,
                        char *errmsg)
{
    size_t size;
    int rv;

    ASSERT(out != NULL);
    out->data = NULL;
    out->len = 0;
    rv = cmd_size(cmd, &size, errmsg);
    if (rv != 0)
        return rv;
    out->data = malloc(size);
    if (out->data == NULL)
        return kv__fail(errmsg, RKV_ENOMEM, "command of %zu bytes", size);
    rv = kv_cmd_encode(cmd, out->data, size, &out->len, errmsg);
    ASSERT(rv == 0); /* cmd_size() accepted it and the size is exact */
    return 0;
}

/* Untrusted bytes still to decode. */
struct reader
{
    const uint8_t *p; /* next byte */
    size_t left;      /* bytes from p to the end */
};

static int read_bytes(struct reader *r,
                      size_t n,
                      const uint8_t **out,
                      char *errmsg)
{
    *out = NULL;
    if (r->left < n)
        return KV_CORRUPT(errmsg, "truncated: %zu bytes needed, %zu left", n,
                          r->left);
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

/* Read a u32 length then that many bytes, at most `max`. */
static int read_slice(struct reader *r,
                      size_t min,
                      size_t max,
                      struct kv_slice *s,
                      char *errmsg)
{
    const uint8_t *p;
    uint32_t n;
    int rv;

    rv = read_bytes(r, 4, &p, errmsg);
    if (rv != 0)
        return rv;
    n = kv__get_u32le(p);
    if (n < min || n > max)
        return kv__fail(errmsg, RKV_EPROTO, "length %u not in [%zu, %zu]", n,
                        min, max);
    rv = read_bytes(r, n, &p, errmsg);
    if (rv != 0)
        return rv;
    s->data = p;
    s->len = n;
    return 0;
}

static int read_count(struct reader *r, struct kv_cmd *cmd, char *errmsg)
{
    const uint8_t *p;
    uint32_t n;
    int rv;

    cmd->n = 1;
    if (!op_is_multi(cmd->op))
        return 0;
    rv = read_bytes(r, 4, &p, errmsg);
    if (rv != 0)
        return rv;
    n = kv__get_u32le(p);
    if (n == 0 || n > KV_CMD_KEYS_MAX)
        return kv__fail(errmsg, RKV_EPROTO, "%u keys, limit %d", n,
                        KV_CMD_KEYS_MAX);
    cmd->n = n;
    return 0;
}

int kv_cmd_decode(const uint8_t *buf,
                  size_t len,
                  struct kv_cmd *cmd,
                  struct kv_slice keys[KV_CMD_KEYS_MAX],
                  struct kv_slice values[KV_CMD_KEYS_MAX],
                  char *errmsg)
{
    struct reader r = {buf, len};
    const uint8_t *p;
    int rv;

    ASSERT(buf != NULL || len == 0);
    ASSERT(cmd != NULL);
    ASSERT(keys != NULL);
    ASSERT(values != NULL);
    memset(cmd, 0, sizeof *cmd);
    if (len > KV_CMD_MAX)
        return kv__fail(errmsg, RKV_EPROTO, "command of %zu bytes exceeds %u",
                        len, KV_CMD_MAX);
    rv = read_bytes(&r, KV_CMD_HEADER_LEN, &p, errmsg);
    if (rv != 0)
        return rv;
    if (p[0] != KV_CMD_VERSION)
        return kv__fail(errmsg, RKV_EPROTO, "unknown command version %u", p[0]);
    cmd->op = p[1];
    cmd->cond = p[2];
    cmd->client_id = kv__get_u64le(p + 3);
    cmd->seq = kv__get_u64le(p + 11);
    rv = check_header(cmd, RKV_EPROTO, errmsg);
    if (rv == 0)
        rv = read_count(&r, cmd, errmsg);
    for (size_t i = 0; rv == 0 && i < cmd->n; i++) {
        rv = read_slice(&r, 1, KV_KEY_MAX, &keys[i], errmsg);
        if (rv == 0 && op_has_values(cmd->op))
            rv = read_slice(&r, 0, KV_VALUE_MAX, &values[i], errmsg);
    }
    if (rv == 0 && cmd->op == KV_OP_INCRBY) {
        rv = read_bytes(&r, 8, &p, errmsg);
        if (rv == 0)
            cmd->delta = kv__i64_of_u64(kv__get_u64le(p));
    }
    if (rv != 0)
        return rv;
    if (r.left != 0)
        return KV_CORRUPT(errmsg, "%zu bytes after the command", r.left);
    cmd->keys = keys;
    cmd->values = op_has_values(cmd->op) ? values : NULL;
    return 0;
}
