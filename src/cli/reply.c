/* JSON bodies of the client (see reply.h), on jansson. */
#include "cli/reply.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raftkv/err.h"

int cli_addr_parse(const char *s,
                   size_t len,
                   struct rkv_client_addr *addr,
                   char *errmsg)
{
    size_t colon = len;
    unsigned port = 0;

    assert(s != NULL || len == 0);
    while (colon > 0 && s[colon - 1] != ':')
        colon--;
    if (colon <= 1)
        return rkv_errf(errmsg, RKV_EINVAL, "'%.*s': expected HOST:PORT",
                        (int)(len > 64 ? 64 : len), s);
    if (colon - 1 > RKV_CLIENT_HOST_MAX)
        return rkv_errf(errmsg, RKV_EINVAL, "host longer than %d bytes",
                        RKV_CLIENT_HOST_MAX);
    for (size_t i = colon; i < len && port <= UINT16_MAX; i++) {
        if (s[i] < '0' || s[i] > '9')
            port = UINT16_MAX + 1;
        else
            port = port * 10 + (unsigned)(s[i] - '0');
    }
    if (colon == len || port == 0 || port > UINT16_MAX)
        return rkv_errf(errmsg, RKV_EINVAL, "'%.*s': port is not 1..65535",
                        (int)(len > 64 ? 64 : len), s);
    memcpy(addr->host, s, colon - 1);
    addr->host[colon - 1] = '\0';
    addr->port = (uint16_t)port;
    return 0;
}

bool cli_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned c = p[i], cp, min;
        size_t n;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* json_dump_callback() sink appending to a struct rkv_buf. */
static int append_json(const char *buffer, size_t size, void *data)
{
    return rkv_buf_append(data, buffer, size) == 0 ? 0 : -1;
}

int cli_reply_put_body(struct rkv_buf *out,
                       const char *key,
                       size_t key_len,
                       const char *value,
                       size_t value_len,
                       char *errmsg)
{
    json_t *doc;
    int rv = 0;

    assert(key != NULL || key_len == 0);
    assert(value != NULL || value_len == 0);
    if (key_len == 0)
        return rkv_errf(errmsg, RKV_EINVAL, "empty key");
    if (!cli_utf8_valid(key, key_len))
        return rkv_errf(errmsg, RKV_EINVAL, "key is not valid UTF-8");
    if (!cli_utf8_valid(value, value_len))
        return rkv_errf(errmsg, RKV_EINVAL, "value is not valid UTF-8");
    /* Both strings are valid UTF-8, so a NULL here is out of memory. */
    doc = json_pack("{s:s%,s:s%}", "key", key, key_len, "value",
                    value != NULL ? value : "", value_len);
    if (doc == NULL)
        return rkv_errf(errmsg, RKV_ENOMEM, "out of memory");
    if (json_dump_callback(doc, append_json, out, JSON_COMPACT) != 0)
        rv = rkv_errf(errmsg, RKV_ENOMEM, "out of memory");
    json_decref(doc);
    return rv;
}

/* Parse `body` as a JSON object; NULL and a message if it is not one.
 * The caller releases the result with json_decref(). */
static json_t *load_object(const uint8_t *body, size_t len, char *errmsg)
{
    json_error_t e;
    json_t *doc;

    doc = json_loadb((const char *)body, len, JSON_ALLOW_NUL, &e);
    if (doc == NULL) {
        rkv_errf(errmsg, RKV_EPROTO, "answer is not JSON: %s", e.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        rkv_errf(errmsg, RKV_EPROTO, "answer is not a JSON object");
        return NULL;
    }
    return doc;
}

/* Read the non-negative integer field `name` of `doc`; null reads as 0 if
 * `nullable`. */
static int get_u64(const json_t *doc,
                   const char *name,
                   bool nullable,
                   uint64_t *out,
                   char *errmsg)
{
    const json_t *v = json_object_get(doc, name);

    if (nullable && json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return rkv_errf(errmsg, RKV_EPROTO,
                        "answer lacks the non-negative integer \"%s\"", name);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int cli_reply_put(const uint8_t *body,
                  size_t len,
                  uint64_t *index,
                  char *errmsg)
{
    json_t *doc = load_object(body, len, errmsg);
    int rv;

    if (doc == NULL)
        return RKV_EPROTO;
    rv = get_u64(doc, "index", false, index, errmsg);
    json_decref(doc);
    return rv;
}

int cli_reply_get(const uint8_t *body,
                  size_t len,
                  char **value,
                  size_t *value_len,
                  char *errmsg)
{
    json_t *doc = load_object(body, len, errmsg);
    const json_t *v;
    size_t n;
    char *copy;
    int rv = 0;

    if (doc == NULL)
        return RKV_EPROTO;
    v = json_object_get(doc, "value");
    if (!json_is_string(v)) {
        rv = rkv_errf(errmsg, RKV_EPROTO, "answer lacks the string \"value\"");
        goto out;
    }
    n = json_string_length(v);
    copy = malloc(n + 1);
    if (copy == NULL) {
        rv = rkv_errf(errmsg, RKV_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(copy, json_string_value(v), n + 1);
    *value = copy;
    *value_len = n;
out:
    json_decref(doc);
    return rv;
}

int cli_reply_status(const uint8_t *body,
                     size_t len,
                     struct rkv_node_status *st,
                     char *errmsg)
{
    json_t *doc = load_object(body, len, errmsg);
    const json_t *role;
    int rv;

    if (doc == NULL)
        return RKV_EPROTO;
    role = json_object_get(doc, "role");
    if (!json_is_string(role) || json_string_length(role) >= sizeof st->role ||
        strlen(json_string_value(role)) != json_string_length(role)) {
        rv = rkv_errf(errmsg, RKV_EPROTO, "answer lacks a valid \"role\"");
        goto out;
    }
    memcpy(st->role, json_string_value(role), json_string_length(role) + 1);
    rv = get_u64(doc, "id", false, &st->id, errmsg);
    if (rv == 0)
        rv = get_u64(doc, "term", false, &st->term, errmsg);
    if (rv == 0)
        rv = get_u64(doc, "leader", true, &st->leader, errmsg);
    if (rv == 0)
        rv = get_u64(doc, "commit_index", false, &st->commit_index, errmsg);
    if (rv == 0)
        rv = get_u64(doc, "last_applied", false, &st->last_applied, errmsg);
    if (rv == 0)
        rv = get_u64(doc, "log_length", false, &st->log_length, errmsg);
out:
    json_decref(doc);
    return rv;
}

void cli_reply_error(const uint8_t *body,
                     size_t len,
                     struct cli_reply_error *out)
{
    char ignored[RKV_ERRMSG_LEN];
    json_t *doc = load_object(body, len, ignored);
    const json_t *v;

    memset(out, 0, sizeof *out);
    if (doc == NULL)
        return;
    v = json_object_get(doc, "error");
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n >= sizeof out->message)
            n = sizeof out->message - 1;
        /* Outside input bound for a terminal: printable ASCII only. */
        for (size_t i = 0; i < n; i++)
            out->message[i] = s[i] >= ' ' && s[i] <= '~' ? s[i] : '?';
    }
    v = json_object_get(doc, "leader_http");
    if (json_is_string(v))
        out->has_leader =
            cli_addr_parse(json_string_value(v), json_string_length(v),
                           &out->leader, ignored) == 0;
    json_decref(doc);
}
