/* The JSON bodies of the HTTP API (DESIGN.md, "HTTP/JSON API"), on Debian's
 * jansson: the body of POST /kv, and JSON responses, including the
 * {"error": "..."} body every error answer carries. Values are strings only:
 * {"key": "foo", "value": "bar"}; a number, object or null value is refused
 * rather than silently stored as its JSON text. */
#ifndef NET_JSON_H
#define NET_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"
#include "util/buf.h"

/* The parsed body of POST /kv. */
struct http_kv_put
{
    json_t *doc;       /* the parsed body: owns key and value */
    const char *key;   /* UTF-8, NUL-terminated, non-empty */
    size_t key_len;    /* bytes; the key may hold NULs ("\u0000") */
    const char *value; /* UTF-8, NUL-terminated, may be empty */
    size_t value_len;  /* bytes; the value may hold NULs */
};

/* Parse the POST /kv body `body` (len bytes, borrowed for the call): a JSON
 * object with exactly the string fields "key" (non-empty) and "value".
 * On success, `*put` owns the parsed document: release it with
 * http_kv_put_close(). `errmsg` is a caller-owned RKV_ERRMSG_LEN buffer.
 * Returns 0, or RKV_EPROTO with a message naming the problem (empty body,
 * invalid JSON with its position, not an object, duplicate field, missing
 * or non-string "key" or "value", empty key, unknown field); the server
 * answers 400 with it. *put is unchanged on error. */
int http_kv_put_parse(const uint8_t *body,
                      size_t len,
                      struct http_kv_put *put,
                      char *errmsg);

/* Release what http_kv_put_parse() returned. */
void http_kv_put_close(struct http_kv_put *put);

/* Append a complete response whose body is `body` (borrowed), encoded as
 * compact JSON with Content-Type application/json. `head` gives status,
 * keep_alive, retry_after_s and allow; its content_type and body must be
 * NULL. Returns 0 or RKV_ENOMEM (`out` unchanged). */
int http_response_json(struct rkv_buf *out,
                       const struct http_response *head,
                       const json_t *body);

/* Append a complete response with the body {"error": msg}. Bytes of `msg`
 * outside printable ASCII become '?', and it is cut at RKV_ERRMSG_LEN - 1
 * bytes, so any errmsg buffer is a valid argument. `head` as in
 * http_response_json(). Returns 0 or RKV_ENOMEM (`out` unchanged). */
int http_response_error(struct rkv_buf *out,
                        const struct http_response *head,
                        const char *msg);

#endif /* NET_JSON_H */
