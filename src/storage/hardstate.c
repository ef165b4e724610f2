/* Loading and atomic saving of the hard state file (format in
 * hardstate.h). */
#include "storage/hardstate.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "storage/crc32c.h"
#include "storage/storage_int.h"

#define HS_MAGIC 0x5453484bu /* "KHST" read as little-endian bytes */
#define HS_VERSION 1u

/* Layout of the file; encoded field by field at these offsets. */
struct hs_file
{
    uint32_t crc;      /* crc32c of the 36 bytes after this field */
    uint32_t magic;    /* HS_MAGIC */
    uint32_t version;  /* HS_VERSION */
    uint32_t reserved; /* zero */
    raft_term term;    /* current term */
    raft_id vote;      /* vote in that term, 0 if none */
    raft_index commit; /* commit index */
};
#define HS_FILE_BYTES 40u
_Static_assert(sizeof(struct hs_file) == HS_FILE_BYTES, "on-disk format");
#define HS_OFF(field) offsetof(struct hs_file, field)

static void encode(uint8_t *buf, const struct raft_hard_state *hs)
{
    storage__put_u32(buf + HS_OFF(magic), HS_MAGIC);
    storage__put_u32(buf + HS_OFF(version), HS_VERSION);
    storage__put_u32(buf + HS_OFF(reserved), 0);
    storage__put_u64(buf + HS_OFF(term), hs->term);
    storage__put_u64(buf + HS_OFF(vote), hs->vote);
    storage__put_u64(buf + HS_OFF(commit), hs->commit);
    storage__put_u32(buf + HS_OFF(crc), crc32c(0, buf + 4, HS_FILE_BYTES - 4));
}

static int decode(const uint8_t *buf, struct raft_hard_state *hs, char *errmsg)
{
    if (storage__get_u32(buf + HS_OFF(crc)) !=
        crc32c(0, buf + 4, HS_FILE_BYTES - 4))
        return STORAGE_CORRUPT(errmsg, "checksum mismatch");
    if (storage__get_u32(buf + HS_OFF(magic)) != HS_MAGIC)
        return STORAGE_CORRUPT(errmsg, "bad magic");
    if (storage__get_u32(buf + HS_OFF(version)) != HS_VERSION)
        return STORAGE_CORRUPT(
            errmsg, "unsupported version %u",
            (unsigned)storage__get_u32(buf + HS_OFF(version)));
    if (storage__get_u32(buf + HS_OFF(reserved)) != 0)
        return STORAGE_CORRUPT(errmsg, "reserved field set");
    hs->term = storage__get_u64(buf + HS_OFF(term));
    hs->vote = storage__get_u64(buf + HS_OFF(vote));
    hs->commit = storage__get_u64(buf + HS_OFF(commit));
    return 0;
}

static int make_path(char path[HS_PATH_MAX],
                     const char *dir,
                     const char *name,
                     char *errmsg)
{
    int n = snprintf(path, HS_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= HS_PATH_MAX)
        return storage__errf(errmsg, RKV_EINVAL, "%s: directory too long",
                             name);
    return 0;
}

int hs_load(const struct disk *disk,
            const char *dir,
            struct raft_hard_state *hs,
            char *errmsg)
{
    char path[HS_PATH_MAX];
    uint8_t buf[HS_FILE_BYTES];
    uint64_t size = 0;
    size_t n = 0;
    int fd, rv;

    ASSERT(disk != NULL);
    ASSERT(hs != NULL);
    *hs = (struct raft_hard_state){0};
    rv = make_path(path, dir, HS_FILE, errmsg);
    if (rv != 0)
        return rv;
    rv = disk->open(disk->ctx, path, 0, &fd, errmsg);
    if (rv == RKV_ENOTFOUND)
        return 0;
    if (rv != 0)
        return rv;
    rv = disk->size(disk->ctx, fd, &size, errmsg);
    if (rv == 0 && size != HS_FILE_BYTES)
        rv = STORAGE_CORRUPT(errmsg, "size %" PRIu64 ", expected %u", size,
                             HS_FILE_BYTES);
    if (rv == 0)
        rv = disk->read(disk->ctx, fd, buf, sizeof buf, 0, &n, errmsg);
    if (rv == 0 && n != sizeof buf)
        rv = STORAGE_CORRUPT(errmsg, "short read");
    if (rv == 0)
        rv = decode(buf, hs, errmsg);
    disk->close(disk->ctx, fd);
    if (rv != 0) {
        *hs = (struct raft_hard_state){0};
        return storage__wrapf(errmsg, rv, "%s", HS_FILE);
    }
    return 0;
}

int hs_save(const struct disk *disk,
            const char *dir,
            const struct raft_hard_state *hs,
            char *errmsg)
{
    char tmp[HS_PATH_MAX], path[HS_PATH_MAX];
    uint8_t buf[HS_FILE_BYTES];
    int fd, rv;

    ASSERT(disk != NULL);
    ASSERT(hs != NULL);
    rv = make_path(tmp, dir, HS_TMP_FILE, errmsg);
    if (rv == 0)
        rv = make_path(path, dir, HS_FILE, errmsg);
    if (rv != 0)
        return rv;
    encode(buf, hs);
    ASSERT_DEBUG(decode(buf, &(struct raft_hard_state){0}, NULL) == 0);
    rv = disk->open(disk->ctx, tmp, DISK_CREATE, &fd, errmsg);
    if (rv != 0)
        goto err;
    rv = disk->write(disk->ctx, fd, buf, sizeof buf, 0, errmsg);
    if (rv == 0)
        rv = disk->sync(disk->ctx, fd, errmsg);
    disk->close(disk->ctx, fd);
    if (rv != 0)
        goto err_after_create;
    rv = disk->rename(disk->ctx, tmp, path, errmsg);
    if (rv != 0)
        goto err_after_create;
    rv = disk->sync_dir(disk->ctx, dir, errmsg);
    if (rv != 0)
        goto err;
    return 0;

err_after_create:
    /* Best effort: a leftover temporary file is ignored and overwritten. */
    (void)disk->unlink(disk->ctx, tmp, NULL);
err:
    ASSERT(rv != 0);
    return storage__wrapf(errmsg, rv, "save %s", HS_FILE);
}
