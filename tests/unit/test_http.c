/* Unit tests of the HTTP codec (src/net/http.h) and the JSON bodies of the
 * API (src/net/json.h): the seed's curl requests byte for byte, pipelining,
 * every split point, the limits, malformed input, percent-decoding,
 * routing, and byte-exact responses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runner.h"
#include "net/http.h"
#include "net/json.h"
#include "raftkv/err.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* `curl -X POST http://localhost:3001/kv -H "Content-Type:
 * application/json" -d '{"key":"foo","value":"bar"}'` as curl 7.88 sends
 * it. */
#define SEED_POST                        \
    "POST /kv HTTP/1.1\r\n"              \
    "Host: localhost:3001\r\n"           \
    "User-Agent: curl/7.88.1\r\n"        \
    "Accept: */*\r\n"                    \
    "Content-Type: application/json\r\n" \
    "Content-Length: 27\r\n"             \
    "\r\n"                               \
    "{\"key\":\"foo\",\"value\":\"bar\"}"
/* `curl http://localhost:3001/kv/foo` */
#define SEED_GET                  \
    "GET /kv/foo HTTP/1.1\r\n"    \
    "Host: localhost:3001\r\n"    \
    "User-Agent: curl/7.88.1\r\n" \
    "Accept: */*\r\n"             \
    "\r\n"
/* `curl http://localhost:3002/debug` */
#define SEED_DEBUG                \
    "GET /debug HTTP/1.1\r\n"     \
    "Host: localhost:3002\r\n"    \
    "User-Agent: curl/7.88.1\r\n" \
    "Accept: */*\r\n"             \
    "\r\n"

/* Parse `raw` in one call with a fresh state. */
static int parse_once(const char *raw,
                      size_t len,
                      struct http_request *req,
                      size_t *consumed,
                      char *errmsg)
{
    struct http_parser_state st;

    http_parser_state_init(&st);
    return http_parse_request(&st, (const uint8_t *)raw, len, req, consumed,
                              errmsg);
}

/* A heap copy of raw[0..len): lets ASan catch reads past what was given. */
static uint8_t *copy_of(const char *raw, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    ASSERT_TRUE(p != NULL);
    memcpy(p, raw, len);
    return p;
}

static void assert_same_request(const struct http_request *a,
                                const struct http_request *b)
{
    ASSERT_EQ_INT(a->method, b->method);
    ASSERT_EQ_INT(a->version_minor, b->version_minor);
    ASSERT_EQ_INT(a->keep_alive, b->keep_alive);
    ASSERT_EQ_U64(a->path_len, b->path_len);
    ASSERT_EQ_MEM(a->path, b->path, a->path_len + 1);
    ASSERT_EQ_U64(a->n_params, b->n_params);
    for (size_t i = 0; i < a->n_params; i++) {
        ASSERT_EQ_STR(a->params[i].name, b->params[i].name);
        ASSERT_EQ_STR(a->params[i].value, b->params[i].value);
    }
    ASSERT_EQ_U64(a->content_type_len, b->content_type_len);
    ASSERT_EQ_INT(a->content_type == NULL, b->content_type == NULL);
    if (a->content_type != NULL)
        ASSERT_EQ_MEM(a->content_type, b->content_type, a->content_type_len);
    ASSERT_EQ_INT(a->has_session, b->has_session);
    ASSERT_EQ_U64(a->client_id, b->client_id);
    ASSERT_EQ_U64(a->request_seq, b->request_seq);
    ASSERT_EQ_U64(a->body_len, b->body_len);
    if (a->body_len > 0)
        ASSERT_EQ_MEM(a->body, b->body, a->body_len);
}

/* Feed raw[0..at) then all of raw, in two different heap buffers (the
 * caller's buffer may move between calls). Returns the second result. */
static int parse_split(const char *raw,
                       size_t len,
                       size_t at,
                       struct http_request *req,
                       size_t *consumed,
                       char *errmsg)
{
    struct http_parser_state st;
    uint8_t *first = copy_of(raw, at);
    uint8_t *whole = copy_of(raw, len);
    int rv;

    http_parser_state_init(&st);
    rv = http_parse_request(&st, first, at, req, consumed, errmsg);
    if (rv == RKV_EAGAIN) {
        ASSERT_EQ_U64(*consumed, 0);
        rv = http_parse_request(&st, whole, len, req, consumed, errmsg);
    }
    /* The request points into the buffers: compare before freeing. */
    if (rv == 0) {
        struct http_request once;
        size_t once_consumed;
        ASSERT_OK(parse_once(raw, len, &once, &once_consumed, errmsg));
        assert_same_request(req, &once);
        ASSERT_EQ_U64(*consumed, once_consumed);
    }
    free(first);
    free(whole);
    return rv;
}

TEST(http_parse, seed_curl_post_gives_method_path_type_and_body)
{
    static const char raw[] = SEED_POST;
    struct http_request req;
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(parse_once(raw, sizeof raw - 1, &req, &consumed, errmsg));
    ASSERT_EQ_U64(consumed, sizeof raw - 1);
    ASSERT_EQ_INT(req.method, HTTP_POST);
    ASSERT_EQ_INT(req.version_minor, 1);
    ASSERT_TRUE(req.keep_alive);
    ASSERT_EQ_STR(req.path, "/kv");
    ASSERT_EQ_U64(req.n_params, 0);
    ASSERT_EQ_U64(req.content_type_len, strlen("application/json"));
    ASSERT_EQ_MEM(req.content_type, "application/json", 16);
    ASSERT_FALSE(req.has_session);
    ASSERT_EQ_U64(req.body_len, 27);
    ASSERT_EQ_MEM(req.body, "{\"key\":\"foo\",\"value\":\"bar\"}", 27);
}

static const struct
{
    const char *name; /* what the case shows */
    const char *raw;  /* one complete request */
    enum http_method method;
    const char *path;      /* decoded */
    enum http_route route; /* of method and path */
    const char *key;       /* route key, NULL if none */
    const char *stale;     /* value of ?stale, NULL if absent */
    bool keep_alive;
    size_t body_len;
} valid[] = {
    {"seed POST", SEED_POST, HTTP_POST, "/kv", HTTP_ROUTE_KV_PUT, NULL, NULL,
     true, 27},
    {"seed GET", SEED_GET, HTTP_GET, "/kv/foo", HTTP_ROUTE_KV_GET, "foo", NULL,
     true, 0},
    {"seed debug", SEED_DEBUG, HTTP_GET, "/debug", HTTP_ROUTE_STATUS, NULL,
     NULL, true, 0},
    {"stale read", "GET /kv/foo?stale=true HTTP/1.1\r\nHost: h\r\n\r\n",
     HTTP_GET, "/kv/foo", HTTP_ROUTE_KV_GET, "foo", "true", true, 0},
    {"delete", "DELETE /kv/foo HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_DELETE,
     "/kv/foo", HTTP_ROUTE_KV_DELETE, "foo", NULL, true, 0},
    {"encoded key", "GET /kv/a%2Fb%20c HTTP/1.1\r\n\r\n", HTTP_GET, "/kv/a/b c",
     HTTP_ROUTE_KV_GET, "a/b c", NULL, true, 0},
    {"HTTP/1.0 closes", "GET /status HTTP/1.0\r\n\r\n", HTTP_GET, "/status",
     HTTP_ROUTE_STATUS, NULL, NULL, false, 0},
    {"HTTP/1.0 keep-alive",
     "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", HTTP_GET,
     "/health", HTTP_ROUTE_HEALTH, NULL, NULL, true, 0},
    {"Connection: close", "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
     HTTP_GET, "/metrics", HTTP_ROUTE_METRICS, NULL, NULL, false, 0},
    {"absolute-form target",
     "GET http://localhost:3001/kv/foo?stale=1 HTTP/1.1\r\n\r\n", HTTP_GET,
     "/kv/foo", HTTP_ROUTE_KV_GET, "foo", "1", true, 0},
    {"lower-case headers, no spaces",
     "POST /kv HTTP/1.1\r\ncontent-length:5\r\ncontent-type:x\r\n\r\nhello",
     HTTP_POST, "/kv", HTTP_ROUTE_KV_PUT, NULL, NULL, true, 5},
    {"upgrade request is served as plain HTTP/1.1",
     "GET /health HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
     HTTP_GET, "/health", HTTP_ROUTE_HEALTH, NULL, NULL, true, 0},
    {"leading blank lines", "\r\n\r\nGET /health HTTP/1.1\r\n\r\n", HTTP_GET,
     "/health", HTTP_ROUTE_HEALTH, NULL, NULL, true, 0},
    {"unknown path", "GET /nope HTTP/1.1\r\n\r\n", HTTP_GET, "/nope",
     HTTP_ROUTE_NOT_FOUND, NULL, NULL, true, 0},
    {"wrong method", "PUT /kv/foo HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
     HTTP_PUT, "/kv/foo", HTTP_ROUTE_BAD_METHOD, NULL, NULL, true, 0},
};

static void check_valid(size_t i,
                        const struct http_request *req,
                        size_t consumed)
{
    struct http_route_info info;
    const struct http_param *stale = http_query_get(req, "stale");

    ASSERT_EQ_U64_MSG(consumed, strlen(valid[i].raw), valid[i].name);
    ASSERT_EQ_U64_MSG(req->method, valid[i].method, valid[i].name);
    ASSERT_EQ_STR(req->path, valid[i].path);
    ASSERT_EQ_U64_MSG(req->keep_alive, valid[i].keep_alive, valid[i].name);
    ASSERT_EQ_U64_MSG(req->body_len, valid[i].body_len, valid[i].name);
    ASSERT_EQ_U64_MSG(http_route(req->method, req->path, req->path_len, &info),
                      valid[i].route, valid[i].name);
    if (valid[i].key != NULL) {
        ASSERT_EQ_U64_MSG(info.key_len, strlen(valid[i].key), valid[i].name);
        ASSERT_EQ_MEM(info.key, valid[i].key, info.key_len);
    } else {
        ASSERT_TRUE(info.key == NULL);
    }
    if (valid[i].stale != NULL) {
        ASSERT_TRUE(stale != NULL);
        ASSERT_EQ_STR(stale->value, valid[i].stale);
    } else {
        ASSERT_TRUE(stale == NULL);
    }
}

TEST(http_parse, valid_requests_give_method_path_route_and_body)
{
    for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
        struct http_request req;
        size_t consumed;
        char errmsg[RKV_ERRMSG_LEN] = "";
        int rv = parse_once(valid[i].raw, strlen(valid[i].raw), &req, &consumed,
                            errmsg);
        if (rv != 0)
            printf("    %s: %s\n", valid[i].name, errmsg);
        ASSERT_EQ_INT(rv, 0);
        check_valid(i, &req, consumed);
    }
}

TEST(http_parse, every_split_point_gives_the_same_request)
{
    for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
        size_t len = strlen(valid[i].raw);
        for (size_t at = 0; at < len; at++) {
            struct http_request req;
            size_t consumed;
            char errmsg[RKV_ERRMSG_LEN];
            ASSERT_OK(
                parse_split(valid[i].raw, len, at, &req, &consumed, errmsg));
        }
    }
}

TEST(http_parse, incomplete_request_returns_eagain_and_consumes_nothing)
{
    static const char raw[] = SEED_POST;
    struct http_parser_state st;
    struct http_request req;
    size_t consumed = 99;
    char errmsg[RKV_ERRMSG_LEN];

    http_parser_state_init(&st);
    for (size_t len = 0; len < sizeof raw - 1; len++) {
        ASSERT_EQ_INT(http_parse_request(&st, (const uint8_t *)raw, len, &req,
                                         &consumed, errmsg),
                      RKV_EAGAIN);
        ASSERT_EQ_U64(consumed, 0);
    }
    ASSERT_OK(http_parse_request(&st, (const uint8_t *)raw, sizeof raw - 1,
                                 &req, &consumed, errmsg));
    ASSERT_EQ_U64(consumed, sizeof raw - 1);
}

TEST(http_parse, pipelined_requests_are_taken_one_at_a_time)
{
    static const char raw[] =
        SEED_POST SEED_GET "DELETE /kv/foo HTTP/1.1\r\n\r\n" SEED_DEBUG;
    static const enum http_route want[] = {HTTP_ROUTE_KV_PUT, HTTP_ROUTE_KV_GET,
                                           HTTP_ROUTE_KV_DELETE,
                                           HTTP_ROUTE_STATUS};
    struct http_parser_state st;
    size_t off = 0;

    http_parser_state_init(&st);
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        struct http_request req;
        struct http_route_info info;
        size_t consumed;
        char errmsg[RKV_ERRMSG_LEN];
        ASSERT_OK(http_parse_request(&st, (const uint8_t *)raw + off,
                                     sizeof raw - 1 - off, &req, &consumed,
                                     errmsg));
        ASSERT_TRUE(consumed > 0);
        ASSERT_EQ_U64(http_route(req.method, req.path, req.path_len, &info),
                      want[i]);
        off += consumed;
    }
    ASSERT_EQ_U64(off, sizeof raw - 1);
}

TEST(http_parse, every_split_point_of_a_pipeline_finds_both_requests)
{
    static const char raw[] = SEED_POST SEED_GET;
    const size_t first_len = strlen(SEED_POST);

    for (size_t at = 0; at < sizeof raw - 1; at++) {
        struct http_parser_state st;
        struct http_request req;
        size_t consumed;
        char errmsg[RKV_ERRMSG_LEN];
        int rv;

        http_parser_state_init(&st);
        rv = http_parse_request(&st, (const uint8_t *)raw, at, &req, &consumed,
                                errmsg);
        ASSERT_EQ_INT(rv, at < first_len ? RKV_EAGAIN : 0);
        if (rv == RKV_EAGAIN)
            ASSERT_OK(http_parse_request(&st, (const uint8_t *)raw,
                                         sizeof raw - 1, &req, &consumed,
                                         errmsg));
        ASSERT_EQ_U64(consumed, first_len);
        ASSERT_EQ_STR(req.path, "/kv");
        ASSERT_OK(http_parse_request(&st, (const uint8_t *)raw + consumed,
                                     sizeof raw - 1 - first_len, &req,
                                     &consumed, errmsg));
        ASSERT_EQ_STR(req.path, "/kv/foo");
    }
}

/* "GET <target> HTTP/1.1\r\n\r\n" with a target of `n` bytes. */
static char *request_with_target(size_t n, size_t *len)
{
    char *raw = malloc(n + 64);
    ASSERT_TRUE(raw != NULL);
    memcpy(raw, "GET /kv/", 8);
    memset(raw + 8, 'k', n - 4);
    *len = 4 + n;
    *len += (size_t)sprintf(raw + *len, " HTTP/1.1\r\n\r\n");
    return raw;
}

TEST(http_limits, url_of_http_url_max_bytes_is_accepted)
{
    size_t len, consumed;
    char *raw = request_with_target(HTTP_URL_MAX, &len);
    struct http_request req;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(parse_once(raw, len, &req, &consumed, errmsg));
    ASSERT_EQ_U64(req.path_len, HTTP_URL_MAX);
    free(raw);
}

TEST(http_limits, url_longer_than_http_url_max_is_etoobig_before_its_end)
{
    size_t len, consumed;
    char *raw = request_with_target(HTTP_URL_MAX + 1, &len);
    struct http_request req;
    char errmsg[RKV_ERRMSG_LEN];

    /* Refused while the request line is still incomplete. */
    ASSERT_EQ_INT(
        parse_once(raw, 4 + HTTP_URL_MAX + 1, &req, &consumed, errmsg),
        RKV_ETOOBIG);
    ASSERT_TRUE(strstr(errmsg, "request target") != NULL);
    ASSERT_EQ_INT(parse_once(raw, len, &req, &consumed, errmsg), RKV_ETOOBIG);
    free(raw);
}

/* A request whose head (request line, headers, blank line) is exactly
 * `head` bytes: padded with one X-Pad header. */
static char *request_with_head(size_t head, size_t *len)
{
    static const char start[] = "GET /health HTTP/1.1\r\nX-Pad: ";
    char *raw = malloc(head + 1);
    size_t pad = head - (sizeof start - 1) - 4;

    ASSERT_TRUE(raw != NULL);
    memcpy(raw, start, sizeof start - 1);
    memset(raw + sizeof start - 1, 'p', pad);
    memcpy(raw + sizeof start - 1 + pad, "\r\n\r\n", 4);
    *len = head;
    return raw;
}

TEST(http_limits, head_of_http_header_max_bytes_is_accepted)
{
    size_t len, consumed;
    char *raw = request_with_head(HTTP_HEADER_MAX, &len);
    struct http_request req;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(parse_once(raw, len, &req, &consumed, errmsg));
    ASSERT_EQ_U64(consumed, HTTP_HEADER_MAX);
    free(raw);
}

TEST(http_limits, head_longer_than_http_header_max_is_etoobig)
{
    size_t len, consumed;
    char *raw = request_with_head(HTTP_HEADER_MAX + 1, &len);
    struct http_request req;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_EQ_INT(parse_once(raw, len, &req, &consumed, errmsg), RKV_ETOOBIG);
    ASSERT_TRUE(strstr(errmsg, "headers exceed") != NULL);
    free(raw);
}

TEST(http_limits, endless_header_trickled_in_is_cut_at_http_header_max)
{
    size_t len, consumed;
    char *raw = request_with_head(4 * HTTP_HEADER_MAX, &len);
    struct http_parser_state st;
    struct http_request req;
    char errmsg[RKV_ERRMSG_LEN];
    int rv = RKV_EAGAIN;
    size_t given = 0;

    http_parser_state_init(&st);
    while (rv == RKV_EAGAIN) {
        given += 1000;
        ASSERT_TRUE(given < len);
        rv = http_parse_request(&st, (const uint8_t *)raw, given, &req,
                                &consumed, errmsg);
    }
    ASSERT_EQ_INT(rv, RKV_ETOOBIG);
    ASSERT_TRUE(given < HTTP_HEADER_MAX + 1000);
    free(raw);
}

/* "POST /kv" with a Content-Length of `n` and `have` body bytes. */
static char *request_with_body(size_t n, size_t have, size_t *len)
{
    char *raw = malloc(have + 128);
    int head;

    ASSERT_TRUE(raw != NULL);
    head = sprintf(raw, "POST /kv HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    memset(raw + head, 'b', have);
    *len = (size_t)head + have;
    return raw;
}

TEST(http_limits, body_of_http_body_max_bytes_is_accepted)
{
    size_t len, consumed;
    char *raw = request_with_body(HTTP_BODY_MAX, HTTP_BODY_MAX, &len);
    struct http_request req;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(parse_once(raw, len, &req, &consumed, errmsg));
    ASSERT_EQ_U64(req.body_len, HTTP_BODY_MAX);
    ASSERT_EQ_U64(consumed, len);
    free(raw);
}

TEST(http_limits, content_length_above_body_max_is_refused_before_the_body)
{
    size_t len, consumed;
    char *raw = request_with_body(HTTP_BODY_MAX + 1, 0, &len);
    struct http_request req;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_EQ_INT(parse_once(raw, len, &req, &consumed, errmsg), RKV_ETOOBIG);
    ASSERT_TRUE(strstr(errmsg, "exceeds the limit") != NULL);
    free(raw);
}

static const struct
{
    const char *name;
    const char *raw;
    const char *msg; /* substring of errmsg */
} malformed[] = {
    {"unknown method", "FETCH /kv/a HTTP/1.1\r\n\r\n", "invalid HTTP method"},
    {"lower-case method", "get /kv/a HTTP/1.1\r\n\r\n", "invalid HTTP method"},
    {"no target", "GET HTTP/1.1\r\n\r\n", "malformed request"},
    {"space in target", "GET /kv/a b HTTP/1.1\r\n\r\n", "malformed request"},
    {"control byte in target", "GET /kv/a\x01 HTTP/1.1\r\n\r\n",
     "malformed request"},
    {"HTTP/0.9 request line", "GET /kv/a\r\n\r\n", "unsupported HTTP version"},
    {"HTTP/2.0", "GET /kv/a HTTP/2.0\r\n\r\n", "unsupported HTTP version"},
    {"HTTP/1.2", "GET /kv/a HTTP/1.2\r\n\r\n", "unsupported HTTP version"},
    {"garbage version", "GET /kv/a XTTP/1.1\r\n\r\n", "malformed request"},
    {"CR without LF", "GET /kv/a HTTP/1.1\rX\n\r\n", "malformed request"},
    {"space in header name", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
     "malformed request"},
    {"space before colon", "POST /kv HTTP/1.1\r\nContent-Length : 1\r\n\r\na",
     "invalid character in a header name"},
    {"bare CR in a header line", "GET / HTTP/1.1\r\nX-A: 1\rX-B: 2\r\n\r\n",
     "malformed request"},
    {"CR and junk ending the head", "GET / HTTP/1.1\r\nHost: x\r\n\rX",
     "LF character expected"},
    {"header without colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
     "malformed request"},
    {"folded header", "GET / HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n",
     "folded header"},
    {"non-numeric Content-Length",
     "POST /kv HTTP/1.1\r\nContent-Length: 1x\r\n\r\nab", "malformed request"},
    {"two Content-Lengths",
     "POST /kv HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
     "malformed request"},
    {"chunked body",
     "POST /kv HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\n0\r\n\r\n",
     "chunked request bodies are not supported"},
    {"unknown transfer coding",
     "POST /kv HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
     "malformed request"},
    {"duplicate Content-Type",
     "POST /kv HTTP/1.1\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n",
     "duplicate Content-Type"},
    {"bad percent-encoding in path", "GET /kv/a%zz HTTP/1.1\r\n\r\n",
     "percent-encoding in the path"},
    {"truncated percent-encoding", "GET /kv/a%2 HTTP/1.1\r\n\r\n",
     "percent-encoding in the path"},
    {"bad percent-encoding in query", "GET /kv/a?stale=%g1 HTTP/1.1\r\n\r\n",
     "percent-encoding in the query"},
    {"too many query parameters",
     "GET /kv/a?a&b&c&d&e&f&g&h&i HTTP/1.1\r\n\r\n", "query parameters"},
    {"client id without seq", "GET / HTTP/1.1\r\nX-Client-Id: 1\r\n\r\n",
     "go together"},
    {"seq without client id", "GET / HTTP/1.1\r\nX-Request-Seq: 1\r\n\r\n",
     "go together"},
    {"non-numeric client id",
     "GET / HTTP/1.1\r\nX-Client-Id: 1a\r\nX-Request-Seq: 1\r\n\r\n",
     "X-Client-Id must be"},
    {"signed seq",
     "GET / HTTP/1.1\r\nX-Client-Id: 1\r\nX-Request-Seq: -1\r\n\r\n",
     "X-Request-Seq must be"},
    {"client id of 2^64",
     "GET / HTTP/1.1\r\nX-Client-Id: 18446744073709551616\r\n"
     "X-Request-Seq: 1\r\n\r\n",
     "X-Client-Id must be"},
    {"empty seq", "GET / HTTP/1.1\r\nX-Client-Id: 1\r\nX-Request-Seq:\r\n\r\n",
     "X-Request-Seq must be"},
    {"duplicate client id",
     "GET / HTTP/1.1\r\nX-Client-Id: 1\r\nx-client-id: 2\r\n\r\n",
     "duplicate X-Client-Id"},
};

TEST(http_parse, malformed_requests_are_eproto_with_a_message)
{
    for (size_t i = 0; i < ARRAY_LEN(malformed); i++) {
        struct http_request req;
        size_t consumed = 99;
        char errmsg[RKV_ERRMSG_LEN] = "";
        int rv = parse_once(malformed[i].raw, strlen(malformed[i].raw), &req,
                            &consumed, errmsg);
        if (rv != RKV_EPROTO || strstr(errmsg, malformed[i].msg) == NULL)
            printf("    %s: rv %d, \"%s\"\n", malformed[i].name, rv, errmsg);
        ASSERT_EQ_INT(rv, RKV_EPROTO);
        ASSERT_TRUE(strstr(errmsg, malformed[i].msg) != NULL);
        ASSERT_EQ_U64(consumed, 0);
    }
}

TEST(http_parse, malformed_requests_fail_alike_at_every_split_point)
{
    for (size_t i = 0; i < ARRAY_LEN(malformed); i++) {
        size_t len = strlen(malformed[i].raw);
        for (size_t at = 0; at < len; at++) {
            struct http_request req;
            size_t consumed;
            char errmsg[RKV_ERRMSG_LEN];
            ASSERT_EQ_INT(
                parse_split(malformed[i].raw, len, at, &req, &consumed, errmsg),
                RKV_EPROTO);
        }
    }
}

TEST(http_parse, state_is_reset_after_an_error)
{
    static const char bad[] = "FETCH / HTTP/1.1\r\n\r\n";
    static const char good[] = SEED_GET;
    struct http_parser_state st;
    struct http_request req;
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    http_parser_state_init(&st);
    ASSERT_EQ_INT(http_parse_request(&st, (const uint8_t *)bad, sizeof bad - 1,
                                     &req, &consumed, errmsg),
                  RKV_EPROTO);
    ASSERT_OK(http_parse_request(&st, (const uint8_t *)good, sizeof good - 1,
                                 &req, &consumed, errmsg));
    ASSERT_EQ_STR(req.path, "/kv/foo");
}

static const struct
{
    const char *target; /* request target as sent */
    const char *path;   /* decoded path */
    size_t path_len;    /* its length (it may hold NULs) */
    size_t n_params;
    const char *name0, *value0; /* first parameter */
    const char *name1, *value1; /* second parameter */
} targets[] = {
    {"/kv/a%2Fb", "/kv/a/b", 7, 0, NULL, NULL, NULL, NULL},
    {"/kv/%E2%82%ac", "/kv/\xe2\x82\xac", 7, 0, NULL, NULL, NULL, NULL},
    {"/kv/a+b", "/kv/a+b", 7, 0, NULL, NULL, NULL, NULL},
    {"/kv/%00x", "/kv/\0x", 6, 0, NULL, NULL, NULL, NULL},
    {"/kv/k?stale=true", "/kv/k", 5, 1, "stale", "true", NULL, NULL},
    {"/kv/k?x=a+b%21&flag", "/kv/k", 5, 2, "x", "a b!", "flag", ""},
    {"/kv/k?a=1&&b=2&", "/kv/k", 5, 2, "a", "1", "b", "2"},
    {"/kv/k?=v&n%3D=%3D", "/kv/k", 5, 2, "", "v", "n=", "="},
    {"/kv/k?a=b=c", "/kv/k", 5, 1, "a", "b=c", NULL, NULL},
    {"/kv/k?", "/kv/k", 5, 0, NULL, NULL, NULL, NULL},
    {"/kv/k#frag", "/kv/k", 5, 0, NULL, NULL, NULL, NULL},
};

TEST(http_parse, path_and_query_are_percent_decoded)
{
    for (size_t i = 0; i < ARRAY_LEN(targets); i++) {
        char raw[256];
        struct http_request req;
        size_t consumed;
        char errmsg[RKV_ERRMSG_LEN];
        int n = snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\n\r\n",
                         targets[i].target);

        ASSERT_OK(parse_once(raw, (size_t)n, &req, &consumed, errmsg));
        ASSERT_EQ_U64_MSG(req.path_len, targets[i].path_len, targets[i].target);
        ASSERT_EQ_MEM(req.path, targets[i].path, req.path_len + 1);
        ASSERT_EQ_U64_MSG(req.n_params, targets[i].n_params, targets[i].target);
        if (req.n_params > 0) {
            ASSERT_EQ_STR(req.params[0].name, targets[i].name0);
            ASSERT_EQ_STR(req.params[0].value, targets[i].value0);
        }
        if (req.n_params > 1) {
            ASSERT_EQ_STR(req.params[1].name, targets[i].name1);
            ASSERT_EQ_STR(req.params[1].value, targets[i].value1);
        }
    }
}

TEST(http_parse, eight_query_parameters_are_accepted)
{
    static const char raw[] = "GET /kv/k?a&b&c&d&e&f&g&h=1 HTTP/1.1\r\n\r\n";
    struct http_request req;
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(parse_once(raw, sizeof raw - 1, &req, &consumed, errmsg));
    ASSERT_EQ_U64(req.n_params, HTTP_PARAMS_MAX);
    ASSERT_EQ_STR(http_query_get(&req, "h")->value, "1");
    ASSERT_TRUE(http_query_get(&req, "z") == NULL);
}

TEST(http_parse, session_headers_give_client_id_and_sequence)
{
    static const char raw[] =
        "DELETE /kv/a HTTP/1.1\r\nx-client-id: 18446744073709551615\r\n"
        "X-REQUEST-SEQ:  42 \r\n\r\n";
    struct http_request req;
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(parse_once(raw, sizeof raw - 1, &req, &consumed, errmsg));
    ASSERT_TRUE(req.has_session);
    ASSERT_EQ_U64(req.client_id, UINT64_MAX);
    ASSERT_EQ_U64(req.request_seq, 42);
}

TEST(http_parse, header_value_whitespace_is_trimmed)
{
    static const char raw[] =
        "POST /kv HTTP/1.1\r\nContent-Type: \t application/json \t \r\n"
        "Content-Length: 0\r\n\r\n";
    struct http_request req;
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(parse_once(raw, sizeof raw - 1, &req, &consumed, errmsg));
    ASSERT_EQ_U64(req.content_type_len, 16);
    ASSERT_EQ_MEM(req.content_type, "application/json", 16);
    ASSERT_TRUE(req.body == NULL);
}

TEST(http_parse, expect_100_continue_is_signalled_once_before_the_body)
{
    static const char raw[] =
        "POST /kv HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 27\r\n"
        "\r\n{\"key\":\"foo\",\"value\":\"bar\"}";
    const size_t head = sizeof raw - 1 - 27;
    struct http_parser_state st;
    struct http_request req;
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    http_parser_state_init(&st);
    ASSERT_EQ_INT(http_parse_request(&st, (const uint8_t *)raw, head - 1, &req,
                                     &consumed, errmsg),
                  RKV_EAGAIN);
    ASSERT_FALSE(http_take_continue(&st));
    ASSERT_EQ_INT(http_parse_request(&st, (const uint8_t *)raw, head, &req,
                                     &consumed, errmsg),
                  RKV_EAGAIN);
    ASSERT_TRUE(http_take_continue(&st));
    ASSERT_FALSE(http_take_continue(&st));
    ASSERT_OK(http_parse_request(&st, (const uint8_t *)raw, sizeof raw - 1,
                                 &req, &consumed, errmsg));
    ASSERT_FALSE(http_take_continue(&st));
    ASSERT_EQ_U64(req.body_len, 27);
}

TEST(http_parse, expect_100_continue_is_ignored_for_http_1_0)
{
    static const char raw[] =
        "POST /kv HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
        "\r\n";
    struct http_parser_state st;
    struct http_request req;
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    http_parser_state_init(&st);
    ASSERT_EQ_INT(http_parse_request(&st, (const uint8_t *)raw, sizeof raw - 1,
                                     &req, &consumed, errmsg),
                  RKV_EAGAIN);
    ASSERT_FALSE(http_take_continue(&st));
}

static const struct
{
    enum http_method method;
    const char *path;
    enum http_route route;
    const char *key;   /* NULL: none */
    const char *allow; /* NULL: none */
} routes[] = {
    {HTTP_POST, "/kv", HTTP_ROUTE_KV_PUT, NULL, NULL},
    {HTTP_GET, "/kv", HTTP_ROUTE_BAD_METHOD, NULL, "POST"},
    {HTTP_GET, "/kv/foo", HTTP_ROUTE_KV_GET, "foo", NULL},
    {HTTP_DELETE, "/kv/foo", HTTP_ROUTE_KV_DELETE, "foo", NULL},
    {HTTP_POST, "/kv/foo", HTTP_ROUTE_BAD_METHOD, NULL, "GET, DELETE"},
    {HTTP_HEAD, "/kv/foo", HTTP_ROUTE_BAD_METHOD, NULL, "GET, DELETE"},
    {HTTP_GET, "/kv/a/b", HTTP_ROUTE_KV_GET, "a/b", NULL},
    {HTTP_GET, "/kv/", HTTP_ROUTE_NOT_FOUND, NULL, NULL},
    {HTTP_GET, "/kvx", HTTP_ROUTE_NOT_FOUND, NULL, NULL},
    {HTTP_GET, "/status", HTTP_ROUTE_STATUS, NULL, NULL},
    {HTTP_GET, "/debug", HTTP_ROUTE_STATUS, NULL, NULL},
    {HTTP_POST, "/status", HTTP_ROUTE_BAD_METHOD, NULL, "GET"},
    {HTTP_GET, "/metrics", HTTP_ROUTE_METRICS, NULL, NULL},
    {HTTP_GET, "/health", HTTP_ROUTE_HEALTH, NULL, NULL},
    {HTTP_DELETE, "/health", HTTP_ROUTE_BAD_METHOD, NULL, "GET"},
    {HTTP_GET, "/health/", HTTP_ROUTE_NOT_FOUND, NULL, NULL},
    {HTTP_GET, "/", HTTP_ROUTE_NOT_FOUND, NULL, NULL},
    {HTTP_GET, "", HTTP_ROUTE_NOT_FOUND, NULL, NULL},
};

TEST(http_route, method_and_path_map_to_route_key_and_allow)
{
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        struct http_route_info info;
        enum http_route r = http_route(routes[i].method, routes[i].path,
                                       strlen(routes[i].path), &info);
        ASSERT_EQ_U64_MSG(r, routes[i].route, routes[i].path);
        if (routes[i].key != NULL) {
            ASSERT_EQ_U64(info.key_len, strlen(routes[i].key));
            ASSERT_EQ_MEM(info.key, routes[i].key, info.key_len);
        } else {
            ASSERT_TRUE(info.key == NULL);
        }
        if (routes[i].allow != NULL)
            ASSERT_EQ_STR(info.allow, routes[i].allow);
        else
            ASSERT_TRUE(info.allow == NULL);
    }
}

/* `b` holds exactly the NUL-terminated `want`. */
static void assert_buf(const struct rkv_buf *b, const char *want)
{
    if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
        printf("    got: \"%.*s\"\n", (int)b->len, (const char *)b->data);
    ASSERT_EQ_U64(b->len, strlen(want));
    ASSERT_EQ_MEM(b->data, want, b->len);
}

TEST(http_response, write_gives_status_line_headers_and_body)
{
    struct rkv_buf b;
    struct http_response r = {.status = 200,
                              .content_type = "text/plain; version=0.0.4",
                              .body = "up 1\n",
                              .body_len = 5,
                              .keep_alive = true};

    rkv_buf_init(&b);
    ASSERT_OK(http_response_write(&b, &r));
    assert_buf(&b,
               "HTTP/1.1 200 OK\r\n"
               "Content-Type: text/plain; version=0.0.4\r\n"
               "Content-Length: 5\r\n"
               "Connection: keep-alive\r\n"
               "\r\n"
               "up 1\n");
    rkv_buf_close(&b);
}

TEST(http_response, write_adds_retry_after_allow_and_close)
{
    struct rkv_buf b;
    struct http_response unavailable = {.status = 503, .retry_after_s = 1};
    struct http_response bad_method = {.status = 405, .allow = "GET, DELETE"};

    rkv_buf_init(&b);
    ASSERT_OK(http_response_write(&b, &unavailable));
    ASSERT_OK(http_response_write(&b, &bad_method));
    assert_buf(&b,
               "HTTP/1.1 503 Service Unavailable\r\n"
               "Retry-After: 1\r\n"
               "Content-Length: 0\r\n"
               "Connection: close\r\n"
               "\r\n"
               "HTTP/1.1 405 Method Not Allowed\r\n"
               "Allow: GET, DELETE\r\n"
               "Content-Length: 0\r\n"
               "Connection: close\r\n"
               "\r\n");
    rkv_buf_close(&b);
}

TEST(http_json, response_json_is_compact_in_insertion_order)
{
    struct rkv_buf b;
    struct http_response head = {.status = 200, .keep_alive = true};
    json_t *body = json_pack("{s:s,s:s}", "key", "foo", "value", "bar");

    ASSERT_TRUE(body != NULL);
    rkv_buf_init(&b);
    ASSERT_OK(http_response_json(&b, &head, body));
    assert_buf(&b,
               "HTTP/1.1 200 OK\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: 27\r\n"
               "Connection: keep-alive\r\n"
               "\r\n"
               "{\"key\":\"foo\",\"value\":\"bar\"}");
    json_decref(body);
    rkv_buf_close(&b);
}

TEST(http_json, error_body_is_json_with_printable_ascii_only)
{
    struct rkv_buf b;
    struct http_response head = {.status = 400};

    rkv_buf_init(&b);
    ASSERT_OK(http_response_error(&b, &head, "bad \"x\"\n\xff"));
    assert_buf(&b,
               "HTTP/1.1 400 Bad Request\r\n"
               "Content-Type: application/json\r\n"
               "Content-Length: 23\r\n"
               "Connection: close\r\n"
               "\r\n"
               "{\"error\":\"bad \\\"x\\\"??\"}");
    rkv_buf_close(&b);
}

TEST(http_json, seed_body_gives_key_and_value)
{
    static const char body[] = "{\"key\":\"foo\",\"value\":\"bar\"}";
    struct http_kv_put put;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(http_kv_put_parse((const uint8_t *)body, sizeof body - 1, &put,
                                errmsg));
    ASSERT_EQ_U64(put.key_len, 3);
    ASSERT_EQ_STR(put.key, "foo");
    ASSERT_EQ_U64(put.value_len, 3);
    ASSERT_EQ_STR(put.value, "bar");
    http_kv_put_close(&put);
}

TEST(http_json, escapes_nul_and_empty_value_are_kept)
{
    static const char body[] =
        " { \"value\" : \"\" , \"key\" : \"a\\u0000\\u20ac\\n\" } ";
    struct http_kv_put put;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(http_kv_put_parse((const uint8_t *)body, sizeof body - 1, &put,
                                errmsg));
    ASSERT_EQ_U64(put.key_len, 6);
    ASSERT_EQ_MEM(put.key, "a\0\xe2\x82\xac\n", 6);
    ASSERT_EQ_U64(put.value_len, 0);
    http_kv_put_close(&put);
}

static const struct
{
    const char *body;
    const char *msg; /* substring of errmsg */
} bad_bodies[] = {
    {"", "empty body"},
    {"{\"key\":\"foo\"", "invalid JSON"},
    {"{\"key\":\"foo\",\"value\":\"bar\"} x", "invalid JSON"},
    {"{\"key\":\"\xff\",\"value\":\"bar\"}", "invalid JSON"},
    {"{'key':'foo'}", "invalid JSON"},
    {"[\"foo\",\"bar\"]", "must be a JSON object"},
    {"\"foo\"", "invalid JSON"},
    {"{\"value\":\"bar\"}", "missing field \"key\""},
    {"{\"key\":\"foo\"}", "missing field \"value\""},
    {"{\"key\":1,\"value\":\"bar\"}", "field \"key\" must be a string"},
    {"{\"key\":\"foo\",\"value\":5}", "field \"value\" must be a string"},
    {"{\"key\":\"foo\",\"value\":null}", "field \"value\" must be a string"},
    {"{\"key\":\"foo\",\"value\":{}}", "field \"value\" must be a string"},
    {"{\"key\":\"\",\"value\":\"bar\"}", "must not be empty"},
    {"{\"key\":\"foo\",\"vlaue\":\"bar\"}", "unknown field \"vlaue\""},
    {"{\"key\":\"a\",\"key\":\"b\",\"value\":\"c\"}", "invalid JSON"},
    {"{\"key\":\"a\",\"value\":\"c\",\"\\u00e9\\n\":1}", "unknown field \"??"},
};

TEST(http_json, bad_bodies_are_eproto_naming_the_problem)
{
    for (size_t i = 0; i < ARRAY_LEN(bad_bodies); i++) {
        struct http_kv_put put = {0};
        char errmsg[RKV_ERRMSG_LEN] = "";
        int rv = http_kv_put_parse((const uint8_t *)bad_bodies[i].body,
                                   strlen(bad_bodies[i].body), &put, errmsg);
        if (rv != RKV_EPROTO || strstr(errmsg, bad_bodies[i].msg) == NULL)
            printf("    %s: rv %d, \"%s\"\n", bad_bodies[i].body, rv, errmsg);
        ASSERT_EQ_INT(rv, RKV_EPROTO);
        ASSERT_TRUE(strstr(errmsg, bad_bodies[i].msg) != NULL);
        ASSERT_TRUE(put.doc == NULL);
        for (const char *p = errmsg; *p != '\0'; p++)
            ASSERT_TRUE(*p >= 0x20 && *p <= 0x7e);
    }
}

/* xorshift64*: a fixed-seed generator for the robustness tests. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

TEST(http_parse, mutated_requests_never_crash_and_split_consistently)
{
    static const char *seeds[] = {
        SEED_POST, SEED_GET SEED_DEBUG,
        ("GET /kv/a%41?stale=1&b=%20 HTTP/1.1\r\n"
         "X-Client-Id: 1\r\nX-Request-Seq: 2\r\n\r\n")};
    static const char alphabet[] = "\r\n :%?&=/0123456789aAzZ\t\x80\xff";
    uint64_t rnd = 0x9e3779b97f4a7c15ull;

    for (int iter = 0; iter < 3000; iter++) {
        const char *seed = seeds[iter % ARRAY_LEN(seeds)];
        size_t len = strlen(seed);
        char raw[512];
        struct http_request req;
        size_t consumed, at;
        char errmsg[RKV_ERRMSG_LEN];
        int once, split;

        memcpy(raw, seed, len);
        for (int m = 0; m < 1 + iter % 4; m++)
            raw[next_random(&rnd) % len] =
                alphabet[next_random(&rnd) % (sizeof alphabet - 1)];
        at = next_random(&rnd) % len;
        once = parse_once(raw, len, &req, &consumed, errmsg);
        split = parse_split(raw, len, at, &req, &consumed, errmsg);
        ASSERT_TRUE(once == 0 || once == RKV_EAGAIN || once == RKV_EPROTO ||
                    once == RKV_ETOOBIG);
        ASSERT_EQ_INT(split, once);
        if (once == 0)
            ASSERT_TRUE(consumed <= len);
    }
}
