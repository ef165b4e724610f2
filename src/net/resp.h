/* RESP2, the Redis protocol (https://redis.io/docs/reference/protocol-spec/):
 * a pure request parser for multibulk ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
 * and inline ("GET k\r\n") commands, and reply encoders. Errors carry the
 * messages Redis gives for the same input, so clients see familiar text.
 *
 * Reading commands from a connection: append what was read to the
 * connection's rkv_buf `in`, then
 *   while ((rv = resp_parse(in.data, in.len, cmd, &n, errmsg)) == 0) {
 *       if (cmd->argc > 0) handle cmd (copy what must outlive `in`);
 *       rkv_buf_consume(&in, n);
 *   }
 *   RKV_EAGAIN: wait for more bytes; any other error: reply
 *   resp_reply_error(out, "ERR", errmsg), flush, close (as Redis does).
 *
 * Limits, chosen smaller than Redis's because every write becomes a Raft
 * entry that is replicated and fsynced: see the constants. A connection
 * therefore never buffers more than RESP_COMMAND_MAX bytes plus one read. */
#ifndef NET_RESP_H
#define NET_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define RESP_BULK_MAX (1u << 20)    /* bytes of one argument (Redis: 512 MiB) */
#define RESP_COMMAND_MAX (8u << 20) /* bytes of all arguments of a command */
#define RESP_ARGS_MAX 1024          /* arguments of a command */
/* Bytes of an inline command line, "\n" included: Redis's
 * PROTO_INLINE_MAX_SIZE. */
#define RESP_INLINE_MAX (64u << 10)

/* One argument: binary-safe bytes. */
struct resp_arg
{
    const uint8_t *data; /* borrowed, see struct resp_command */
    size_t len;          /* bytes */
};

/* A parsed command: about 80 KiB, so keep one per server (the loop is
 * single-threaded) or per connection, never on a small stack. Multibulk
 * arguments point into the caller's buffer, inline ones into `scratch`
 * (quotes and escapes are decoded there); both are borrowed until the
 * buffer's bytes change or the struct is parsed into again. */
struct resp_command
{
    size_t argc;                         /* 0: empty command, skip it */
    struct resp_arg argv[RESP_ARGS_MAX]; /* argv[0] is the command name */
    uint8_t scratch[RESP_INLINE_MAX];    /* decoded inline arguments */
};

/* Parse one command from the start of buf[0..len). A first byte '*' starts
 * a multibulk command, anything else an inline one: arguments separated by
 * blanks, "double quotes" with the escapes \n \r \t \b \a \xHH \" \\, and
 * 'single quotes' with \' (redis-cli's rules).
 *
 * On success, fills `*cmd` and sets *consumed to the command's length: the
 * next pipelined command starts at buf + *consumed. argc is 0 for commands
 * Redis ignores ("*0\r\n", "*-1\r\n", a blank line): consume and skip
 * them. `errmsg` is a caller-owned RKV_ERRMSG_LEN buffer.
 *
 * Returns 0, or:
 *  - RKV_EAGAIN: the command is incomplete (append bytes, call again with
 *    the whole buffer); *consumed is 0;
 *  - RKV_ETOOBIG: a limit is exceeded, as soon as a length announces it;
 *  - RKV_EPROTO: malformed input.
 * For both errors errmsg reads like Redis's ("Protocol error: invalid
 * multibulk length", "Protocol error: expected '$', got 'x'", "Protocol
 * error: invalid bulk length", "Protocol error: too big inline request",
 * "Protocol error: unbalanced quotes in request", ...). */
int resp_parse(const uint8_t *buf,
               size_t len,
               struct resp_command *cmd,
               size_t *consumed,
               char *errmsg);

/* Reply encoders: each appends one complete RESP2 reply to `b` and returns
 * 0, or RKV_ENOMEM with `b` unchanged. */

/* "+<s>\r\n". CR and LF in `s` become spaces, so framing always holds. */
int resp_reply_simple(struct rkv_buf *b, const char *s);

/* "-<code> <msg>\r\n", e.g. code "ERR", "WRONGTYPE". CR and LF in `msg`
 * become spaces, as Redis does. */
int resp_reply_error(struct rkv_buf *b, const char *code, const char *msg);

/* ":<v>\r\n". */
int resp_reply_int(struct rkv_buf *b, int64_t v);

/* "$<n>\r\n<data>\r\n": `n` bytes copied from `data`. */
int resp_reply_bulk(struct rkv_buf *b, const void *data, size_t n);

/* "$-1\r\n", the null bulk string (GET of a missing key). */
int resp_reply_null(struct rkv_buf *b);

/* "*<n>\r\n": the header of an array; the caller appends n replies. */
int resp_reply_array(struct rkv_buf *b, size_t n);

#endif /* NET_RESP_H */
