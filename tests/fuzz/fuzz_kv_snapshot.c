/* Fuzz target: snapshot restore, kv_restore_begin/write/finish (kv/kv.h),
 * into one state machine opened once per process in a scratch directory.
 *
 * Input: a u8 `chunk`, then a snapshot stream, fed to kv_restore_write() in
 * pieces of `chunk` bytes (0: all at once). A damaged stream must give
 * RKV_ECORRUPT or RKV_EPROTO. A restored one must stream back, through
 * kv_snapshot_open/read, as exactly the input (the format has one encoding
 * per state); the state machine is then reset to empty so that every input
 * starts from the same state. The custom mutator fixes the trailer's
 * checksum, which covers every byte before it (fuzz.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kv/kv.h"
#include "raftkv/err.h"
#include "storage/crc32c.h"

#define CRC_BYTES 4     /* the stream ends with its u32 CRC32C */
#define READ_BYTES 4096 /* kv_snapshot_read() chunk */

static struct kv *kv; /* opened by the first input */

static void fix_crc(uint8_t *data, size_t size)
{
    if (size >= FUZZ_CHUNK_BYTES + CRC_BYTES) {
        uint8_t *end = data + size - CRC_BYTES;
        fuzz_put_u32(end, crc32c(0, data + FUZZ_CHUNK_BYTES,
                                 size - FUZZ_CHUNK_BYTES - CRC_BYTES));
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data,
                               size_t size,
                               size_t max_size,
                               unsigned int seed)
{
    return fuzz_mutate_fixed(data, size, max_size, seed, fix_crc);
}

static void open_empty(void)
{
    const char *dir = fuzz_tmpdir();
    /* Small: only address space is reserved, and inputs are small. */
    struct kv_options opt = {.map_size_bytes = 64u << 20, .no_sync = true};
    char errmsg[RKV_ERRMSG_LEN];
    int rv;

    fuzz_empty_dir(dir);
    rv = kv_open(dir, &opt, &kv, errmsg);
    if (rv != 0)
        fuzz_fail(__FILE__, __LINE__, "kv_open: %d: %s", rv, errmsg);
}

/* Feed the stream; false if the restore was refused (and aborted). */
static bool feed(struct kv_restore *r,
                 const uint8_t *stream,
                 size_t len,
                 size_t chunk)
{
    char errmsg[RKV_ERRMSG_LEN];
    size_t off = 0;

    while (off < len) {
        size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;
        int rv = kv_restore_write(r, stream + off, n, errmsg);
        if (rv != 0) {
            if (rv != RKV_ECORRUPT && rv != RKV_EPROTO)
                fuzz_fail(__FILE__, __LINE__, "kv_restore_write: %d: %s", rv,
                          errmsg);
            kv_restore_abort(r);
            return false;
        }
        off += n;
    }
    return true;
}

/* The restored state, streamed back, is the input stream. */
static void check_stream_back(const uint8_t *stream, size_t len)
{
    static uint8_t buf[READ_BYTES];
    struct kv_snapshot *s;
    char errmsg[RKV_ERRMSG_LEN];
    size_t off = 0, n;
    int rv = kv_snapshot_open(kv, &s, errmsg);

    if (rv != 0)
        fuzz_fail(__FILE__, __LINE__, "kv_snapshot_open: %d: %s", rv, errmsg);
    do {
        rv = kv_snapshot_read(s, buf, sizeof buf, &n, errmsg);
        if (rv != 0)
            fuzz_fail(__FILE__, __LINE__, "kv_snapshot_read: %d: %s", rv,
                      errmsg);
        FUZZ_CHECK(n <= len - off && memcmp(buf, stream + off, n) == 0);
        off += n;
    } while (n > 0);
    FUZZ_CHECK(off == len);
    kv_snapshot_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kv_restore *r;
    char errmsg[RKV_ERRMSG_LEN];
    int rv;

    if (size < FUZZ_CHUNK_BYTES)
        return 0;
    if (kv == NULL)
        open_empty();
    rv = kv_restore_begin(kv, &r, errmsg);
    if (rv != 0)
        fuzz_fail(__FILE__, __LINE__, "kv_restore_begin: %d: %s", rv, errmsg);
    if (!feed(r, data + FUZZ_CHUNK_BYTES, size - FUZZ_CHUNK_BYTES, data[0]))
        return 0;
    rv = kv_restore_finish(r, errmsg);
    if (rv != 0) {
        if (rv != RKV_ECORRUPT)
            fuzz_fail(__FILE__, __LINE__, "kv_restore_finish: %d: %s", rv,
                      errmsg);
        return 0;
    }
    check_stream_back(data + FUZZ_CHUNK_BYTES, size - FUZZ_CHUNK_BYTES);
    kv_close(kv);
    open_empty();
    return 0;
}
