/* Tests of the CRC32C routine: published check values, incremental use, and
 * every table entry against the bitwise definition. */
#include <stdint.h>

#include "lib/runner.h"
#include "storage/crc32c.h"

/* The definition, one bit at a time (reflected polynomial 0x82F63B78). */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

TEST(crc32c, matches_published_check_values)
{
    /* "123456789" is the catalogue check value; the 32-byte vectors are
     * those of RFC 3720, appendix B.4. */
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) {
        ones[i] = 0xff;
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    ASSERT_EQ_U64(crc32c(0, "123456789", 9), 0xE3069283u);
    ASSERT_EQ_U64(crc32c(0, NULL, 0), 0);
    ASSERT_EQ_U64(crc32c(0, zeros, 32), 0x8A9136AAu);
    ASSERT_EQ_U64(crc32c(0, ones, 32), 0x62A8AB43u);
    ASSERT_EQ_U64(crc32c(0, inc, 32), 0x46DD794Eu);
    ASSERT_EQ_U64(crc32c(0, dec, 32), 0x113FDB5Cu);
}

TEST(crc32c, extending_in_pieces_equals_one_pass)
{
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    uint32_t whole = crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut++)
        ASSERT_EQ_U64(crc32c(crc32c(0, buf, cut), buf + cut, sizeof buf - cut),
                      whole);
}

TEST(crc32c, table_agrees_with_bitwise_definition_for_every_byte)
{
    /* A one-byte input at each value uses each table entry once. */
    for (unsigned b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        ASSERT_EQ_U64(crc32c(0, &byte, 1), crc32c_bitwise(&byte, 1));
    }
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * i + 3 * i);
    ASSERT_EQ_U64(crc32c(0, buf, sizeof buf), crc32c_bitwise(buf, sizeof buf));
}

/* The instruction path (when the CPU has it) and the table agree on every
 * length and alignment, and on chained calls. */
TEST(crc32c, hardware_and_table_agree)
{
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131u + 7u);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 7) {
            uint32_t a = crc32c(0, buf + off, len);
            uint32_t b = crc32c_sw(0, buf + off, len);
            ASSERT_EQ_U64_MSG(a, b, "one call");
            ASSERT_EQ_U64_MSG(crc32c(crc32c(0, buf + off, len / 2),
                                     buf + off + len / 2, len - len / 2),
                              b, "chained");
        }
}
