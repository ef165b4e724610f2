/* Fuzz target: WAL recovery, wal_open() (storage/wal.h), on a directory
 * holding one segment file with the input's bytes.
 *
 * The file is named after the first index its header claims (index 1 if
 * it has none), so sound headers pass the name check. wal_open() must
 * return 0 or RKV_ECORRUPT. After a successful open the entries must be
 * contiguous with non-decreasing terms, and the WAL must take an append
 * right where they end: after one more entry, synced, a second open must
 * find the same entries plus that one, and nothing to cut (the torn tail
 * really is gone). The custom mutator fixes the checksums (fuzz.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "raftkv/err.h"
#include "storage/wal.h"
#include "storage/wal_record.h"

size_t LLVMFuzzerCustomMutator(uint8_t *data,
                               size_t size,
                               size_t max_size,
                               unsigned int seed)
{
    return fuzz_mutate_fixed(data, size, max_size, seed, fuzz_fix_wal_segment);
}

static void write_segment(const char *dir, const uint8_t *data, size_t size)
{
    const size_t first_off = offsetof(struct wal_segment_header, first);
    uint64_t first = 1;
    char path[512];
    int fd;

    if (size >= WAL_SEGMENT_HEADER_BYTES && fuzz_get_u64(data + first_off) > 0)
        first = fuzz_get_u64(data + first_off);
    snprintf(path, sizeof path, "%s/wal-%016" PRIx64 ".log", dir, first);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    FUZZ_CHECK(close(fd) == 0);
}

static void check_replay(const struct wal *w, const struct wal_replay *rp)
{
    for (size_t i = 1; i < rp->n_entries; i++) {
        FUZZ_CHECK(rp->entries[i].index == rp->entries[i - 1].index + 1);
        FUZZ_CHECK(rp->entries[i].term >= rp->entries[i - 1].term);
    }
    if (rp->n_entries == 0) {
        FUZZ_CHECK(wal_first_index(w) == 0 && wal_last_index(w) == 0);
        return;
    }
    FUZZ_CHECK(wal_first_index(w) == rp->entries[0].index);
    FUZZ_CHECK(wal_last_index(w) == rp->entries[rp->n_entries - 1].index);
}

static bool same_entry(const struct raft_entry *x, const struct raft_entry *y)
{
    return x->term == y->term && x->index == y->index && x->type == y->type &&
           x->len == y->len &&
           (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}

/* Append one entry after the recovered ones (`rp`) to `w`, which this
 * frees, and reopen. */
static void check_append(const struct wal_config *cfg,
                         struct wal *w,
                         const struct wal_replay *rp)
{
    static const uint8_t payload[] = "fuzz";
    struct raft_entry e = {.term = 1,
                           .index = 1,
                           .type = RAFT_ENTRY_NORMAL,
                           .len = sizeof payload - 1,
                           .data = payload};
    char errmsg[RKV_ERRMSG_LEN];
    struct wal_replay rp2;
    int rv;

    if (rp->n_entries > 0) {
        const struct raft_entry *last = &rp->entries[rp->n_entries - 1];
        if (last->index == UINT64_MAX) {
            wal_free(w);
            return; /* no index left to append at */
        }
        e.index = last->index + 1;
        e.term = last->term;
    }
    rv = wal_append(w, &e, 1, errmsg);
    if (rv == 0)
        rv = wal_sync(w, errmsg);
    if (rv != 0)
        fuzz_fail(__FILE__, __LINE__, "append after recovery: %d: %s", rv,
                  errmsg);
    wal_free(w);
    rv = wal_open(cfg, &w, &rp2, errmsg);
    if (rv != 0)
        fuzz_fail(__FILE__, __LINE__, "reopen after append: %d: %s", rv,
                  errmsg);
    FUZZ_CHECK(rp2.dropped_bytes == 0);
    FUZZ_CHECK(rp2.n_entries == rp->n_entries + 1);
    for (size_t i = 0; i < rp->n_entries; i++)
        FUZZ_CHECK(same_entry(&rp2.entries[i], &rp->entries[i]));
    FUZZ_CHECK(same_entry(&rp2.entries[rp->n_entries], &e));
    wal_free(w);
    wal_replay_free(&rp2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_tmpdir();
    struct wal_config cfg = {.disk = disk_posix(), .dir = dir};
    struct wal_replay rp;
    struct wal *w;
    char errmsg[RKV_ERRMSG_LEN];
    int rv;

    fuzz_empty_dir(dir);
    write_segment(dir, data, size);
    rv = wal_open(&cfg, &w, &rp, errmsg);
    if (rv != 0) {
        if (rv != RKV_ECORRUPT)
            fuzz_fail(__FILE__, __LINE__, "wal_open returned %d: %s", rv,
                      errmsg);
        return 0;
    }
    FUZZ_CHECK(rp.dropped_bytes <= size);
    check_replay(w, &rp);
    check_append(&cfg, w, &rp);
    wal_replay_free(&rp);
    return 0;
}
