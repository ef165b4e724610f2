/* Internals shared by the storage files: assertions, error messages and the
 * little-endian codecs every on-disk format in src/storage uses. */
#ifndef STORAGE_INT_H
#define STORAGE_INT_H

#include <stdint.h>

#include "raftkv/err.h"

/* Report a failed assertion on stderr and abort. */
_Noreturn void storage__assert_fail(const char *file,
                                    int line,
                                    const char *expr);

/* On in every build (STYLE.md §7). Never put side effects inside. */
#define ASSERT(x)                                         \
    do {                                                  \
        if (!(x))                                         \
            storage__assert_fail(__FILE__, __LINE__, #x); \
    } while (0)

/* O(n) checks: debug and test builds only. Elsewhere the expression is
 * still compiled (so its helpers count as used) but never evaluated. */
#ifdef RKV_DEBUG
#define ASSERT_DEBUG(x) ASSERT(x)
#else
#define ASSERT_DEBUG(x) ((void)(0 && (x)))
#endif

/* Format `fmt` into the caller's RKV_ERRMSG_LEN buffer `errmsg` (which may
 * be NULL) and return `code`. */
int storage__errf(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in `errmsg` with the formatted context and
 * ": ", as in "wal-0000000000000001.log: offset 4096: checksum mismatch".
 * Returns `code`, so a caller can write `return storage__wrapf(...)`. */
int storage__wrapf(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Bad bytes on disk: every RKV_ECORRUPT of the storage layer is raised
 * through this function, which makes it the breakpoint site (after sqlite's
 * SQLITE_CORRUPT_BKPT). `line` is the caller's. Returns RKV_ECORRUPT. */
int storage__corrupt(char *errmsg, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define STORAGE_CORRUPT(errmsg, ...) \
    storage__corrupt((errmsg), __LINE__, __VA_ARGS__)

static inline void storage__put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void storage__put_u32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void storage__put_u64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t storage__get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t storage__get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t storage__get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif /* STORAGE_INT_H */
