/* Fuzz target: the JSON body of POST /kv, http_kv_put_parse() (net/json.h).
 *
 * Input: the body bytes. Accepted bodies must round-trip: the key and value
 * put in a JSON answer (as the server's GET /kv/<key> answer does, with
 * json_stringn) and parsed back give the same bytes. A refused body's
 * message goes into the {"error": ...} answer, which must be valid JSON. */
#include <string.h>

#include "fuzz.h"
#include "net/json.h"
#include "raftkv/err.h"

/* The body of the complete response in `out`. */
static json_t *response_body(const struct rkv_buf *out)
{
    for (size_t i = 0; i + 4 <= out->len; i++) {
        if (memcmp(out->data + i, "\r\n\r\n", 4) == 0)
            return json_loadb((const char *)out->data + i + 4, out->len - i - 4,
                              JSON_ALLOW_NUL, NULL);
    }
    return NULL;
}

static void check_string_field(json_t *doc,
                               const char *name,
                               const char *want,
                               size_t want_len)
{
    json_t *v = json_object_get(doc, name);

    FUZZ_CHECK(json_is_string(v));
    FUZZ_CHECK(json_string_length(v) == want_len);
    FUZZ_CHECK(memcmp(json_string_value(v), want, want_len) == 0);
}

static void check_round_trip(const struct http_kv_put *put)
{
    struct http_response head = {.status = 200, .keep_alive = true};
    struct rkv_buf out;
    json_t *body = json_object(), *doc;

    FUZZ_CHECK(body != NULL);
    FUZZ_CHECK(json_object_set_new(body, "key",
                                   json_stringn(put->key, put->key_len)) == 0);
    FUZZ_CHECK(json_object_set_new(body, "value",
                                   json_stringn(put->value, put->value_len)) ==
               0);
    rkv_buf_init(&out);
    FUZZ_CHECK(http_response_json(&out, &head, body) == 0);
    doc = response_body(&out);
    FUZZ_CHECK(doc != NULL);
    check_string_field(doc, "key", put->key, put->key_len);
    check_string_field(doc, "value", put->value, put->value_len);
    json_decref(doc);
    json_decref(body);
    rkv_buf_close(&out);
}

static void check_error_answer(const char *errmsg)
{
    struct http_response head = {.status = 400, .keep_alive = false};
    struct rkv_buf out;
    json_t *doc;

    rkv_buf_init(&out);
    FUZZ_CHECK(http_response_error(&out, &head, errmsg) == 0);
    doc = response_body(&out);
    FUZZ_CHECK(doc != NULL);
    FUZZ_CHECK(json_is_string(json_object_get(doc, "error")));
    json_decref(doc);
    rkv_buf_close(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_kv_put put;
    char errmsg[RKV_ERRMSG_LEN];
    int rv = http_kv_put_parse(data, size, &put, errmsg);

    if (rv != 0) {
        FUZZ_CHECK(rv == RKV_EPROTO);
        check_error_answer(errmsg);
        return 0;
    }
    FUZZ_CHECK(put.doc != NULL);
    FUZZ_CHECK(put.key != NULL && put.key_len > 0);
    FUZZ_CHECK(put.value != NULL);
    check_round_trip(&put);
    http_kv_put_close(&put);
    return 0;
}
