/* Tests of the hard state file (hardstate.h): round trip, fresh node,
 * corruption, and a failed save leaving the previous state. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/runner.h"
#include "raftkv/err.h"
#include "storage/disk_fault.h"
#include "storage/hardstate.h"

static void hs_path(char *path, size_t size)
{
    snprintf(path, size, "%s/%s", test_tmpdir(), HS_FILE);
}

static void flip_bit(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    int c;
    ASSERT_TRUE(f != NULL);
    ASSERT_OK(fseek(f, off, SEEK_SET));
    c = fgetc(f);
    ASSERT_OK(fseek(f, off, SEEK_SET));
    ASSERT_TRUE(fputc(c ^ 0x10, f) != EOF);
    ASSERT_OK(fclose(f));
}

TEST(hardstate, missing_file_is_a_fresh_node)
{
    struct raft_hard_state hs = {.term = 9, .vote = 9, .commit = 9};
    ASSERT_OK(hs_load(disk_posix(), test_tmpdir(), &hs, NULL));
    ASSERT_EQ_U64(hs.term, 0);
    ASSERT_EQ_U64(hs.vote, 0);
    ASSERT_EQ_U64(hs.commit, 0);
}

TEST(hardstate, saved_state_loads_back_and_replaces_the_old_one)
{
    const struct disk *d = disk_posix();
    struct raft_hard_state in = {.term = 5, .vote = 3, .commit = 1000};
    struct raft_hard_state out;
    char errmsg[RKV_ERRMSG_LEN], path[512];

    ASSERT_OK(hs_save(d, test_tmpdir(), &in, errmsg));
    in = (struct raft_hard_state){.term = 6, .vote = 0, .commit = 1200};
    ASSERT_OK(hs_save(d, test_tmpdir(), &in, errmsg));
    ASSERT_OK(hs_load(d, test_tmpdir(), &out, errmsg));
    ASSERT_EQ_U64(out.term, 6);
    ASSERT_EQ_U64(out.vote, 0);
    ASSERT_EQ_U64(out.commit, 1200);
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), HS_TMP_FILE);
    ASSERT_TRUE(access(path, F_OK) != 0); /* renamed away */
}

TEST(hardstate, any_flipped_byte_is_corruption_naming_the_file)
{
    const struct disk *d = disk_posix();
    struct raft_hard_state in = {.term = 5, .vote = 3, .commit = 7};
    struct raft_hard_state out;
    char errmsg[RKV_ERRMSG_LEN], path[512];

    ASSERT_OK(hs_save(d, test_tmpdir(), &in, errmsg));
    hs_path(path, sizeof path);
    for (long off = 0; off < 40; off++) {
        flip_bit(path, off);
        ASSERT_EQ_INT(hs_load(d, test_tmpdir(), &out, errmsg), RKV_ECORRUPT);
        ASSERT_EQ_STR(errmsg, "hardstate: checksum mismatch");
        ASSERT_EQ_U64(out.term, 0);
        flip_bit(path, off);
    }
    ASSERT_OK(hs_load(d, test_tmpdir(), &out, errmsg));
    ASSERT_EQ_U64(out.term, 5);
}

TEST(hardstate, wrong_size_is_corruption)
{
    const struct disk *d = disk_posix();
    struct raft_hard_state hs = {.term = 1};
    char errmsg[RKV_ERRMSG_LEN], path[512];

    ASSERT_OK(hs_save(d, test_tmpdir(), &hs, errmsg));
    hs_path(path, sizeof path);
    ASSERT_OK(truncate(path, 12));
    ASSERT_EQ_INT(hs_load(d, test_tmpdir(), &hs, errmsg), RKV_ECORRUPT);
    ASSERT_EQ_STR(errmsg, "hardstate: size 12, expected 40");
    ASSERT_OK(truncate(path, 0));
    ASSERT_EQ_INT(hs_load(d, test_tmpdir(), &hs, errmsg), RKV_ECORRUPT);
}

TEST(hardstate, failed_save_keeps_the_previous_state)
{
    struct disk_fault f;
    struct raft_hard_state hs = {.term = 4, .vote = 2, .commit = 10};
    char errmsg[RKV_ERRMSG_LEN];

    disk_fault_init(&f, disk_posix());
    ASSERT_OK(hs_save(&f.disk, test_tmpdir(), &hs, errmsg));
    struct raft_hard_state next = {.term = 5, .vote = 1, .commit = 11};

    f.write = (struct disk_fault_rule){
        .times = 1, .err = RKV_ENOSPC, .partial_bytes = 8};
    ASSERT_EQ_INT(hs_save(&f.disk, test_tmpdir(), &next, errmsg), RKV_ENOSPC);
    ASSERT_TRUE(strncmp(errmsg, "save hardstate: ", 16) == 0);
    f.sync = (struct disk_fault_rule){.times = 1, .err = RKV_EIO};
    ASSERT_EQ_INT(hs_save(&f.disk, test_tmpdir(), &next, errmsg), RKV_EIO);

    ASSERT_OK(hs_load(&f.disk, test_tmpdir(), &hs, errmsg));
    ASSERT_EQ_U64(hs.term, 4);
    ASSERT_EQ_U64(hs.vote, 2);
    ASSERT_EQ_U64(hs.commit, 10);
    ASSERT_OK(hs_save(&f.disk, test_tmpdir(), &next, errmsg));
    ASSERT_OK(hs_load(&f.disk, test_tmpdir(), &hs, errmsg));
    ASSERT_EQ_U64(hs.term, 5);
}
