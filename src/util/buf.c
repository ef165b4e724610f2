/* The growable byte buffer described in buf.h. Capacity doubles, so n
 * appends cost O(n) amortized. */
#include "util/buf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raftkv/err.h"

#define BUF_MIN_CAP 64 /* first allocation, bytes */

void rkv_buf_init(struct rkv_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void rkv_buf_close(struct rkv_buf *b)
{
    free(b->data);
    rkv_buf_init(b);
}

int rkv_buf_reserve(struct rkv_buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    assert(b->len <= b->cap);
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return RKV_ENOMEM;
    need = b->len + extra;
    cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return RKV_ENOMEM;
    b->data = p;
    b->cap = cap;
    assert(b->cap - b->len >= extra);
    return 0;
}

int rkv_buf_append(struct rkv_buf *b, const void *p, size_t n)
{
    int rv;

    if (n == 0)
        return 0;
    assert(p != NULL);
    rv = rkv_buf_reserve(b, n);
    if (rv != 0)
        return rv;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int rkv_buf_append_str(struct rkv_buf *b, const char *s)
{
    return rkv_buf_append(b, s, strlen(s));
}

int rkv_buf_printf(struct rkv_buf *b, const char *fmt, ...)
{
    va_list ap;
    size_t room = b->cap - b->len;
    int n, rv;

    /* First try in the room already there; most lines fit. */
    va_start(ap, fmt);
    n = vsnprintf(room > 0 ? (char *)b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return RKV_EINVAL;
    if ((size_t)n >= room) {
        /* vsnprintf writes a NUL, so reserve one byte more than the text. */
        rv = rkv_buf_reserve(b, (size_t)n + 1);
        if (rv != 0)
            return rv;
        va_start(ap, fmt);
        n = vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        if (n < 0)
            return RKV_EINVAL;
    }
    b->len += (size_t)n;
    assert(b->len <= b->cap);
    return 0;
}

void rkv_buf_consume(struct rkv_buf *b, size_t n)
{
    assert(n <= b->len);
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void rkv_buf_truncate(struct rkv_buf *b, size_t len)
{
    assert(len <= b->len);
    b->len = len;
}
