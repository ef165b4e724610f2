/* Tests of the key-value state machine (src/kv/kv.h): applying commands,
 * the applied index across restarts, batch checks, and client sessions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "kv/kv.h"
#include "kv_fixture.h"
#include "lib/runner.h"

/* Apply `c` as entry `index` of term 1 and return its result. */
static struct kv_result apply_cmd(struct kv *kv,
                                  raft_index index,
                                  const struct kv_cmd *c)
{
    static uint8_t buf[4096];
    struct kv_result r;
    size_t len;

    OK(kv_cmd_encode(c, buf, sizeof buf, &len, em));
    struct raft_entry e = {1, index, RAFT_ENTRY_NORMAL, (uint32_t)len, buf};
    OK(kv_apply(kv, &e, 1, &r, em));
    return r;
}

static struct kv_result put(struct kv *kv,
                            raft_index index,
                            const char *key,
                            const char *value,
                            uint8_t cond)
{
    struct kv_slice k = sl(key);
    struct kv_slice v = sl(value);
    struct kv_cmd c = {KV_OP_PUT, cond, 0, 0, 0, 1, &k, &v};
    return apply_cmd(kv, index, &c);
}

static struct kv_result incr(struct kv *kv,
                             raft_index index,
                             const char *key,
                             int64_t delta,
                             uint64_t client_id,
                             uint64_t seq)
{
    struct kv_slice k = sl(key);
    struct kv_cmd c = {KV_OP_INCRBY, 0, client_id, seq, delta, 1, &k, NULL};
    return apply_cmd(kv, index, &c);
}

static void expect(struct kv *kv, const char *key, const char *want)
{
    struct kv_buf b;
    int rv = kv_get(kv, key, strlen(key), &b, NULL);

    if (want == NULL) {
        ASSERT_EQ_INT(rv, RKV_ENOTFOUND);
        ASSERT_TRUE(b.data == NULL);
        return;
    }
    ASSERT_OK(rv);
    ASSERT_EQ_U64_MSG(b.len, strlen(want), key);
    ASSERT_EQ_MEM(b.data, want, b.len);
    kv_buf_free(&b);
}

static void apply_noops(struct kv *kv, raft_index from, raft_index to)
{
    for (raft_index i = from; i <= to; i++) {
        struct raft_entry e = {1, i, RAFT_ENTRY_NOOP, 0, NULL};
        OK(kv_apply(kv, &e, 1, NULL, em));
    }
}

static uint64_t n_sessions(struct kv *kv)
{
    struct kv_stats st;
    OK(kv_stats(kv, &st, em));
    return st.sessions;
}

TEST(kv_apply, put_then_get_returns_the_value)
{
    struct kv *kv = open_kv("a", NULL);

    ASSERT_EQ_INT(put(kv, 1, "k", "v1", KV_COND_NONE).status, KV_RES_OK);
    expect(kv, "k", "v1");
    ASSERT_EQ_INT(put(kv, 2, "k", "", KV_COND_NONE).status, KV_RES_OK);
    expect(kv, "k", "");
    expect(kv, "other", NULL);
    ASSERT_EQ_U64(kv_applied_index(kv), 2);
    ASSERT_EQ_U64(kv_applied_term(kv), 1);
    kv_close(kv);
}

TEST(kv_apply, del_reports_not_found_or_the_number_removed)
{
    struct kv *kv = open_kv("a", NULL);
    struct kv_slice one[] = {sl("x")};
    struct kv_slice many[] = {sl("a"), sl("missing"), sl("b"), sl("a")};
    struct kv_cmd c = {KV_OP_DEL, 0, 0, 0, 0, 1, one, NULL};
    struct kv_result r;

    r = apply_cmd(kv, 1, &c);
    ASSERT_EQ_INT(r.status, KV_RES_NOT_FOUND);
    ASSERT_EQ_INT(r.value, 0);
    put(kv, 2, "a", "1", KV_COND_NONE);
    put(kv, 3, "b", "2", KV_COND_NONE);
    c.keys = many, c.n = 4;
    r = apply_cmd(kv, 4, &c);
    ASSERT_EQ_INT(r.status, KV_RES_OK);
    ASSERT_EQ_INT(r.value, 2); /* "a" counts once, as in Redis */
    expect(kv, "a", NULL);
    expect(kv, "b", NULL);
    kv_close(kv);
}

TEST(kv_apply, mset_sets_every_pair_and_the_last_duplicate_wins)
{
    struct kv *kv = open_kv("a", NULL);
    struct kv_slice k[] = {sl("a"), sl("b"), sl("a")};
    struct kv_slice v[] = {sl("1"), sl("2"), sl("3")};
    struct kv_cmd c = {KV_OP_MSET, 0, 0, 0, 0, 3, k, v};

    ASSERT_EQ_INT(apply_cmd(kv, 1, &c).status, KV_RES_OK);
    expect(kv, "a", "3");
    expect(kv, "b", "2");
    kv_close(kv);
}

TEST(kv_apply, put_nx_and_xx_apply_only_when_their_condition_holds)
{
    struct kv *kv = open_kv("a", NULL);

    ASSERT_EQ_INT(put(kv, 1, "k", "x", KV_COND_XX).status, KV_RES_COND_FAILED);
    expect(kv, "k", NULL);
    ASSERT_EQ_INT(put(kv, 2, "k", "n", KV_COND_NX).status, KV_RES_OK);
    ASSERT_EQ_INT(put(kv, 3, "k", "n2", KV_COND_NX).status, KV_RES_COND_FAILED);
    expect(kv, "k", "n");
    ASSERT_EQ_INT(put(kv, 4, "k", "x", KV_COND_XX).status, KV_RES_OK);
    expect(kv, "k", "x");
    kv_close(kv);
}

TEST(kv_apply, incrby_starts_from_zero_and_stores_decimal_text)
{
    struct kv *kv = open_kv("a", NULL);
    struct kv_result r;

    r = incr(kv, 1, "n", 5, 0, 0);
    ASSERT_EQ_INT(r.status, KV_RES_OK);
    ASSERT_EQ_INT(r.value, 5);
    r = incr(kv, 2, "n", -12, 0, 0);
    ASSERT_EQ_INT(r.value, -7);
    expect(kv, "n", "-7");
    put(kv, 3, "m", "9223372036854775806", KV_COND_NONE);
    ASSERT_EQ_INT(incr(kv, 4, "m", 1, 0, 0).value, INT64_MAX);
    put(kv, 5, "m", "-9223372036854775808", KV_COND_NONE);
    ASSERT_EQ_INT(incr(kv, 6, "m", 0, 0, 0).value, INT64_MIN);
    expect(kv, "m", "-9223372036854775808");
    kv_close(kv);
}

TEST(kv_apply, incrby_on_a_value_that_is_not_an_integer_changes_nothing)
{
    static const char *bad[] = {
        "",
        "abc",
        "007",
        "-0",
        "+1",
        " 1",
        "1 ",
        "1.5",
        "-",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "123456789012345678901",
    };
    struct kv *kv = open_kv("a", NULL);
    raft_index i = 1;

    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        put(kv, i++, "k", bad[b], KV_COND_NONE);
        struct kv_result r = incr(kv, i++, "k", 1, 0, 0);
        ASSERT_EQ_U64_MSG(r.status, KV_RES_NOT_INTEGER, bad[b]);
        expect(kv, "k", bad[b]);
    }
    kv_close(kv);
}

TEST(kv_apply, incrby_past_int64_is_an_overflow_and_changes_nothing)
{
    struct kv *kv = open_kv("a", NULL);

    put(kv, 1, "k", "9223372036854775807", KV_COND_NONE);
    ASSERT_EQ_INT(incr(kv, 2, "k", 1, 0, 0).status, KV_RES_OVERFLOW);
    put(kv, 3, "k", "-2", KV_COND_NONE);
    ASSERT_EQ_INT(incr(kv, 4, "k", INT64_MIN, 0, 0).status, KV_RES_OVERFLOW);
    expect(kv, "k", "-2");
    kv_close(kv);
}

TEST(kv_apply, noop_and_conf_entries_only_advance_the_applied_index)
{
    struct kv *kv = open_kv("a", NULL);
    struct raft_entry e[] = {
        {3, 1, RAFT_ENTRY_NOOP, 0, NULL},
        {3, 2, RAFT_ENTRY_CONF, 3, (const uint8_t *)"cfg"},
    };
    struct kv_result r[2];
    struct kv_stats st;

    OK(kv_apply(kv, e, 2, r, em));
    ASSERT_EQ_INT(r[0].status, KV_RES_OK);
    ASSERT_EQ_INT(r[1].status, KV_RES_OK);
    ASSERT_EQ_U64(kv_applied_index(kv), 2);
    ASSERT_EQ_U64(kv_applied_term(kv), 3);
    OK(kv_stats(kv, &st, em));
    ASSERT_EQ_U64(st.keys, 0);
    kv_close(kv);
}

TEST(kv_apply, applied_index_survives_reopen_and_older_entries_are_skipped)
{
    struct kv *kv = open_kv("a", NULL);
    uint8_t old[64];
    size_t len;
    struct kv_slice k = sl("k");
    struct kv_slice v = sl("old");
    struct kv_cmd c = {KV_OP_PUT, 0, 0, 0, 0, 1, &k, &v};
    struct kv_result r[4];

    OK(kv_cmd_encode(&c, old, sizeof old, &len, em));
    put(kv, 1, "k", "old", KV_COND_NONE);
    put(kv, 2, "k", "new", KV_COND_NONE);
    incr(kv, 3, "n", 1, 0, 0);
    kv_close(kv);

    kv = open_kv("a", NULL);
    ASSERT_EQ_U64(kv_applied_index(kv), 3);
    ASSERT_EQ_U64(kv_applied_term(kv), 1);
    /* Replay from 1, as a host does after a restart: 1-3 are skipped. */
    struct raft_entry e[] = {
        {1, 1, RAFT_ENTRY_NORMAL, (uint32_t)len, old},
        {1, 2, RAFT_ENTRY_NOOP, 0, NULL},
        {1, 3, RAFT_ENTRY_NOOP, 0, NULL},
        {2, 4, RAFT_ENTRY_NOOP, 0, NULL},
    };
    OK(kv_apply(kv, e, 4, r, em));
    ASSERT_EQ_INT(r[0].status, KV_RES_SKIPPED);
    ASSERT_EQ_INT(r[2].status, KV_RES_SKIPPED);
    ASSERT_EQ_INT(r[3].status, KV_RES_OK);
    expect(kv, "k", "new");
    expect(kv, "n", "1");
    ASSERT_EQ_U64(kv_applied_index(kv), 4);
    ASSERT_EQ_U64(kv_applied_term(kv), 2);
    OK(kv_apply(kv, e, 1, r, em)); /* all skipped: no transaction */
    ASSERT_EQ_INT(r[0].status, KV_RES_SKIPPED);
    kv_close(kv);
}

TEST(kv_apply, a_batch_out_of_sequence_is_rejected_whole)
{
    struct kv *kv = open_kv("a", NULL);
    struct raft_entry gap[] = {{1, 2, RAFT_ENTRY_NOOP, 0, NULL}};
    struct raft_entry holes[] = {
        {1, 1, RAFT_ENTRY_NOOP, 0, NULL},
        {1, 3, RAFT_ENTRY_NOOP, 0, NULL},
    };
    struct raft_entry terms[] = {
        {2, 1, RAFT_ENTRY_NOOP, 0, NULL},
        {1, 2, RAFT_ENTRY_NOOP, 0, NULL},
    };
    struct raft_entry nodata[] = {{1, 1, RAFT_ENTRY_NORMAL, 4, NULL}};
    struct raft_entry zero[] = {{1, 0, RAFT_ENTRY_NOOP, 0, NULL}};

    ASSERT_EQ_INT(kv_apply(kv, gap, 1, NULL, NULL), RKV_EINVAL);
    ASSERT_EQ_INT(kv_apply(kv, holes, 2, NULL, NULL), RKV_EINVAL);
    ASSERT_EQ_INT(kv_apply(kv, terms, 2, NULL, NULL), RKV_EINVAL);
    ASSERT_EQ_INT(kv_apply(kv, nodata, 1, NULL, NULL), RKV_EINVAL);
    ASSERT_EQ_INT(kv_apply(kv, zero, 1, NULL, NULL), RKV_EINVAL);
    ASSERT_EQ_U64(kv_applied_index(kv), 0);
    apply_noops(kv, 1, 1);
    struct raft_entry older[] = {{0, 2, RAFT_ENTRY_NOOP, 0, NULL}};
    ASSERT_EQ_INT(kv_apply(kv, older, 1, NULL, NULL), RKV_EINVAL);
    ASSERT_EQ_U64(kv_applied_index(kv), 1);
    kv_close(kv);
}

TEST(kv_apply, entry_at_the_applied_index_with_another_term_is_corrupt)
{
    struct kv *kv = open_kv("a", NULL);
    struct raft_entry e[] = {{2, 1, RAFT_ENTRY_NOOP, 0, NULL}};
    char msg[RKV_ERRMSG_LEN];

    apply_noops(kv, 1, 1);
    ASSERT_EQ_INT(kv_apply(kv, e, 1, NULL, msg), RKV_ECORRUPT);
    ASSERT_TRUE(strstr(msg, "term") != NULL);
    kv_close(kv);
}

TEST(kv_apply, an_undecodable_entry_is_skipped_as_a_bad_command)
{
    struct kv *kv = open_kv("a", NULL);
    static const uint8_t junk[] = {1, 9, 0, 0};
    struct raft_entry e[] = {
        {1, 1, RAFT_ENTRY_NORMAL, sizeof junk, junk},
        {1, 2, RAFT_ENTRY_NORMAL, 0, NULL},
        {1, 3, 77, 0, NULL},
    };
    struct kv_result r[3];

    OK(kv_apply(kv, e, 3, r, em));
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(r[i].status, KV_RES_BAD_COMMAND);
    ASSERT_EQ_U64(kv_applied_index(kv), 3);
    kv_close(kv);
}

TEST(kv_apply, a_full_map_fails_the_whole_batch_with_enospc)
{
    struct kv_options opt = {.map_size_bytes = 256 << 10};
    struct kv *kv = open_kv("a", &opt);
    static uint8_t bufs[4][(100 << 10) + 64];
    char *big = calloc(1, 100 << 10);
    struct raft_entry e[4];
    char msg[RKV_ERRMSG_LEN];

    ASSERT_TRUE(big != NULL);
    memset(big, 'x', (100 << 10) - 1);
    put(kv, 1, "small", "1", KV_COND_NONE);
    for (int i = 0; i < 4; i++) {
        char key[2] = {(char)('a' + i), 0};
        struct kv_slice k = sl(key);
        struct kv_slice v = sl(big);
        struct kv_cmd c = {KV_OP_PUT, 0, 0, 0, 0, 1, &k, &v};
        size_t len;
        OK(kv_cmd_encode(&c, bufs[i], sizeof bufs[i], &len, em));
        e[i] = (struct raft_entry){1, 2 + (raft_index)i, RAFT_ENTRY_NORMAL,
                                   (uint32_t)len, bufs[i]};
    }
    ASSERT_EQ_INT(kv_apply(kv, e, 4, NULL, msg), RKV_ENOSPC);
    ASSERT_TRUE(strstr(msg, "map full") != NULL);
    ASSERT_EQ_U64(kv_applied_index(kv), 1);
    expect(kv, "a", NULL);
    expect(kv, "small", "1");
    ASSERT_EQ_INT(put(kv, 2, "after", "ok", KV_COND_NONE).status, KV_RES_OK);
    free(big);
    kv_close(kv);
}

TEST(kv_apply, get_rejects_empty_and_oversized_keys)
{
    struct kv *kv = open_kv("a", NULL);
    static char key[KV_KEY_MAX + 1];
    struct kv_buf b;

    ASSERT_EQ_INT(kv_get(kv, "", 0, &b, NULL), RKV_EINVAL);
    ASSERT_EQ_INT(kv_get(kv, key, sizeof key, &b, NULL), RKV_EINVAL);
    memset(key, 'k', sizeof key);
    put(kv, 1, "x", "1", KV_COND_NONE);
    ASSERT_EQ_INT(kv_get(kv, key, KV_KEY_MAX, &b, NULL), RKV_ENOTFOUND);
    kv_close(kv);
}

TEST(kv_apply, stats_count_keys_sessions_and_bytes)
{
    struct kv *kv = open_kv("a", NULL);
    struct kv_stats st;

    put(kv, 1, "a", "1", KV_COND_NONE);
    put(kv, 2, "b", "2", KV_COND_NONE);
    incr(kv, 3, "c", 1, 42, 1);
    OK(kv_stats(kv, &st, em));
    ASSERT_EQ_U64(st.keys, 3);
    ASSERT_EQ_U64(st.sessions, 1);
    ASSERT_TRUE(st.data_bytes > 0);
    ASSERT_EQ_U64(st.applied_index, 3);
    kv_close(kv);
}

TEST(kv_session, a_retry_returns_the_first_answer_and_applies_once)
{
    struct kv *kv = open_kv("a", NULL);
    struct kv_result r;

    r = incr(kv, 1, "n", 10, 7, 1);
    ASSERT_EQ_INT(r.value, 10);
    r = incr(kv, 2, "n", 10, 7, 1);
    ASSERT_EQ_INT(r.status, KV_RES_OK);
    ASSERT_EQ_INT(r.value, 10);
    expect(kv, "n", "10");
    /* Another client's same seq is its own command. */
    ASSERT_EQ_INT(incr(kv, 3, "n", 10, 8, 1).value, 20);
    kv_close(kv);
}

TEST(kv_session, a_retry_gets_the_stored_failure_too)
{
    struct kv *kv = open_kv("a", NULL);
    struct kv_slice k = sl("k");
    struct kv_slice v = sl("v");
    struct kv_cmd c = {KV_OP_PUT, KV_COND_XX, 7, 1, 0, 1, &k, &v};

    ASSERT_EQ_INT(apply_cmd(kv, 1, &c).status, KV_RES_COND_FAILED);
    put(kv, 2, "k", "exists", KV_COND_NONE);
    /* Now XX would succeed, but the retry must answer as the first time. */
    ASSERT_EQ_INT(apply_cmd(kv, 3, &c).status, KV_RES_COND_FAILED);
    expect(kv, "k", "exists");
    kv_close(kv);
}

TEST(kv_session, a_seq_below_the_last_is_stale_and_not_applied)
{
    struct kv *kv = open_kv("a", NULL);

    incr(kv, 1, "n", 1, 7, 5);
    ASSERT_EQ_INT(incr(kv, 2, "n", 1, 7, 4).status, KV_RES_STALE);
    expect(kv, "n", "1");
    ASSERT_EQ_INT(incr(kv, 3, "n", 1, 7, 9).value, 2); /* gaps are fine */
    kv_close(kv);
}

TEST(kv_session, sessions_survive_reopen)
{
    struct kv *kv = open_kv("a", NULL);

    incr(kv, 1, "n", 1, 7, 1);
    kv_close(kv);
    kv = open_kv("a", NULL);
    ASSERT_EQ_INT(incr(kv, 2, "n", 1, 7, 1).value, 1);
    expect(kv, "n", "1");
    kv_close(kv);
}

TEST(kv_session, a_session_unused_for_ttl_entries_expires)
{
    struct kv_options opt = {.session_ttl_entries = 5};
    struct kv *kv = open_kv("a", &opt);

    incr(kv, 1, "n", 1, 7, 1);
    apply_noops(kv, 2, 6); /* at 6, last use 1 is not below 6 - 5 */
    ASSERT_EQ_U64(n_sessions(kv), 1);
    apply_noops(kv, 7, 7); /* at 7 it is */
    ASSERT_EQ_U64(n_sessions(kv), 0);
    /* The retry now comes too late and is applied again: rule (a). */
    ASSERT_EQ_INT(incr(kv, 8, "n", 1, 7, 1).value, 2);
    kv_close(kv);
}

TEST(kv_session, a_retry_keeps_its_session_alive)
{
    struct kv_options opt = {.session_ttl_entries = 5};
    struct kv *kv = open_kv("a", &opt);

    incr(kv, 1, "n", 1, 7, 1);
    apply_noops(kv, 2, 5);
    ASSERT_EQ_INT(incr(kv, 6, "n", 1, 7, 1).value, 1);
    apply_noops(kv, 7, 11);
    ASSERT_EQ_U64(n_sessions(kv), 1);
    apply_noops(kv, 12, 12);
    ASSERT_EQ_U64(n_sessions(kv), 0);
    kv_close(kv);
}

TEST(kv_session, a_full_table_evicts_the_least_recently_used)
{
    struct kv_options opt = {.max_sessions = 2};
    struct kv *kv = open_kv("a", &opt);

    incr(kv, 1, "a", 1, 1, 1);
    incr(kv, 2, "b", 1, 2, 1);
    incr(kv, 3, "a", 1, 1, 2); /* client 1 used again: 2 is now oldest */
    incr(kv, 4, "c", 1, 3, 1); /* evicts client 2 */
    ASSERT_EQ_U64(n_sessions(kv), 2);
    ASSERT_EQ_INT(incr(kv, 5, "b", 1, 2, 1).value, 2); /* applied again */
    /* Client 2's return evicted client 1 (last used at 3). */
    ASSERT_EQ_INT(incr(kv, 6, "c", 1, 3, 1).value, 1); /* still a retry */
    ASSERT_EQ_INT(incr(kv, 7, "a", 1, 1, 2).value, 3); /* applied again */
    ASSERT_EQ_U64(n_sessions(kv), 2);
    kv_close(kv);
}

TEST(kv_apply, open_rejects_a_file_that_is_not_an_environment)
{
    char dir[512];
    char path[600];
    char junk[8192];
    struct kv *kv;
    FILE *f;

    kv_dir("a", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/state.mdb", dir);
    memset(junk, 'j', sizeof junk);
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ_U64(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    ASSERT_EQ_INT(fclose(f), 0);
    ASSERT_EQ_INT(kv_open(dir, NULL, &kv, NULL), RKV_ECORRUPT);
}

TEST(kv_apply, sync_and_no_sync_both_keep_what_was_applied)
{
    struct kv_options opt = {.no_sync = true};
    struct kv *kv = open_kv("a", NULL);
    struct kv *fast = open_kv("b", &opt);

    put(kv, 1, "k", "v", KV_COND_NONE);
    OK(kv_sync(kv, em));
    put(fast, 1, "k", "v", KV_COND_NONE);
    OK(kv_sync(fast, em));
    kv_close(kv);
    kv_close(fast);
    kv = open_kv("a", NULL);
    fast = open_kv("b", &opt);
    expect(kv, "k", "v");
    expect(fast, "k", "v");
    kv_close(kv);
    kv_close(fast);
}

/* Deferred commits: reads see applied entries at once; only kv_commit()
 * makes them survive a close (as a crash would). */
TEST(kv, deferred_commit_reads_applied_and_keeps_only_committed)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct kv_options opt = {.deferred_commit = true};
    struct kv *kv;
    struct kv_buf v;
    struct kv_slice key = {"k", 1}, val = {"v1", 2};
    struct kv_cmd cmd = {.op = KV_OP_PUT, .n = 1, .keys = &key, .values = &val};
    struct kv_buf enc;
    struct raft_entry e = {.term = 1, .index = 1, .type = RAFT_ENTRY_NORMAL};
    ASSERT_OK(kv_cmd_encode_alloc(&cmd, &enc, errmsg));
    e.data = enc.data;
    e.len = (uint32_t)enc.len;
    ASSERT_OK(kv_open(test_tmpdir(), &opt, &kv, errmsg));
    ASSERT_OK(kv_apply(kv, &e, 1, NULL, errmsg));
    ASSERT_EQ_U64(kv_applied_index(kv), 1);
    ASSERT_EQ_U64(kv_durable_index(kv), 0);
    ASSERT_OK(kv_get(kv, "k", 1, &v, errmsg));
    ASSERT_EQ_MEM(v.data, "v1", 2);
    kv_buf_free(&v);
    ASSERT_OK(kv_commit(kv, errmsg));
    ASSERT_EQ_U64(kv_durable_index(kv), 1);
    e.index = 2;
    val.data = "v2";
    kv_buf_free(&enc);
    ASSERT_OK(kv_cmd_encode_alloc(&cmd, &enc, errmsg));
    e.data = enc.data;
    ASSERT_OK(kv_apply(kv, &e, 1, NULL, errmsg));
    kv_buf_free(&enc);
    kv_close(kv); /* without kv_commit(): index 2 is lost, like a crash */
    ASSERT_OK(kv_open(test_tmpdir(), &opt, &kv, errmsg));
    ASSERT_EQ_U64(kv_applied_index(kv), 1);
    ASSERT_OK(kv_get(kv, "k", 1, &v, errmsg));
    ASSERT_EQ_MEM(v.data, "v1", 2);
    kv_buf_free(&v);
    kv_close(kv);
}
