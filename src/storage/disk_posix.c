/* The POSIX implementation of the disk seam (disk.h). errno is converted to
 * an RKV_E* code here, where each call is made, and nowhere else. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/disk.h"
#include "storage/storage_int.h"

/* Convert `err` (an errno value) from call `what` on `path` (may be NULL)
 * into RKV_ENOSPC or `other`, with strerror's text in errmsg. */
static int posix_err(char *errmsg,
                     int err,
                     int other,
                     const char *what,
                     const char *path)
{
    char text[128];
    int code = err == ENOSPC ? RKV_ENOSPC : other;

    ASSERT(err != 0);
    if (strerror_r(err, text, sizeof text) != 0)
        snprintf(text, sizeof text, "errno %d", err);
    if (path != NULL)
        return storage__errf(errmsg, code, "%s %s: %s", what, path, text);
    return storage__errf(errmsg, code, "%s: %s", what, text);
}

static int posix_open(void *ctx,
                      const char *path,
                      int flags,
                      int *fd,
                      char *errmsg)
{
    int oflags = O_RDWR | O_CLOEXEC;
    int rv;

    (void)ctx;
    ASSERT(flags == 0 || flags == DISK_CREATE);
    if (flags & DISK_CREATE)
        oflags |= O_CREAT | O_TRUNC;
    do
        rv = open(path, oflags, 0644);
    while (rv < 0 && errno == EINTR);
    if (rv < 0)
        return posix_err(errmsg, errno,
                         errno == ENOENT ? RKV_ENOTFOUND : RKV_EIO, "open",
                         path);
    *fd = rv;
    return 0;
}

static void posix_close(void *ctx, int fd)
{
    (void)ctx;
    ASSERT(fd >= 0);
    /* The data was synced (or is being abandoned): an error from close()
     * has nothing left to report. */
    (void)close(fd);
}

static int posix_read(void *ctx,
                      int fd,
                      void *buf,
                      size_t len,
                      uint64_t offset,
                      size_t *n_read,
                      char *errmsg)
{
    uint8_t *p = buf;
    size_t done = 0;

    (void)ctx;
    ASSERT(fd >= 0);
    ASSERT(offset <= INT64_MAX - len);
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return posix_err(errmsg, errno, RKV_EIO, "pread", NULL);
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *n_read = done;
    return 0;
}

static int posix_write(void *ctx,
                       int fd,
                       const void *buf,
                       size_t len,
                       uint64_t offset,
                       char *errmsg)
{
    const uint8_t *p = buf;
    size_t done = 0;

    (void)ctx;
    ASSERT(fd >= 0);
    ASSERT(offset <= INT64_MAX - len);
    while (done < len) {
        ssize_t n = pwrite(fd, p + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return posix_err(errmsg, errno, RKV_EIO, "pwrite", NULL);
        if (n == 0) /* cannot progress: report rather than spin */
            return storage__errf(errmsg, RKV_EIO, "pwrite: wrote nothing");
        done += (size_t)n;
    }
    return 0;
}

static int posix_sync(void *ctx, int fd, char *errmsg)
{
    (void)ctx;
    ASSERT(fd >= 0);
    /* fdatasync also flushes the file size, which is all the metadata a
     * reader needs; the directory entry is sync_dir's business. */
    if (fdatasync(fd) != 0)
        return posix_err(errmsg, errno, RKV_EIO, "fdatasync", NULL);
    return 0;
}

static int posix_truncate(void *ctx, int fd, uint64_t size, char *errmsg)
{
    (void)ctx;
    ASSERT(fd >= 0);
    ASSERT(size <= INT64_MAX);
    if (ftruncate(fd, (off_t)size) != 0)
        return posix_err(errmsg, errno, RKV_EIO, "ftruncate", NULL);
    return 0;
}

static int posix_size(void *ctx, int fd, uint64_t *size, char *errmsg)
{
    struct stat st;

    (void)ctx;
    ASSERT(fd >= 0);
    if (fstat(fd, &st) != 0)
        return posix_err(errmsg, errno, RKV_EIO, "fstat", NULL);
    ASSERT(st.st_size >= 0);
    *size = (uint64_t)st.st_size;
    return 0;
}

static int posix_rename(void *ctx,
                        const char *from,
                        const char *to,
                        char *errmsg)
{
    (void)ctx;
    if (rename(from, to) != 0)
        return posix_err(errmsg, errno, RKV_EIO, "rename", from);
    return 0;
}

static int posix_unlink(void *ctx, const char *path, char *errmsg)
{
    (void)ctx;
    if (unlink(path) != 0)
        return posix_err(errmsg, errno, RKV_EIO, "unlink", path);
    return 0;
}

static int posix_list(void *ctx,
                      const char *dir,
                      disk_list_fn fn,
                      void *arg,
                      char *errmsg)
{
    DIR *d;
    struct dirent *de;
    int rv = 0;

    (void)ctx;
    d = opendir(dir);
    if (d == NULL)
        return posix_err(errmsg, errno, RKV_EIO, "opendir", dir);
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rv = posix_err(errmsg, errno, RKV_EIO, "readdir", dir);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rv = fn(arg, de->d_name);
        if (rv != 0)
            break;
    }
    /* Read-only handle: closing it cannot lose anything. */
    (void)closedir(d);
    return rv;
}

static int posix_sync_dir(void *ctx, const char *dir, char *errmsg)
{
    int fd, rv = 0;

    (void)ctx;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return posix_err(errmsg, errno, RKV_EIO, "open", dir);
    if (fsync(fd) != 0)
        rv = posix_err(errmsg, errno, RKV_EIO, "fsync", dir);
    (void)close(fd); /* read-only handle, nothing to lose */
    return rv;
}

static const struct disk disk_posix_vtable = {
    .ctx = NULL,
    .open = posix_open,
    .close = posix_close,
    .read = posix_read,
    .write = posix_write,
    .sync = posix_sync,
    .truncate = posix_truncate,
    .size = posix_size,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .list = posix_list,
    .sync_dir = posix_sync_dir,
};

const struct disk *disk_posix(void)
{
    return &disk_posix_vtable;
}
