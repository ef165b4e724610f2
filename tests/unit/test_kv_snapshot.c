/* Tests of state machine snapshots (src/kv/snapshot.c): streaming while
 * applying goes on, restoring into another kv, and rejecting damaged
 * streams without touching the live state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "kv/kv.h"
#include "kv_fixture.h"
#include "lib/runner.h"

/* Apply `c` as entry `index`, in term 2 or the applied term if later;
 * return its result. */
static struct kv_result apply_cmd(struct kv *kv,
                                  raft_index index,
                                  const struct kv_cmd *c)
{
    raft_term term = kv_applied_term(kv) > 2 ? kv_applied_term(kv) : 2;
    struct kv_buf b;
    struct kv_result r;

    OK(kv_cmd_encode_alloc(c, &b, em));
    struct raft_entry e = {term, index, RAFT_ENTRY_NORMAL, (uint32_t)b.len,
                           b.data};
    OK(kv_apply(kv, &e, 1, &r, em));
    kv_buf_free(&b);
    return r;
}

static void put(struct kv *kv, raft_index index, const char *k, const char *v)
{
    struct kv_slice ks = sl(k);
    struct kv_slice vs = sl(v);
    struct kv_cmd c = {KV_OP_PUT, 0, 0, 0, 0, 1, &ks, &vs};
    ASSERT_EQ_INT(apply_cmd(kv, index, &c).status, KV_RES_OK);
}

static void del(struct kv *kv, raft_index index, const char *k)
{
    struct kv_slice ks = sl(k);
    struct kv_cmd c = {KV_OP_DEL, 0, 0, 0, 0, 1, &ks, NULL};
    apply_cmd(kv, index, &c);
}

static int64_t incr(struct kv *kv,
                    raft_index index,
                    const char *k,
                    uint64_t client_id,
                    uint64_t seq)
{
    struct kv_slice ks = sl(k);
    struct kv_cmd c = {KV_OP_INCRBY, 0, client_id, seq, 1, 1, &ks, NULL};
    return apply_cmd(kv, index, &c).value;
}

static void expect(struct kv *kv, const char *key, const char *want)
{
    struct kv_buf b;
    int rv = kv_get(kv, key, strlen(key), &b, NULL);

    if (want == NULL) {
        ASSERT_EQ_INT(rv, RKV_ENOTFOUND);
        return;
    }
    ASSERT_OK(rv);
    ASSERT_EQ_U64_MSG(b.len, strlen(want), key);
    ASSERT_EQ_MEM(b.data, want, b.len);
    kv_buf_free(&b);
}

/* Append the rest of stream `s` to `out`, which has room for `*cap` bytes,
 * in reads of `chunk` bytes; one spare byte stays at the end. */
static void drain(struct kv_snapshot *s,
                  size_t chunk,
                  struct kv_buf *out,
                  size_t *cap)
{
    size_t n;

    do {
        if (*cap < out->len + chunk + 1) {
            *cap = 2 * (out->len + chunk + 1);
            uint8_t *grown = realloc(out->data, *cap);
            ASSERT_TRUE(grown != NULL);
            out->data = grown;
        }
        OK(kv_snapshot_read(s, out->data + out->len, chunk, &n, em));
        out->len += n;
    } while (n == chunk);
    OK(kv_snapshot_read(s, out->data + out->len, chunk, &n, em));
    ASSERT_EQ_U64(n, 0); /* the end stays the end */
}

/* The whole snapshot stream of `kv`, read `chunk` bytes at a time. */
static struct kv_buf stream(struct kv *kv, size_t chunk)
{
    struct kv_snapshot *s;
    struct kv_buf out = {NULL, 0};
    size_t cap = 0;

    OK(kv_snapshot_open(kv, &s, em));
    drain(s, chunk, &out, &cap);
    kv_snapshot_free(s);
    return out;
}

/* Restore `len` bytes into `kv` in writes of `chunk` bytes; return the
 * first error of kv_restore_write() or kv_restore_finish(). */
static int restore(struct kv *kv,
                   const uint8_t *data,
                   size_t len,
                   size_t chunk,
                   char *msg)
{
    struct kv_restore *r;
    int rv;

    OK(kv_restore_begin(kv, &r, em));
    for (size_t at = 0; at < len; at += chunk) {
        size_t n = len - at < chunk ? len - at : chunk;
        rv = kv_restore_write(r, data + at, n, msg);
        if (rv != 0) {
            kv_restore_abort(r);
            return rv;
        }
    }
    return kv_restore_finish(r, msg);
}

static void assert_same_stream(struct kv *a, struct kv *b)
{
    struct kv_buf sa = stream(a, 4096);
    struct kv_buf sb = stream(b, 4096);

    ASSERT_EQ_U64(sa.len, sb.len);
    ASSERT_EQ_MEM(sa.data, sb.data, sa.len);
    kv_buf_free(&sa);
    kv_buf_free(&sb);
}

/* A small state with data, a deleted key, sessions and an applied term. */
static void fill(struct kv *kv)
{
    put(kv, 1, "apple", "red");
    put(kv, 2, "banana", "");
    put(kv, 3, "cherry", "dark");
    del(kv, 4, "cherry");
    ASSERT_EQ_INT(incr(kv, 5, "count", 9, 1), 1);
    ASSERT_EQ_INT(incr(kv, 6, "count", 3, 4), 2);
    struct raft_entry e = {3, 7, RAFT_ENTRY_NOOP, 0, NULL};
    OK(kv_apply(kv, &e, 1, NULL, em));
}

TEST(kv_snapshot, restore_into_a_second_kv_gives_identical_state)
{
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", NULL);
    struct kv_buf s;

    fill(a);
    put(b, 1, "stale", "gone after restore");
    s = stream(a, 7);
    OK(restore(b, s.data, s.len, 13, em));
    ASSERT_EQ_U64(kv_applied_index(b), 7);
    ASSERT_EQ_U64(kv_applied_term(b), 3);
    assert_same_stream(a, b);
    expect(b, "apple", "red");
    expect(b, "banana", "");
    expect(b, "cherry", NULL);
    expect(b, "stale", NULL);
    /* The sessions came along: a retry is answered, not applied. */
    ASSERT_EQ_INT(incr(b, 8, "count", 9, 1), 1);
    expect(b, "count", "2");
    /* And it is all on disk. */
    kv_close(b);
    b = open_kv("b", NULL);
    ASSERT_EQ_U64(kv_applied_index(b), 8);
    expect(b, "count", "2");
    expect(b, "apple", "red");
    kv_buf_free(&s);
    kv_close(a);
    kv_close(b);
}

TEST(kv_snapshot, an_empty_state_round_trips_into_a_no_sync_kv)
{
    struct kv_options opt = {.no_sync = true};
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", &opt);
    struct kv_buf s = stream(a, 1);

    OK(restore(b, s.data, s.len, 1, em));
    ASSERT_EQ_U64(kv_applied_index(b), 0);
    assert_same_stream(a, b);
    kv_buf_free(&s);
    kv_close(a);
    kv_close(b);
}

TEST(kv_snapshot, a_stream_reflects_exactly_the_index_it_was_opened_at)
{
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", NULL);
    struct kv_snapshot *snap;
    struct kv_buf s = {NULL, 0};
    uint8_t head[40];
    size_t cap = sizeof head;
    size_t n;

    put(a, 1, "k1", "v1");
    put(a, 2, "k2", "v2");
    put(a, 3, "k3", "v3");
    OK(kv_snapshot_open(a, &snap, em));
    ASSERT_EQ_U64(kv_snapshot_index(snap), 3);
    ASSERT_EQ_U64(kv_snapshot_term(snap), 2);
    /* Read part of it, apply more, read the rest. */
    OK(kv_snapshot_read(snap, head, sizeof head, &n, em));
    ASSERT_EQ_U64(n, sizeof head);
    put(a, 4, "k1", "changed");
    del(a, 5, "k2");
    put(a, 6, "k4", "new");
    ASSERT_EQ_INT(incr(a, 7, "k5", 1, 1), 1);
    s.data = malloc(sizeof head);
    ASSERT_TRUE(s.data != NULL);
    memcpy(s.data, head, sizeof head);
    s.len = sizeof head;
    drain(snap, 5, &s, &cap);
    kv_snapshot_free(snap);

    OK(restore(b, s.data, s.len, 4096, em));
    ASSERT_EQ_U64(kv_applied_index(b), 3);
    expect(b, "k1", "v1");
    expect(b, "k2", "v2");
    expect(b, "k3", "v3");
    expect(b, "k4", NULL);
    expect(b, "k5", NULL);
    struct kv_stats st;
    OK(kv_stats(b, &st, em));
    ASSERT_EQ_U64(st.sessions, 0);
    expect(a, "k1", "changed");
    kv_buf_free(&s);
    kv_close(a);
    kv_close(b);
}

/* `b` must still hold exactly what stream `before` describes. */
static void assert_unchanged(struct kv *b, const struct kv_buf *before)
{
    struct kv_buf now = stream(b, 4096);
    ASSERT_EQ_U64(now.len, before->len);
    ASSERT_EQ_MEM(now.data, before->data, now.len);
    kv_buf_free(&now);
}

TEST(kv_snapshot, every_truncation_is_rejected_and_the_state_kept)
{
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", NULL);
    struct kv_buf s;
    struct kv_buf before;

    fill(a);
    put(b, 1, "mine", "kept");
    s = stream(a, 4096);
    before = stream(b, 4096);
    for (size_t cut = 0; cut < s.len; cut++) {
        char msg[RKV_ERRMSG_LEN];
        ASSERT_EQ_U64_MSG(restore(b, s.data, cut, 3, msg), RKV_ECORRUPT,
                          "truncated stream");
    }
    assert_unchanged(b, &before);
    expect(b, "mine", "kept");
    ASSERT_EQ_U64(kv_applied_index(b), 1);
    kv_buf_free(&s);
    kv_buf_free(&before);
    kv_close(a);
    kv_close(b);
}

TEST(kv_snapshot, every_flipped_bit_is_rejected_and_the_state_kept)
{
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", NULL);
    struct kv_buf s;
    struct kv_buf before;

    fill(a);
    put(b, 1, "mine", "kept");
    s = stream(a, 4096);
    before = stream(b, 4096);
    for (size_t at = 0; at < s.len; at++) {
        char msg[RKV_ERRMSG_LEN];
        uint8_t bit = (uint8_t)(1u << (at % 8));
        s.data[at] ^= bit;
        int rv = restore(b, s.data, s.len, 64, msg);
        s.data[at] ^= bit;
        /* Version bytes answer EPROTO; everything else is damage. */
        ASSERT_EQ_U64_MSG(rv, at >= 8 && at < 12 ? RKV_EPROTO : RKV_ECORRUPT,
                          "flipped stream");
    }
    assert_unchanged(b, &before);
    kv_buf_free(&s);
    kv_buf_free(&before);
    kv_close(a);
    kv_close(b);
}

TEST(kv_snapshot, bytes_after_the_trailer_are_corrupt)
{
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", NULL);
    struct kv_buf s;
    char msg[RKV_ERRMSG_LEN];

    fill(a);
    s = stream(a, 4096);
    s.data[s.len] = 'K'; /* stream() leaves one spare byte */
    ASSERT_EQ_INT(restore(b, s.data, s.len + 1, 4096, msg), RKV_ECORRUPT);
    ASSERT_TRUE(strstr(msg, "after the trailer") != NULL);
    ASSERT_EQ_U64(kv_applied_index(b), 0);
    kv_buf_free(&s);
    kv_close(a);
    kv_close(b);
}

TEST(kv_snapshot, a_snapshot_behind_the_applied_index_is_refused)
{
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", NULL);
    struct kv_buf s;

    put(a, 1, "x", "1");
    put(b, 1, "y", "1");
    put(b, 2, "y", "2");
    s = stream(a, 4096);
    ASSERT_EQ_INT(restore(b, s.data, s.len, 4096, NULL), RKV_EINVAL);
    expect(b, "y", "2");
    kv_buf_free(&s);
    kv_close(a);
    kv_close(b);
}

TEST(kv_snapshot, applying_past_the_snapshot_during_a_restore_refuses_it)
{
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", NULL);
    struct kv_restore *r;
    struct kv_buf s;

    put(a, 1, "x", "1");
    s = stream(a, 4096);
    OK(kv_restore_begin(b, &r, em));
    OK(kv_restore_write(r, s.data, s.len, em));
    put(b, 1, "y", "1");
    put(b, 2, "y", "2");
    ASSERT_EQ_INT(kv_restore_finish(r, NULL), RKV_EINVAL);
    expect(b, "y", "2");
    expect(b, "x", NULL);
    kv_buf_free(&s);
    kv_close(a);
    kv_close(b);
}

TEST(kv_snapshot, streams_and_restores_exclude_each_other)
{
    struct kv *a = open_kv("a", NULL);
    struct kv_snapshot *s;
    struct kv_restore *r;

    OK(kv_snapshot_open(a, &s, em));
    ASSERT_EQ_INT(kv_restore_begin(a, &r, NULL), RKV_EBUSY);
    kv_snapshot_free(s);
    OK(kv_restore_begin(a, &r, em));
    ASSERT_EQ_INT(kv_snapshot_open(a, &s, NULL), RKV_EBUSY);
    ASSERT_EQ_INT(kv_restore_begin(a, &r, NULL), RKV_EBUSY);
    kv_restore_abort(r);
    kv_close(a);
}

TEST(kv_snapshot, an_aborted_restore_leaves_no_files_and_open_clears_old_ones)
{
    struct kv *a = open_kv("a", NULL);
    struct kv_restore *r;
    char path[600];
    struct stat st;
    FILE *f;

    snprintf(path, sizeof path, "%s/a/restore.mdb", test_tmpdir());
    OK(kv_restore_begin(a, &r, em));
    ASSERT_EQ_INT(stat(path, &st), 0);
    kv_restore_abort(r);
    ASSERT_TRUE(stat(path, &st) != 0 && errno == ENOENT);
    kv_close(a);
    /* A crash in the middle of a restore leaves the file behind. */
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    ASSERT_TRUE(fputs("half a restore", f) >= 0);
    ASSERT_EQ_INT(fclose(f), 0);
    a = open_kv("a", NULL);
    ASSERT_TRUE(stat(path, &st) != 0 && errno == ENOENT);
    kv_close(a);
}

TEST(kv_snapshot, large_values_cross_chunks_and_restore_transactions)
{
    struct kv *a = open_kv("a", NULL);
    struct kv *b = open_kv("b", NULL);
    uint8_t *val = malloc(KV_VALUE_MAX);
    struct kv_buf s;
    struct kv_buf got;

    ASSERT_TRUE(val != NULL);
    for (unsigned i = 0; i < 20; i++) { /* 20 MiB: more than one transaction */
        char key[16];
        snprintf(key, sizeof key, "big%02u", i);
        memset(val, 'a' + (int)i, KV_VALUE_MAX);
        struct kv_slice k = sl(key);
        struct kv_slice v = {val, KV_VALUE_MAX};
        struct kv_cmd c = {KV_OP_PUT, 0, 0, 0, 0, 1, &k, &v};
        apply_cmd(a, (raft_index)i + 1, &c);
    }
    s = stream(a, 65536);
    OK(restore(b, s.data, s.len, 100000, em));
    OK(kv_get(b, "big19", 5, &got, em));
    ASSERT_EQ_U64(got.len, KV_VALUE_MAX);
    memset(val, 'a' + 19, KV_VALUE_MAX);
    ASSERT_EQ_MEM(got.data, val, got.len);
    kv_buf_free(&got);
    assert_same_stream(a, b);
    free(val);
    kv_buf_free(&s);
    kv_close(a);
    kv_close(b);
}

/* Rules (a) and (b) give the same state whatever the batching. */
TEST(kv_session, expiry_and_eviction_do_not_depend_on_batching)
{
    struct kv_options opt = {.session_ttl_entries = 4, .max_sessions = 2};
    struct kv *one = open_kv("one", &opt);
    struct kv *many = open_kv("many", &opt);
    struct kv_buf bufs[40];
    struct raft_entry e[40];
    struct kv_result r1[40];
    struct kv_result r2[40];
    uint64_t x = 2463534242u; /* xorshift state */

    for (size_t i = 0; i < 40; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        char key[2] = {(char)('a' + x % 3), 0};
        struct kv_slice k = sl(key);
        uint64_t client = 1 + (x >> 8) % 4;
        struct kv_cmd c = {KV_OP_INCRBY, 0,   client, 1 + (x >> 16) % 3, 1, 1,
                           &k,           NULL};
        OK(kv_cmd_encode_alloc(&c, &bufs[i], em));
        e[i] = (struct raft_entry){1, i + 1, RAFT_ENTRY_NORMAL,
                                   (uint32_t)bufs[i].len, bufs[i].data};
        if (x % 5 == 0) /* some gaps for the TTL */
            e[i] = (struct raft_entry){1, i + 1, RAFT_ENTRY_NOOP, 0, NULL};
    }
    for (size_t i = 0; i < 40; i++)
        OK(kv_apply(one, &e[i], 1, &r1[i], em));
    for (size_t i = 0; i < 40; i += 7)
        OK(kv_apply(many, &e[i], i + 7 <= 40 ? 7 : 40 - i, &r2[i], em));
    for (size_t i = 0; i < 40; i++) {
        ASSERT_EQ_U64(r1[i].status, r2[i].status);
        ASSERT_EQ_U64(r1[i].value, r2[i].value);
        kv_buf_free(&bufs[i]);
    }
    assert_same_stream(one, many);
    kv_close(one);
    kv_close(many);
}
