/* Unit tests of the peer wire codec (src/net/peer_codec.h): round trips of
 * every message type, truncation, corruption and the named limits. */
#include <stdlib.h>
#include <string.h>

#include "lib/runner.h"
#include "net/peer_codec.h"
#include "storage/crc32c.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fail unless the error message `msg` mentions `want`. */
#define ASSERT_MENTIONS(msg, want, name)                                      \
    do {                                                                      \
        if (strstr((msg), (want)) == NULL)                                    \
            test__fail(__FILE__, __LINE__, "%s: \"%s\" lacks \"%s\"", (name), \
                       (msg), (want));                                        \
    } while (0)

static const uint8_t payload_a[] = "set x=1";
static const uint8_t payload_b[] = {0x00, 0xff, 0x10, 0x20};
static const uint8_t chunk[] = "snapshot bytes, chunk 3 of 7";

static const struct raft_entry sample_entries[] = {
    {7, 41, RAFT_ENTRY_NOOP, 0, NULL},
    {7, 42, RAFT_ENTRY_NORMAL, sizeof payload_a, payload_a},
    {8, 43, RAFT_ENTRY_CONF, sizeof payload_b, payload_b},
};

/* A message of `type` with every scalar field distinct and non-zero. */
static struct raft_msg sample_msg(uint8_t type, bool with_payload)
{
    struct raft_msg m = {
        .type = type,
        .from = 1,
        .to = 0x0200000000000002u,
        .term = 3,
        .index = 4,
        .log_term = 5,
        .commit = 6,
        .context = 0xfedcba9876543210u,
        .reject = type % 2 == 0,
        .done = type % 3 == 0,
        .hint_index = 9,
        .hint_term = 10,
        .offset = 11,
    };
    if (with_payload && (type == RAFT_MSG_APPEND || type == RAFT_MSG_PROPOSE)) {
        m.entries = sample_entries;
        m.n_entries = ARRAY_LEN(sample_entries);
    }
    if (with_payload && type == RAFT_MSG_SNAPSHOT) {
        m.data = chunk;
        m.len = sizeof chunk;
    }
    return m;
}

/* Encode into an exactly sized heap buffer, so ASan sees any overread. */
static uint8_t *encode(const struct raft_msg *m, size_t *len)
{
    size_t size = peer_msg_encoded_size(m);
    uint8_t *buf = malloc(size);
    ASSERT_TRUE(buf != NULL);
    ASSERT_OK(peer_msg_encode(m, buf, size, len));
    ASSERT_EQ_U64(*len, size);
    return buf;
}

/* Recompute a frame's checksum after the test edited it. */
static void reseal(uint8_t *frame, size_t len)
{
    uint32_t crc = crc32c(0, frame + 8, len - 8);
    for (unsigned i = 0; i < 4; i++)
        frame[4 + i] = (uint8_t)(crc >> (8 * i));
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void assert_same_msg(const struct raft_msg *a, const struct raft_msg *b)
{
    ASSERT_EQ_U64(a->type, b->type);
    ASSERT_EQ_U64(a->from, b->from);
    ASSERT_EQ_U64(a->to, b->to);
    ASSERT_EQ_U64(a->term, b->term);
    ASSERT_EQ_U64(a->index, b->index);
    ASSERT_EQ_U64(a->log_term, b->log_term);
    ASSERT_EQ_U64(a->commit, b->commit);
    ASSERT_EQ_U64(a->context, b->context);
    ASSERT_EQ_U64(a->reject, b->reject);
    ASSERT_EQ_U64(a->done, b->done);
    ASSERT_EQ_U64(a->hint_index, b->hint_index);
    ASSERT_EQ_U64(a->hint_term, b->hint_term);
    ASSERT_EQ_U64(a->offset, b->offset);
    ASSERT_EQ_U64(a->n_entries, b->n_entries);
    for (size_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        ASSERT_EQ_U64(x->term, y->term);
        ASSERT_EQ_U64(x->index, y->index);
        ASSERT_EQ_U64(x->type, y->type);
        ASSERT_EQ_U64(x->len, y->len);
        ASSERT_TRUE((x->data == NULL) == (y->data == NULL));
        if (x->len > 0)
            ASSERT_EQ_MEM(x->data, y->data, x->len);
    }
    ASSERT_EQ_U64(a->len, b->len);
    ASSERT_TRUE((a->data == NULL) == (b->data == NULL));
    if (a->len > 0)
        ASSERT_EQ_MEM(a->data, b->data, a->len);
}

TEST(peer_codec, every_type_round_trips_with_and_without_payload)
{
    struct peer_decoded d;
    peer_decoded_init(&d);
    for (uint8_t type = 1; type <= RAFT_MSG_TYPE_MAX; type++) {
        for (int with = 0; with <= 1; with++) {
            struct raft_msg m = sample_msg(type, with);
            size_t len, used = 0;
            uint8_t *buf = encode(&m, &len);
            char errmsg[RKV_ERRMSG_LEN] = "";
            ASSERT_EQ_INT(peer_msg_decode(buf, len, &d, &used, errmsg), 0);
            ASSERT_EQ_U64(used, len);
            assert_same_msg(&d.msg, &m);
            /* Zero-copy: payloads point into the input buffer. */
            for (size_t i = 0; i < d.msg.n_entries; i++)
                if (d.msg.entries[i].len > 0)
                    ASSERT_TRUE(d.msg.entries[i].data > buf &&
                                d.msg.entries[i].data < buf + len);
            if (d.msg.len > 0)
                ASSERT_TRUE(d.msg.data > buf && d.msg.data < buf + len);
            free(buf);
        }
    }
    peer_decoded_close(&d);
}

TEST(peer_codec, frames_back_to_back_decode_in_order)
{
    struct raft_msg a = sample_msg(RAFT_MSG_APPEND, true);
    struct raft_msg b = sample_msg(RAFT_MSG_HEARTBEAT, false);
    size_t la, lb, used;
    uint8_t *fa = encode(&a, &la), *fb = encode(&b, &lb);
    uint8_t *both = malloc(la + lb);
    struct peer_decoded d;

    ASSERT_TRUE(both != NULL);
    memcpy(both, fa, la);
    memcpy(both + la, fb, lb);
    peer_decoded_init(&d);
    ASSERT_OK(peer_msg_decode(both, la + lb, &d, &used, NULL));
    ASSERT_EQ_U64(used, la);
    assert_same_msg(&d.msg, &a);
    ASSERT_OK(peer_msg_decode(both + la, lb, &d, &used, NULL));
    ASSERT_EQ_U64(used, lb);
    assert_same_msg(&d.msg, &b);
    peer_decoded_close(&d);
    free(both);
    free(fa);
    free(fb);
}

TEST(peer_codec, every_truncation_of_a_frame_is_incomplete)
{
    struct raft_msg m = sample_msg(RAFT_MSG_APPEND, true);
    size_t len, used;
    uint8_t *buf = encode(&m, &len);
    struct peer_decoded d;

    peer_decoded_init(&d);
    for (size_t n = 0; n < len; n++) {
        uint8_t *prefix = malloc(n > 0 ? n : 1);
        ASSERT_TRUE(prefix != NULL);
        memcpy(prefix, buf, n);
        ASSERT_EQ_INT(peer_msg_decode(prefix, n, &d, &used, NULL), RKV_EAGAIN);
        free(prefix);
    }
    peer_decoded_close(&d);
    free(buf);
}

/* Flip bits of every byte of `frame`; with `reseal_crc` the checksum is
 * recomputed, so the field checks behind it are exercised as well. Every
 * outcome must be a clean one. */
static void flip_every_byte(const uint8_t *frame, size_t len, bool reseal_crc)
{
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    struct peer_decoded d;
    uint8_t *copy = malloc(len);

    ASSERT_TRUE(copy != NULL);
    peer_decoded_init(&d);
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < ARRAY_LEN(masks); k++) {
            char errmsg[RKV_ERRMSG_LEN] = "";
            size_t used = 0;
            int rv;
            memcpy(copy, frame, len);
            copy[i] ^= masks[k];
            if (reseal_crc && i >= 8)
                reseal(copy, len);
            rv = peer_msg_decode(copy, len, &d, &used, errmsg);
            ASSERT_TRUE(rv == 0 || rv == RKV_EPROTO || rv == RKV_EAGAIN);
            if (rv == 0)
                ASSERT_EQ_U64(used, len);
            if (rv == RKV_EPROTO)
                ASSERT_TRUE(errmsg[0] != '\0');
            if (!reseal_crc && i >= 8)
                ASSERT_EQ_INT(rv, RKV_EPROTO); /* the checksum catches it */
        }
    }
    peer_decoded_close(&d);
    free(copy);
}

TEST(peer_codec, flipped_bytes_are_refused_or_decode_cleanly)
{
    static const uint8_t types[] = {RAFT_MSG_APPEND, RAFT_MSG_SNAPSHOT,
                                    RAFT_MSG_VOTE_RESP};
    for (size_t t = 0; t < ARRAY_LEN(types); t++) {
        struct raft_msg m = sample_msg(types[t], true);
        size_t len;
        uint8_t *buf = encode(&m, &len);
        flip_every_byte(buf, len, false);
        flip_every_byte(buf, len, true);
        free(buf);
    }
}

TEST(peer_codec, oversized_length_is_refused_from_its_four_bytes)
{
    uint8_t hdr[4];
    struct peer_decoded d;
    char errmsg[RKV_ERRMSG_LEN];
    size_t used;

    peer_decoded_init(&d);
    put_le32(hdr, PEER_FRAME_MAX - 4 + 1);
    ASSERT_EQ_INT(peer_msg_decode(hdr, sizeof hdr, &d, &used, errmsg),
                  RKV_EPROTO);
    ASSERT_MENTIONS(errmsg, "limit", "length");
    put_le32(hdr, UINT32_MAX);
    ASSERT_EQ_INT(peer_msg_decode(hdr, sizeof hdr, &d, &used, NULL),
                  RKV_EPROTO);
    /* The largest legal length waits for its bytes. */
    put_le32(hdr, PEER_FRAME_MAX - 4);
    ASSERT_EQ_INT(peer_msg_decode(hdr, sizeof hdr, &d, &used, NULL),
                  RKV_EAGAIN);
    /* Shorter than any header. */
    put_le32(hdr, PEER_FRAME_HEADER_LEN - 5);
    ASSERT_EQ_INT(peer_msg_decode(hdr, sizeof hdr, &d, &used, NULL),
                  RKV_EPROTO);
    peer_decoded_close(&d);
}

/* Offsets into a frame, after the 4-byte length and 4-byte checksum. */
#define OFF_VERSION 8
#define OFF_TYPE 9
#define OFF_FLAGS 10
#define OFF_N_ENTRIES 91

TEST(peer_codec, malformed_fields_are_refused_with_a_reason)
{
    static const struct
    {
        const char *name;
        uint8_t type; /* message to start from */
        size_t off;   /* byte to overwrite */
        uint32_t value;
        size_t width;     /* 1 or 4 bytes */
        const char *want; /* in the error message */
    } cases[] = {
        {"version", RAFT_MSG_VOTE, OFF_VERSION, 2, 1, "version"},
        {"type 0", RAFT_MSG_VOTE, OFF_TYPE, 0, 1, "type"},
        {"type past the last", RAFT_MSG_VOTE, OFF_TYPE, 15, 1, "type"},
        {"unknown flag", RAFT_MSG_VOTE, OFF_FLAGS, 0x04, 1, "flags"},
        {"entries on a vote", RAFT_MSG_APPEND, OFF_TYPE, RAFT_MSG_VOTE, 1,
         "entries"},
        {"data on a heartbeat", RAFT_MSG_SNAPSHOT, OFF_TYPE, RAFT_MSG_HEARTBEAT,
         1, "data"},
        {"entry count past the frame", RAFT_MSG_HEARTBEAT, OFF_N_ENTRIES,
         1000000, 4, "cannot fit"},
        {"entry count over the limit", RAFT_MSG_HEARTBEAT, OFF_N_ENTRIES,
         PEER_ENTRIES_MAX + 1, 4, "limit"},
        {"unknown entry type", RAFT_MSG_APPEND, OFF_N_ENTRIES + 4 + 16, 9, 1,
         "entry 0"},
        {"entry longer than the frame", RAFT_MSG_APPEND, OFF_N_ENTRIES + 4 + 17,
         5000, 4, "overrun"},
        {"entry count long", RAFT_MSG_APPEND, OFF_N_ENTRIES, 4, 4,
         "cannot fit"},
        {"entry header past the frame", RAFT_MSG_APPEND, OFF_N_ENTRIES + 4 + 17,
         50, 4, "entry 1 of 3 overruns"},
    };
    struct peer_decoded d;

    peer_decoded_init(&d);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct raft_msg m = sample_msg(cases[i].type, true);
        char errmsg[RKV_ERRMSG_LEN] = "";
        size_t len, used;
        uint8_t *buf = encode(&m, &len);
        if (cases[i].width == 1)
            buf[cases[i].off] = (uint8_t)cases[i].value;
        else
            put_le32(buf + cases[i].off, cases[i].value);
        reseal(buf, len);
        ASSERT_EQ_U64_MSG(peer_msg_decode(buf, len, &d, &used, errmsg),
                          (uint64_t)RKV_EPROTO, cases[i].name);
        ASSERT_MENTIONS(errmsg, cases[i].want, cases[i].name);
        free(buf);
    }
    peer_decoded_close(&d);
}

TEST(peer_codec, trailing_bytes_inside_a_frame_are_refused)
{
    struct raft_msg m = sample_msg(RAFT_MSG_HEARTBEAT, false);
    size_t len, used;
    uint8_t *buf = encode(&m, &len);
    uint8_t *longer = calloc(1, len + 1);
    char errmsg[RKV_ERRMSG_LEN];
    struct peer_decoded d;

    ASSERT_TRUE(longer != NULL);
    memcpy(longer, buf, len);
    put_le32(longer, (uint32_t)(len + 1 - 4));
    reseal(longer, len + 1);
    peer_decoded_init(&d);
    ASSERT_EQ_INT(peer_msg_decode(longer, len + 1, &d, &used, errmsg),
                  RKV_EPROTO);
    ASSERT_MENTIONS(errmsg, "left over", "trailing byte");
    peer_decoded_close(&d);
    free(longer);
    free(buf);
}

TEST(peer_codec, encoder_refuses_what_the_decoder_would)
{
    struct raft_entry bad_type = {1, 1, 0, 0, NULL};
    struct raft_msg m = sample_msg(RAFT_MSG_VOTE, false);
    uint8_t buf[256];
    size_t len = 7;

    m.type = 0;
    ASSERT_EQ_INT(peer_msg_encode(&m, buf, sizeof buf, &len), RKV_EINVAL);
    m = sample_msg(RAFT_MSG_VOTE, false);
    m.entries = sample_entries;
    m.n_entries = 1;
    ASSERT_EQ_INT(peer_msg_encode(&m, buf, sizeof buf, &len), RKV_EINVAL);
    m = sample_msg(RAFT_MSG_HEARTBEAT, false);
    m.data = chunk;
    m.len = sizeof chunk;
    ASSERT_EQ_INT(peer_msg_encode(&m, buf, sizeof buf, &len), RKV_EINVAL);
    m = sample_msg(RAFT_MSG_APPEND, false);
    m.entries = &bad_type;
    m.n_entries = 1;
    ASSERT_EQ_INT(peer_msg_encode(&m, buf, sizeof buf, &len), RKV_EINVAL);
    /* A buffer one byte short is refused and left alone. */
    m = sample_msg(RAFT_MSG_HEARTBEAT, false);
    memset(buf, 0xaa, sizeof buf);
    ASSERT_EQ_INT(peer_msg_encode(&m, buf, PEER_FRAME_HEADER_LEN - 1, &len),
                  RKV_EINVAL);
    ASSERT_EQ_U64(buf[0], 0xaa);
    ASSERT_EQ_U64(len, 7);
}

TEST(peer_codec, largest_entry_fits_and_more_is_too_big)
{
    uint8_t *big = calloc(1, RAFT_ENTRY_MAX);
    struct raft_entry es[2];
    struct raft_msg m = sample_msg(RAFT_MSG_APPEND, false);
    struct peer_decoded d;
    size_t len, used;
    uint8_t *buf;

    ASSERT_TRUE(big != NULL);
    big[RAFT_ENTRY_MAX - 1] = 0x5a;
    for (size_t i = 0; i < 2; i++)
        es[i] = (struct raft_entry){1, 5 + i, RAFT_ENTRY_NORMAL, RAFT_ENTRY_MAX,
                                    big};
    m.entries = es;
    m.n_entries = 1;
    buf = encode(&m, &len);
    peer_decoded_init(&d);
    ASSERT_OK(peer_msg_decode(buf, len, &d, &used, NULL));
    ASSERT_EQ_U64(d.msg.entries[0].len, RAFT_ENTRY_MAX);
    ASSERT_EQ_U64(d.msg.entries[0].data[RAFT_ENTRY_MAX - 1], 0x5a);
    free(buf);
    m.n_entries = 2;
    ASSERT_TRUE(peer_msg_encoded_size(&m) > PEER_FRAME_MAX);
    ASSERT_EQ_INT(peer_msg_encode(&m, NULL, 0, &len), RKV_ETOOBIG);
    peer_decoded_close(&d);
    free(big);
}

TEST(peer_codec, more_entries_than_the_limit_are_too_big)
{
    struct raft_entry *es = calloc(PEER_ENTRIES_MAX + 1, sizeof *es);
    struct raft_msg m = sample_msg(RAFT_MSG_APPEND, false);
    size_t len;

    ASSERT_TRUE(es != NULL);
    for (size_t i = 0; i <= PEER_ENTRIES_MAX; i++)
        es[i] = (struct raft_entry){1, 1 + i, RAFT_ENTRY_NOOP, 0, NULL};
    m.entries = es;
    m.n_entries = PEER_ENTRIES_MAX + 1;
    ASSERT_EQ_U64(peer_msg_encoded_size(&m), SIZE_MAX);
    ASSERT_EQ_INT(peer_msg_encode(&m, NULL, 0, &len), RKV_ETOOBIG);
    free(es);
}

TEST(peer_codec, handshake_round_trips_and_truncations_are_incomplete)
{
    struct peer_handshake h = {0x1122334455667788u, 3, 0x0100000000000001u};
    struct peer_handshake out;
    uint8_t buf[PEER_HANDSHAKE_LEN];
    size_t used = 0;

    peer_handshake_encode(&h, buf);
    ASSERT_OK(peer_handshake_decode(buf, sizeof buf, &out, &used, NULL));
    ASSERT_EQ_U64(used, PEER_HANDSHAKE_LEN);
    ASSERT_EQ_U64(out.cluster_id, h.cluster_id);
    ASSERT_EQ_U64(out.from, h.from);
    ASSERT_EQ_U64(out.to, h.to);
    for (size_t n = 0; n < sizeof buf; n++) {
        uint8_t *prefix = malloc(n > 0 ? n : 1);
        ASSERT_TRUE(prefix != NULL);
        memcpy(prefix, buf, n);
        ASSERT_EQ_INT(peer_handshake_decode(prefix, n, &out, &used, NULL),
                      RKV_EAGAIN);
        free(prefix);
    }
}

TEST(peer_codec, handshake_refuses_strangers_at_the_first_wrong_byte)
{
    static const struct
    {
        const char *name;
        size_t off; /* byte to change */
        size_t len; /* bytes offered to the decoder */
        const char *want;
    } cases[] = {
        {"HTTP client", 0, 1, "magic"},
        {"magic's last byte", 3, 4, "magic"},
        {"other version", 4, 5, "version"},
        {"cluster id bit", 6, PEER_HANDSHAKE_LEN, "checksum"},
        {"checksum bit", PEER_HANDSHAKE_LEN - 1, PEER_HANDSHAKE_LEN,
         "checksum"},
    };
    struct peer_handshake h = {1, 2, 3}, out;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint8_t buf[PEER_HANDSHAKE_LEN];
        char errmsg[RKV_ERRMSG_LEN] = "";
        size_t used;
        peer_handshake_encode(&h, buf);
        buf[cases[i].off] ^= 0x40;
        ASSERT_EQ_U64_MSG(
            peer_handshake_decode(buf, cases[i].len, &out, &used, errmsg),
            (uint64_t)RKV_EPROTO, cases[i].name);
        ASSERT_MENTIONS(errmsg, cases[i].want, cases[i].name);
    }
}
