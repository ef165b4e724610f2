/* HTTP/1.1 codec of the client API (DESIGN.md, "HTTP/JSON API"): an
 * incremental request parser built on Debian's http-parser 2.9 (RFC 7230
 * message framing), the router of the seed's paths, and the response
 * writer. All functions are pure: they work on byte buffers, never on
 * sockets. The JSON bodies are in json.h.
 *
 * Reading requests from a connection:
 *
 *   struct http_parser_state st;      one per connection
 *   struct http_request req;          ~8 KiB: keep it off small stacks
 *   http_parser_state_init(&st);
 *   on every read: append the bytes to the connection's rkv_buf `in`, then
 *   for (;;) {
 *       rv = http_parse_request(&st, in.data, in.len, &req, &n, errmsg);
 *       if (rv == RKV_EAGAIN) { maybe send HTTP_CONTINUE; wait for bytes }
 *       if (rv != 0) { answer 413/431/400 with errmsg, close }
 *       handle req (copy what must outlive `in`), rkv_buf_consume(&in, n);
 *       if (!req.keep_alive) { answer, then close }
 *   }
 *
 * Limits (every one answers a named error, never unbounded buffering): the
 * request line plus headers fit in HTTP_HEADER_MAX bytes, the request
 * target in HTTP_URL_MAX, the body in HTTP_BODY_MAX; beyond them
 * http_parse_request() returns RKV_ETOOBIG as soon as the excess is seen
 * (a Content-Length too large is refused before the body arrives), so a
 * connection never buffers more than HTTP_HEADER_MAX + HTTP_BODY_MAX bytes
 * plus one read.
 *
 * Exactly-once requests carry two headers: "X-Client-Id: <u64>" names the
 * client session and "X-Request-Seq: <u64>" numbers the request within it
 * (both decimal; give both or neither). A retry repeats both unchanged. */
#ifndef NET_HTTP_H
#define NET_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define HTTP_URL_MAX 8192     /* request-target bytes (414 class) */
#define HTTP_HEADER_MAX 16384 /* request line + headers, bytes (431) */
/* Body bytes (413): a value of RESP_BULK_MAX (1 MiB) with room for JSON
 * escaping, so both front ends accept the same values. */
#define HTTP_BODY_MAX (2u << 20)
#define HTTP_PARAMS_MAX 8 /* query parameters per request */

/* Interim response for a client that sent "Expect: 100-continue" (curl
 * does for bodies over 1 KiB); see http_take_continue(). */
#define HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* A byte range of the request, relative to the start of the request's
 * buffer (`buf` of http_parse_request()). Internal to the parser state. */
struct http_range
{
    size_t off; /* first byte */
    size_t len; /* bytes */
};

/* Parser state of one connection. Fields are private: use only
 * http_parser_state_init() and http_take_continue(). Holds no heap memory,
 * so it needs no close. */
struct http_parser_state
{
    http_parser parser;      /* the library's state machine */
    size_t fed_bytes;        /* bytes of the current request parsed */
    const char *base;        /* the caller's buf, during a call only */
    char *errmsg;            /* the caller's errmsg, during a call only */
    int rv;                  /* error raised inside a callback, or 0 */
    bool headers_done;       /* saw the blank line ending the headers */
    bool message_done;       /* saw the end of the request */
    bool continue_pending;   /* client awaits "100 Continue" */
    int last_cb;             /* 0, or which of field/value came last */
    struct http_range url;   /* request-target */
    struct http_range field; /* header name being read */
    struct http_range value; /* header value being read */
    /* Values of the headers the API reads; off == SIZE_MAX if absent. */
    struct http_range content_type; /* Content-Type */
    struct http_range client_id;    /* X-Client-Id */
    struct http_range request_seq;  /* X-Request-Seq */
    struct http_range expect;       /* Expect */
    struct http_range body;         /* body bytes received so far */
};

/* One decoded query parameter, as in "?stale=true". */
struct http_param
{
    const char *name;  /* percent-decoded, NUL-terminated */
    size_t name_len;   /* bytes, without the NUL */
    const char *value; /* percent-decoded ('+' is a space), NUL-terminated;
                        * "" for a parameter without '=' */
    size_t value_len;  /* bytes, without the NUL */
};

/* A parsed request. Strings marked "in buf" point into the caller's input
 * buffer; the others into `scratch`. All are borrowed: valid while the
 * request's bytes in buf are unchanged and `*req` is not parsed into again.
 * Decoded strings may contain NUL bytes (from "%00"): use the lengths. */
struct http_request
{
    enum http_method method; /* HTTP_GET, HTTP_POST, ... (http_parser.h) */
    unsigned version_minor;  /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    bool keep_alive;         /* false: answer "Connection: close", close */
    const char *path;        /* percent-decoded path, NUL-terminated */
    size_t path_len;         /* bytes, without the NUL */
    struct http_param params[HTTP_PARAMS_MAX]; /* query, in URL order */
    size_t n_params;                           /* entries used in params */
    const char *content_type;                  /* Content-Type value in buf, NOT
                                                * NUL-terminated; NULL if absent */
    size_t content_type_len;                   /* bytes */
    bool has_session;     /* X-Client-Id and X-Request-Seq present */
    uint64_t client_id;   /* X-Client-Id, if has_session */
    uint64_t request_seq; /* X-Request-Seq, if has_session */
    const uint8_t *body;  /* Content-Length bytes in buf; NULL if none */
    size_t body_len;      /* bytes */
    char scratch[HTTP_URL_MAX + 1 +
                 2 * HTTP_PARAMS_MAX]; /* decoded path
                                        * and parameters, each NUL-terminated */
};

/* Make `st` ready for the first request of a connection. Cannot fail. */
void http_parser_state_init(struct http_parser_state *st);

/* Parse one request from `buf`, the bytes received on the connection
 * starting at the first byte of this request. The parser is incremental:
 * when it returns RKV_EAGAIN, the caller appends more bytes and calls again
 * with the same `st` and a `buf` that starts with the same bytes (it may
 * have moved); bytes already seen are not parsed again.
 *
 * On success, fills `*req` (see struct http_request for the lifetime of its
 * strings), sets *consumed to the request's length in bytes (the next
 * pipelined request starts at buf + *consumed) and makes `st` ready for the
 * next request. `errmsg` is a caller-owned RKV_ERRMSG_LEN buffer.
 *
 * Returns 0, or:
 *  - RKV_EAGAIN: the request is incomplete; *consumed is 0;
 *  - RKV_ETOOBIG: the request target exceeds HTTP_URL_MAX, the request line
 *    and headers exceed HTTP_HEADER_MAX, or Content-Length exceeds
 *    HTTP_BODY_MAX (the server answers 414, 431 and 413 respectively, or
 *    413 for all);
 *  - RKV_EPROTO: malformed request (bad request line, header syntax, HTTP
 *    version other than 1.0 and 1.1, chunked body: this server requires
 *    Content-Length, folded header lines, duplicate Content-Type,
 *    X-Client-Id, X-Request-Seq or Expect, a non-numeric session header,
 *    bad percent-encoding, more than HTTP_PARAMS_MAX query parameters);
 *    the server answers 400;
 *  - RKV_EINTERNAL: http-parser broke its own contract (never seen).
 * After an error, framing is lost: the caller answers, then closes the
 * connection; `st` is reset. */
int http_parse_request(struct http_parser_state *st,
                       const uint8_t *buf,
                       size_t len,
                       struct http_request *req,
                       size_t *consumed,
                       char *errmsg);

/* True once per request, after http_parse_request() returned RKV_EAGAIN
 * with the headers of an HTTP/1.1 request carrying "Expect: 100-continue"
 * read and its body still to come: the caller then writes HTTP_CONTINUE.
 * Clears the condition. */
bool http_take_continue(struct http_parser_state *st);

/* The first query parameter called `name` (NUL-terminated), or NULL. */
const struct http_param *http_query_get(const struct http_request *req,
                                        const char *name);

/* What a request asks for, by method and path. */
enum http_route {
    HTTP_ROUTE_NOT_FOUND,      /* unknown path: 404 */
    HTTP_ROUTE_BAD_METHOD,     /* known path, other method: 405 */
    HTTP_ROUTE_KV_PUT,         /* POST /kv, JSON body (json.h) */
    HTTP_ROUTE_KV_GET,         /* GET /kv/<key> */
    HTTP_ROUTE_KV_DELETE,      /* DELETE /kv/<key> */
    HTTP_ROUTE_STATUS,         /* GET /status, alias GET /debug */
    HTTP_ROUTE_METRICS,        /* GET /metrics */
    HTTP_ROUTE_HEALTH,         /* GET /health */
    HTTP_ROUTE_MEMBERS,        /* GET /members */
    HTTP_ROUTE_MEMBER_ADD,     /* POST /members, JSON body */
    HTTP_ROUTE_MEMBER_PROMOTE, /* POST /members/<id>/promote */
    HTTP_ROUTE_MEMBER_REMOVE,  /* DELETE /members/<id> */
    HTTP_ROUTE_TRANSFER,       /* POST /transfer-leader, JSON body */
};

/* What http_route() found besides the route. */
struct http_route_info
{
    const char *key;    /* KV_GET, KV_DELETE: the key, pointing into `path`
                         * (so already percent-decoded); NULL otherwise */
    size_t key_len;     /* bytes */
    const char *allow;  /* BAD_METHOD: value for the Allow header */
    uint64_t member_id; /* MEMBER_PROMOTE, MEMBER_REMOVE: the <id>, or 0
                           if it is not a decimal number in 1..2^63 */
};

/* Map `method` and the decoded `path` (path_len bytes, e.g. req->path) to
 * a route. The key of /kv/<key> is everything after "/kv/", '/' included;
 * it must not be empty ("/kv/" is HTTP_ROUTE_NOT_FOUND). The <id> of
 * /members/<id> is one path segment. Pure; cannot fail. */
enum http_route http_route(enum http_method method,
                           const char *path,
                           size_t path_len,
                           struct http_route_info *info);

/* A response to write. The reason phrase comes from the status code. */
struct http_response
{
    int status;               /* 100..599 */
    const char *content_type; /* Content-Type value; NULL: no such header */
    const void *body;         /* body bytes, borrowed for the call */
    size_t body_len;          /* bytes; Content-Length is always sent */
    bool keep_alive;          /* "Connection: keep-alive", else "close" */
    unsigned retry_after_s;   /* > 0: "Retry-After: <seconds>" (503) */
    const char *allow;        /* non-NULL: "Allow: <methods>" (405) */
};

/* Append the complete HTTP/1.1 response `r` (status line, headers, body)
 * to `out`. Returns 0 or RKV_ENOMEM (`out` unchanged). */
int http_response_write(struct rkv_buf *out, const struct http_response *r);

#endif /* NET_HTTP_H */
