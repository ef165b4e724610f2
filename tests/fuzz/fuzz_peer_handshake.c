/* Fuzz target: the connection handshake decoder peer_handshake_decode()
 * (net/peer_codec.h).
 *
 * Input: the first bytes a dialer sends. A decoded handshake must re-encode
 * to exactly its bytes. Every prefix of the input must read as incomplete
 * or as an error, and once a prefix is an error, so is every longer one
 * (a stray client is refused at the first bad byte and never later
 * accepted). The custom mutator fixes the checksum (fuzz.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/peer_codec.h"
#include "raftkv/err.h"
#include "storage/crc32c.h"

#define CRC_OFF (PEER_HANDSHAKE_LEN - 4) /* the trailing u32 CRC32C */

static void fix_crc(uint8_t *data, size_t size)
{
    if (size >= PEER_HANDSHAKE_LEN)
        fuzz_put_u32(data + CRC_OFF, crc32c(0, data, CRC_OFF));
}

size_t LLVMFuzzerCustomMutator(uint8_t *data,
                               size_t size,
                               size_t max_size,
                               unsigned int seed)
{
    return fuzz_mutate_fixed(data, size, max_size, seed, fix_crc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer_handshake h;
    uint8_t again[PEER_HANDSHAKE_LEN];
    size_t max = size < PEER_HANDSHAKE_LEN ? size : PEER_HANDSHAKE_LEN;
    size_t n;
    bool refused = false;
    int rv;

    for (size_t k = 0; k <= max; k++) {
        uint8_t *buf = fuzz_dup(data, k);
        n = 0;
        rv = peer_handshake_decode(buf, k, &h, &n, NULL);
        free(buf);
        FUZZ_CHECK(rv == 0 || rv == RKV_EAGAIN || rv == RKV_EPROTO);
        FUZZ_CHECK(rv != 0 || k == PEER_HANDSHAKE_LEN);
        FUZZ_CHECK(!refused || rv == RKV_EPROTO);
        refused = rv == RKV_EPROTO;
    }
    /* Bytes after the handshake belong to the first frame. */
    rv = peer_handshake_decode(data, size, &h, &n, NULL);
    if (rv != 0)
        return 0;
    FUZZ_CHECK(n == PEER_HANDSHAKE_LEN);
    peer_handshake_encode(&h, again);
    FUZZ_CHECK(memcmp(again, data, PEER_HANDSHAKE_LEN) == 0);
    return 0;
}
