/* Tests of the WAL (wal.h): round trips across rotations, torn-tail
 * recovery at every byte, corruption reports, disk faults through the seam,
 * truncation and compaction. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/runner.h"
#include "raftkv/err.h"
#include "storage/disk_fault.h"
#include "storage/wal.h"
#include "storage/wal_record.h"

#define PAYLOAD_MAX 64
#define BATCH_MAX 64

/* Entries are generated from (index, term), so any replay can be checked
 * without keeping what was written. */
static uint32_t payload_len(raft_index i)
{
    return i % 9 == 0 ? 0 : (uint32_t)((i * 13) % PAYLOAD_MAX);
}

static uint8_t payload_byte(raft_index i, raft_term t, size_t j)
{
    return (uint8_t)(i * 131 + t * 17 + j * 7 + 1);
}

struct batch
{
    struct raft_entry e[BATCH_MAX];
    uint8_t data[BATCH_MAX][PAYLOAD_MAX];
    size_t n;
};

static void batch_make(struct batch *b,
                       raft_index first,
                       size_t n,
                       raft_term term)
{
    ASSERT_TRUE(n <= BATCH_MAX);
    b->n = n;
    for (size_t k = 0; k < n; k++) {
        raft_index i = first + k;
        for (size_t j = 0; j < payload_len(i); j++)
            b->data[k][j] = payload_byte(i, term, j);
        b->e[k] =
            (struct raft_entry){.term = term,
                                .index = i,
                                .type = RAFT_ENTRY_NORMAL,
                                .len = payload_len(i),
                                .data = payload_len(i) ? b->data[k] : NULL};
    }
}

/* Check that `got[0..n)` are the generated entries first.., of `term`. */
static void check_entries(const struct raft_entry *got,
                          size_t n,
                          raft_index first,
                          raft_term term)
{
    for (size_t k = 0; k < n; k++) {
        raft_index i = first + k;
        ASSERT_EQ_U64(got[k].index, i);
        ASSERT_EQ_U64(got[k].term, term);
        ASSERT_EQ_INT(got[k].type, RAFT_ENTRY_NORMAL);
        ASSERT_EQ_U64(got[k].len, payload_len(i));
        for (size_t j = 0; j < got[k].len; j++)
            ASSERT_EQ_U64(got[k].data[j], payload_byte(i, term, j));
    }
}

static struct wal *open_wal(const struct disk *d,
                            const char *dir,
                            uint64_t segment_bytes,
                            struct wal_replay *rp)
{
    struct wal_config cfg = {
        .disk = d, .dir = dir, .segment_bytes = segment_bytes};
    char errmsg[RKV_ERRMSG_LEN] = "";
    struct wal *w = NULL;
    int rv = wal_open(&cfg, &w, rp, errmsg);
    if (rv != 0)
        test__fail(__FILE__, __LINE__, "wal_open: %d: %s", rv, errmsg);
    return w;
}

/* Open, expect exactly entries first..last of `term`, free the replay. */
static struct wal *reopen_expect(const struct disk *d,
                                 const char *dir,
                                 uint64_t segment_bytes,
                                 raft_index first,
                                 raft_index last,
                                 raft_term term)
{
    struct wal_replay rp;
    struct wal *w = open_wal(d, dir, segment_bytes, &rp);
    ASSERT_EQ_U64(rp.n_entries, last + 1 - first);
    check_entries(rp.entries, rp.n_entries, first, term);
    ASSERT_EQ_U64(rp.dropped_bytes, 0);
    wal_replay_free(&rp);
    ASSERT_EQ_U64(wal_first_index(w), last >= first ? first : 0);
    ASSERT_EQ_U64(wal_last_index(w), last >= first ? last : 0);
    return w;
}

/* Append generated entries first..first+n-1 in batches of `per_batch`,
 * syncing after each batch. */
static void append_synced(struct wal *w,
                          raft_index first,
                          size_t n,
                          size_t per_batch,
                          raft_term term)
{
    struct batch b;
    char errmsg[RKV_ERRMSG_LEN] = "";
    for (size_t done = 0; done < n;) {
        size_t k = n - done < per_batch ? n - done : per_batch;
        batch_make(&b, first + done, k, term);
        int rv = wal_append(w, b.e, b.n, errmsg);
        if (rv == 0)
            rv = wal_sync(w, errmsg);
        if (rv != 0)
            test__fail(__FILE__, __LINE__, "append: %d: %s", rv, errmsg);
        done += k;
    }
}

static void seg_path(char *path, size_t size, const char *dir, raft_index first)
{
    snprintf(path, size, "%s/wal-%016llx.log", dir, (unsigned long long)first);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    ASSERT_OK(stat(path, &st));
    return (uint64_t)st.st_size;
}

static void flip_bit(const char *path, uint64_t off, int bit)
{
    FILE *f = fopen(path, "r+b");
    int c;
    ASSERT_TRUE(f != NULL);
    ASSERT_OK(fseek(f, (long)off, SEEK_SET));
    c = fgetc(f);
    ASSERT_TRUE(c != EOF);
    ASSERT_OK(fseek(f, (long)off, SEEK_SET));
    ASSERT_TRUE(fputc(c ^ (1 << bit), f) != EOF);
    ASSERT_OK(fclose(f));
}

/* First indexes of the segment files in `dir`, ascending; returns count. */
static size_t list_segments(const char *dir, raft_index *out, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;
    ASSERT_TRUE(d != NULL);
    while ((de = readdir(d)) != NULL) {
        unsigned long long first;
        if (sscanf(de->d_name, "wal-%16llx.log", &first) != 1)
            continue;
        ASSERT_TRUE(n < cap);
        size_t k = n++;
        for (; k > 0 && out[k - 1] > first; k--)
            out[k] = out[k - 1];
        out[k] = first;
    }
    closedir(d);
    return n;
}

/* Byte offset of entry `index` in a single segment starting at `first`. */
static uint64_t record_offset(raft_index first, raft_index index)
{
    uint64_t off = WAL_SEGMENT_HEADER_BYTES;
    for (raft_index i = first; i < index; i++)
        off += wal__record_size(payload_len(i));
    return off;
}

static void make_dir(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "%s/%s", test_tmpdir(), name);
    ASSERT_OK(mkdir(dir, 0700));
}

TEST(wal, empty_directory_opens_empty_and_ignores_other_files)
{
    const struct disk *d = disk_posix();
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/hardstate", test_tmpdir());
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    ASSERT_OK(fclose(f));
    struct wal *w = reopen_expect(d, test_tmpdir(), 0, 1, 0, 1);
    wal_free(w);
}

TEST(wal, round_trip_across_rotations)
{
    const struct disk *d = disk_posix();
    raft_index firsts[64];
    struct wal *w = open_wal(d, test_tmpdir(), 400, &(struct wal_replay){0});

    append_synced(w, 1, 200, 7, 3);
    ASSERT_EQ_U64(wal_last_index(w), 200);
    wal_free(w);
    size_t n = list_segments(test_tmpdir(), firsts, 64);
    ASSERT_TRUE(n > 10);
    ASSERT_EQ_U64(firsts[0], 1);
    for (size_t k = 0; k + 1 < n; k++) {
        char path[512];
        seg_path(path, sizeof path, test_tmpdir(), firsts[k]);
        /* Rotation before a record would pass the limit... */
        ASSERT_TRUE(file_size(path) <= 400);
        /* ...and not much earlier. */
        ASSERT_TRUE(file_size(path) +
                        wal__record_size(payload_len(firsts[k + 1])) >
                    400);
    }
    w = reopen_expect(d, test_tmpdir(), 400, 1, 200, 3);
    wal_free(w);
}

TEST(wal, reopened_wal_continues_where_it_ended)
{
    const struct disk *d = disk_posix();
    struct wal *w = open_wal(d, test_tmpdir(), 500, &(struct wal_replay){0});

    append_synced(w, 1, 20, 20, 2);
    wal_free(w);
    w = reopen_expect(d, test_tmpdir(), 500, 1, 20, 2);
    append_synced(w, 21, 30, 4, 2);
    wal_free(w);
    w = reopen_expect(d, test_tmpdir(), 500, 1, 50, 2);
    wal_free(w);
}

TEST(wal, record_larger_than_segment_size_gets_its_own_segment)
{
    const struct disk *d = disk_posix();
    static uint8_t big[3000];
    struct raft_entry e[2] = {{.term = 1,
                               .index = 1,
                               .type = RAFT_ENTRY_NORMAL,
                               .len = 10,
                               .data = big},
                              {.term = 1,
                               .index = 2,
                               .type = RAFT_ENTRY_NORMAL,
                               .len = sizeof big,
                               .data = big}};
    struct wal_replay rp;
    raft_index firsts[4];
    struct wal *w = open_wal(d, test_tmpdir(), 100, &rp);

    ASSERT_OK(wal_append(w, e, 2, NULL));
    ASSERT_OK(wal_sync(w, NULL));
    wal_free(w);
    ASSERT_EQ_U64(list_segments(test_tmpdir(), firsts, 4), 2);
    w = open_wal(d, test_tmpdir(), 100, &rp);
    ASSERT_EQ_U64(rp.n_entries, 2);
    ASSERT_EQ_U64(rp.entries[1].len, sizeof big);
    wal_replay_free(&rp);
    wal_free(w);
}

TEST(wal, torn_last_record_is_cut_at_every_byte_offset)
{
    const struct disk *d = disk_posix();
    const raft_index n = 5;
    uint64_t last_off = record_offset(1, n);
    uint64_t end = last_off + wal__record_size(payload_len(n));

    for (uint64_t cut = last_off; cut < end; cut++) {
        char dir[512], name[32], path[600];
        struct wal_replay rp;
        snprintf(name, sizeof name, "cut%llu", (unsigned long long)cut);
        make_dir(dir, sizeof dir, name);
        struct wal *w = open_wal(d, dir, 0, &rp);
        append_synced(w, 1, n, 2, 1);
        wal_free(w);
        seg_path(path, sizeof path, dir, 1);
        ASSERT_EQ_U64(file_size(path), end);
        ASSERT_OK(truncate(path, (off_t)cut));

        w = open_wal(d, dir, 0, &rp);
        ASSERT_EQ_U64(rp.n_entries, n - 1);
        check_entries(rp.entries, rp.n_entries, 1, 1);
        ASSERT_EQ_U64(rp.dropped_bytes, cut - last_off);
        wal_replay_free(&rp);
        ASSERT_EQ_U64(file_size(path), last_off);
        /* The log goes on from the cut. */
        append_synced(w, n, 1, 1, 1);
        wal_free(w);
        w = reopen_expect(d, dir, 0, 1, n, 1);
        wal_free(w);
    }
}

TEST(wal, torn_first_record_of_new_segment_removes_the_segment)
{
    const struct disk *d = disk_posix();
    raft_index firsts[8];

    for (uint64_t cut = 0; cut < WAL_SEGMENT_HEADER_BYTES + 20; cut++) {
        char dir[512], name[32], path[600];
        struct wal_replay rp;
        snprintf(name, sizeof name, "cut%llu", (unsigned long long)cut);
        make_dir(dir, sizeof dir, name);
        struct wal *w = open_wal(d, dir, 200, &rp);
        append_synced(w, 1, 3, 3, 1); /* fits one segment */
        append_synced(w, 4, 1, 1, 1); /* starts a new one */
        wal_free(w);
        ASSERT_EQ_U64(list_segments(dir, firsts, 8), 2);
        seg_path(path, sizeof path, dir, firsts[1]);
        ASSERT_OK(truncate(path, (off_t)cut));

        w = open_wal(d, dir, 200, &rp);
        ASSERT_EQ_U64(rp.n_entries, 3);
        ASSERT_EQ_U64(rp.dropped_bytes, cut);
        wal_replay_free(&rp);
        ASSERT_EQ_U64(list_segments(dir, firsts, 8), 1);
        append_synced(w, 4, 1, 1, 1);
        wal_free(w);
        w = reopen_expect(d, dir, 200, 1, 4, 1);
        wal_free(w);
    }
}

TEST(wal, damaged_final_record_with_nothing_after_is_a_torn_tail)
{
    const struct disk *d = disk_posix();
    const raft_index n = 4;
    uint64_t last_off = record_offset(1, n);
    uint64_t end = last_off + wal__record_size(payload_len(n));

    for (uint64_t at = last_off; at < end; at++) {
        char dir[512], name[32], path[600];
        struct wal_replay rp;
        snprintf(name, sizeof name, "at%llu", (unsigned long long)at);
        make_dir(dir, sizeof dir, name);
        struct wal *w = open_wal(d, dir, 0, &rp);
        append_synced(w, 1, n, 4, 1);
        wal_free(w);
        seg_path(path, sizeof path, dir, 1);
        flip_bit(path, at, (int)(at % 8));

        w = open_wal(d, dir, 0, &rp);
        ASSERT_EQ_U64(rp.n_entries, n - 1);
        ASSERT_EQ_U64(rp.dropped_bytes, end - last_off);
        wal_replay_free(&rp);
        wal_free(w);
    }
}

TEST(wal, zeros_after_the_last_record_are_cut)
{
    const struct disk *d = disk_posix();
    char path[512];
    struct wal_replay rp;
    struct wal *w = open_wal(d, test_tmpdir(), 0, &rp);

    append_synced(w, 1, 6, 6, 1);
    wal_free(w);
    seg_path(path, sizeof path, test_tmpdir(), 1);
    uint64_t size = file_size(path);
    ASSERT_OK(truncate(path, (off_t)(size + 4096)));
    w = open_wal(d, test_tmpdir(), 0, &rp);
    ASSERT_EQ_U64(rp.n_entries, 6);
    ASSERT_EQ_U64(rp.dropped_bytes, 4096);
    wal_replay_free(&rp);
    wal_free(w);
    ASSERT_EQ_U64(file_size(path), size);
}

TEST(wal, damaged_middle_record_is_corruption_naming_file_and_offset)
{
    const struct disk *d = disk_posix();
    char path[512], want[128], errmsg[RKV_ERRMSG_LEN];
    struct wal_config cfg = {.disk = d, .dir = test_tmpdir()};
    struct wal_replay rp;
    struct wal *w = open_wal(d, test_tmpdir(), 0, &rp);

    append_synced(w, 1, 10, 3, 1);
    wal_free(w);
    seg_path(path, sizeof path, test_tmpdir(), 1);
    /* Every byte of record 6, header and payload: records 7-10 follow. */
    uint64_t off = record_offset(1, 6);
    snprintf(want, sizeof want, "wal-0000000000000001.log: offset %llu: ",
             (unsigned long long)off);
    for (uint64_t at = off; at < record_offset(1, 7); at++) {
        flip_bit(path, at, (int)(at % 8));
        w = NULL;
        ASSERT_EQ_INT(wal_open(&cfg, &w, &rp, errmsg), RKV_ECORRUPT);
        ASSERT_TRUE(w == NULL);
        ASSERT_EQ_U64(rp.n_entries, 0);
        ASSERT_TRUE(strncmp(errmsg, want, strlen(want)) == 0);
        ASSERT_TRUE(strstr(errmsg, "checksum mismatch") != NULL);
        flip_bit(path, at, (int)(at % 8));
    }
    /* Nothing was cut while refusing. */
    w = reopen_expect(d, test_tmpdir(), 0, 1, 10, 1);
    wal_free(w);
}

TEST(wal, damage_in_an_earlier_segment_is_corruption_even_at_its_end)
{
    const struct disk *d = disk_posix();
    char path[512], errmsg[RKV_ERRMSG_LEN];
    struct wal_config cfg = {
        .disk = d, .dir = test_tmpdir(), .segment_bytes = 300};
    raft_index firsts[32];
    struct wal_replay rp;
    struct wal *w = open_wal(d, test_tmpdir(), 300, &rp);

    append_synced(w, 1, 40, 5, 1);
    wal_free(w);
    ASSERT_TRUE(list_segments(test_tmpdir(), firsts, 32) > 2);
    /* The last byte of segment 1 is the end of its last record. */
    seg_path(path, sizeof path, test_tmpdir(), firsts[1]);
    flip_bit(path, file_size(path) - 1, 0);
    ASSERT_EQ_INT(wal_open(&cfg, &w, &rp, errmsg), RKV_ECORRUPT);
    ASSERT_TRUE(strstr(errmsg, "payload checksum mismatch") != NULL);
    flip_bit(path, file_size(path) - 1, 0);

    /* A segment cut short that is not the last one. */
    ASSERT_OK(truncate(path, (off_t)(file_size(path) - 1)));
    ASSERT_EQ_INT(wal_open(&cfg, &w, &rp, errmsg), RKV_ECORRUPT);
    ASSERT_TRUE(strstr(errmsg, "record cut short") != NULL);
}

TEST(wal, missing_middle_segment_is_corruption)
{
    const struct disk *d = disk_posix();
    char path[512], errmsg[RKV_ERRMSG_LEN];
    struct wal_config cfg = {
        .disk = d, .dir = test_tmpdir(), .segment_bytes = 300};
    raft_index firsts[32];
    struct wal_replay rp;
    struct wal *w = open_wal(d, test_tmpdir(), 300, &rp);

    append_synced(w, 1, 40, 5, 1);
    wal_free(w);
    size_t n = list_segments(test_tmpdir(), firsts, 32);
    ASSERT_TRUE(n > 3);
    seg_path(path, sizeof path, test_tmpdir(), firsts[n / 2]);
    ASSERT_OK(unlink(path));
    ASSERT_EQ_INT(wal_open(&cfg, &w, &rp, errmsg), RKV_ECORRUPT);
    ASSERT_TRUE(strstr(errmsg, "previous segment ends at") != NULL);
}

/* Write segment file `name_first` by hand, its header saying
 * `header_first`, with the given entries (for what the WAL refuses to
 * write). */
static void write_segment(const char *dir,
                          raft_index name_first,
                          raft_index header_first,
                          const struct raft_entry *e,
                          size_t n)
{
    uint8_t buf[1024];
    size_t len = WAL_SEGMENT_HEADER_BYTES;
    char path[512];
    FILE *f;

    wal__segment_header_encode(buf, header_first);
    for (size_t k = 0; k < n; k++) {
        wal__record_encode(buf + len, &e[k]);
        len += wal__record_size(e[k].len);
    }
    seg_path(path, sizeof path, dir, name_first);
    f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ_U64(fwrite(buf, 1, len, f), len);
    ASSERT_OK(fclose(f));
}

TEST(wal, sound_records_out_of_sequence_are_corruption)
{
    char errmsg[RKV_ERRMSG_LEN], path[512];
    struct wal_config cfg = {.disk = disk_posix(), .dir = test_tmpdir()};
    struct wal_replay rp;
    struct wal *w;
    struct raft_entry e[3] = {{.term = 2, .index = 1, .type = 1},
                              {.term = 1, .index = 2, .type = 1},
                              {.term = 2, .index = 4, .type = 1}};

    write_segment(test_tmpdir(), 1, 1, e, 2); /* term goes back */
    ASSERT_EQ_INT(wal_open(&cfg, &w, &rp, errmsg), RKV_ECORRUPT);
    ASSERT_EQ_STR(errmsg,
                  "wal-0000000000000001.log: offset 56: term 1 after term 2");

    e[1].term = 2; /* index skips 3 */
    write_segment(test_tmpdir(), 1, 1, e, 3);
    ASSERT_EQ_INT(wal_open(&cfg, &w, &rp, errmsg), RKV_ECORRUPT);
    ASSERT_EQ_STR(errmsg,
                  "wal-0000000000000001.log: offset 88: index 4, expected 3");

    write_segment(test_tmpdir(), 1, 2, e, 1); /* name and header disagree */
    ASSERT_EQ_INT(wal_open(&cfg, &w, &rp, errmsg), RKV_ECORRUPT);
    ASSERT_EQ_STR(errmsg,
                  "wal-0000000000000001.log: offset 0: header says "
                  "first index 2");

    seg_path(path, sizeof path, test_tmpdir(), 1);
    ASSERT_OK(unlink(path));
    write_segment(test_tmpdir(), 2, 2, e, 1); /* records not from 2 */
    ASSERT_EQ_INT(wal_open(&cfg, &w, &rp, errmsg), RKV_ECORRUPT);
    ASSERT_EQ_STR(errmsg,
                  "wal-0000000000000002.log: offset 24: index 1, expected 2");
}

TEST(wal, append_rejects_gaps_and_bad_entries)
{
    struct batch b;
    char errmsg[RKV_ERRMSG_LEN];
    struct wal *w =
        open_wal(disk_posix(), test_tmpdir(), 0, &(struct wal_replay){0});

    append_synced(w, 1, 5, 5, 3);
    batch_make(&b, 7, 2, 3); /* gap: 6 missing */
    ASSERT_EQ_INT(wal_append(w, b.e, b.n, errmsg), RKV_EINVAL);
    ASSERT_EQ_STR(errmsg, "append: index 7, expected 6");
    batch_make(&b, 6, 2, 2); /* term goes back */
    ASSERT_EQ_INT(wal_append(w, b.e, b.n, errmsg), RKV_EINVAL);
    batch_make(&b, 6, 2, 3);
    b.e[1].index = 8; /* not consecutive within the batch */
    ASSERT_EQ_INT(wal_append(w, b.e, b.n, errmsg), RKV_EINVAL);
    batch_make(&b, 6, 2, 3);
    b.e[1].type = 0;
    ASSERT_EQ_INT(wal_append(w, b.e, b.n, errmsg), RKV_EINVAL);
    ASSERT_EQ_U64(wal_last_index(w), 5);
    ASSERT_OK(wal_append(w, b.e, 0, errmsg));
    wal_free(w);
}

TEST(wal, enospc_on_append_keeps_synced_entries_and_recovers)
{
    struct disk_fault f;
    char path[512], errmsg[RKV_ERRMSG_LEN];
    struct batch b;

    disk_fault_init(&f, disk_posix());
    struct wal *w =
        open_wal(&f.disk, test_tmpdir(), 0, &(struct wal_replay){0});
    append_synced(w, 1, 10, 10, 1);
    seg_path(path, sizeof path, test_tmpdir(), 1);
    uint64_t size = file_size(path);

    /* Disk full: every write fails after landing 50 bytes. */
    f.write = (struct disk_fault_rule){
        .times = DISK_FAULT_FOREVER, .err = RKV_ENOSPC, .partial_bytes = 50};
    batch_make(&b, 11, 5, 1);
    for (int attempt = 0; attempt < 2; attempt++) {
        ASSERT_EQ_INT(wal_append(w, b.e, b.n, errmsg), RKV_ENOSPC);
        ASSERT_TRUE(strstr(errmsg, "wal-0000000000000001.log: offset") != NULL);
        ASSERT_EQ_U64(wal_last_index(w), 10);
        ASSERT_EQ_U64(file_size(path), size); /* the short write is gone */
    }
    /* Space is back: the same batch goes in. */
    f.write.times = 0;
    ASSERT_OK(wal_append(w, b.e, b.n, errmsg));
    ASSERT_OK(wal_sync(w, errmsg));
    wal_free(w);
    w = reopen_expect(disk_posix(), test_tmpdir(), 0, 1, 15, 1);
    wal_free(w);
}

TEST(wal, enospc_while_starting_a_segment_rolls_back_both_segments)
{
    struct disk_fault f;
    char errmsg[RKV_ERRMSG_LEN];
    raft_index firsts[8];
    struct batch b;

    disk_fault_init(&f, disk_posix());
    struct wal *w =
        open_wal(&f.disk, test_tmpdir(), 300, &(struct wal_replay){0});
    append_synced(w, 1, 2, 2, 1);
    /* The batch fills segment 1 (first write) and spills into a new
     * segment (second write, which fails). */
    f.write = (struct disk_fault_rule){
        .after = 1, .times = 1, .err = RKV_ENOSPC, .partial_bytes = 40};
    batch_make(&b, 3, 12, 1);
    ASSERT_EQ_INT(wal_append(w, b.e, b.n, errmsg), RKV_ENOSPC);
    ASSERT_EQ_U64(wal_last_index(w), 2);
    ASSERT_EQ_U64(list_segments(test_tmpdir(), firsts, 8), 1);
    wal_free(w);
    w = reopen_expect(disk_posix(), test_tmpdir(), 300, 1, 2, 1);
    append_synced(w, 3, 12, 12, 1);
    wal_free(w);
    w = reopen_expect(disk_posix(), test_tmpdir(), 300, 1, 14, 1);
    wal_free(w);
}

TEST(wal, failed_sync_discards_unsynced_entries)
{
    struct disk_fault f;
    char errmsg[RKV_ERRMSG_LEN];
    struct batch b;

    disk_fault_init(&f, disk_posix());
    struct wal *w =
        open_wal(&f.disk, test_tmpdir(), 0, &(struct wal_replay){0});
    append_synced(w, 1, 3, 3, 1);
    batch_make(&b, 4, 4, 1);
    ASSERT_OK(wal_append(w, b.e, b.n, errmsg));
    f.sync = (struct disk_fault_rule){.times = 1, .err = RKV_EIO};
    ASSERT_EQ_INT(wal_sync(w, errmsg), RKV_EIO);
    ASSERT_TRUE(strncmp(errmsg, "sync: ", 6) == 0);
    ASSERT_EQ_U64(wal_last_index(w), 3);
    ASSERT_OK(wal_append(w, b.e, b.n, errmsg));
    ASSERT_OK(wal_sync(w, errmsg));
    wal_free(w);
    w = reopen_expect(disk_posix(), test_tmpdir(), 0, 1, 7, 1);
    wal_free(w);
}

TEST(wal, failed_rollback_refuses_calls_until_reopened)
{
    struct disk_fault f;
    char errmsg[RKV_ERRMSG_LEN];
    struct wal_replay rp;
    struct batch b;

    disk_fault_init(&f, disk_posix());
    struct wal *w = open_wal(&f.disk, test_tmpdir(), 0, &rp);
    append_synced(w, 1, 3, 3, 1);
    f.write = (struct disk_fault_rule){
        .times = 1, .err = RKV_ENOSPC, .partial_bytes = 20};
    f.truncate = (struct disk_fault_rule){.times = 1, .err = RKV_EIO};
    batch_make(&b, 4, 2, 1);
    ASSERT_EQ_INT(wal_append(w, b.e, b.n, errmsg), RKV_ENOSPC);
    ASSERT_TRUE(strstr(errmsg, "; rollback: ") != NULL);
    ASSERT_EQ_INT(wal_append(w, b.e, b.n, errmsg), RKV_EIO);
    ASSERT_EQ_INT(wal_sync(w, errmsg), RKV_EIO);
    ASSERT_EQ_INT(wal_truncate_from(w, 2, errmsg), RKV_EIO);
    wal_free(w);
    /* Recovery cuts the 20 bytes the failed write left behind. */
    w = open_wal(disk_posix(), test_tmpdir(), 0, &rp);
    ASSERT_EQ_U64(rp.n_entries, 3);
    ASSERT_EQ_U64(rp.dropped_bytes, 20);
    wal_replay_free(&rp);
    append_synced(w, 4, 2, 2, 1);
    wal_free(w);
}

/* Run a fixed workload (batches appended and synced, a failed batch
 * retried) with one fault armed through `rule`; after a failure, reopen and
 * check the log holds exactly what was acknowledged. Returns whether the
 * fault fired. */
static bool run_with_fault(const char *dir,
                           struct disk_fault_rule rule,
                           bool on_sync)
{
    struct disk_fault f;
    char errmsg[RKV_ERRMSG_LEN];
    struct wal_replay rp;
    raft_index acked = 0;
    bool fired = false;

    disk_fault_init(&f, disk_posix());
    if (on_sync)
        f.sync = rule;
    else
        f.write = rule;
    struct wal *w = open_wal(&f.disk, dir, 250, &rp);
    for (size_t k = 1; acked < 30; k++) {
        struct batch b;
        batch_make(&b, acked + 1, k % 5 + 1, 1);
        int rv = wal_append(w, b.e, b.n, errmsg);
        if (rv == 0)
            rv = wal_sync(w, errmsg);
        if (rv == 0) {
            acked += b.n;
            continue;
        }
        ASSERT_EQ_INT(rv, rule.err);
        ASSERT_EQ_U64(wal_last_index(w), acked);
        fired = true;
        wal_free(w);
        w = reopen_expect(&f.disk, dir, 250, 1, acked, 1);
    }
    wal_free(w);
    w = reopen_expect(disk_posix(), dir, 250, 1, acked, 1);
    wal_free(w);
    return fired;
}

TEST(wal, any_failing_write_or_sync_leaves_exactly_the_acknowledged_log)
{
    for (int on_sync = 0; on_sync <= 1; on_sync++) {
        for (uint64_t after = 0;; after++) {
            char dir[512], name[32];
            struct disk_fault_rule rule = {.after = after,
                                           .times = 1,
                                           .err = RKV_EIO,
                                           .partial_bytes = 37};
            snprintf(name, sizeof name, "%s%llu", on_sync ? "s" : "w",
                     (unsigned long long)after);
            make_dir(dir, sizeof dir, name);
            if (!run_with_fault(dir, rule, on_sync))
                break;
        }
    }
}

TEST(wal, truncate_suffix_then_append_a_new_term)
{
    const struct disk *d = disk_posix();
    struct wal *w = open_wal(d, test_tmpdir(), 300, &(struct wal_replay){0});
    struct wal_replay rp;

    append_synced(w, 1, 40, 6, 1);
    ASSERT_OK(wal_truncate_from(w, 23, NULL));
    ASSERT_EQ_U64(wal_last_index(w), 22);
    append_synced(w, 23, 10, 4, 2);
    wal_free(w);

    w = open_wal(d, test_tmpdir(), 300, &rp);
    ASSERT_EQ_U64(rp.n_entries, 32);
    check_entries(rp.entries, 22, 1, 1);
    check_entries(rp.entries + 22, 10, 23, 2);
    wal_replay_free(&rp);
    wal_free(w);
}

TEST(wal, truncate_at_segment_starts_and_of_everything)
{
    const struct disk *d = disk_posix();
    raft_index firsts[32];
    struct wal *w = open_wal(d, test_tmpdir(), 300, &(struct wal_replay){0});

    append_synced(w, 1, 40, 6, 1);
    size_t n = list_segments(test_tmpdir(), firsts, 32);
    ASSERT_TRUE(n > 3);
    /* Nothing at or after 41: no-op. */
    ASSERT_OK(wal_truncate_from(w, 41, NULL));
    ASSERT_EQ_U64(wal_last_index(w), 40);
    ASSERT_OK(wal_truncate_from(w, firsts[2], NULL));
    ASSERT_EQ_U64(wal_last_index(w), firsts[2] - 1);
    ASSERT_EQ_U64(list_segments(test_tmpdir(), firsts, 32), 2);
    wal_free(w);
    w = reopen_expect(d, test_tmpdir(), 300, 1, firsts[2] - 1, 1);

    ASSERT_OK(wal_truncate_from(w, 1, NULL));
    ASSERT_EQ_U64(wal_last_index(w), 0);
    ASSERT_EQ_U64(list_segments(test_tmpdir(), firsts, 32), 0);
    /* An empty WAL starts wherever the caller says (after a snapshot). */
    append_synced(w, 100, 5, 5, 4);
    wal_free(w);
    w = reopen_expect(d, test_tmpdir(), 300, 100, 104, 4);
    ASSERT_EQ_INT(wal_truncate_from(w, 0, NULL), RKV_EINVAL);
    wal_free(w);
}

TEST(wal, drop_before_removes_only_whole_segments_below_the_index)
{
    const struct disk *d = disk_posix();
    raft_index firsts[32], after[32];
    struct wal *w = open_wal(d, test_tmpdir(), 300, &(struct wal_replay){0});
    struct wal_replay rp;

    append_synced(w, 1, 40, 6, 1);
    size_t n = list_segments(test_tmpdir(), firsts, 32);
    ASSERT_TRUE(n > 3);
    /* One past segment 2's start: segments 0 and 1 go, 2 stays. */
    ASSERT_OK(wal_drop_before(w, firsts[2] + 1, NULL));
    ASSERT_EQ_U64(wal_first_index(w), firsts[2]);
    ASSERT_EQ_U64(list_segments(test_tmpdir(), after, 32), n - 2);
    ASSERT_EQ_U64(after[0], firsts[2]);
    /* Beyond the end: the last segment stays. */
    ASSERT_OK(wal_drop_before(w, 1000, NULL));
    ASSERT_EQ_U64(wal_first_index(w), firsts[n - 1]);
    ASSERT_EQ_U64(wal_last_index(w), 40);
    append_synced(w, 41, 3, 3, 1);
    wal_free(w);

    w = open_wal(d, test_tmpdir(), 300, &rp);
    ASSERT_EQ_U64(rp.n_entries, 44 - firsts[n - 1]);
    check_entries(rp.entries, rp.n_entries, firsts[n - 1], 1);
    wal_replay_free(&rp);
    wal_free(w);
}
