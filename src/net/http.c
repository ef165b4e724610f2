/* HTTP/1.1 requests and responses of the client API (see http.h). Message
 * framing is Debian's http-parser (RFC 7230 §3); this file adds the limits,
 * picks out the headers the API uses, decodes the request target (RFC 3986
 * percent-encoding) and routes it.
 *
 * The parser's callbacks hand out pieces of the request as they arrive. The
 * caller keeps the whole request in one buffer, so successive pieces of one
 * element are adjacent there: the state keeps (offset, length) ranges into
 * that buffer and turns them into pointers once the request is complete. */
#include "net/http.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "raftkv/err.h"

#define RANGE_NONE SIZE_MAX /* http_range.off of a header not seen */

/* Which data callback ran last, to tell where a header line ends. */
enum { CB_NONE, CB_FIELD, CB_VALUE };

_Static_assert(HTTP_URL_MAX <= UINT16_MAX,
               "http_parser_parse_url() keeps 16-bit offsets");
_Static_assert(HTTP_URL_MAX < HTTP_HEADER_MAX,
               "the request line is part of the head");
_Static_assert(HTTP_HEADER_MAX < HTTP_MAX_HEADER_SIZE,
               "our head limit must fire before the library's");

/* Record a callback's error and stop the library (non-zero return). */
static int cb_fail(struct http_parser_state *st, int rv)
{
    assert(rv < 0);
    st->rv = rv;
    return -1;
}

static void range_clear(struct http_range *r, size_t off)
{
    r->off = off;
    r->len = 0;
}

static size_t offset_of(const struct http_parser_state *st, const char *at)
{
    assert(st->base != NULL);
    assert(at >= st->base);
    return (size_t)(at - st->base);
}

/* Start `r` at `at`, or extend it if `more`; false if `at` does not follow
 * the bytes already in `r` (a line break came between). */
static bool range_add(struct http_parser_state *st,
                      struct http_range *r,
                      bool more,
                      const char *at,
                      size_t n)
{
    size_t off = offset_of(st, at);

    if (!more) {
        r->off = off;
        r->len = n;
        return true;
    }
    if (n == 0)
        return true;
    if (off != r->off + r->len)
        return false;
    r->len += n;
    return true;
}

static void reset(struct http_parser_state *st)
{
    http_parser_init(&st->parser, HTTP_REQUEST);
    st->parser.data = st;
    st->fed_bytes = 0;
    st->base = NULL;
    st->errmsg = NULL;
    st->rv = 0;
    st->headers_done = false;
    st->message_done = false;
    st->continue_pending = false;
    st->last_cb = CB_NONE;
    range_clear(&st->url, 0);
    range_clear(&st->field, 0);
    range_clear(&st->value, 0);
    range_clear(&st->content_type, RANGE_NONE);
    range_clear(&st->client_id, RANGE_NONE);
    range_clear(&st->request_seq, RANGE_NONE);
    range_clear(&st->expect, RANGE_NONE);
    range_clear(&st->body, 0);
}

void http_parser_state_init(struct http_parser_state *st)
{
    memset(st, 0, sizeof *st);
    reset(st);
}

static bool bytes_equal_nocase(const char *p, size_t n, const char *lower)
{
    return strlen(lower) == n && strncasecmp(p, lower, n) == 0;
}

/* The slot of a header the API reads, or NULL for any other header. */
static struct http_range *tracked_header(struct http_parser_state *st,
                                         const char *name,
                                         size_t n,
                                         const char **canonical)
{
    static const struct
    {
        const char *lower;     /* name as compared, lower case */
        const char *canonical; /* name as reported in errors */
    } names[] = {
        {"content-type", "Content-Type"},
        {"x-client-id", "X-Client-Id"},
        {"x-request-seq", "X-Request-Seq"},
        {"expect", "Expect"},
    };
    struct http_range *slots[] = {&st->content_type, &st->client_id,
                                  &st->request_seq, &st->expect};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (bytes_equal_nocase(name, n, names[i].lower)) {
            *canonical = names[i].canonical;
            return slots[i];
        }
    }
    return NULL;
}

/* A header line is complete: keep its value if the API reads it. */
static int commit_header(struct http_parser_state *st)
{
    const char *name = st->base + st->field.off;
    const char *canonical = NULL;
    struct http_range *slot;
    struct http_range v = st->value;

    assert(st->last_cb == CB_VALUE);
    slot = tracked_header(st, name, st->field.len, &canonical);
    if (slot == NULL)
        return 0;
    if (slot->off != RANGE_NONE)
        return rkv_errf(st->errmsg, RKV_EPROTO, "duplicate %s header",
                        canonical);
    /* RFC 7230 §3.2: optional whitespace may trail the value. */
    while (v.len > 0 && (st->base[v.off + v.len - 1] == ' ' ||
                         st->base[v.off + v.len - 1] == '\t'))
        v.len--;
    *slot = v;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_parser_state *st = p->data;

    if (n == 0)
        return 0;
    if (n > HTTP_URL_MAX - st->url.len)
        return cb_fail(
            st, rkv_errf(st->errmsg, RKV_ETOOBIG,
                         "request target longer than %d bytes", HTTP_URL_MAX));
    if (!range_add(st, &st->url, st->url.len > 0, at, n))
        return cb_fail(st, rkv_errf(st->errmsg, RKV_EINTERNAL,
                                    "request target arrived out of order"));
    return 0;
}

/* RFC 7230 §3.2.6 tchar. Debian builds http-parser without
 * HTTP_PARSER_STRICT, which lets a space into header names: "Content-Length
 * : 5" must be refused (§3.2.4), or we and a proxy in front of us could
 * frame the request differently. */
static bool is_token(const char *p, size_t n)
{
    static const char punct[] = "!#$%&'*+-.^_`|~";

    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || (c != '\0' && strchr(punct, c))))
            return false;
    }
    return true;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_parser_state *st = p->data;
    int rv;

    if (n == 0)
        return 0;
    if (!is_token(at, n))
        return cb_fail(st, rkv_errf(st->errmsg, RKV_EPROTO,
                                    "malformed request: invalid character in "
                                    "a header name"));
    if (st->last_cb == CB_VALUE) {
        rv = commit_header(st);
        if (rv != 0)
            return cb_fail(st, rv);
    }
    if (!range_add(st, &st->field, st->last_cb == CB_FIELD, at, n))
        return cb_fail(st, rkv_errf(st->errmsg, RKV_EPROTO,
                                    "malformed request: header line without "
                                    "a value"));
    st->last_cb = CB_FIELD;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_parser_state *st = p->data;

    /* A value continued on the next line (obs-fold) arrives as a second,
     * non-adjacent piece; RFC 7230 §3.2.4 lets a server reject it. */
    if (!range_add(st, &st->value, st->last_cb == CB_VALUE, at, n))
        return cb_fail(st, rkv_errf(st->errmsg, RKV_EPROTO,
                                    "folded header lines are not supported"));
    st->last_cb = CB_VALUE;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_parser_state *st = p->data;
    int rv;

    if (st->last_cb == CB_VALUE) {
        rv = commit_header(st);
        if (rv != 0)
            return cb_fail(st, rv);
    }
    if (p->http_major != 1 || p->http_minor > 1)
        return cb_fail(st, rkv_errf(st->errmsg, RKV_EPROTO,
                                    "unsupported HTTP version %u.%u",
                                    p->http_major, p->http_minor));
    if (p->flags & F_CHUNKED)
        return cb_fail(st, rkv_errf(st->errmsg, RKV_EPROTO,
                                    "chunked request bodies are not supported: "
                                    "send Content-Length"));
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > HTTP_BODY_MAX)
        return cb_fail(
            st, rkv_errf(st->errmsg, RKV_ETOOBIG,
                         "request body of %llu bytes exceeds the "
                         "limit of %u bytes",
                         (unsigned long long)p->content_length, HTTP_BODY_MAX));
    st->headers_done = true;
    /* RFC 7231 §5.1.1: only HTTP/1.1 clients wait for "100 Continue". */
    st->continue_pending = p->http_minor == 1 && st->expect.off != RANGE_NONE &&
                           bytes_equal_nocase(st->base + st->expect.off,
                                              st->expect.len, "100-continue") &&
                           (p->flags & F_CONTENTLENGTH) &&
                           p->content_length > 0;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_parser_state *st = p->data;

    /* Without chunked encoding the body is one run of bytes. */
    if (!range_add(st, &st->body, st->body.len > 0, at, n))
        return cb_fail(st, rkv_errf(st->errmsg, RKV_EINTERNAL,
                                    "request body arrived out of order"));
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_parser_state *st = p->data;

    /* Stop right after this request; the next pipelined one starts in a
     * fresh parser state. */
    st->message_done = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Give the library the bytes it has not seen, at most up to the head limit
 * while the head is being read. Returns 0 once the request is complete. */
static int feed(struct http_parser_state *st, size_t len)
{
    while (st->fed_bytes < len) {
        size_t chunk = len - st->fed_bytes, n;
        enum http_errno e;

        assert(st->headers_done || st->fed_bytes < HTTP_HEADER_MAX);
        if (!st->headers_done && chunk > HTTP_HEADER_MAX - st->fed_bytes)
            chunk = HTTP_HEADER_MAX - st->fed_bytes;
        n = http_parser_execute(&st->parser, &settings,
                                st->base + st->fed_bytes, chunk);
        assert(n <= chunk);
        st->fed_bytes += n;
        if (st->message_done)
            return 0;
        if (st->rv != 0)
            return st->rv;
        e = HTTP_PARSER_ERRNO(&st->parser);
        if (e != HPE_OK)
            return rkv_errf(st->errmsg, RKV_EPROTO, "malformed request: %s",
                            http_errno_description(e));
        /* Without an error the library takes every byte: never spin. */
        if (n != chunk)
            return rkv_errf(st->errmsg, RKV_EINTERNAL,
                            "http-parser stopped without an error");
        if (!st->headers_done && st->fed_bytes >= HTTP_HEADER_MAX)
            return rkv_errf(st->errmsg, RKV_ETOOBIG,
                            "request line and headers exceed %d bytes",
                            HTTP_HEADER_MAX);
    }
    return RKV_EAGAIN;
}

/* Bump allocator over req->scratch. */
struct scratch
{
    char *p;     /* req->scratch */
    size_t used; /* bytes handed out */
    size_t cap;  /* sizeof req->scratch */
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode src[0..n) into the scratch area, NUL-terminated, turning
 * '+' into a space if `plus_is_space` (query strings). Returns 0, or -1 on
 * a '%' not followed by two hex digits. */
static int decode(struct scratch *s,
                  const char *src,
                  size_t n,
                  bool plus_is_space,
                  const char **out,
                  size_t *out_len)
{
    char *dst = s->p + s->used;
    size_t w = 0;

    /* Decoding never grows text, and the scratch area holds the whole
     * request target plus one NUL per string (see struct http_request). */
    assert(s->used <= s->cap);
    assert(n + 1 <= s->cap - s->used);
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(src[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(src[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        dst[w++] = c;
    }
    dst[w] = '\0';
    s->used += w + 1;
    *out = dst;
    *out_len = w;
    return 0;
}

/* Split the query "a=1&b&c=x+y" into decoded parameters. */
static int parse_query(struct scratch *s,
                       const char *q,
                       size_t n,
                       struct http_request *req,
                       char *errmsg)
{
    size_t i = 0;

    while (i < n) {
        const char *amp = memchr(q + i, '&', n - i);
        size_t end = amp != NULL ? (size_t)(amp - q) : n;
        const char *eq = memchr(q + i, '=', end - i);
        size_t name_end = eq != NULL ? (size_t)(eq - q) : end;
        size_t value_start = eq != NULL ? name_end + 1 : end;
        struct http_param *prm;

        if (end > i) { /* "a&&b" has an empty piece: skip it */
            if (req->n_params == HTTP_PARAMS_MAX)
                return rkv_errf(errmsg, RKV_EPROTO,
                                "more than %d query parameters",
                                HTTP_PARAMS_MAX);
            prm = &req->params[req->n_params];
            if (decode(s, q + i, name_end - i, true, &prm->name,
                       &prm->name_len) != 0 ||
                decode(s, q + value_start, end - value_start, true, &prm->value,
                       &prm->value_len) != 0)
                return rkv_errf(errmsg, RKV_EPROTO,
                                "bad percent-encoding in the query string");
            req->n_params++;
        }
        i = end + 1;
    }
    return 0;
}

/* Decode the request target into req->path and req->params. */
static int parse_target(const struct http_parser_state *st,
                        struct http_request *req,
                        char *errmsg)
{
    const char *url = st->base + st->url.off;
    struct scratch s = {req->scratch, 0, sizeof req->scratch};
    struct http_parser_url u;
    const char *path = "/";
    size_t path_len = 1;

    assert(st->url.len <= HTTP_URL_MAX);
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, st->url.len,
                              st->parser.method == HTTP_CONNECT, &u) != 0)
        return rkv_errf(errmsg, RKV_EPROTO, "malformed request target");
    /* An absolute-form target ("http://host") may have no path. */
    if (u.field_set & (1 << UF_PATH)) {
        path = url + u.field_data[UF_PATH].off;
        path_len = u.field_data[UF_PATH].len;
    }
    if (decode(&s, path, path_len, false, &req->path, &req->path_len) != 0)
        return rkv_errf(errmsg, RKV_EPROTO, "bad percent-encoding in the path");
    req->n_params = 0;
    if (u.field_set & (1 << UF_QUERY))
        return parse_query(&s, url + u.field_data[UF_QUERY].off,
                           u.field_data[UF_QUERY].len, req, errmsg);
    return 0;
}

/* A decimal uint64 with no sign, space or overflow. */
static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* The session headers of exactly-once requests (see http.h). */
static int parse_session(const struct http_parser_state *st,
                         struct http_request *req,
                         char *errmsg)
{
    bool has_id = st->client_id.off != RANGE_NONE;
    bool has_seq = st->request_seq.off != RANGE_NONE;

    req->has_session = false;
    req->client_id = 0;
    req->request_seq = 0;
    if (!has_id && !has_seq)
        return 0;
    if (!has_id || !has_seq)
        return rkv_errf(errmsg, RKV_EPROTO,
                        "X-Client-Id and X-Request-Seq go together");
    if (!parse_u64(st->base + st->client_id.off, st->client_id.len,
                   &req->client_id))
        return rkv_errf(errmsg, RKV_EPROTO,
                        "X-Client-Id must be a decimal integer below 2^64");
    if (!parse_u64(st->base + st->request_seq.off, st->request_seq.len,
                   &req->request_seq))
        return rkv_errf(errmsg, RKV_EPROTO,
                        "X-Request-Seq must be a decimal integer below 2^64");
    req->has_session = true;
    return 0;
}

/* Fill `req` from a complete request. */
static int build_request(const struct http_parser_state *st,
                         struct http_request *req,
                         char *errmsg)
{
    const http_parser *p = &st->parser;
    int rv;

    assert(st->message_done);
    assert(st->headers_done);
    assert(st->fed_bytes > st->body.len);
    /* Without HTTP_PARSER_STRICT the library takes any byte after the
     * final CR as its LF; insist on the LF (the head is what precedes the
     * body, and it ends with the blank line). */
    if (st->base[st->fed_bytes - st->body.len - 1] != '\n')
        return rkv_errf(errmsg, RKV_EPROTO,
                        "malformed request: LF character expected");
    req->method = (enum http_method)p->method;
    req->version_minor = p->http_minor;
    req->keep_alive = http_should_keep_alive(p) != 0;
    rv = parse_target(st, req, errmsg);
    if (rv != 0)
        return rv;
    rv = parse_session(st, req, errmsg);
    if (rv != 0)
        return rv;
    req->content_type = NULL;
    req->content_type_len = 0;
    if (st->content_type.off != RANGE_NONE) {
        req->content_type = st->base + st->content_type.off;
        req->content_type_len = st->content_type.len;
    }
    req->body = NULL;
    req->body_len = st->body.len;
    if (st->body.len > 0)
        req->body = (const uint8_t *)st->base + st->body.off;
    return 0;
}

int http_parse_request(struct http_parser_state *st,
                       const uint8_t *buf,
                       size_t len,
                       struct http_request *req,
                       size_t *consumed,
                       char *errmsg)
{
    int rv;

    assert(buf != NULL || len == 0);
    assert(len >= st->fed_bytes); /* the caller only appends */
    *consumed = 0;
    st->base = (const char *)buf;
    st->errmsg = errmsg;
    st->parser.data = st; /* `st` may have been moved since init */
    rv = feed(st, len);
    if (rv == 0)
        rv = build_request(st, req, errmsg);
    if (rv == 0)
        *consumed = st->fed_bytes;
    if (rv == RKV_EAGAIN) {
        st->base = NULL;
        st->errmsg = NULL;
    } else {
        reset(st);
    }
    return rv;
}

bool http_take_continue(struct http_parser_state *st)
{
    bool pending = st->continue_pending;

    assert(!pending || st->headers_done);
    st->continue_pending = false;
    return pending;
}

const struct http_param *http_query_get(const struct http_request *req,
                                        const char *name)
{
    size_t n = strlen(name);

    assert(req->n_params <= HTTP_PARAMS_MAX);
    for (size_t i = 0; i < req->n_params; i++) {
        const struct http_param *prm = &req->params[i];
        if (prm->name_len == n && memcmp(prm->name, name, n) == 0)
            return prm;
    }
    return NULL;
}

static bool path_is(const char *path, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(path, want, n) == 0;
}

static enum http_route bad_method(struct http_route_info *info,
                                  const char *allow)
{
    info->allow = allow;
    return HTTP_ROUTE_BAD_METHOD;
}

/* "<digits>" into 1..2^63, else 0. */
static uint64_t parse_member_id(const char *p, size_t n)
{
    uint64_t v = 0;

    if (n == 0 || n > 19)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    return v <= (UINT64_C(1) << 63) ? v : 0;
}

/* /members/<id> and /members/<id>/promote. */
static enum http_route member_route(enum http_method method,
                                    const char *path,
                                    size_t path_len,
                                    struct http_route_info *info)
{
    static const char prefix[] = "/members/";
    static const char promote[] = "/promote";
    const size_t plen = sizeof prefix - 1, slen = sizeof promote - 1;
    const char *id = path + plen;
    size_t n = path_len - plen;
    const char *slash = memchr(id, '/', n);

    if (slash == NULL) {
        info->member_id = parse_member_id(id, n);
        return method == HTTP_DELETE ? HTTP_ROUTE_MEMBER_REMOVE
                                     : bad_method(info, "DELETE");
    }
    if ((size_t)(path + path_len - slash) != slen ||
        memcmp(slash, promote, slen) != 0)
        return HTTP_ROUTE_NOT_FOUND;
    info->member_id = parse_member_id(id, (size_t)(slash - id));
    return method == HTTP_POST ? HTTP_ROUTE_MEMBER_PROMOTE
                               : bad_method(info, "POST");
}

enum http_route http_route(enum http_method method,
                           const char *path,
                           size_t path_len,
                           struct http_route_info *info)
{
    static const struct
    {
        const char *path;      /* exact path */
        enum http_route route; /* its GET route */
    } get_paths[] = {
        {"/status", HTTP_ROUTE_STATUS},
        {"/debug", HTTP_ROUTE_STATUS},
        {"/metrics", HTTP_ROUTE_METRICS},
        {"/health", HTTP_ROUTE_HEALTH},
    };
    static const char kv_prefix[] = "/kv/";
    const size_t prefix_len = sizeof kv_prefix - 1;

    assert(path != NULL || path_len == 0);
    info->key = NULL;
    info->key_len = 0;
    info->allow = NULL;
    info->member_id = 0;
    if (path_is(path, path_len, "/members"))
        return method == HTTP_GET    ? HTTP_ROUTE_MEMBERS
               : method == HTTP_POST ? HTTP_ROUTE_MEMBER_ADD
                                     : bad_method(info, "GET, POST");
    if (path_len > 9 && memcmp(path, "/members/", 9) == 0)
        return member_route(method, path, path_len, info);
    if (path_is(path, path_len, "/transfer-leader"))
        return method == HTTP_POST ? HTTP_ROUTE_TRANSFER
                                   : bad_method(info, "POST");
    for (size_t i = 0; i < sizeof get_paths / sizeof get_paths[0]; i++) {
        if (path_is(path, path_len, get_paths[i].path))
            return method == HTTP_GET ? get_paths[i].route
                                      : bad_method(info, "GET");
    }
    if (path_is(path, path_len, "/kv"))
        return method == HTTP_POST ? HTTP_ROUTE_KV_PUT
                                   : bad_method(info, "POST");
    if (path_len <= prefix_len || memcmp(path, kv_prefix, prefix_len) != 0)
        return HTTP_ROUTE_NOT_FOUND;
    if (method != HTTP_GET && method != HTTP_DELETE)
        return bad_method(info, "GET, DELETE");
    info->key = path + prefix_len;
    info->key_len = path_len - prefix_len;
    return method == HTTP_GET ? HTTP_ROUTE_KV_GET : HTTP_ROUTE_KV_DELETE;
}

int http_response_write(struct rkv_buf *out, const struct http_response *r)
{
    size_t start = out->len;
    int rv;

    assert(r->status >= 100 && r->status <= 599);
    assert(r->body != NULL || r->body_len == 0);
    rv = rkv_buf_printf(out, "HTTP/1.1 %d %s\r\n", r->status,
                        http_status_str((enum http_status)r->status));
    if (rv != 0)
        goto err;
    if (r->content_type != NULL) {
        rv = rkv_buf_printf(out, "Content-Type: %s\r\n", r->content_type);
        if (rv != 0)
            goto err;
    }
    if (r->retry_after_s > 0) {
        rv = rkv_buf_printf(out, "Retry-After: %u\r\n", r->retry_after_s);
        if (rv != 0)
            goto err;
    }
    if (r->allow != NULL) {
        rv = rkv_buf_printf(out, "Allow: %s\r\n", r->allow);
        if (rv != 0)
            goto err;
    }
    rv = rkv_buf_printf(out, "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
                        r->body_len, r->keep_alive ? "keep-alive" : "close");
    if (rv != 0)
        goto err;
    rv = rkv_buf_append(out, r->body, r->body_len);
    if (rv != 0)
        goto err;
    return 0;

err:
    assert(rv != 0);
    rkv_buf_truncate(out, start);
    return rv;
}
