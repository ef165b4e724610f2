/* Fuzz target: the RESP2 request parser resp_parse() (net/resp.h).
 *
 * Input: a u16 `split` (little-endian), then the bytes a client sends on
 * one connection: pipelined commands, multibulk or inline. The stream is
 * parsed command after command as the server does. For each command that
 * starts before `split % (len + 1)`, the parser also sees only the bytes
 * up to that point, as after a first read: a command complete there must
 * parse the same with the rest of the stream behind it, and an error there
 * must stay the same error. Each argument must lie inside the input or the
 * scratch area; the arguments, sent again as a client sends them (an array
 * of bulk strings), must parse back the same; and the error message must
 * make a valid RESP error reply. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/resp.h"
#include "raftkv/err.h"

/* ~80 KiB each: kept off the stack. */
static struct resp_command cmd, cmd_prefix;

static void check_args(const struct resp_command *c,
                       const uint8_t *buf,
                       size_t consumed)
{
    FUZZ_CHECK(c->argc <= RESP_ARGS_MAX);
    for (size_t i = 0; i < c->argc; i++) {
        const struct resp_arg *a = &c->argv[i];
        bool in_buf = a->data >= buf && a->len <= consumed &&
                      a->data <= buf + consumed - a->len;
        bool in_scratch = a->data >= c->scratch &&
                          a->len <= sizeof c->scratch &&
                          a->data <= c->scratch + sizeof c->scratch - a->len;
        FUZZ_CHECK(in_buf || in_scratch);
        FUZZ_CHECK(a->len <= RESP_BULK_MAX);
    }
}

static bool same_args(const struct resp_command *a,
                      const struct resp_command *b)
{
    if (a->argc != b->argc)
        return false;
    for (size_t i = 0; i < a->argc; i++) {
        if (a->argv[i].len != b->argv[i].len ||
            (a->argv[i].len > 0 &&
             memcmp(a->argv[i].data, b->argv[i].data, a->argv[i].len) != 0))
            return false;
    }
    return true;
}

/* What a client such as redis-cli sends for the arguments of `cmd`: an
 * array of bulk strings, the wire form the reply encoders also write. */
static void check_round_trip(void)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct rkv_buf out;
    size_t n;

    rkv_buf_init(&out);
    FUZZ_CHECK(resp_reply_array(&out, cmd.argc) == 0);
    for (size_t i = 0; i < cmd.argc; i++)
        FUZZ_CHECK(resp_reply_bulk(&out, cmd.argv[i].data, cmd.argv[i].len) ==
                   0);
    FUZZ_CHECK(resp_parse(out.data, out.len, &cmd_prefix, &n, errmsg) == 0);
    FUZZ_CHECK(n == out.len && same_args(&cmd_prefix, &cmd));
    rkv_buf_close(&out);
}

/* The reply the server sends before closing: one line, "-ERR ...\r\n". */
static void check_error_reply(const char *errmsg)
{
    struct rkv_buf out;

    rkv_buf_init(&out);
    FUZZ_CHECK(resp_reply_error(&out, "ERR", errmsg) == 0);
    FUZZ_CHECK(out.len >= 3 && out.data[0] == '-');
    FUZZ_CHECK(memchr(out.data, '\n', out.len) == out.data + out.len - 1);
    FUZZ_CHECK(memchr(out.data, '\r', out.len) == out.data + out.len - 2);
    rkv_buf_close(&out);
}

/* The command at data[off..) seen with only data[off..first_read) in:
 * compare with the outcome `rv`, `n` on the whole stream (in `cmd`). */
static void check_prefix(const uint8_t *data,
                         size_t off,
                         size_t first_read,
                         int rv,
                         size_t n)
{
    char errmsg[RKV_ERRMSG_LEN];
    uint8_t *buf = fuzz_dup(data + off, first_read - off);
    size_t np;
    int rvp = resp_parse(buf, first_read - off, &cmd_prefix, &np, errmsg);

    if (rvp == 0) {
        check_args(&cmd_prefix, buf, np);
        FUZZ_CHECK(rv == 0 && np == n);
        FUZZ_CHECK(same_args(&cmd_prefix, &cmd));
    } else if (rvp != RKV_EAGAIN) {
        FUZZ_CHECK(rvp == rv);
    } else {
        FUZZ_CHECK(np == 0);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errmsg[RKV_ERRMSG_LEN];
    size_t len, first, off = 0, n;
    int rv;

    if (size < FUZZ_SPLIT_BYTES)
        return 0;
    len = size - FUZZ_SPLIT_BYTES;
    first = (size_t)(data[0] | data[1] << 8) % (len + 1);
    data += FUZZ_SPLIT_BYTES;
    do {
        rv = resp_parse(data + off, len - off, &cmd, &n, errmsg);
        if (rv == 0) {
            FUZZ_CHECK(n > 0 && n <= len - off);
            check_args(&cmd, data + off, n);
            check_round_trip();
        } else if (rv == RKV_EAGAIN) {
            FUZZ_CHECK(n == 0);
        } else {
            FUZZ_CHECK(rv == RKV_EPROTO || rv == RKV_ETOOBIG);
            check_error_reply(errmsg);
        }
        if (off < first)
            check_prefix(data, off, first, rv, n);
        off += n;
    } while (rv == 0);
    return 0;
}
