/* HTTP/1.1 requests and responses for the client (see http_client.h).
 * Response framing (RFC 7230 §3.3: Content-Length, chunked, or until
 * close) is Debian's http-parser; this file only collects the status, the
 * body and whether the connection stays open. */
#include "cli/http_client.h"

#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "raftkv/err.h"

static int on_message_begin(http_parser *p);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings response_settings = {
    .on_message_begin = on_message_begin,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* RFC 3986 §2.3: bytes that stand for themselves in a path. */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

int cli_http_kv_target(struct rkv_buf *out,
                       const char *key,
                       size_t key_len,
                       bool stale)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *tail = stale ? "?stale=true" : "";
    size_t tail_len = strlen(tail);
    uint8_t *p;
    int rv;

    assert(key != NULL || key_len == 0);
    assert(key_len <= (SIZE_MAX - 32) / 3);
    rv = rkv_buf_reserve(out, 4 + 3 * key_len + tail_len + 1);
    if (rv != 0)
        return rv;
    p = out->data + out->len;
    memcpy(p, "/kv/", 4);
    p += 4;
    for (size_t i = 0; i < key_len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (is_unreserved(c)) {
            *p++ = c;
        } else {
            *p++ = '%';
            *p++ = (uint8_t)hex[c >> 4];
            *p++ = (uint8_t)hex[c & 15];
        }
    }
    memcpy(p, tail, tail_len + 1);
    out->len = (size_t)(p - out->data) + tail_len;
    return 0;
}

int cli_http_request(struct rkv_buf *out,
                     const char *method,
                     const char *target,
                     const char *host,
                     uint16_t port,
                     const struct cli_http_session *session,
                     const void *body,
                     size_t body_len)
{
    size_t start = out->len;
    int rv;

    assert(method != NULL && target != NULL && host != NULL);
    assert(body != NULL || body_len == 0);
    rv = rkv_buf_printf(out, "%s %s HTTP/1.1\r\nHost: %s:%u\r\n", method,
                        target, host, (unsigned)port);
    if (rv == 0 && session != NULL)
        rv = rkv_buf_printf(out,
                            "X-Client-Id: %" PRIu64
                            "\r\n"
                            "X-Request-Seq: %" PRIu64 "\r\n",
                            session->client_id, session->seq);
    if (rv == 0 && body != NULL)
        rv = rkv_buf_printf(out,
                            "Content-Type: application/json\r\n"
                            "Content-Length: %zu\r\n",
                            body_len);
    if (rv == 0)
        rv = rkv_buf_append_str(out, "\r\n");
    if (rv == 0 && body_len > 0)
        rv = rkv_buf_append(out, body, body_len);
    if (rv != 0)
        rkv_buf_truncate(out, start);
    return rv;
}

void cli_http_response_init(struct cli_http_response *r)
{
    http_parser_init(&r->parser, HTTP_RESPONSE);
    r->parser.data = r;
    r->done = false;
    r->rv = 0;
    r->status = 0;
    r->keep_alive = false;
    rkv_buf_init(&r->body);
}

void cli_http_response_close(struct cli_http_response *r)
{
    rkv_buf_close(&r->body);
    cli_http_response_init(r);
}

/* A second response on the same bytes is not ours to read. */
static int on_message_begin(http_parser *p)
{
    struct cli_http_response *r = p->data;
    return r->done ? 1 : 0;
}

/* Refuse a body announced too large before it arrives. */
static int on_headers_complete(http_parser *p)
{
    struct cli_http_response *r = p->data;

    /* http-parser sets content_length to ULLONG_MAX when there is none. */
    if (p->content_length != ULLONG_MAX &&
        p->content_length > CLI_HTTP_BODY_MAX) {
        r->rv = RKV_ETOOBIG;
        return -1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct cli_http_response *r = p->data;

    assert(!r->done);
    if (len > CLI_HTTP_BODY_MAX - r->body.len) {
        r->rv = RKV_ETOOBIG;
        return 1;
    }
    r->rv = rkv_buf_append(&r->body, at, len);
    return r->rv != 0;
}

static int on_message_complete(http_parser *p)
{
    struct cli_http_response *r = p->data;

    assert(!r->done);
    r->done = true;
    r->status = (int)p->status_code;
    r->keep_alive = http_should_keep_alive(p) != 0;
    return 0;
}

int cli_http_response_feed(struct cli_http_response *r,
                           const uint8_t *data,
                           size_t len,
                           char *errmsg)
{
    size_t n;
    enum http_errno e;

    assert(!r->done);
    assert(data != NULL || len == 0);
    if (r->rv != 0)
        return rkv_errf(errmsg, RKV_EPROTO, "answer already refused");
    n = http_parser_execute(&r->parser, &response_settings, (const char *)data,
                            len);
    if (r->done) {
        if (n < len)
            r->keep_alive = false;
        return 0;
    }
    e = HTTP_PARSER_ERRNO(&r->parser);
    if (r->rv == RKV_ETOOBIG)
        return rkv_errf(errmsg, r->rv, "answer body over %u bytes",
                        CLI_HTTP_BODY_MAX);
    if (r->rv != 0)
        return rkv_errf(errmsg, r->rv, "out of memory reading the answer");
    if (e != HPE_OK) {
        r->rv = RKV_EPROTO;
        return rkv_errf(errmsg, r->rv, "bad HTTP answer: %s",
                        http_errno_description(e));
    }
    if (len == 0) {
        r->rv = RKV_EPROTO;
        return rkv_errf(errmsg, r->rv, "connection closed before the answer");
    }
    return RKV_EAGAIN;
}
