/* JSON bodies of the HTTP API on jansson (see json.h). Object keys keep
 * insertion order in jansson >= 2.8, so encoded responses are byte-stable. */
#include "net/json.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raftkv/err.h"

#define JSON_DECODE_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define JSON_ENCODE_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)
#define FIELD_SHOWN_MAX 32 /* bytes of an unknown field name quoted back */

/* Copy at most cap - 1 bytes of `src` into `dst`, NUL-terminated, with every
 * byte outside printable ASCII replaced by '?': text from a client (or
 * quoted by jansson from one) becomes safe to log and to put in JSON. */
static void printable_copy(char *dst, size_t cap, const char *src)
{
    size_t i;

    assert(cap > 0);
    for (i = 0; i + 1 < cap && src[i] != '\0'; i++)
        dst[i] = src[i] >= 0x20 && src[i] <= 0x7e ? src[i] : '?';
    dst[i] = '\0';
}

/* The string field `name` of `doc`, into *out and *out_len. */
static int string_field(json_t *doc,
                        const char *name,
                        const char **out,
                        size_t *out_len,
                        char *errmsg)
{
    json_t *v = json_object_get(doc, name);

    if (v == NULL)
        return rkv_errf(errmsg, RKV_EPROTO, "missing field \"%s\"", name);
    if (!json_is_string(v))
        return rkv_errf(errmsg, RKV_EPROTO, "field \"%s\" must be a string",
                        name);
    *out = json_string_value(v);
    *out_len = json_string_length(v);
    return 0;
}

/* Refuse fields other than "key" and "value": a typo such as "vlaue"
 * must not store an empty value. */
static int check_fields(json_t *doc, char *errmsg)
{
    const char *name;
    json_t *v;

    json_object_foreach(doc, name, v)
    {
        char shown[FIELD_SHOWN_MAX];
        if (strcmp(name, "key") == 0 || strcmp(name, "value") == 0)
            continue;
        printable_copy(shown, sizeof shown, name);
        return rkv_errf(errmsg, RKV_EPROTO, "unknown field \"%s\"", shown);
    }
    return 0;
}

int http_kv_put_parse(const uint8_t *body,
                      size_t len,
                      struct http_kv_put *put,
                      char *errmsg)
{
    struct http_kv_put p = {0};
    json_error_t jerr;
    int rv;

    assert(body != NULL || len == 0);
    if (len == 0)
        return rkv_errf(errmsg, RKV_EPROTO,
                        "empty body: expected {\"key\": ..., \"value\": ...}");
    p.doc = json_loadb((const char *)body, len, JSON_DECODE_FLAGS, &jerr);
    if (p.doc == NULL) {
        char text[JSON_ERROR_TEXT_LENGTH];
        printable_copy(text, sizeof text, jerr.text);
        return rkv_errf(errmsg, RKV_EPROTO, "invalid JSON at byte %d: %s",
                        jerr.position, text);
    }
    if (!json_is_object(p.doc)) {
        rv = rkv_errf(
            errmsg, RKV_EPROTO,
            "body must be a JSON object {\"key\": ..., \"value\": ...}");
        goto err_after_load;
    }
    rv = check_fields(p.doc, errmsg);
    if (rv != 0)
        goto err_after_load;
    rv = string_field(p.doc, "key", &p.key, &p.key_len, errmsg);
    if (rv != 0)
        goto err_after_load;
    rv = string_field(p.doc, "value", &p.value, &p.value_len, errmsg);
    if (rv != 0)
        goto err_after_load;
    if (p.key_len == 0) {
        rv = rkv_errf(errmsg, RKV_EPROTO, "field \"key\" must not be empty");
        goto err_after_load;
    }
    *put = p;
    return 0;

err_after_load:
    assert(rv != 0);
    json_decref(p.doc);
    return rv;
}

void http_kv_put_close(struct http_kv_put *put)
{
    json_decref(put->doc);
    memset(put, 0, sizeof *put);
}

int http_response_json(struct rkv_buf *out,
                       const struct http_response *head,
                       const json_t *body)
{
    struct http_response r = *head;
    char *text;
    int rv;

    assert(head->content_type == NULL);
    assert(head->body == NULL);
    text = json_dumps(body, JSON_ENCODE_FLAGS);
    if (text == NULL)
        return RKV_ENOMEM; /* with JSON_ENCODE_ANY, the only failure */
    r.content_type = "application/json";
    r.body = text;
    r.body_len = strlen(text);
    rv = http_response_write(out, &r);
    free(text); /* jansson allocates with malloc() unless told otherwise */
    return rv;
}

int http_response_error(struct rkv_buf *out,
                        const struct http_response *head,
                        const char *msg)
{
    char clean[RKV_ERRMSG_LEN];
    json_t *body;
    int rv;

    printable_copy(clean, sizeof clean, msg);
    body = json_pack("{s:s}", "error", clean);
    if (body == NULL)
        return RKV_ENOMEM; /* `clean` is ASCII: allocation is what failed */
    rv = http_response_json(out, head, body);
    json_decref(body);
    return rv;
}
