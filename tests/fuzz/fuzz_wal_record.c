/* Fuzz target: the WAL's on-disk codecs, wal__segment_header_decode() and
 * wal__record_decode() (storage/wal_record.h).
 *
 * Input: a segment file, header then records. A decoded header or record
 * must re-encode to exactly its bytes and decode again to the same value,
 * and a record cut one byte short must read as incomplete (which is what
 * lets recovery tell a torn tail from damage). The custom mutator fixes
 * the checksums (fuzz.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "raftkv/err.h"
#include "storage/wal_record.h"

size_t LLVMFuzzerCustomMutator(uint8_t *data,
                               size_t size,
                               size_t max_size,
                               unsigned int seed)
{
    return fuzz_mutate_fixed(data, size, max_size, seed, fuzz_fix_wal_segment);
}

static void check_header(const uint8_t *data, size_t size)
{
    uint8_t again[WAL_SEGMENT_HEADER_BYTES];
    char errmsg[RKV_ERRMSG_LEN];
    raft_index first;
    int rv = wal__segment_header_decode(data, size, &first, errmsg);

    if (rv != 0) {
        FUZZ_CHECK(rv == RKV_ECORRUPT ||
                   (rv == RKV_EAGAIN && size < WAL_SEGMENT_HEADER_BYTES));
        return;
    }
    /* First index 0 decodes; replay refuses it as not matching the file
     * name, and the encoder never writes it. */
    if (first == 0)
        return;
    wal__segment_header_encode(again, first);
    FUZZ_CHECK(memcmp(again, data, sizeof again) == 0);
}

static bool same_entry(const struct raft_entry *a, const struct raft_entry *b)
{
    return a->term == b->term && a->index == b->index && a->type == b->type &&
           a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* The record `rec` (n bytes) decoded into `e`. */
static void check_record(const struct raft_entry *e,
                         const uint8_t *rec,
                         size_t n)
{
    struct raft_entry e2;
    uint8_t *buf;
    size_t n2;

    FUZZ_CHECK(e->type >= RAFT_ENTRY_NORMAL && e->type <= RAFT_ENTRY_CONF);
    FUZZ_CHECK(e->len <= RAFT_ENTRY_MAX && n == wal__record_size(e->len));
    FUZZ_CHECK(e->len == 0 || e->data == rec + WAL_RECORD_HEADER_BYTES);
    buf = malloc(n);
    FUZZ_CHECK(buf != NULL);
    wal__record_encode(buf, e);
    FUZZ_CHECK(memcmp(buf, rec, n) == 0);
    FUZZ_CHECK(wal__record_decode(buf, n, &e2, &n2, NULL) == 0);
    FUZZ_CHECK(n2 == n && same_entry(&e2, e));
    free(buf);
    buf = fuzz_dup(rec, n - 1);
    FUZZ_CHECK(wal__record_decode(buf, n - 1, &e2, &n2, NULL) == RKV_EAGAIN);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct raft_entry e;
    size_t off = size < WAL_SEGMENT_HEADER_BYTES ? 0 : WAL_SEGMENT_HEADER_BYTES;
    size_t n;
    int rv;

    check_header(data, size);
    while (off < size) {
        rv = wal__record_decode(data + off, size - off, &e, &n, errmsg);
        if (rv != 0) {
            FUZZ_CHECK(rv == RKV_EAGAIN || rv == RKV_ECORRUPT);
            break;
        }
        FUZZ_CHECK(n <= size - off);
        check_record(&e, data + off, n);
        off += n;
    }
    return 0;
}
