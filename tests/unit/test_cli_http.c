/* Unit tests of the client's HTTP codec (src/cli/http_client.c): request
 * writing, key targets, and the incremental response reader. */
#include <stdio.h>
#include <string.h>

#include "cli/http_client.h"
#include "lib/runner.h"
#include "raftkv/err.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Feed `text` to a fresh response in pieces of `step` bytes, then EOF if
 * `eof`; return the last code. */
static int feed(struct cli_http_response *r,
                const char *text,
                size_t step,
                bool eof,
                char *errmsg)
{
    size_t len = strlen(text);
    int rv = RKV_EAGAIN;

    cli_http_response_init(r);
    for (size_t off = 0; off < len && rv == RKV_EAGAIN; off += step) {
        size_t n = len - off < step ? len - off : step;
        rv = cli_http_response_feed(r, (const uint8_t *)text + off, n, errmsg);
    }
    if (rv == RKV_EAGAIN && eof)
        rv = cli_http_response_feed(r, NULL, 0, errmsg);
    return rv;
}

TEST(cli_http, write_request_carries_session_and_json_body)
{
    struct rkv_buf b;
    struct cli_http_session s = {.client_id = 18446744073709551615ull,
                                 .seq = 7};
    const char *want =
        "POST /kv HTTP/1.1\r\n"
        "Host: 127.0.0.1:3001\r\n"
        "X-Client-Id: 18446744073709551615\r\n"
        "X-Request-Seq: 7\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 7\r\n"
        "\r\n"
        "{\"a\":1}";

    rkv_buf_init(&b);
    ASSERT_OK(cli_http_request(&b, "POST", "/kv", "127.0.0.1", 3001, &s,
                               "{\"a\":1}", 7));
    ASSERT_EQ_U64(b.len, strlen(want));
    ASSERT_EQ_MEM(b.data, want, b.len);
    rkv_buf_close(&b);
}

TEST(cli_http, read_request_has_no_body_headers)
{
    struct rkv_buf b;
    const char *want = "GET /status HTTP/1.1\r\nHost: h:80\r\n\r\n";

    rkv_buf_init(&b);
    ASSERT_OK(cli_http_request(&b, "GET", "/status", "h", 80, NULL, NULL, 0));
    ASSERT_EQ_U64(b.len, strlen(want));
    ASSERT_EQ_MEM(b.data, want, b.len);
    rkv_buf_close(&b);
}

TEST(cli_http, key_target_percent_encodes_all_but_unreserved_bytes)
{
    static const struct
    {
        const char *key;
        size_t len;
        bool stale;
        const char *want;
    } cases[] = {
        {"abc-._~XYZ09", 12, false, "/kv/abc-._~XYZ09"},
        {"a b/c?d%e#", 10, false, "/kv/a%20b%2Fc%3Fd%25e%23"},
        {"k\0\xff", 3, true, "/kv/k%00%FF?stale=true"},
        {"\xc3\xa9", 2, false, "/kv/%C3%A9"},
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct rkv_buf b;
        rkv_buf_init(&b);
        ASSERT_OK(
            cli_http_kv_target(&b, cases[i].key, cases[i].len, cases[i].stale));
        ASSERT_EQ_U64(b.len, strlen(cases[i].want));
        ASSERT_EQ_STR((const char *)b.data, cases[i].want);
        rkv_buf_close(&b);
    }
}

TEST(cli_http, response_is_read_whatever_the_split)
{
    const char *text =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 15\r\n"
        "\r\n"
        "{\"value\":\"v1\"}\n";
    char errmsg[RKV_ERRMSG_LEN];

    for (size_t step = 1; step <= strlen(text); step++) {
        struct cli_http_response r;
        ASSERT_OK(feed(&r, text, step, false, errmsg));
        ASSERT_TRUE(r.done);
        ASSERT_EQ_INT(r.status, 200);
        ASSERT_TRUE(r.keep_alive);
        ASSERT_EQ_U64(r.body.len, 15);
        ASSERT_EQ_MEM(r.body.data, "{\"value\":\"v1\"}\n", 15);
        cli_http_response_close(&r);
    }
}

TEST(cli_http, chunked_and_close_delimited_bodies_are_joined)
{
    struct cli_http_response r;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(feed(&r,
                   "HTTP/1.1 503 Service Unavailable\r\n"
                   "Transfer-Encoding: chunked\r\nRetry-After: 1\r\n\r\n"
                   "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                   7, false, errmsg));
    ASSERT_EQ_INT(r.status, 503);
    ASSERT_EQ_U64(r.body.len, 5);
    ASSERT_EQ_MEM(r.body.data, "abcde", 5);
    cli_http_response_close(&r);

    ASSERT_OK(feed(&r, "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nxy",
                   100, true, errmsg));
    ASSERT_EQ_INT(r.status, 404);
    ASSERT_FALSE(r.keep_alive);
    ASSERT_EQ_U64(r.body.len, 2);
    cli_http_response_close(&r);
}

TEST(cli_http, bytes_after_the_response_end_keep_alive)
{
    struct cli_http_response r;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(feed(&r,
                   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
                   1000, false, errmsg));
    ASSERT_EQ_INT(r.status, 200);
    ASSERT_EQ_U64(r.body.len, 0);
    ASSERT_FALSE(r.keep_alive);
    cli_http_response_close(&r);
}

TEST(cli_http, bad_or_cut_responses_are_protocol_errors)
{
    static const struct
    {
        const char *text;
        bool eof;
        int want;
        const char *want_msg;
    } cases[] = {
        {"", true, RKV_EPROTO, "connection closed before the answer"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true, RKV_EPROTO,
         NULL},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false, RKV_EAGAIN, NULL},
        {"SMTP ready\r\n", false, RKV_EPROTO, NULL},
        {"HTTP/1.1 2x0 OK\r\n\r\n", false, RKV_EPROTO, NULL},
        {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", false,
         RKV_ETOOBIG, NULL},
    };
    char errmsg[RKV_ERRMSG_LEN];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct cli_http_response r;
        ASSERT_EQ_INT(feed(&r, cases[i].text, 1000, cases[i].eof, errmsg),
                      cases[i].want);
        if (cases[i].want_msg != NULL)
            ASSERT_EQ_STR(errmsg, cases[i].want_msg);
        ASSERT_FALSE(r.done);
        cli_http_response_close(&r);
    }
}

TEST(cli_http, body_over_the_limit_is_refused_as_it_arrives)
{
    static char chunk[65536];
    struct cli_http_response r;
    char head[128];
    char errmsg[RKV_ERRMSG_LEN];
    size_t fed = 0;
    int rv;

    memset(chunk, 'x', sizeof chunk);
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n",
             (size_t)CLI_HTTP_BODY_MAX + 1);
    ASSERT_EQ_INT(feed(&r, head, 1000, false, errmsg), RKV_EAGAIN);
    do {
        rv = cli_http_response_feed(&r, (const uint8_t *)chunk, sizeof chunk,
                                    errmsg);
        fed += sizeof chunk;
    } while (rv == RKV_EAGAIN && fed < 2 * CLI_HTTP_BODY_MAX);
    ASSERT_EQ_INT(rv, RKV_ETOOBIG);
    ASSERT_TRUE(r.body.len <= CLI_HTTP_BODY_MAX);
    cli_http_response_close(&r);
}
