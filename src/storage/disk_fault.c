/* The fault-injecting disk wrapper (disk_fault.h). */
#include "storage/disk_fault.h"

#include "storage/storage_int.h"

/* The error the current call must fail with under `rule`, or 0 to let it
 * through. Counts the call against the rule. */
static int injected_error(struct disk_fault_rule *rule)
{
    if (rule->times == 0)
        return 0;
    if (rule->after > 0) {
        rule->after--;
        return 0;
    }
    if (rule->times != DISK_FAULT_FOREVER)
        rule->times--;
    ASSERT(rule->err == RKV_ENOSPC || rule->err == RKV_EIO);
    return rule->err;
}

static int fault_open(void *ctx,
                      const char *path,
                      int flags,
                      int *fd,
                      char *errmsg)
{
    struct disk_fault *f = ctx;
    return f->inner->open(f->inner->ctx, path, flags, fd, errmsg);
}

static void fault_close(void *ctx, int fd)
{
    struct disk_fault *f = ctx;
    f->inner->close(f->inner->ctx, fd);
}

static int fault_read(void *ctx,
                      int fd,
                      void *buf,
                      size_t len,
                      uint64_t offset,
                      size_t *n_read,
                      char *errmsg)
{
    struct disk_fault *f = ctx;
    return f->inner->read(f->inner->ctx, fd, buf, len, offset, n_read, errmsg);
}

static int fault_write(void *ctx,
                       int fd,
                       const void *buf,
                       size_t len,
                       uint64_t offset,
                       char *errmsg)
{
    struct disk_fault *f = ctx;
    size_t partial = f->write.partial_bytes;
    int err, rv;

    f->n_writes++;
    err = injected_error(&f->write);
    if (err == 0)
        return f->inner->write(f->inner->ctx, fd, buf, len, offset, errmsg);
    if (partial > 0) {
        rv = f->inner->write(f->inner->ctx, fd, buf,
                             partial < len ? partial : len, offset, errmsg);
        if (rv != 0)
            return rv;
    }
    return storage__errf(errmsg, err, "pwrite: injected fault: %s",
                         rkv_strerror(err));
}

static int fault_sync(void *ctx, int fd, char *errmsg)
{
    struct disk_fault *f = ctx;
    int err;

    f->n_syncs++;
    err = injected_error(&f->sync);
    if (err != 0)
        return storage__errf(errmsg, err, "fdatasync: injected fault: %s",
                             rkv_strerror(err));
    return f->inner->sync(f->inner->ctx, fd, errmsg);
}

static int fault_truncate(void *ctx, int fd, uint64_t size, char *errmsg)
{
    struct disk_fault *f = ctx;
    int err = injected_error(&f->truncate);

    if (err != 0)
        return storage__errf(errmsg, err, "ftruncate: injected fault: %s",
                             rkv_strerror(err));
    return f->inner->truncate(f->inner->ctx, fd, size, errmsg);
}

static int fault_size(void *ctx, int fd, uint64_t *size, char *errmsg)
{
    struct disk_fault *f = ctx;
    return f->inner->size(f->inner->ctx, fd, size, errmsg);
}

static int fault_rename(void *ctx,
                        const char *from,
                        const char *to,
                        char *errmsg)
{
    struct disk_fault *f = ctx;
    return f->inner->rename(f->inner->ctx, from, to, errmsg);
}

static int fault_unlink(void *ctx, const char *path, char *errmsg)
{
    struct disk_fault *f = ctx;
    return f->inner->unlink(f->inner->ctx, path, errmsg);
}

static int fault_list(void *ctx,
                      const char *dir,
                      disk_list_fn fn,
                      void *arg,
                      char *errmsg)
{
    struct disk_fault *f = ctx;
    return f->inner->list(f->inner->ctx, dir, fn, arg, errmsg);
}

static int fault_sync_dir(void *ctx, const char *dir, char *errmsg)
{
    struct disk_fault *f = ctx;
    int err;

    f->n_syncs++;
    err = injected_error(&f->sync);
    if (err != 0)
        return storage__errf(errmsg, err, "fsync %s: injected fault: %s", dir,
                             rkv_strerror(err));
    return f->inner->sync_dir(f->inner->ctx, dir, errmsg);
}

void disk_fault_init(struct disk_fault *f, const struct disk *inner)
{
    ASSERT(inner != NULL);
    *f = (struct disk_fault){
        .disk =
            {
                .ctx = f,
                .open = fault_open,
                .close = fault_close,
                .read = fault_read,
                .write = fault_write,
                .sync = fault_sync,
                .truncate = fault_truncate,
                .size = fault_size,
                .rename = fault_rename,
                .unlink = fault_unlink,
                .list = fault_list,
                .sync_dir = fault_sync_dir,
            },
        .inner = inner,
    };
}
