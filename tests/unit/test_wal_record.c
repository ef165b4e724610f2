/* Tests of the WAL record and segment header codecs (wal_record.h): round
 * trips, incomplete input, and damage to any byte. */
#include <stdint.h>
#include <string.h>

#include "lib/runner.h"
#include "raftkv/err.h"
#include "storage/wal_record.h"

static const uint8_t payload[] = "set key value";

static struct raft_entry sample_entry(void)
{
    return (struct raft_entry){.term = 7,
                               .index = 42,
                               .type = RAFT_ENTRY_NORMAL,
                               .len = sizeof payload,
                               .data = payload};
}

TEST(wal_record, decode_returns_what_encode_wrote)
{
    struct raft_entry in = sample_entry(), out;
    uint8_t buf[128];
    size_t n = 0;

    wal__record_encode(buf, &in);
    ASSERT_OK(wal__record_decode(buf, sizeof buf, &out, &n, NULL));
    ASSERT_EQ_U64(n, WAL_RECORD_HEADER_BYTES + sizeof payload);
    ASSERT_EQ_U64(out.term, 7);
    ASSERT_EQ_U64(out.index, 42);
    ASSERT_EQ_INT(out.type, RAFT_ENTRY_NORMAL);
    ASSERT_EQ_U64(out.len, sizeof payload);
    ASSERT_EQ_MEM(out.data, payload, sizeof payload);
}

TEST(wal_record, empty_payload_decodes_with_null_data)
{
    struct raft_entry in = {.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP};
    struct raft_entry out;
    uint8_t buf[WAL_RECORD_HEADER_BYTES];
    size_t n = 0;

    wal__record_encode(buf, &in);
    ASSERT_OK(wal__record_decode(buf, sizeof buf, &out, &n, NULL));
    ASSERT_EQ_U64(n, WAL_RECORD_HEADER_BYTES);
    ASSERT_EQ_U64(out.len, 0);
    ASSERT_TRUE(out.data == NULL);
}

TEST(wal_record, every_proper_prefix_is_incomplete)
{
    struct raft_entry in = sample_entry(), out;
    uint8_t buf[128];
    size_t size = wal__record_size(in.len), n;

    wal__record_encode(buf, &in);
    for (size_t len = 0; len < size; len++)
        ASSERT_EQ_INT(wal__record_decode(buf, len, &out, &n, NULL), RKV_EAGAIN);
}

TEST(wal_record, any_flipped_bit_is_corruption)
{
    struct raft_entry in = sample_entry(), out;
    uint8_t buf[128];
    size_t size = wal__record_size(in.len), n;
    char errmsg[RKV_ERRMSG_LEN];

    wal__record_encode(buf, &in);
    for (size_t bit = 0; bit < 8 * size; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rv = wal__record_decode(buf, size, &out, &n, errmsg);
        /* A damaged length may also claim more bytes than there are, but
         * the header checksum is checked first. */
        ASSERT_EQ_INT(rv, RKV_ECORRUPT);
        ASSERT_TRUE(strstr(errmsg, "checksum mismatch") != NULL);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

TEST(wal_record, sound_checksum_with_bad_fields_is_corruption)
{
    struct raft_entry in = sample_entry(), out;
    uint8_t buf[128];
    size_t n;
    char errmsg[RKV_ERRMSG_LEN];

    in.type = 9;
    wal__record_encode(buf, &in);
    ASSERT_EQ_INT(wal__record_decode(buf, sizeof buf, &out, &n, errmsg),
                  RKV_ECORRUPT);
    ASSERT_EQ_STR(errmsg, "unknown entry type 9");
}

TEST(wal_record, segment_header_round_trips_and_rejects_damage)
{
    uint8_t buf[WAL_SEGMENT_HEADER_BYTES];
    raft_index first = 0;
    char errmsg[RKV_ERRMSG_LEN];

    wal__segment_header_encode(buf, 0x1234);
    ASSERT_OK(wal__segment_header_decode(buf, sizeof buf, &first, errmsg));
    ASSERT_EQ_U64(first, 0x1234);
    ASSERT_EQ_INT(
        wal__segment_header_decode(buf, sizeof buf - 1, &first, errmsg),
        RKV_EAGAIN);
    buf[9] ^= 1; /* version */
    ASSERT_EQ_INT(wal__segment_header_decode(buf, sizeof buf, &first, errmsg),
                  RKV_ECORRUPT);
    ASSERT_EQ_STR(errmsg, "segment header checksum mismatch");
}
