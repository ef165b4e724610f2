/* A growable byte buffer: the output of the HTTP and RESP encoders and the
 * input buffer a connection accumulates for the parsers (append what was
 * read, parse, then drop the consumed prefix with rkv_buf_consume()).
 *
 * Ownership: the buffer owns `data`, which it allocates with malloc() and
 * frees in rkv_buf_close(). `data` moves when the buffer grows, so pointers
 * into it are valid only until the next append or reserve. */
#ifndef RKV_BUF_H
#define RKV_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rkv_buf
{
    uint8_t *data; /* heap bytes; NULL while cap == 0 */
    size_t len;    /* bytes in use, data[0..len) */
    size_t cap;    /* bytes allocated */
};

/* An empty buffer that owns no memory yet. Cannot fail. */
void rkv_buf_init(struct rkv_buf *b);

/* Free the memory and leave `b` empty, as after rkv_buf_init(). */
void rkv_buf_close(struct rkv_buf *b);

/* Make room for `extra` more bytes after len, so that writing
 * data[len..len+extra) and then adding to len is valid. Returns 0, or
 * RKV_ENOMEM (buffer unchanged) if the allocation fails or the size would
 * overflow. */
int rkv_buf_reserve(struct rkv_buf *b, size_t extra);

/* Append `n` bytes copied from `p` (which must not point into `b` itself).
 * Returns 0 or RKV_ENOMEM (buffer unchanged). */
int rkv_buf_append(struct rkv_buf *b, const void *p, size_t n);

/* Append the NUL-terminated `s`, without its NUL. As rkv_buf_append(). */
int rkv_buf_append_str(struct rkv_buf *b, const char *s);

/* Append printf-style formatted text, without a NUL. Returns 0, RKV_ENOMEM
 * (buffer unchanged) or RKV_EINVAL if the format itself fails. */
int rkv_buf_printf(struct rkv_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Drop the first `n` bytes (n <= len), moving the rest to the front: what
 * a connection does with the bytes a parser reported as consumed. */
void rkv_buf_consume(struct rkv_buf *b, size_t n);

/* Truncate back to `len` bytes (len <= b->len), keeping the memory: used to
 * undo a partly written message. */
void rkv_buf_truncate(struct rkv_buf *b, size_t len);

#endif /* RKV_BUF_H */
