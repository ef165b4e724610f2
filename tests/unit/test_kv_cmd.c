/* Tests of the client command codec (src/kv/cmd.h): round trips of every
 * op, and rejection of malformed or truncated bytes without a crash. */
#include <stdlib.h>

#include "kv/cmd.h"
#include "lib/runner.h"

#define S(str)              \
    {                       \
        str, sizeof str - 1 \
    }

static const struct kv_slice keys3[] = {S("alpha"), S("b"), S("gamma")};
static const struct kv_slice vals3[] = {S("1"), S(""), S("three")};

/* One valid command of each shape. */
static const struct
{
    const char *name;
    struct kv_cmd cmd;
} valid[] = {
    {"put", {KV_OP_PUT, KV_COND_NONE, 0, 0, 0, 1, keys3, vals3}},
    {"put nx in session", {KV_OP_PUT, KV_COND_NX, 7, 1, 0, 1, keys3, vals3}},
    {"put xx empty value",
     {KV_OP_PUT, KV_COND_XX, 0, 0, 0, 1, keys3 + 1, vals3 + 1}},
    {"del one", {KV_OP_DEL, KV_COND_NONE, 0, 0, 0, 1, keys3, NULL}},
    {"del three", {KV_OP_DEL, KV_COND_NONE, UINT64_MAX, 9, 0, 3, keys3, NULL}},
    {"incrby min",
     {KV_OP_INCRBY, KV_COND_NONE, 1, 2, INT64_MIN, 1, keys3, NULL}},
    {"incrby -1", {KV_OP_INCRBY, KV_COND_NONE, 0, 0, -1, 1, keys3, NULL}},
    {"mset three",
     {KV_OP_MSET, KV_COND_NONE, 3, UINT64_MAX, 0, 3, keys3, vals3}},
};

static void assert_same_cmd(const struct kv_cmd *a,
                            const struct kv_cmd *b,
                            const char *name)
{
    ASSERT_EQ_U64_MSG(a->op, b->op, name);
    ASSERT_EQ_U64_MSG(a->cond, b->cond, name);
    ASSERT_EQ_U64_MSG(a->client_id, b->client_id, name);
    ASSERT_EQ_U64_MSG(a->seq, b->seq, name);
    ASSERT_EQ_U64_MSG(a->delta, b->delta, name);
    ASSERT_EQ_U64_MSG(a->n, b->n, name);
    ASSERT_EQ_U64_MSG(a->values == NULL, b->values == NULL, name);
    for (size_t i = 0; i < a->n; i++) {
        ASSERT_EQ_U64_MSG(a->keys[i].len, b->keys[i].len, name);
        ASSERT_EQ_MEM(a->keys[i].data, b->keys[i].data, a->keys[i].len);
        if (a->values == NULL)
            continue;
        ASSERT_EQ_U64_MSG(a->values[i].len, b->values[i].len, name);
        ASSERT_EQ_MEM(a->values[i].data, b->values[i].data, a->values[i].len);
    }
}

/* Decode scratch: big, so not on the stack. */
static struct kv_slice dkeys[KV_CMD_KEYS_MAX];
static struct kv_slice dvals[KV_CMD_KEYS_MAX];

TEST(kv_cmd, every_op_round_trips)
{
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        uint8_t buf[256];
        size_t len;
        struct kv_cmd out;
        char errmsg[RKV_ERRMSG_LEN];
        ASSERT_OK(kv_cmd_encode(&valid[i].cmd, buf, sizeof buf, &len, errmsg));
        ASSERT_OK(kv_cmd_decode(buf, len, &out, dkeys, dvals, errmsg));
        assert_same_cmd(&valid[i].cmd, &out, valid[i].name);
    }
}

TEST(kv_cmd, encode_alloc_gives_the_same_bytes_as_encode)
{
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        uint8_t buf[256];
        size_t len;
        struct kv_buf b;
        ASSERT_OK(kv_cmd_encode(&valid[i].cmd, buf, sizeof buf, &len, NULL));
        ASSERT_OK(kv_cmd_encode_alloc(&valid[i].cmd, &b, NULL));
        ASSERT_EQ_U64_MSG(b.len, len, valid[i].name);
        ASSERT_EQ_MEM(b.data, buf, len);
        kv_buf_free(&b);
        ASSERT_TRUE(b.data == NULL);
    }
}

TEST(kv_cmd, every_truncation_of_a_valid_encoding_is_corrupt)
{
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        uint8_t buf[256];
        size_t len;
        struct kv_cmd out;
        char errmsg[RKV_ERRMSG_LEN];
        ASSERT_OK(kv_cmd_encode(&valid[i].cmd, buf, sizeof buf, &len, NULL));
        for (size_t cut = 0; cut < len; cut++) {
            /* A fresh allocation of exactly `cut` bytes lets ASan catch
             * any read past the end. */
            uint8_t *copy = malloc(cut > 0 ? cut : 1);
            ASSERT_TRUE(copy != NULL);
            memcpy(copy, buf, cut);
            int rv = kv_cmd_decode(copy, cut, &out, dkeys, dvals, errmsg);
            free(copy);
            ASSERT_EQ_INT(rv, RKV_ECORRUPT);
        }
    }
}

TEST(kv_cmd, trailing_bytes_are_corrupt)
{
    uint8_t buf[256];
    size_t len;
    struct kv_cmd out;

    ASSERT_OK(kv_cmd_encode(&valid[0].cmd, buf, sizeof buf, &len, NULL));
    buf[len] = 0;
    ASSERT_EQ_INT(kv_cmd_decode(buf, len + 1, &out, dkeys, dvals, NULL),
                  RKV_ECORRUPT);
}

/* Patch one field of the encoding of `del three` (keys "alpha", "b",
 * "gamma") and expect `want`. Offsets: 0 version, 1 op, 2 cond, 3 client,
 * 11 seq, 19 count, 23 first key length, 27 first key. */
static const struct
{
    const char *name;
    size_t at;
    uint8_t bytes[4];
    size_t n;
    int want;
} patches[] = {
    {"version 0", 0, {0}, 1, RKV_EPROTO},
    {"version 2", 0, {2}, 1, RKV_EPROTO},
    {"op 0", 1, {0}, 1, RKV_EPROTO},
    {"op 5", 1, {5}, 1, RKV_EPROTO},
    {"cond on del", 2, {KV_COND_NX}, 1, RKV_EPROTO},
    {"cond 3", 2, {3}, 1, RKV_EPROTO},
    {"seq 0 with a client", 11, {0, 0, 0, 0}, 4, RKV_EPROTO},
    {"count 0", 19, {0, 0, 0, 0}, 4, RKV_EPROTO},
    {"count over the limit", 19, {0x01, 0x04, 0, 0}, 4, RKV_EPROTO},
    {"count 4 of 3", 19, {4, 0, 0, 0}, 4, RKV_ECORRUPT},
    {"key length 0", 23, {0, 0, 0, 0}, 4, RKV_EPROTO},
    {"key length 512", 23, {0, 2, 0, 0}, 4, RKV_EPROTO},
    {"key length 2^32-1", 23, {0xff, 0xff, 0xff, 0xff}, 4, RKV_EPROTO},
    {"key length past the end", 23, {0xf0, 0, 0, 0}, 4, RKV_ECORRUPT},
};

TEST(kv_cmd, malformed_fields_are_rejected)
{
    uint8_t good[256];
    size_t len;

    ASSERT_OK(kv_cmd_encode(&valid[4].cmd, good, sizeof good, &len, NULL));
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        uint8_t buf[256];
        struct kv_cmd out;
        char errmsg[RKV_ERRMSG_LEN] = "";
        memcpy(buf, good, len);
        memcpy(buf + patches[i].at, patches[i].bytes, patches[i].n);
        int rv = kv_cmd_decode(buf, len, &out, dkeys, dvals, errmsg);
        ASSERT_EQ_U64_MSG(rv, patches[i].want, patches[i].name);
        ASSERT_TRUE(errmsg[0] != '\0');
    }
}

TEST(kv_cmd, value_over_the_limit_is_rejected)
{
    uint8_t buf[64];
    size_t len;
    struct kv_cmd out;

    ASSERT_OK(kv_cmd_encode(&valid[0].cmd, buf, sizeof buf, &len, NULL));
    /* PUT "alpha": key length at 19, key at 23, value length at 28. */
    buf[28] = 0x01, buf[29] = 0x00, buf[30] = 0x10, buf[31] = 0x00;
    ASSERT_EQ_INT(kv_cmd_decode(buf, len, &out, dkeys, dvals, NULL),
                  RKV_EPROTO);
}

TEST(kv_cmd, random_corruption_never_crashes_the_decoder)
{
    uint64_t x = 88172645463325252ull; /* xorshift64 state */

    for (int round = 0; round < 20000; round++) {
        size_t which = round % (sizeof valid / sizeof valid[0]);
        uint8_t buf[256];
        size_t len;
        struct kv_cmd out;
        ASSERT_OK(
            kv_cmd_encode(&valid[which].cmd, buf, sizeof buf, &len, NULL));
        for (int flips = 0; flips < 1 + round % 4; flips++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[x % len] ^= (uint8_t)(x >> 32);
        }
        int rv = kv_cmd_decode(buf, len, &out, dkeys, dvals, NULL);
        ASSERT_TRUE(rv == 0 || rv == RKV_ECORRUPT || rv == RKV_EPROTO);
    }
}

TEST(kv_cmd, encode_rejects_what_decode_would)
{
    struct kv_slice empty = {"", 0};
    struct kv_slice big_key = {NULL, KV_KEY_MAX + 1};
    struct kv_slice big_val = {NULL, KV_VALUE_MAX + 1};
    struct kv_cmd c;
    uint8_t buf[256];
    size_t len;

    big_key.data = calloc(1, big_key.len);
    big_val.data = calloc(1, big_val.len);
    ASSERT_TRUE(big_key.data != NULL && big_val.data != NULL);

    c = (struct kv_cmd){KV_OP_PUT, KV_COND_NONE, 0, 0, 0, 1, &big_key, vals3};
    ASSERT_EQ_INT(kv_cmd_encode(&c, buf, sizeof buf, &len, NULL), RKV_ETOOBIG);
    c.keys = keys3, c.values = &big_val;
    ASSERT_EQ_INT(kv_cmd_encode(&c, buf, sizeof buf, &len, NULL), RKV_ETOOBIG);
    c.keys = &empty, c.values = vals3;
    ASSERT_EQ_INT(kv_cmd_encode(&c, buf, sizeof buf, &len, NULL), RKV_EINVAL);
    c.keys = keys3, c.n = 2;
    ASSERT_EQ_INT(kv_cmd_encode(&c, buf, sizeof buf, &len, NULL), RKV_EINVAL);
    c.n = 1, c.client_id = 5;
    ASSERT_EQ_INT(kv_cmd_encode(&c, buf, sizeof buf, &len, NULL), RKV_EINVAL);
    c.client_id = 0;
    ASSERT_EQ_INT(kv_cmd_encode(&c, buf, 10, &len, NULL), RKV_EINVAL);
    c = (struct kv_cmd){KV_OP_DEL, KV_COND_NONE, 0, 0, 0, 0, keys3, NULL};
    ASSERT_EQ_INT(kv_cmd_encode(&c, buf, sizeof buf, &len, NULL), RKV_EINVAL);

    free((void *)big_key.data);
    free((void *)big_val.data);
}

TEST(kv_cmd, mset_over_the_command_limit_is_too_big)
{
    struct kv_slice k[9];
    struct kv_slice v[9];
    char names[9][2];
    struct kv_buf b;
    uint8_t *val = calloc(1, KV_VALUE_MAX);

    ASSERT_TRUE(val != NULL);
    for (int i = 0; i < 9; i++) {
        names[i][0] = (char)('a' + i);
        k[i] = (struct kv_slice){names[i], 1};
        v[i] = (struct kv_slice){val, KV_VALUE_MAX};
    }
    struct kv_cmd c = {KV_OP_MSET, KV_COND_NONE, 0, 0, 0, 9, k, v};
    ASSERT_EQ_INT(kv_cmd_encode_alloc(&c, &b, NULL), RKV_ETOOBIG);
    ASSERT_TRUE(b.data == NULL);
    c.n = 7; /* 7 MiB and a little: fits */
    ASSERT_OK(kv_cmd_encode_alloc(&c, &b, NULL));
    struct kv_cmd out;
    ASSERT_OK(kv_cmd_decode(b.data, b.len, &out, dkeys, dvals, NULL));
    assert_same_cmd(&c, &out, "7 MiB mset");
    kv_buf_free(&b);
    free(val);
}
