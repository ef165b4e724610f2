/* Helpers shared by the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/crc32c.h"
#include "storage/wal_record.h"

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: fuzz property failed: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

uint8_t *fuzz_dup(const uint8_t *data, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);

    if (p == NULL)
        fuzz_fail(__FILE__, __LINE__, "out of memory copying %zu bytes", len);
    if (len > 0)
        memcpy(p, data, len);
    return p;
}

uint32_t fuzz_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint64_t fuzz_get_u64(const uint8_t *p)
{
    return (uint64_t)fuzz_get_u32(p) | (uint64_t)fuzz_get_u32(p + 4) << 32;
}

void fuzz_put_u32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

size_t fuzz_mutate_fixed(uint8_t *data,
                         size_t size,
                         size_t max_size,
                         unsigned int seed,
                         void (*fix)(uint8_t *data, size_t size))
{
    size = LLVMFuzzerMutate(data, size, max_size);
    if (seed % 8 != 0)
        fix(data, size);
    return size;
}

/* Frame layout in net/peer_codec.h: u32 length of what follows, u32 CRC32C
 * of what follows the CRC. */
size_t fuzz_fix_peer_frame(uint8_t *p, size_t len)
{
    uint32_t body;

    if (len < 8)
        return 0;
    body = fuzz_get_u32(p);
    if (body < 4 || body > len - 4)
        return 0;
    fuzz_put_u32(p + 4, crc32c(0, p + 8, body - 4));
    return 4 + (size_t)body;
}

/* Layouts drawn in storage/wal_record.h. */
void fuzz_fix_wal_segment(uint8_t *p, size_t len)
{
    const size_t crc_off = offsetof(struct wal_record_header, payload_crc);
    const size_t len_off = offsetof(struct wal_record_header, len);
    size_t off = WAL_SEGMENT_HEADER_BYTES;

    if (len < WAL_SEGMENT_HEADER_BYTES)
        return;
    fuzz_put_u32(p, crc32c(0, p + 4, WAL_SEGMENT_HEADER_BYTES - 4));
    while (len - off >= WAL_RECORD_HEADER_BYTES) {
        uint8_t *h = p + off;
        uint32_t payload = fuzz_get_u32(h + len_off);
        bool whole = payload <= len - off - WAL_RECORD_HEADER_BYTES;

        if (whole)
            fuzz_put_u32(h + crc_off,
                         crc32c(0, h + WAL_RECORD_HEADER_BYTES, payload));
        fuzz_put_u32(h, crc32c(0, h + 4, WAL_RECORD_HEADER_BYTES - 4));
        if (!whole)
            return;
        off += WAL_RECORD_HEADER_BYTES + (size_t)payload;
    }
}

static char tmpdir[256]; /* fuzz_tmpdir(), "" until created */

void fuzz_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char path[512];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        (void)unlink(path); /* best effort: the next input rewrites it */
    }
    closedir(d);
}

static void remove_tmpdir(void)
{
    fuzz_empty_dir(tmpdir);
    (void)rmdir(tmpdir); /* best effort at exit */
}

const char *fuzz_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    struct stat st;

    if (tmpdir[0] != '\0')
        return tmpdir;
    if (base == NULL || base[0] == '\0')
        base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
                       access("/dev/shm", W_OK) == 0
                   ? "/dev/shm"
                   : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/rkv-fuzz-XXXXXX", base);
    if (mkdtemp(tmpdir) == NULL)
        fuzz_fail(__FILE__, __LINE__, "mkdtemp %s failed", tmpdir);
    if (atexit(remove_tmpdir) != 0)
        fuzz_fail(__FILE__, __LINE__, "atexit failed");
    return tmpdir;
}
