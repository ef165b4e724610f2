/* Unit tests of the client's JSON bodies and addresses (src/cli/reply.c)
 * and of rkv_client_parse_addrs(). */
#include <stdlib.h>
#include <string.h>

#include "cli/reply.h"
#include "lib/runner.h"
#include "raftkv/client.h"
#include "raftkv/err.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BODY(s) (const uint8_t *)(s), strlen(s)

TEST(cli_reply, utf8_validation_follows_rfc3629)
{
    static const struct
    {
        const char *s;
        size_t len;
        bool want;
    } cases[] = {
        {"", 0, true},
        {"plain ascii", 11, true},
        {"nul\0inside", 10, true},
        {"\xc3\xa9", 2, true},          /* U+00E9 */
        {"\xe2\x82\xac", 3, true},      /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, true},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"\xc3", 1, false},             /* cut short */
        {"\xe2\x82", 2, false},         /* cut short */
        {"\xc0\xaf", 2, false},         /* overlong '/' */
        {"\xe0\x80\xaf", 3, false},     /* overlong '/' */
        {"\xed\xa0\x80", 3, false},     /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, false}, /* above U+10FFFF */
        {"\xff", 1, false},
        {"\x80", 1, false},   /* lone continuation */
        {"a\xc3(", 3, false}, /* bad continuation */
    };

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        ASSERT_EQ_INT(cli_utf8_valid(cases[i].s, cases[i].len), cases[i].want);
}

TEST(cli_reply, put_body_is_compact_json_and_escapes)
{
    struct rkv_buf b;
    char errmsg[RKV_ERRMSG_LEN];
    const char *want = "{\"key\":\"k\\\"\\u0000\",\"value\":\"\xc3\xa9\\n\"}";

    rkv_buf_init(&b);
    ASSERT_OK(cli_reply_put_body(&b, "k\"\0", 3, "\xc3\xa9\n", 3, errmsg));
    ASSERT_EQ_U64(b.len, strlen(want));
    ASSERT_EQ_MEM(b.data, want, b.len);
    rkv_buf_close(&b);
}

TEST(cli_reply, put_body_refuses_empty_key_and_bad_utf8)
{
    struct rkv_buf b;
    char errmsg[RKV_ERRMSG_LEN];

    rkv_buf_init(&b);
    ASSERT_EQ_INT(cli_reply_put_body(&b, "", 0, "v", 1, errmsg), RKV_EINVAL);
    ASSERT_EQ_STR(errmsg, "empty key");
    ASSERT_EQ_INT(cli_reply_put_body(&b, "\xff", 1, "v", 1, errmsg),
                  RKV_EINVAL);
    ASSERT_EQ_STR(errmsg, "key is not valid UTF-8");
    ASSERT_EQ_INT(cli_reply_put_body(&b, "k", 1, "\xc3", 1, errmsg),
                  RKV_EINVAL);
    ASSERT_EQ_STR(errmsg, "value is not valid UTF-8");
    ASSERT_EQ_U64(b.len, 0);
    rkv_buf_close(&b);
}

TEST(cli_reply, put_answer_gives_the_index)
{
    char errmsg[RKV_ERRMSG_LEN];
    uint64_t index = 0;

    ASSERT_OK(cli_reply_put(
        BODY("{\"ok\":true,\"key\":\"k\",\"value\":\"v\",\"index\":42}"),
        &index, errmsg));
    ASSERT_EQ_U64(index, 42);
    ASSERT_EQ_INT(
        cli_reply_put(BODY("{\"ok\":true,\"index\":-1}"), &index, errmsg),
        RKV_EPROTO);
    ASSERT_EQ_STR(errmsg, "answer lacks the non-negative integer \"index\"");
}

TEST(cli_reply, get_answer_copies_the_value_with_nuls)
{
    char errmsg[RKV_ERRMSG_LEN];
    char *value;
    size_t len;

    ASSERT_OK(cli_reply_get(BODY("{\"key\":\"k\",\"value\":\"a\\u0000b\"}"),
                            &value, &len, errmsg));
    ASSERT_EQ_U64(len, 3);
    ASSERT_EQ_MEM(value, "a\0b", 4);
    free(value);
    ASSERT_OK(
        cli_reply_get(BODY("{\"key\":\"k\",\"value\":\"\",\"stale\":true}"),
                      &value, &len, errmsg));
    ASSERT_EQ_U64(len, 0);
    ASSERT_EQ_STR(value, "");
    free(value);
}

TEST(cli_reply, malformed_answers_are_protocol_errors)
{
    static const char *bodies[] = {
        "",
        "not json",
        "[1,2]",
        "{\"key\":\"k\"}",
        "{\"value\":5}",
        "{\"value\":null}",
        "{\"value\":\"v\"",
    };
    char errmsg[RKV_ERRMSG_LEN];
    char *value = NULL;
    size_t len;

    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        ASSERT_EQ_INT(cli_reply_get(BODY(bodies[i]), &value, &len, errmsg),
                      RKV_EPROTO);
        ASSERT_TRUE(strncmp(errmsg, "answer ", 7) == 0);
    }
    ASSERT_TRUE(value == NULL);
}

TEST(cli_reply, status_answer_fills_every_field)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct rkv_node_status st;

    ASSERT_OK(cli_reply_status(
        BODY("{\"id\":2,\"role\":\"pre-candidate\",\"term\":9,\"leader\":null,"
             "\"commit_index\":100,\"last_applied\":99,\"log_length\":120,"
             "\"peers\":[]}"),
        &st, errmsg));
    ASSERT_EQ_U64(st.id, 2);
    ASSERT_EQ_STR(st.role, "pre-candidate");
    ASSERT_EQ_U64(st.term, 9);
    ASSERT_EQ_U64(st.leader, 0);
    ASSERT_EQ_U64(st.commit_index, 100);
    ASSERT_EQ_U64(st.last_applied, 99);
    ASSERT_EQ_U64(st.log_length, 120);
}

TEST(cli_reply, status_answer_names_the_bad_field)
{
    static const struct
    {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"id\":1,\"term\":1}", "answer lacks a valid \"role\""},
        {"{\"role\":\"a-role-name-too-long\"}",
         "answer lacks a valid \"role\""},
        {"{\"role\":\"le\\u0000ader\"}", "answer lacks a valid \"role\""},
        {"{\"role\":\"leader\",\"id\":\"1\"}",
         "answer lacks the non-negative integer \"id\""},
        {"{\"role\":\"leader\",\"id\":1,\"term\":1,\"leader\":1,"
         "\"commit_index\":1,\"last_applied\":1}",
         "answer lacks the non-negative integer \"log_length\""},
    };
    char errmsg[RKV_ERRMSG_LEN];
    struct rkv_node_status st;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        ASSERT_EQ_INT(cli_reply_status(BODY(cases[i].body), &st, errmsg),
                      RKV_EPROTO);
        ASSERT_EQ_STR(errmsg, cases[i].want);
    }
}

TEST(cli_reply, error_answer_gives_message_and_leader_hint)
{
    struct cli_reply_error e;

    cli_reply_error(BODY("{\"error\":\"not leader\",\"leader\":2,"
                         "\"leader_http\":\"127.0.0.1:3002\"}"),
                    &e);
    ASSERT_EQ_STR(e.message, "not leader");
    ASSERT_TRUE(e.has_leader);
    ASSERT_EQ_STR(e.leader.host, "127.0.0.1");
    ASSERT_EQ_U64(e.leader.port, 3002);

    cli_reply_error(BODY("{\"error\":\"no leader\",\"leader\":null}"), &e);
    ASSERT_EQ_STR(e.message, "no leader");
    ASSERT_FALSE(e.has_leader);

    cli_reply_error(BODY("{\"error\":\"bell\\u0007\\u001b[2J\","
                         "\"leader_http\":\"nonsense\"}"),
                    &e);
    ASSERT_EQ_STR(e.message, "bell??[2J");
    ASSERT_FALSE(e.has_leader);

    cli_reply_error(BODY("<html>502</html>"), &e);
    ASSERT_EQ_STR(e.message, "");
    ASSERT_FALSE(e.has_leader);
}

TEST(cli_reply, address_lists_parse_or_say_why_not)
{
    static const struct
    {
        const char *list;
        int want;
        size_t n;
        const char *want_msg;
    } cases[] = {
        {"127.0.0.1:3001", 0, 1, NULL},
        {"a:1,b:2,node3:65535", 0, 3, NULL},
        {"::1:3001", 0, 1, NULL},
        {"", RKV_EINVAL, 0, "'': expected HOST:PORT"},
        {"a:1,", RKV_EINVAL, 0, "'': expected HOST:PORT"},
        {"host", RKV_EINVAL, 0, "'host': expected HOST:PORT"},
        {":80", RKV_EINVAL, 0, "':80': expected HOST:PORT"},
        {"h:", RKV_EINVAL, 0, "'h:': port is not 1..65535"},
        {"h:0", RKV_EINVAL, 0, "'h:0': port is not 1..65535"},
        {"h:65536", RKV_EINVAL, 0, "'h:65536': port is not 1..65535"},
        {"h:99999999999999999999", RKV_EINVAL, 0,
         "'h:99999999999999999999': port is not 1..65535"},
        {"h:8x", RKV_EINVAL, 0, "'h:8x': port is not 1..65535"},
        {"a:1,b:2,c:3", RKV_EINVAL, 0, "more than 2 addresses"},
    };
    struct rkv_client_addr addrs[3];
    char errmsg[RKV_ERRMSG_LEN];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        size_t n = 0;
        size_t max = i == ARRAY_LEN(cases) - 1 ? 2 : 3;
        ASSERT_EQ_INT(
            rkv_client_parse_addrs(cases[i].list, addrs, max, &n, errmsg),
            cases[i].want);
        if (cases[i].want == 0)
            ASSERT_EQ_U64(n, cases[i].n);
        else
            ASSERT_EQ_STR(errmsg, cases[i].want_msg);
    }
    ASSERT_OK(rkv_client_parse_addrs("a:1,node3:65535", addrs, 3, &(size_t){0},
                                     errmsg));
    ASSERT_EQ_STR(addrs[1].host, "node3");
    ASSERT_EQ_U64(addrs[1].port, 65535);
    ASSERT_OK(
        rkv_client_parse_addrs("::1:3001", addrs, 3, &(size_t){0}, errmsg));
    ASSERT_EQ_STR(addrs[0].host, "::1");
}
