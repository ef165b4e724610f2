/* Fuzz target: the HTTP request path of the client API (net/http.h).
 *
 * Input: a u16 `split` (little-endian), then the bytes a client sends on
 * one connection: any number of pipelined requests. The stream is parsed
 * twice with http_parse_request(): all at once, and as the server sees it
 * when the first split % (len + 1) bytes arrive in one read and the rest in
 * a second. Both must yield the same requests and end the same way: both
 * waiting for more bytes, or both refusing the same request. (The code of
 * a refusal may differ: a request over a limit and malformed as well is
 * refused for whichever problem the parser meets first, and http-parser
 * hands out a request target piecewise at the end of each read, so a
 * target over HTTP_URL_MAX is seen before a syntax error later on the
 * line only when a read ends inside the target.) Every request goes
 * through http_route(), the body of POST /kv through http_kv_put_parse(),
 * and every error message into the JSON error answer the server would
 * send, which must stay valid JSON. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/http.h"
#include "net/json.h"
#include "raftkv/err.h"

/* How one parse of the stream went, as a digest compared between runs. */
struct outcome
{
    uint64_t hash;     /* FNV-1a over every request and how it ended */
    size_t n_requests; /* requests parsed */
    int last_rv;       /* RKV_EAGAIN at the end of the bytes, or the error */
};

/* ~8 KiB each: kept off the stack. */
static struct http_request req;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mix_u64(uint64_t h, uint64_t v)
{
    return mix(h, &v, sizeof v);
}

static uint64_t digest_request(uint64_t h, size_t consumed)
{
    h = mix_u64(h, consumed);
    h = mix_u64(h, (uint64_t)req.method);
    h = mix_u64(h, req.version_minor);
    h = mix_u64(h, req.keep_alive);
    h = mix(h, req.path, req.path_len + 1);
    for (size_t i = 0; i < req.n_params; i++) {
        h = mix(h, req.params[i].name, req.params[i].name_len + 1);
        h = mix(h, req.params[i].value, req.params[i].value_len + 1);
    }
    h = mix_u64(h, req.content_type != NULL);
    h = mix(h, req.content_type, req.content_type_len);
    h = mix_u64(h, req.has_session);
    h = mix_u64(h, req.client_id);
    h = mix_u64(h, req.request_seq);
    h = mix_u64(h, req.body_len);
    return mix(h, req.body, req.body_len);
}

/* The server answers a refused request with {"error": errmsg}: whatever the
 * message holds, the body must parse back as that object. */
static void check_error_answer(const char *errmsg)
{
    struct http_response head = {.status = 400, .keep_alive = false};
    struct rkv_buf out;
    const uint8_t *body;
    json_t *doc;

    rkv_buf_init(&out);
    FUZZ_CHECK(http_response_error(&out, &head, errmsg) == 0);
    FUZZ_CHECK(out.len >= 4);
    body = NULL;
    for (size_t i = 0; i + 4 <= out.len && body == NULL; i++) {
        if (memcmp(out.data + i, "\r\n\r\n", 4) == 0)
            body = out.data + i + 4;
    }
    FUZZ_CHECK(body != NULL);
    doc = json_loadb((const char *)body, (size_t)(out.data + out.len - body), 0,
                     NULL);
    FUZZ_CHECK(doc != NULL);
    FUZZ_CHECK(json_is_string(json_object_get(doc, "error")));
    json_decref(doc);
    rkv_buf_close(&out);
}

static void check_kv_put(void)
{
    struct http_kv_put put;
    char errmsg[RKV_ERRMSG_LEN];
    int rv = http_kv_put_parse(req.body, req.body_len, &put, errmsg);

    if (rv != 0) {
        FUZZ_CHECK(rv == RKV_EPROTO);
        check_error_answer(errmsg);
        return;
    }
    FUZZ_CHECK(put.key != NULL && put.key_len > 0);
    FUZZ_CHECK(put.value != NULL);
    http_kv_put_close(&put);
}

/* What the server does with a parsed request, minus the store. */
static void check_request(const uint8_t *buf, size_t consumed)
{
    struct http_route_info info;
    enum http_route route;
    const struct http_param *stale;

    FUZZ_CHECK(consumed > 0);
    FUZZ_CHECK(req.path != NULL && req.path[req.path_len] == '\0');
    FUZZ_CHECK(req.n_params <= HTTP_PARAMS_MAX);
    FUZZ_CHECK(req.body_len <= HTTP_BODY_MAX);
    FUZZ_CHECK(req.body_len == 0 ||
               (req.body >= buf && req.body + req.body_len <= buf + consumed));
    FUZZ_CHECK(req.content_type == NULL ||
               ((const uint8_t *)req.content_type >= buf &&
                (const uint8_t *)req.content_type + req.content_type_len <=
                    buf + consumed));
    stale = http_query_get(&req, "stale");
    FUZZ_CHECK(stale == NULL || stale->name_len == 5);
    route = http_route(req.method, req.path, req.path_len, &info);
    switch (route) {
        case HTTP_ROUTE_KV_GET:
        case HTTP_ROUTE_KV_DELETE:
            FUZZ_CHECK(info.key == req.path + 4);
            FUZZ_CHECK(info.key_len > 0 && info.key_len == req.path_len - 4);
            break;
        case HTTP_ROUTE_BAD_METHOD:
            FUZZ_CHECK(info.allow != NULL);
            break;
        case HTTP_ROUTE_KV_PUT:
            check_kv_put();
            break;
        default:
            FUZZ_CHECK(info.key == NULL);
            break;
    }
}

/* Parse data[0..len) as one connection whose first read brings
 * `first_read` bytes and whose second brings the rest. Each call gets its
 * own copy of the bytes received so far, so a read past them is caught. */
static void parse_stream(const uint8_t *data,
                         size_t len,
                         size_t first_read,
                         struct outcome *out)
{
    static struct http_parser_state st;
    char errmsg[RKV_ERRMSG_LEN];
    size_t off = 0, avail = first_read, n;
    int rv;

    *out = (struct outcome){.hash = 0xcbf29ce484222325ull};
    http_parser_state_init(&st);
    for (;;) {
        uint8_t *buf = fuzz_dup(data + off, avail - off);
        rv = http_parse_request(&st, buf, avail - off, &req, &n, errmsg);
        if (rv == RKV_EAGAIN) {
            FUZZ_CHECK(n == 0);
            if (http_take_continue(&st))
                FUZZ_CHECK(!http_take_continue(&st));
        } else if (rv == 0) {
            check_request(buf, n);
            out->hash = digest_request(out->hash, n);
            out->n_requests++;
            off += n;
        } else {
            FUZZ_CHECK(rv == RKV_EPROTO || rv == RKV_ETOOBIG);
            check_error_answer(errmsg);
        }
        free(buf);
        if (rv == RKV_EAGAIN && avail < len) {
            avail = len;
            continue;
        }
        if (rv != 0)
            break;
    }
    out->last_rv = rv;
    out->hash = mix_u64(out->hash, rv == RKV_EAGAIN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome whole, split;
    size_t len, first;

    if (size < FUZZ_SPLIT_BYTES)
        return 0;
    len = size - FUZZ_SPLIT_BYTES;
    first = (size_t)(data[0] | data[1] << 8) % (len + 1);
    data += FUZZ_SPLIT_BYTES;
    parse_stream(data, len, len, &whole);
    parse_stream(data, len, first, &split);
    if (whole.hash != split.hash)
        fuzz_fail(__FILE__, __LINE__,
                  "split at %zu of %zu changes the outcome: %zu requests "
                  "then %d at once, %zu then %d split",
                  first, len, whole.n_requests, whole.last_rv, split.n_requests,
                  split.last_rv);
    return 0;
}
