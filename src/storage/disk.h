/* The disk seam: every byte the storage layer reads or writes goes through a
 * struct disk, a small vtable after sqlite's sqlite3_vfs. Production uses
 * disk_posix(); tests wrap it with a fault injector (disk_fault.h); the
 * simulator implements it in memory, losing unsynced writes and tearing the
 * last one on a simulated crash.
 *
 * Contract every implementation keeps:
 *  (a) all state lives behind `ctx`: no module-level mutable state;
 *  (b) errors are RKV_ENOSPC (no space left), RKV_ENOTFOUND (open of a
 *      missing file without DISK_CREATE) or RKV_EIO (anything else), with a
 *      message in `errmsg` (RKV_ERRMSG_LEN bytes, may be NULL);
 *  (c) nothing written is durable before sync() on the file returns 0, and
 *      a file created, renamed or unlinked is durable only after sync_dir()
 *      on its directory returns 0;
 *  (d) a failed write() may have written any prefix of the buffer;
 *  (e) file handles are small non-negative ints, valid until close(). */
#ifndef STORAGE_DISK_H
#define STORAGE_DISK_H

#include <stddef.h>
#include <stdint.h>

#define DISK_CREATE 1 /* open() flag: create the file, or empty it */

/* Called by list() once per directory entry other than "." and "..".
 * `name` is borrowed for the call. A non-zero return stops the listing and
 * is what list() returns. */
typedef int (*disk_list_fn)(void *arg, const char *name);

struct disk
{
    void *ctx; /* implementation state, passed as the first argument */

    /* Open `path` for reading and writing; `flags` is 0 or DISK_CREATE.
     * Sets *fd on success. */
    int (*open)(void *ctx, const char *path, int flags, int *fd, char *errmsg);
    /* Release `fd`. Cannot fail: whatever mattered was synced before. */
    void (*close)(void *ctx, int fd);
    /* Read up to `len` bytes at `offset` into `buf`; *n_read < len only at
     * the end of the file. */
    int (*read)(void *ctx,
                int fd,
                void *buf,
                size_t len,
                uint64_t offset,
                size_t *n_read,
                char *errmsg);
    /* Write all `len` bytes of `buf` at `offset`, growing the file. */
    int (*write)(void *ctx,
                 int fd,
                 const void *buf,
                 size_t len,
                 uint64_t offset,
                 char *errmsg);
    /* Make the file's data and size durable. */
    int (*sync)(void *ctx, int fd, char *errmsg);
    /* Set the file's size to `size` bytes. */
    int (*truncate)(void *ctx, int fd, uint64_t size, char *errmsg);
    /* The file's current size, bytes. */
    int (*size)(void *ctx, int fd, uint64_t *size, char *errmsg);
    /* Atomically replace `to` with `from`. */
    int (*rename)(void *ctx, const char *from, const char *to, char *errmsg);
    int (*unlink)(void *ctx, const char *path, char *errmsg);
    /* Call `fn` for each entry of directory `dir`, in no particular order. */
    int (*list)(void *ctx,
                const char *dir,
                disk_list_fn fn,
                void *arg,
                char *errmsg);
    /* Make creations, renames and unlinks in `dir` durable. */
    int (*sync_dir)(void *ctx, const char *dir, char *errmsg);
};

/* The real disk: POSIX calls, errno converted where each call is made. The
 * returned vtable is static and read-only; its ctx is NULL. */
const struct disk *disk_posix(void);

#endif /* STORAGE_DISK_H */
