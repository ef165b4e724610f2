/* The JSON bodies the client sends and reads (the server's side of the
 * contract is src/net/json.h), on Debian's jansson, and the "host:port"
 * addresses some of them carry. Pure functions of byte
 * buffers: a node's answer is outside input, so every malformed body gives
 * RKV_EPROTO and a message, never a crash. */
#ifndef CLI_REPLY_H
#define CLI_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftkv/client.h"
#include "util/buf.h"

/* Parse s[0..len), "host:port" with the port after the last ':', into
 * `*addr`. Returns 0, or RKV_EINVAL with a message for an empty or too
 * long host or a port that is not 1..65535. */
int cli_addr_parse(const char *s,
                   size_t len,
                   struct rkv_client_addr *addr,
                   char *errmsg);

/* True if s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). NUL bytes are allowed. */
bool cli_utf8_valid(const char *s, size_t len);

/* Append the body of POST /kv, {"key":...,"value":...}, to `out`. Key and
 * value are borrowed for the call and may hold NULs. Returns 0, RKV_EINVAL
 * if the key is empty or either is not valid UTF-8 (with a message), or
 * RKV_ENOMEM (out may have grown). */
int cli_reply_put_body(struct rkv_buf *out,
                       const char *key,
                       size_t key_len,
                       const char *value,
                       size_t value_len,
                       char *errmsg);

/* The answer to POST /kv: {"ok":true, ..., "index":N}. Sets *index.
 * Returns 0, RKV_EPROTO, or RKV_ENOMEM. */
int cli_reply_put(const uint8_t *body,
                  size_t len,
                  uint64_t *index,
                  char *errmsg);

/* The answer to GET /kv/<key>: {"key":..., "value":"..."}. Sets *value to
 * a malloc()ed copy of the value followed by a NUL (caller frees it with
 * free()) and *value_len to its length. Returns 0, RKV_EPROTO, or
 * RKV_ENOMEM. */
int cli_reply_get(const uint8_t *body,
                  size_t len,
                  char **value,
                  size_t *value_len,
                  char *errmsg);

/* The answer to GET /status. Fills `*st`; "leader" may be null (0).
 * Returns 0, RKV_EPROTO (naming the missing or mistyped field), or
 * RKV_ENOMEM. */
int cli_reply_status(const uint8_t *body,
                     size_t len,
                     struct rkv_node_status *st,
                     char *errmsg);

/* What an error answer says: {"error": "...", "leader_http": "h:p"}. */
struct cli_reply_error
{
    char message[128];             /* "error" (cut to fit), or "" if none */
    bool has_leader;               /* leader_http was present and valid */
    struct rkv_client_addr leader; /* that address */
};

/* Read an error answer's body. Never fails: a body that is not the
 * expected JSON leaves message empty and has_leader false. */
void cli_reply_error(const uint8_t *body,
                     size_t len,
                     struct cli_reply_error *out);

#endif /* CLI_REPLY_H */
