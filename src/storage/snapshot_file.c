/* Snapshot files (snapshot_file.h), with plain POSIX calls: they are
 * written whole, once, and read sequentially, so the WAL's disk seam would
 * add nothing here. */
#define _DEFAULT_SOURCE
#include "storage/snapshot_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sys_err(char *errmsg, const char *what, const char *path)
{
    int e = errno;
    rkv_errmsgf(errmsg, "%s %s: %s", what, path, strerror(e));
    return e == ENOSPC ? RKV_ENOSPC : RKV_EIO;
}

void snapf_path(const char *dir,
                const struct raft_snapshot_meta *meta,
                char *path)
{
    snprintf(path, SNAPF_PATH_MAX,
             "%s/snapshot-%016" PRIx64 "-%016" PRIx64 ".snap", dir, meta->index,
             meta->term);
}

static void conf_path(const char *dir,
                      const struct raft_snapshot_meta *meta,
                      const char *suffix,
                      char *path)
{
    snprintf(path, SNAPF_PATH_MAX,
             "%s/snapshot-%016" PRIx64 "-%016" PRIx64 ".conf%s", dir,
             meta->index, meta->term, suffix);
}

/* A snapshot's name, or (with `ext` ".conf") its configuration's. */
static bool parse_name_ext(const char *name,
                           const char *ext,
                           struct raft_snapshot_meta *meta)
{
    unsigned long long index, term;
    char tail[8];
    if (strlen(name) != 9 + 16 + 1 + 16 + 5)
        return false;
    if (sscanf(name, "snapshot-%16llx-%16llx%5s", &index, &term, tail) != 3 ||
        strcmp(tail, ext) != 0)
        return false;
    meta->index = index;
    meta->term = term;
    return index > 0 && term > 0;
}

static bool parse_name(const char *name, struct raft_snapshot_meta *meta)
{
    return parse_name_ext(name, ".snap", meta);
}

static int fsync_dir(const char *dir, char *errmsg)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return sys_err(errmsg, "open", dir);
    if (fsync(fd) != 0) {
        int rv = sys_err(errmsg, "fsync", dir);
        close(fd);
        return rv;
    }
    close(fd);
    return 0;
}

/* Remove every snapshot but `keep` (index 0: keep none), and leftovers. */
static int remove_others(const char *dir,
                         const struct raft_snapshot_meta *keep,
                         char *errmsg)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (d == NULL)
        return sys_err(errmsg, "opendir", dir);
    while ((de = readdir(d)) != NULL) {
        struct raft_snapshot_meta m;
        char path[SNAPF_PATH_MAX];
        bool old = (parse_name(de->d_name, &m) ||
                    parse_name_ext(de->d_name, ".conf", &m)) &&
                   (m.index != keep->index || m.term != keep->term);
        if (!old && strcmp(de->d_name, "snapshot.tmp") != 0 &&
            strcmp(de->d_name + strcspn(de->d_name, "."), ".conf.tmp") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) != 0 && errno != ENOENT) {
            int rv = sys_err(errmsg, "unlink", path);
            closedir(d);
            return rv;
        }
    }
    closedir(d);
    return 0;
}

int snapf_find_latest(const char *dir,
                      struct raft_snapshot_meta *meta,
                      char *path,
                      char *errmsg)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    meta->index = meta->term = 0;
    path[0] = '\0';
    if (d == NULL)
        return sys_err(errmsg, "opendir", dir);
    while ((de = readdir(d)) != NULL) {
        struct raft_snapshot_meta m;
        if (parse_name(de->d_name, &m) && m.index > meta->index)
            *meta = m;
    }
    closedir(d);
    if (meta->index > 0)
        snapf_path(dir, meta, path);
    return remove_others(dir, meta, errmsg);
}

int snapf_write(const char *dir,
                const char *name,
                uint64_t offset,
                const void *data,
                size_t len,
                char *errmsg)
{
    char path[SNAPF_PATH_MAX];
    const uint8_t *p = data;
    int fd;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | (offset == 0 ? O_TRUNC : 0), 0644);
    if (fd < 0)
        return sys_err(errmsg, "open", path);
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int rv = sys_err(errmsg, "write", path);
            close(fd);
            return rv;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    if (close(fd) != 0)
        return sys_err(errmsg, "close", path);
    return 0;
}

int snapf_commit(const char *dir,
                 const char *name,
                 const struct raft_snapshot_meta *meta,
                 char *errmsg)
{
    char from[SNAPF_PATH_MAX], to[SNAPF_PATH_MAX];
    int fd, rv;
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snapf_path(dir, meta, to);
    fd = open(from, O_RDONLY);
    if (fd < 0)
        return sys_err(errmsg, "open", from);
    if (fsync(fd) != 0) {
        rv = sys_err(errmsg, "fsync", from);
        close(fd);
        return rv;
    }
    close(fd);
    if (rename(from, to) != 0)
        return sys_err(errmsg, "rename", from);
    rv = fsync_dir(dir, errmsg);
    if (rv != 0)
        return rv;
    return remove_others(dir, meta, errmsg);
}

int snapf_read(const char *path,
               uint64_t offset,
               void *buf,
               size_t cap,
               size_t *n,
               char *errmsg)
{
    int fd = open(path, O_RDONLY);
    size_t got = 0;
    if (fd < 0)
        return sys_err(errmsg, "open", path);
    while (got < cap) {
        ssize_t k =
            pread(fd, (uint8_t *)buf + got, cap - got, (off_t)(offset + got));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int rv = sys_err(errmsg, "read", path);
            close(fd);
            return rv;
        }
        if (k == 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    *n = got;
    return 0;
}

int snapf_size(const char *path, uint64_t *size, char *errmsg)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return sys_err(errmsg, "stat", path);
    *size = (uint64_t)st.st_size;
    return 0;
}

int snapf_write_conf(const char *dir,
                     const struct raft_snapshot_meta *meta,
                     const uint8_t *conf,
                     size_t len,
                     char *errmsg)
{
    char tmp[SNAPF_PATH_MAX], to[SNAPF_PATH_MAX];
    int fd, rv = 0;
    conf_path(dir, meta, ".tmp", tmp);
    conf_path(dir, meta, "", to);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return sys_err(errmsg, "open", tmp);
    while (len > 0 && rv == 0) {
        ssize_t n = write(fd, conf, len);
        if (n < 0 && errno != EINTR)
            rv = sys_err(errmsg, "write", tmp);
        if (n > 0) {
            conf += n;
            len -= (size_t)n;
        }
    }
    if (rv == 0 && fsync(fd) != 0)
        rv = sys_err(errmsg, "fsync", tmp);
    if (close(fd) != 0 && rv == 0)
        rv = sys_err(errmsg, "close", tmp);
    if (rv == 0 && rename(tmp, to) != 0)
        rv = sys_err(errmsg, "rename", tmp);
    return rv;
}

int snapf_read_conf(const char *dir,
                    const struct raft_snapshot_meta *meta,
                    uint8_t *buf,
                    size_t cap,
                    size_t *len,
                    char *errmsg)
{
    char path[SNAPF_PATH_MAX];
    uint64_t size;
    int rv;
    conf_path(dir, meta, "", path);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return RKV_ENOTFOUND;
    rv = snapf_size(path, &size, errmsg);
    if (rv != 0)
        return rv;
    if (size > cap) {
        rkv_errmsgf(errmsg, "%s: %" PRIu64 " bytes, at most %zu", path, size,
                    cap);
        return RKV_ECORRUPT;
    }
    return snapf_read(path, 0, buf, cap, len, errmsg);
}
