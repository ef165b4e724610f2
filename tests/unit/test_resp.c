/* Unit tests of the RESP2 codec (src/net/resp.h) and of the growable
 * buffer its encoders write into (src/util/buf.h): multibulk and inline
 * commands, pipelining, every split point, bad and oversized lengths with
 * Redis's messages, and byte-exact replies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runner.h"
#include "net/resp.h"
#include "raftkv/err.h"
#include "util/buf.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ARGS_MAX_SHOWN 4 /* arguments a table case lists */

/* One struct resp_command is ~80 KiB: share one among the tests. */
static struct resp_command cmd;
static struct resp_command cmd2;

static const struct
{
    const char *name;
    const char *raw; /* one complete command */
    size_t len;      /* bytes in raw (it may hold NULs) */
    size_t argc;
    const char *argv[ARGS_MAX_SHOWN];
    size_t arg_len[ARGS_MAX_SHOWN];
} valid[] = {
#define RAW(s) s, sizeof(s) - 1
    {"multibulk GET",
     RAW("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"),
     2,
     {"GET", "foo"},
     {3, 3}},
    {"multibulk binary-safe",
     RAW("*3\r\n$3\r\nSET\r\n$4\r\nk\r\nk\r\n$3\r\na\0b\r\n"),
     3,
     {"SET", "k\r\nk", "a\0b"},
     {3, 4, 3}},
    {"multibulk empty argument",
     RAW("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"),
     2,
     {"ECHO", ""},
     {4, 0}},
    {"multibulk zero count", RAW("*0\r\n"), 0, {NULL}, {0}},
    {"multibulk negative count", RAW("*-1\r\n"), 0, {NULL}, {0}},
    {"inline PING", RAW("PING\r\n"), 1, {"PING"}, {4}},
    {"inline bare LF", RAW("PING\n"), 1, {"PING"}, {4}},
    {"inline blanks",
     RAW(" \tSET  k\t v \r\n"),
     3,
     {"SET", "k", "v"},
     {3, 1, 1}},
    {"inline double quotes",
     RAW("SET k \"hello world\"\r\n"),
     3,
     {"SET", "k", "hello world"},
     {3, 1, 11}},
    {"inline escapes",
     RAW("SET k \"a\\nb\\x41\\x4g\\\"\\\\\"\r\n"),
     3,
     {"SET", "k", "a\nbAx4g\"\\"},
     {3, 1, 9}},
    {"inline single quotes",
     RAW("SET k 'it\\'s \"x\"\\n'\r\n"),
     3,
     {"SET", "k", "it's \"x\"\\n"},
     {3, 1, 10}},
    {"inline empty quotes",
     RAW("ECHO \"\" ''\r\n"),
     3,
     {"ECHO", "", ""},
     {4, 0, 0}},
    {"inline quote inside a word",
     RAW("ECHO foo\"bar baz\"\r\n"),
     2,
     {"ECHO", "foobar baz"},
     {4, 10}},
    {"inline blank line", RAW("\r\n"), 0, {NULL}, {0}},
    {"inline spaces only", RAW("   \n"), 0, {NULL}, {0}},
#undef RAW
};

static void check_valid(size_t i, size_t consumed)
{
    ASSERT_EQ_U64_MSG(consumed, valid[i].len, valid[i].name);
    ASSERT_EQ_U64_MSG(cmd.argc, valid[i].argc, valid[i].name);
    for (size_t a = 0; a < cmd.argc; a++) {
        ASSERT_EQ_U64_MSG(cmd.argv[a].len, valid[i].arg_len[a], valid[i].name);
        ASSERT_EQ_MEM(cmd.argv[a].data, valid[i].argv[a], cmd.argv[a].len);
    }
}

TEST(resp_parse, valid_commands_give_their_arguments)
{
    for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
        size_t consumed;
        char errmsg[RKV_ERRMSG_LEN] = "";
        int rv = resp_parse((const uint8_t *)valid[i].raw, valid[i].len, &cmd,
                            &consumed, errmsg);
        if (rv != 0)
            printf("    %s: %s\n", valid[i].name, errmsg);
        ASSERT_OK(rv);
        check_valid(i, consumed);
    }
}

/* A heap copy of raw[0..len): lets ASan catch reads past what was given. */
static uint8_t *copy_of(const char *raw, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    ASSERT_TRUE(p != NULL);
    memcpy(p, raw, len);
    return p;
}

TEST(resp_parse, every_prefix_is_eagain_and_the_whole_parses)
{
    for (size_t i = 0; i < ARRAY_LEN(valid); i++) {
        for (size_t at = 0; at < valid[i].len; at++) {
            uint8_t *prefix = copy_of(valid[i].raw, at);
            size_t consumed = 99;
            char errmsg[RKV_ERRMSG_LEN] = "";
            int rv = resp_parse(prefix, at, &cmd, &consumed, errmsg);
            if (rv != RKV_EAGAIN)
                printf("    %s, %zu bytes: %s\n", valid[i].name, at, errmsg);
            ASSERT_EQ_INT(rv, RKV_EAGAIN);
            ASSERT_EQ_U64(consumed, 0);
            free(prefix);
        }
    }
}

TEST(resp_parse, pipelined_commands_are_taken_one_at_a_time)
{
    static const char raw[] =
        "*1\r\n$4\r\nPING\r\nSET a b\r\n*0\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
        "PING";
    static const struct
    {
        size_t argc;     /* arguments */
        const char *arg; /* last argument */
    } want[] = {{1, "PING"}, {3, "b"}, {0, NULL}, {2, "a"}};
    size_t off = 0, consumed;
    char errmsg[RKV_ERRMSG_LEN];

    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        ASSERT_OK(resp_parse((const uint8_t *)raw + off, sizeof raw - 1 - off,
                             &cmd, &consumed, errmsg));
        ASSERT_EQ_U64(cmd.argc, want[i].argc);
        if (want[i].arg != NULL)
            ASSERT_EQ_MEM(cmd.argv[cmd.argc - 1].data, want[i].arg,
                          strlen(want[i].arg));
        off += consumed;
    }
    /* The last inline command has no line ending yet. */
    ASSERT_EQ_INT(resp_parse((const uint8_t *)raw + off, sizeof raw - 1 - off,
                             &cmd, &consumed, errmsg),
                  RKV_EAGAIN);
}

TEST(resp_parse, every_split_point_of_a_pipeline_gives_the_same_commands)
{
    static const char raw[] =
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\nGET \"k\"\r\n";
    const size_t first_len = 31;

    for (size_t at = 0; at < sizeof raw - 1; at++) {
        uint8_t *prefix = copy_of(raw, at);
        size_t consumed;
        char errmsg[RKV_ERRMSG_LEN];
        int rv = resp_parse(prefix, at, &cmd, &consumed, errmsg);

        ASSERT_EQ_INT(rv, at < first_len ? RKV_EAGAIN : 0);
        free(prefix);
        ASSERT_OK(resp_parse((const uint8_t *)raw, sizeof raw - 1, &cmd,
                             &consumed, errmsg));
        ASSERT_EQ_U64(consumed, first_len);
        ASSERT_EQ_U64(cmd.argc, 3);
        ASSERT_EQ_MEM(cmd.argv[2].data, "hello", 5);
        ASSERT_OK(resp_parse((const uint8_t *)raw + consumed,
                             sizeof raw - 1 - consumed, &cmd2, &consumed,
                             errmsg));
        ASSERT_EQ_U64(cmd2.argc, 2);
        ASSERT_EQ_MEM(cmd2.argv[1].data, "k", 1);
    }
}

static const struct
{
    const char *name;
    const char *raw;
    int rv;
    const char *msg; /* the whole errmsg */
} bad[] = {
    {"letters for a count", "*abc\r\n", RKV_EPROTO,
     "Protocol error: invalid multibulk length"},
    {"empty count", "*\r\n", RKV_EPROTO,
     "Protocol error: invalid multibulk length"},
    {"plus sign", "*+1\r\n", RKV_EPROTO,
     "Protocol error: invalid multibulk length"},
    {"leading zero", "*01\r\n", RKV_EPROTO,
     "Protocol error: invalid multibulk length"},
    {"minus zero", "*-0\r\n", RKV_EPROTO,
     "Protocol error: invalid multibulk length"},
    {"space in count", "*1 \r\n", RKV_EPROTO,
     "Protocol error: invalid multibulk length"},
    {"LF without CR", "*1\n", RKV_EPROTO,
     "Protocol error: invalid multibulk length"},
    {"count overflowing int64", "*9223372036854775808\r\n", RKV_EPROTO,
     "Protocol error: invalid multibulk length"},
    {"count above RESP_ARGS_MAX", "*1025\r\n", RKV_ETOOBIG,
     "Protocol error: invalid multibulk length"},
    {"count line without end", "*11111111111111111111111111111111111",
     RKV_EPROTO, "Protocol error: too big mbulk count string"},
    {"no dollar", "*1\r\nGET\r\n", RKV_EPROTO,
     "Protocol error: expected '$', got 'G'"},
    {"no dollar, control byte", "*1\r\n\r\n", RKV_EPROTO,
     "Protocol error: expected '$', got '\\x0d'"},
    {"negative bulk length", "*1\r\n$-1\r\n", RKV_EPROTO,
     "Protocol error: invalid bulk length"},
    {"letters for a bulk length", "*1\r\n$x\r\n", RKV_EPROTO,
     "Protocol error: invalid bulk length"},
    {"bulk length overflowing int64", "*1\r\n$99999999999999999999\r\n",
     RKV_EPROTO, "Protocol error: invalid bulk length"},
    {"bulk above RESP_BULK_MAX, before its data", "*1\r\n$1048577\r\n",
     RKV_ETOOBIG, "Protocol error: invalid bulk length"},
    {"bulk line without end", "*1\r\n$1111111111111111111111111111111111",
     RKV_EPROTO, "Protocol error: too big bulk count string"},
    {"bulk longer than announced", "*1\r\n$2\r\nabc\r\n", RKV_EPROTO,
     "Protocol error: expected CRLF after bulk data"},
    {"unterminated double quote", "SET k \"abc\r\n", RKV_EPROTO,
     "Protocol error: unbalanced quotes in request"},
    {"unterminated single quote", "SET k 'abc\r\n", RKV_EPROTO,
     "Protocol error: unbalanced quotes in request"},
    {"text after closing quote", "SET k \"abc\"d\r\n", RKV_EPROTO,
     "Protocol error: unbalanced quotes in request"},
    {"backslash ending the line", "SET k \"abc\\\r\n", RKV_EPROTO,
     "Protocol error: unbalanced quotes in request"},
};

TEST(resp_parse, bad_input_gives_redis_messages)
{
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        size_t consumed = 99;
        char errmsg[RKV_ERRMSG_LEN] = "";
        int rv = resp_parse((const uint8_t *)bad[i].raw, strlen(bad[i].raw),
                            &cmd, &consumed, errmsg);
        if (rv != bad[i].rv || strcmp(errmsg, bad[i].msg) != 0)
            printf("    %s: rv %d, \"%s\"\n", bad[i].name, rv, errmsg);
        ASSERT_EQ_INT(rv, bad[i].rv);
        ASSERT_EQ_STR(errmsg, bad[i].msg);
        ASSERT_EQ_U64(consumed, 0);
    }
}

/* "*1\r\n$<n>\r\n<n bytes>\r\n" on the heap; its length in *len. */
static uint8_t *one_bulk(size_t n, size_t *len)
{
    uint8_t *raw = malloc(n + 32);
    int head;

    ASSERT_TRUE(raw != NULL);
    head = sprintf((char *)raw, "*1\r\n$%zu\r\n", n);
    memset(raw + head, 'v', n);
    memcpy(raw + (size_t)head + n, "\r\n", 2);
    *len = (size_t)head + n + 2;
    return raw;
}

TEST(resp_limits, bulk_of_resp_bulk_max_bytes_is_accepted)
{
    size_t len, consumed;
    uint8_t *raw = one_bulk(RESP_BULK_MAX, &len);
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_EQ_INT(resp_parse(raw, len - 1, &cmd, &consumed, errmsg),
                  RKV_EAGAIN);
    ASSERT_OK(resp_parse(raw, len, &cmd, &consumed, errmsg));
    ASSERT_EQ_U64(consumed, len);
    ASSERT_EQ_U64(cmd.argv[0].len, RESP_BULK_MAX);
    free(raw);
}

TEST(resp_limits, command_above_resp_command_max_is_etoobig_at_its_header)
{
    const size_t n = RESP_COMMAND_MAX / RESP_BULK_MAX + 1;
    const size_t cap = n * (RESP_BULK_MAX + 32);
    uint8_t *raw = malloc(cap);
    size_t len, consumed;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_TRUE(raw != NULL);
    len = (size_t)sprintf((char *)raw, "*%zu\r\n", n);
    for (size_t i = 0; i + 1 < n; i++) {
        len += (size_t)sprintf((char *)raw + len, "$%u\r\n", RESP_BULK_MAX);
        memset(raw + len, 'v', RESP_BULK_MAX);
        memcpy(raw + len + RESP_BULK_MAX, "\r\n", 2);
        len += RESP_BULK_MAX + 2;
    }
    ASSERT_EQ_INT(resp_parse(raw, len, &cmd, &consumed, errmsg), RKV_EAGAIN);
    len += (size_t)sprintf((char *)raw + len, "$1\r\n");
    ASSERT_EQ_INT(resp_parse(raw, len, &cmd, &consumed, errmsg), RKV_ETOOBIG);
    ASSERT_TRUE(strstr(errmsg, "command larger than") != NULL);
    free(raw);
}

TEST(resp_limits, resp_args_max_arguments_are_accepted)
{
    const size_t cap = 16 + RESP_ARGS_MAX * 8;
    char *raw = malloc(cap);
    size_t len, consumed;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_TRUE(raw != NULL);
    len = (size_t)sprintf(raw, "*%d\r\n", RESP_ARGS_MAX);
    for (size_t i = 0; i < RESP_ARGS_MAX; i++)
        len += (size_t)sprintf(raw + len, "$1\r\nx\r\n");
    ASSERT_OK(resp_parse((const uint8_t *)raw, len, &cmd, &consumed, errmsg));
    ASSERT_EQ_U64(cmd.argc, RESP_ARGS_MAX);
    free(raw);
}

TEST(resp_limits, inline_line_of_resp_inline_max_bytes_is_accepted)
{
    uint8_t *raw = malloc(RESP_INLINE_MAX);
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_TRUE(raw != NULL);
    memset(raw, 'a', RESP_INLINE_MAX - 1);
    raw[RESP_INLINE_MAX - 1] = '\n';
    ASSERT_OK(resp_parse(raw, RESP_INLINE_MAX, &cmd, &consumed, errmsg));
    ASSERT_EQ_U64(cmd.argc, 1);
    ASSERT_EQ_U64(cmd.argv[0].len, RESP_INLINE_MAX - 1);
    free(raw);
}

TEST(resp_limits, inline_line_without_end_is_etoobig_at_resp_inline_max)
{
    uint8_t *raw = malloc(RESP_INLINE_MAX + 1);
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_TRUE(raw != NULL);
    memset(raw, 'a', RESP_INLINE_MAX);
    raw[RESP_INLINE_MAX] = '\n';
    ASSERT_EQ_INT(resp_parse(raw, RESP_INLINE_MAX - 1, &cmd, &consumed, errmsg),
                  RKV_EAGAIN);
    ASSERT_EQ_INT(resp_parse(raw, RESP_INLINE_MAX, &cmd, &consumed, errmsg),
                  RKV_ETOOBIG);
    ASSERT_EQ_STR(errmsg, "Protocol error: too big inline request");
    ASSERT_EQ_INT(resp_parse(raw, RESP_INLINE_MAX + 1, &cmd, &consumed, errmsg),
                  RKV_ETOOBIG);
    free(raw);
}

TEST(resp_limits, inline_command_above_resp_args_max_is_etoobig)
{
    char *raw = malloc(2 * (RESP_ARGS_MAX + 1) + 1);
    size_t consumed, len = 0;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_TRUE(raw != NULL);
    for (size_t i = 0; i < RESP_ARGS_MAX + 1; i++) {
        raw[len++] = 'x';
        raw[len++] = ' ';
    }
    raw[len++] = '\n';
    ASSERT_EQ_INT(
        resp_parse((const uint8_t *)raw, len, &cmd, &consumed, errmsg),
        RKV_ETOOBIG);
    ASSERT_TRUE(strstr(errmsg, "too many arguments") != NULL);
    free(raw);
}

/* xorshift64*: a fixed-seed generator for the robustness test. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

TEST(resp_parse, mutated_commands_never_crash_and_prefixes_agree)
{
    static const char *seeds[] = {
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n",
        "SET k \"a\\x41 b\" 'c\\'d'\r\nGET k\n", "*-1\r\n*0\r\n"};
    static const char alphabet[] = "*$-0123456789\r\n \"'\\xa";
    uint64_t rnd = 0x2545f4914f6cdd1dull;

    for (int iter = 0; iter < 20000; iter++) {
        const char *seed = seeds[iter % ARRAY_LEN(seeds)];
        size_t len = strlen(seed), consumed, prefix_consumed;
        uint8_t *raw = copy_of(seed, len);
        char errmsg[RKV_ERRMSG_LEN];
        size_t at;
        int rv, prefix_rv;

        for (int m = 0; m < 1 + iter % 3; m++)
            raw[next_random(&rnd) % len] =
                (uint8_t)alphabet[next_random(&rnd) % (sizeof alphabet - 1)];
        rv = resp_parse(raw, len, &cmd, &consumed, errmsg);
        ASSERT_TRUE(rv == 0 || rv == RKV_EAGAIN || rv == RKV_EPROTO ||
                    rv == RKV_ETOOBIG);
        if (rv == 0)
            ASSERT_TRUE(consumed > 0 && consumed <= len);
        /* A prefix knows less: incomplete, or the same verdict. */
        at = next_random(&rnd) % (len + 1);
        prefix_rv = resp_parse(raw, at, &cmd2, &prefix_consumed, errmsg);
        ASSERT_TRUE(prefix_rv == RKV_EAGAIN || prefix_rv == rv);
        if (prefix_rv == 0)
            ASSERT_EQ_U64(prefix_consumed, consumed);
        free(raw);
    }
}

/* `b` holds exactly want[0..n). */
static void assert_buf(const struct rkv_buf *b, const char *want, size_t n)
{
    ASSERT_EQ_U64(b->len, n);
    ASSERT_EQ_MEM(b->data, want, n);
}

TEST(resp_reply, encoders_write_exact_resp2_bytes)
{
    static const char want[] =
        "+OK\r\n"
        "-ERR Protocol error: invalid bulk length\r\n"
        ":0\r\n"
        ":-1\r\n"
        ":9223372036854775807\r\n"
        ":-9223372036854775808\r\n"
        "$3\r\nbar\r\n"
        "$0\r\n\r\n"
        "$4\r\na\r\0b\r\n"
        "$-1\r\n"
        "*2\r\n$1\r\na\r\n$-1\r\n"
        "*0\r\n";
    struct rkv_buf b;

    rkv_buf_init(&b);
    ASSERT_OK(resp_reply_simple(&b, "OK"));
    ASSERT_OK(
        resp_reply_error(&b, "ERR", "Protocol error: invalid bulk length"));
    ASSERT_OK(resp_reply_int(&b, 0));
    ASSERT_OK(resp_reply_int(&b, -1));
    ASSERT_OK(resp_reply_int(&b, INT64_MAX));
    ASSERT_OK(resp_reply_int(&b, INT64_MIN));
    ASSERT_OK(resp_reply_bulk(&b, "bar", 3));
    ASSERT_OK(resp_reply_bulk(&b, NULL, 0));
    ASSERT_OK(resp_reply_bulk(&b, "a\r\0b", 4));
    ASSERT_OK(resp_reply_null(&b));
    ASSERT_OK(resp_reply_array(&b, 2));
    ASSERT_OK(resp_reply_bulk(&b, "a", 1));
    ASSERT_OK(resp_reply_null(&b));
    ASSERT_OK(resp_reply_array(&b, 0));
    assert_buf(&b, want, sizeof want - 1);
    rkv_buf_close(&b);
}

TEST(resp_reply, line_breaks_in_status_and_error_become_spaces)
{
    static const char want[] = "+a  b c\r\n-ERR x y\r\n";
    struct rkv_buf b;

    rkv_buf_init(&b);
    ASSERT_OK(resp_reply_simple(&b, "a\r\nb\nc"));
    ASSERT_OK(resp_reply_error(&b, "ERR", "x\ny"));
    assert_buf(&b, want, sizeof want - 1);
    rkv_buf_close(&b);
}

TEST(resp_reply, a_parsed_reply_of_the_parser_round_trips)
{
    struct rkv_buf b;
    size_t consumed;
    char errmsg[RKV_ERRMSG_LEN];

    /* Requests are arrays of bulks, which the encoders also write. */
    rkv_buf_init(&b);
    ASSERT_OK(resp_reply_array(&b, 2));
    ASSERT_OK(resp_reply_bulk(&b, "ECHO", 4));
    ASSERT_OK(resp_reply_bulk(&b, "\r\n\0", 3));
    ASSERT_OK(resp_parse(b.data, b.len, &cmd, &consumed, errmsg));
    ASSERT_EQ_U64(consumed, b.len);
    ASSERT_EQ_U64(cmd.argc, 2);
    ASSERT_EQ_U64(cmd.argv[1].len, 3);
    ASSERT_EQ_MEM(cmd.argv[1].data, "\r\n\0", 3);
    rkv_buf_close(&b);
}

TEST(rkv_buf, appends_grow_and_keep_earlier_bytes)
{
    struct rkv_buf b;
    char want[1000];

    rkv_buf_init(&b);
    ASSERT_TRUE(b.data == NULL);
    for (size_t i = 0; i < sizeof want; i++) {
        want[i] = (char)('a' + i % 26);
        ASSERT_OK(rkv_buf_append(&b, &want[i], 1));
    }
    ASSERT_EQ_U64(b.len, sizeof want);
    ASSERT_TRUE(b.cap >= b.len);
    ASSERT_EQ_MEM(b.data, want, sizeof want);
    rkv_buf_close(&b);
    ASSERT_TRUE(b.data == NULL);
    ASSERT_EQ_U64(b.len, 0);
}

TEST(rkv_buf, printf_larger_than_the_room_grows_the_buffer)
{
    struct rkv_buf b;
    char big[300];

    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rkv_buf_init(&b);
    ASSERT_OK(rkv_buf_append_str(&b, "<"));
    ASSERT_OK(rkv_buf_printf(&b, "%s|%d", big, 42));
    ASSERT_EQ_U64(b.len, 1 + 299 + 3);
    ASSERT_EQ_MEM(b.data + 1 + 299, "|42", 3);
    ASSERT_EQ_INT(b.data[0], '<');
    rkv_buf_close(&b);
}

TEST(rkv_buf, consume_moves_the_rest_to_the_front)
{
    struct rkv_buf b;

    rkv_buf_init(&b);
    ASSERT_OK(rkv_buf_append_str(&b, "GET a\r\nGET b\r\n"));
    rkv_buf_consume(&b, 7);
    ASSERT_EQ_U64(b.len, 7);
    ASSERT_EQ_MEM(b.data, "GET b\r\n", 7);
    rkv_buf_consume(&b, 7);
    ASSERT_EQ_U64(b.len, 0);
    rkv_buf_truncate(&b, 0);
    rkv_buf_close(&b);
}

TEST(rkv_buf, reserve_beyond_the_address_space_fails_unchanged)
{
    struct rkv_buf b;

    rkv_buf_init(&b);
    ASSERT_OK(rkv_buf_append_str(&b, "abc"));
    ASSERT_EQ_INT(rkv_buf_reserve(&b, SIZE_MAX - 1), RKV_ENOMEM);
    ASSERT_EQ_U64(b.len, 3);
    ASSERT_EQ_MEM(b.data, "abc", 3);
    rkv_buf_close(&b);
}
