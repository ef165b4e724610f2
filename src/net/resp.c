/* RESP2 requests and replies (see resp.h). The parser accepts what Redis's
 * networking.c accepts (processMultibulkBuffer, processInlineBuffer and the
 * sdssplitargs quoting rules) but keeps no state between calls: it rescans
 * the length lines of an incomplete command, which costs O(arguments), not
 * O(bytes), because bulk payloads are skipped by their announced length. */
#include "net/resp.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "raftkv/err.h"

/* Longest "*<n>\r\n" or "$<n>\r\n" line, bytes: holds any int64 with room
 * to spare. Longer means garbage, which Redis calls a "too big count". */
#define LENGTH_LINE_MAX 32

/* Redis's string2ll() rules: "0", or an optional '-' and digits without a
 * leading zero; no '+', no spaces, |value| <= INT64_MAX. */
static bool parse_i64(const uint8_t *p, size_t n, int64_t *out)
{
    bool neg = n > 0 && p[0] == '-';
    size_t i = neg ? 1 : 0;
    uint64_t v = 0;

    if (n == 1 && p[0] == '0') {
        *out = 0;
        return true;
    }
    if (i == n || p[i] < '1' || p[i] > '9')
        return false;
    for (; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (p[i] < '0' || p[i] > '9' || v > ((uint64_t)INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* Read the line "<type><integer>\r\n" at buf[*pos] (type byte checked by
 * the caller) into *value and move *pos past it. `bulk` picks Redis's
 * wording: '$' lines are "bulk", '*' lines "multibulk". */
static int read_length(const uint8_t *buf,
                       size_t len,
                       size_t *pos,
                       bool bulk,
                       int64_t *value,
                       char *errmsg)
{
    size_t start = *pos + 1;
    size_t avail, end;
    const uint8_t *nl;

    assert(*pos < len);
    avail = len - start;
    nl = memchr(buf + start, '\n',
                avail < LENGTH_LINE_MAX ? avail : LENGTH_LINE_MAX);
    if (nl == NULL) {
        if (avail < LENGTH_LINE_MAX)
            return RKV_EAGAIN;
        return rkv_errf(errmsg, RKV_EPROTO,
                        bulk ? "Protocol error: too big bulk count string"
                             : "Protocol error: too big mbulk count string");
    }
    end = (size_t)(nl - buf);
    if (end == start || buf[end - 1] != '\r' ||
        !parse_i64(buf + start, end - 1 - start, value))
        return rkv_errf(errmsg, RKV_EPROTO,
                        bulk ? "Protocol error: invalid bulk length"
                             : "Protocol error: invalid multibulk length");
    *pos = end + 1;
    assert(*pos <= len);
    return 0;
}

/* The byte `c` as shown in a message: itself if printable, else \xHH. */
static void show_byte(uint8_t c, char out[5])
{
    if (c >= 0x20 && c <= 0x7e && c != '\\')
        snprintf(out, 5, "%c", c);
    else
        snprintf(out, 5, "\\x%02x", c);
}

/* One "$<n>\r\n<n bytes>\r\n" argument at buf[*pos]. `total` sums the
 * argument bytes of the command so far. */
static int read_bulk(const uint8_t *buf,
                     size_t len,
                     size_t *pos,
                     size_t *total,
                     struct resp_arg *arg,
                     char *errmsg)
{
    int64_t n;
    int rv;

    if (*pos == len)
        return RKV_EAGAIN;
    if (buf[*pos] != '$') {
        char shown[5];
        show_byte(buf[*pos], shown);
        return rkv_errf(errmsg, RKV_EPROTO,
                        "Protocol error: expected '$', got '%s'", shown);
    }
    rv = read_length(buf, len, pos, true, &n, errmsg);
    if (rv != 0)
        return rv;
    if (n < 0)
        return rkv_errf(errmsg, RKV_EPROTO,
                        "Protocol error: invalid bulk length");
    /* Refuse as soon as the length is announced, before buffering it. */
    if (n > RESP_BULK_MAX)
        return rkv_errf(errmsg, RKV_ETOOBIG,
                        "Protocol error: invalid bulk length");
    *total += (size_t)n;
    if (*total > RESP_COMMAND_MAX)
        return rkv_errf(errmsg, RKV_ETOOBIG,
                        "Protocol error: command larger than %u bytes",
                        RESP_COMMAND_MAX);
    if (len - *pos < (size_t)n + 2)
        return RKV_EAGAIN;
    if (buf[*pos + (size_t)n] != '\r' || buf[*pos + (size_t)n + 1] != '\n')
        return rkv_errf(errmsg, RKV_EPROTO,
                        "Protocol error: expected CRLF after bulk data");
    arg->data = buf + *pos;
    arg->len = (size_t)n;
    *pos += (size_t)n + 2;
    return 0;
}

static int parse_multibulk(const uint8_t *buf,
                           size_t len,
                           struct resp_command *cmd,
                           size_t *consumed,
                           char *errmsg)
{
    size_t pos = 0, total = 0;
    int64_t count;
    int rv;

    assert(len > 0 && buf[0] == '*');
    rv = read_length(buf, len, &pos, false, &count, errmsg);
    if (rv != 0)
        return rv;
    cmd->argc = 0;
    if (count > RESP_ARGS_MAX)
        return rkv_errf(errmsg, RKV_ETOOBIG,
                        "Protocol error: invalid multibulk length");
    /* Redis skips "*0" and "*-1" without a reply. */
    for (int64_t i = 0; i < count; i++) {
        rv = read_bulk(buf, len, &pos, &total, &cmd->argv[i], errmsg);
        if (rv != 0)
            return rv;
    }
    cmd->argc = count > 0 ? (size_t)count : 0;
    *consumed = pos;
    return 0;
}

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
           c == '\f';
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Cursor over an inline line and the scratch area it decodes into. Every
 * quote or escape shrinks the text, so w <= i always holds. */
struct splitter
{
    const uint8_t *line; /* the line, without its line ending */
    size_t n;            /* bytes in line */
    size_t i;            /* next byte to read */
    uint8_t *out;        /* cmd->scratch */
    size_t w;            /* next byte to write */
};

/* The byte a backslash escape "\<e>" stands for inside double quotes. */
static uint8_t unescape(uint8_t e)
{
    switch (e) {
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case 't':
            return '\t';
        case 'b':
            return '\b';
        case 'a':
            return '\a';
        default:
            return e; /* \" and \\ among them */
    }
}

/* The double-quoted section opening at line[i]. False if unterminated. */
static bool read_dquoted(struct splitter *s)
{
    for (s->i++; s->i < s->n; s->i++) {
        uint8_t c = s->line[s->i];
        if (c == '"') {
            s->i++;
            return true;
        }
        if (c == '\\' && s->i + 1 < s->n) {
            uint8_t e = s->line[++s->i];
            int hi = s->i + 2 < s->n ? hexval(s->line[s->i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s->line[s->i + 2]) : -1;
            if (e == 'x' && lo >= 0) {
                c = (uint8_t)(hi * 16 + lo);
                s->i += 2;
            } else {
                c = unescape(e);
            }
        }
        s->out[s->w++] = c;
    }
    return false;
}

/* The single-quoted section opening at line[i]. False if unterminated. */
static bool read_squoted(struct splitter *s)
{
    for (s->i++; s->i < s->n; s->i++) {
        uint8_t c = s->line[s->i];
        if (c == '\'') {
            s->i++;
            return true;
        }
        if (c == '\\' && s->i + 1 < s->n && s->line[s->i + 1] == '\'')
            c = s->line[++s->i];
        s->out[s->w++] = c;
    }
    return false;
}

/* One argument at line[i], a non-blank: bare bytes, then at most one
 * quoted section, which must end the argument. False on bad quoting. */
static bool read_arg(struct splitter *s)
{
    while (s->i < s->n && !is_blank(s->line[s->i])) {
        uint8_t c = s->line[s->i];
        if (c == '"' || c == '\'') {
            bool ok = c == '"' ? read_dquoted(s) : read_squoted(s);
            return ok && (s->i == s->n || is_blank(s->line[s->i]));
        }
        s->out[s->w++] = c;
        s->i++;
    }
    return true;
}

static int split_inline(const uint8_t *line,
                        size_t n,
                        struct resp_command *cmd,
                        char *errmsg)
{
    struct splitter s = {line, n, 0, cmd->scratch, 0};

    assert(n <= sizeof cmd->scratch);
    cmd->argc = 0;
    for (;;) {
        size_t start;
        while (s.i < n && is_blank(line[s.i]))
            s.i++;
        if (s.i == n)
            return 0;
        if (cmd->argc == RESP_ARGS_MAX)
            return rkv_errf(errmsg, RKV_ETOOBIG,
                            "Protocol error: too many arguments in inline "
                            "request");
        start = s.w;
        if (!read_arg(&s))
            return rkv_errf(errmsg, RKV_EPROTO,
                            "Protocol error: unbalanced quotes in request");
        assert(s.w <= s.i);
        cmd->argv[cmd->argc].data = cmd->scratch + start;
        cmd->argv[cmd->argc].len = s.w - start;
        cmd->argc++;
    }
}

static int parse_inline(const uint8_t *buf,
                        size_t len,
                        struct resp_command *cmd,
                        size_t *consumed,
                        char *errmsg)
{
    const uint8_t *nl =
        memchr(buf, '\n', len < RESP_INLINE_MAX ? len : RESP_INLINE_MAX);
    size_t end;
    int rv;

    /* The line, "\n" included, must fit in RESP_INLINE_MAX bytes. */
    if (nl == NULL) {
        if (len >= RESP_INLINE_MAX)
            return rkv_errf(errmsg, RKV_ETOOBIG,
                            "Protocol error: too big inline request");
        return RKV_EAGAIN;
    }
    /* Redis accepts a bare "\n" as well as "\r\n". */
    end = (size_t)(nl - buf);
    if (end > 0 && buf[end - 1] == '\r')
        end--;
    rv = split_inline(buf, end, cmd, errmsg);
    if (rv != 0)
        return rv;
    *consumed = (size_t)(nl - buf) + 1;
    return 0;
}

int resp_parse(const uint8_t *buf,
               size_t len,
               struct resp_command *cmd,
               size_t *consumed,
               char *errmsg)
{
    assert(buf != NULL || len == 0);
    assert(cmd != NULL);
    *consumed = 0;
    if (len == 0)
        return RKV_EAGAIN;
    if (buf[0] == '*')
        return parse_multibulk(buf, len, cmd, consumed, errmsg);
    return parse_inline(buf, len, cmd, consumed, errmsg);
}

/* Append `s` with CR and LF turned into spaces. Room must be reserved. */
static void put_line_safe(struct rkv_buf *b, const char *s, size_t n)
{
    assert(b->cap - b->len >= n);
    for (size_t i = 0; i < n; i++)
        b->data[b->len++] = s[i] == '\r' || s[i] == '\n' ? ' ' : (uint8_t)s[i];
}

static int reply_line(struct rkv_buf *b,
                      char type,
                      const char *a,
                      const char *c)
{
    size_t na = strlen(a), nc = c != NULL ? strlen(c) : 0;
    int rv = rkv_buf_reserve(b, 1 + na + (c != NULL ? 1 + nc : 0) + 2);

    if (rv != 0)
        return rv;
    b->data[b->len++] = (uint8_t)type;
    put_line_safe(b, a, na);
    if (c != NULL) {
        b->data[b->len++] = ' ';
        put_line_safe(b, c, nc);
    }
    b->data[b->len++] = '\r';
    b->data[b->len++] = '\n';
    return 0;
}

int resp_reply_simple(struct rkv_buf *b, const char *s)
{
    return reply_line(b, '+', s, NULL);
}

int resp_reply_error(struct rkv_buf *b, const char *code, const char *msg)
{
    return reply_line(b, '-', code, msg);
}

int resp_reply_int(struct rkv_buf *b, int64_t v)
{
    return rkv_buf_printf(b, ":%" PRId64 "\r\n", v);
}

int resp_reply_bulk(struct rkv_buf *b, const void *data, size_t n)
{
    size_t start = b->len;
    int rv;

    assert(data != NULL || n == 0);
    rv = rkv_buf_printf(b, "$%zu\r\n", n);
    if (rv != 0)
        return rv;
    rv = rkv_buf_append(b, data, n);
    if (rv == 0)
        rv = rkv_buf_append(b, "\r\n", 2);
    if (rv != 0)
        rkv_buf_truncate(b, start);
    return rv;
}

int resp_reply_null(struct rkv_buf *b)
{
    return rkv_buf_append(b, "$-1\r\n", 5);
}

int resp_reply_array(struct rkv_buf *b, size_t n)
{
    return rkv_buf_printf(b, "*%zu\r\n", n);
}
