/* Tests of the disk seam: the POSIX implementation's operations and error
 * mapping, and the fault-injecting wrapper. */
#include <stdio.h>
#include <string.h>

#include "lib/runner.h"
#include "raftkv/err.h"
#include "storage/disk.h"
#include "storage/disk_fault.h"

static void path_in_tmpdir(char *path, size_t size, const char *name)
{
    snprintf(path, size, "%s/%s", test_tmpdir(), name);
}

struct names
{
    char seen[8][32]; /* names reported by list() */
    int n;
};

static int collect(void *arg, const char *name)
{
    struct names *names = arg;
    if (names->n < 8)
        snprintf(names->seen[names->n++], sizeof names->seen[0], "%s", name);
    return 0;
}

TEST(disk_posix, write_read_truncate_size_round_trip)
{
    const struct disk *d = disk_posix();
    char path[512], errmsg[RKV_ERRMSG_LEN];
    uint8_t out[16];
    uint64_t size = 0;
    size_t n = 0;
    int fd = -1;

    path_in_tmpdir(path, sizeof path, "f");
    ASSERT_OK(d->open(d->ctx, path, DISK_CREATE, &fd, errmsg));
    ASSERT_OK(d->write(d->ctx, fd, "hello world", 11, 0, errmsg));
    ASSERT_OK(d->write(d->ctx, fd, "W", 1, 6, errmsg));
    ASSERT_OK(d->sync(d->ctx, fd, errmsg));
    ASSERT_OK(d->size(d->ctx, fd, &size, errmsg));
    ASSERT_EQ_U64(size, 11);
    ASSERT_OK(d->read(d->ctx, fd, out, sizeof out, 0, &n, errmsg));
    ASSERT_EQ_U64(n, 11); /* short only at the end of the file */
    ASSERT_EQ_MEM(out, "hello World", 11);
    ASSERT_OK(d->truncate(d->ctx, fd, 5, errmsg));
    ASSERT_OK(d->size(d->ctx, fd, &size, errmsg));
    ASSERT_EQ_U64(size, 5);
    d->close(d->ctx, fd);

    /* DISK_CREATE empties an existing file. */
    ASSERT_OK(d->open(d->ctx, path, DISK_CREATE, &fd, errmsg));
    ASSERT_OK(d->size(d->ctx, fd, &size, errmsg));
    ASSERT_EQ_U64(size, 0);
    d->close(d->ctx, fd);
}

TEST(disk_posix, open_of_missing_file_is_not_found_with_message)
{
    const struct disk *d = disk_posix();
    char path[512], errmsg[RKV_ERRMSG_LEN];
    int fd = -1;

    path_in_tmpdir(path, sizeof path, "missing");
    ASSERT_EQ_INT(d->open(d->ctx, path, 0, &fd, errmsg), RKV_ENOTFOUND);
    ASSERT_TRUE(strstr(errmsg, "missing: No such file or directory") != NULL);
}

TEST(disk_posix, other_errors_are_eio_with_strerror)
{
    const struct disk *d = disk_posix();
    char path[512], errmsg[RKV_ERRMSG_LEN];

    path_in_tmpdir(path, sizeof path, "no/such/dir");
    ASSERT_EQ_INT(d->sync_dir(d->ctx, path, errmsg), RKV_EIO);
    ASSERT_TRUE(strstr(errmsg, "No such file or directory") != NULL);
    ASSERT_EQ_INT(d->unlink(d->ctx, path, errmsg), RKV_EIO);
}

TEST(disk_posix, rename_unlink_list_and_sync_dir)
{
    const struct disk *d = disk_posix();
    char a[512], b[512], errmsg[RKV_ERRMSG_LEN];
    struct names names = {0};
    int fd = -1;

    path_in_tmpdir(a, sizeof a, "a");
    path_in_tmpdir(b, sizeof b, "b");
    ASSERT_OK(d->open(d->ctx, a, DISK_CREATE, &fd, errmsg));
    d->close(d->ctx, fd);
    ASSERT_OK(d->rename(d->ctx, a, b, errmsg));
    ASSERT_OK(d->sync_dir(d->ctx, test_tmpdir(), errmsg));
    ASSERT_OK(d->list(d->ctx, test_tmpdir(), collect, &names, errmsg));
    ASSERT_EQ_INT(names.n, 1);
    ASSERT_EQ_STR(names.seen[0], "b");
    ASSERT_OK(d->unlink(d->ctx, b, errmsg));
    names.n = 0;
    ASSERT_OK(d->list(d->ctx, test_tmpdir(), collect, &names, errmsg));
    ASSERT_EQ_INT(names.n, 0);
}

TEST(disk_fault, fails_the_chosen_write_after_landing_a_prefix)
{
    struct disk_fault f;
    char path[512], errmsg[RKV_ERRMSG_LEN];
    uint64_t size = 0;
    int fd = -1;

    disk_fault_init(&f, disk_posix());
    f.write = (struct disk_fault_rule){
        .after = 1, .times = 1, .err = RKV_ENOSPC, .partial_bytes = 3};
    path_in_tmpdir(path, sizeof path, "f");
    ASSERT_OK(f.disk.open(f.disk.ctx, path, DISK_CREATE, &fd, errmsg));
    ASSERT_OK(f.disk.write(f.disk.ctx, fd, "abcdef", 6, 0, errmsg));
    ASSERT_EQ_INT(f.disk.write(f.disk.ctx, fd, "ghijkl", 6, 6, errmsg),
                  RKV_ENOSPC);
    ASSERT_TRUE(strstr(errmsg, "injected") != NULL);
    ASSERT_OK(f.disk.size(f.disk.ctx, fd, &size, errmsg));
    ASSERT_EQ_U64(size, 9); /* the short write landed 3 bytes */
    ASSERT_OK(f.disk.write(f.disk.ctx, fd, "x", 1, 9, errmsg));
    ASSERT_EQ_U64(f.n_writes, 3);
    f.disk.close(f.disk.ctx, fd);
}

TEST(disk_fault, forever_rule_fails_until_turned_off)
{
    struct disk_fault f;
    char path[512], errmsg[RKV_ERRMSG_LEN];
    int fd = -1;

    disk_fault_init(&f, disk_posix());
    path_in_tmpdir(path, sizeof path, "f");
    ASSERT_OK(f.disk.open(f.disk.ctx, path, DISK_CREATE, &fd, errmsg));
    f.sync =
        (struct disk_fault_rule){.times = DISK_FAULT_FOREVER, .err = RKV_EIO};
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ_INT(f.disk.sync(f.disk.ctx, fd, errmsg), RKV_EIO);
        ASSERT_EQ_INT(f.disk.sync_dir(f.disk.ctx, test_tmpdir(), errmsg),
                      RKV_EIO);
    }
    f.sync.times = 0;
    ASSERT_OK(f.disk.sync(f.disk.ctx, fd, errmsg));
    ASSERT_EQ_U64(f.n_syncs, 7);
    f.truncate = (struct disk_fault_rule){.times = 1, .err = RKV_EIO};
    ASSERT_EQ_INT(f.disk.truncate(f.disk.ctx, fd, 0, errmsg), RKV_EIO);
    ASSERT_OK(f.disk.truncate(f.disk.ctx, fd, 0, errmsg));
    f.disk.close(f.disk.ctx, fd);
}
