/* The client side of HTTP/1.1 (RFC 7230) as the raftkv API needs it: the
 * request writer, the request-target of a key, and an incremental response
 * reader built on Debian's http-parser. Pure: byte buffers in and out, no
 * sockets (those are in conn.h). */
#ifndef CLI_HTTP_CLIENT_H
#define CLI_HTTP_CLIENT_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Largest response body accepted: a 1 MiB value whose every byte is a
 * control character escaped as \u00XX in JSON, with room to spare. */
#define CLI_HTTP_BODY_MAX (8u << 20)

/* The exactly-once pair of a write, sent as X-Client-Id / X-Request-Seq. */
struct cli_http_session
{
    uint64_t client_id; /* random, never 0 */
    uint64_t seq;       /* 1 for the client's first write, then +1 */
};

/* Append the request-target of `key` (key_len bytes, any bytes) to `out`:
 * "/kv/" then the key percent-encoded (every byte but A-Z a-z 0-9 - . _ ~),
 * then "?stale=true" if `stale`, then a NUL that is not counted in
 * out->len. Returns 0 or RKV_ENOMEM (out may have grown). */
int cli_http_kv_target(struct rkv_buf *out,
                       const char *key,
                       size_t key_len,
                       bool stale);

/* Append a complete request to `out`: `method` (e.g. "POST") and `target`
 * (already encoded), a Host header for host:port, the session headers if
 * `session` is not NULL, and, if `body` is not NULL, "Content-Type:
 * application/json" and the body_len bytes of `body`. All borrowed for the
 * call. Returns 0 or RKV_ENOMEM (out may have grown). */
int cli_http_request(struct rkv_buf *out,
                     const char *method,
                     const char *target,
                     const char *host,
                     uint16_t port,
                     const struct cli_http_session *session,
                     const void *body,
                     size_t body_len);

/* A response being read. Fields other than those marked are private. */
struct cli_http_response
{
    http_parser parser;  /* the library's state machine */
    bool done;           /* the whole response has been read */
    int rv;              /* error raised inside a callback, or 0 */
    int status;          /* public once done: the status code */
    bool keep_alive;     /* public once done: the connection may be
                            used for another request */
    struct rkv_buf body; /* public once done: the body, de-chunked */
};

/* Make `r` ready to read one response. Cannot fail. */
void cli_http_response_init(struct cli_http_response *r);

/* Free the body and leave `r` as after cli_http_response_init(). */
void cli_http_response_close(struct cli_http_response *r);

/* Feed the next `len` bytes received (borrowed for the call); len 0 means
 * the peer closed the connection. Returns 0 once the response is complete
 * (r->done; bytes after its end are ignored and clear keep_alive),
 * RKV_EAGAIN if more bytes are needed, or, with a message: RKV_EPROTO for
 * a malformed response or a close before its end, RKV_ETOOBIG for a body
 * over CLI_HTTP_BODY_MAX, RKV_ENOMEM. After an error, `r` takes no more
 * bytes. Precondition: !r->done. */
int cli_http_response_feed(struct cli_http_response *r,
                           const uint8_t *data,
                           size_t len,
                           char *errmsg);

#endif /* CLI_HTTP_CLIENT_H */
