/* Log replication beyond the Figure 2 rules (src/raft/replication.c,
 * progress.c): fast backtracking over divergent logs, batching bounded by
 * max_msg_bytes, the in-flight window, recovery of a follower that lost
 * APPENDs, commit propagation, and client proposals. */
#include <stdio.h>
#include <string.h>

#include "lib/runner.h"
#include "raft_fixture.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_RUNS 5   /* runs of equal terms in a table log */
#define MAX_LOG 1000 /* entries in a table log */

/* A log written as runs: {term, count}, ..., {0, 0}. */
struct run
{
    raft_term term; /* term of the run */
    size_t count;   /* entries in it */
};

static size_t expand(const struct run *runs, raft_term *terms)
{
    size_t n = 0;
    for (size_t i = 0; i < MAX_RUNS && runs[i].count > 0; i++)
        for (size_t j = 0; j < runs[i].count; j++)
            terms[n++] = runs[i].term;
    return n;
}

/* Node 1 holds `leader`, node 3 a copy of it (so that node 1 is elected
 * whatever node 2 says), node 2 holds `follower`. Node 1 is elected and
 * the cluster stabilized; returns the APPEND rejections node 2 sent. */
static uint64_t repair(struct fx *f,
                       const struct run *leader,
                       const struct run *follower)
{
    static raft_term lt[MAX_LOG], ft[MAX_LOG];
    size_t ln = expand(leader, lt), fn = expand(follower, ft);
    raft_term term = lt[ln - 1];
    if (fn > 0 && ft[fn - 1] > term)
        term = ft[fn - 1];
    fx_store_log(f, 1, lt, ln, term);
    fx_store_log(f, 2, ft, fn, term);
    fx_store_log(f, 3, lt, ln, term);
    fx_start(f);
    fx_elect(f, 1);
    fx_stabilize(f);
    return f->rejects[RAFT_MSG_APPEND_RESP][2][1];
}

/* §5.3: "the leader must find the latest log entry where the two logs
 * agree, delete any entries in the follower's log after that point, and
 * send the follower all of the leader's entries after that point". The
 * followers (a)-(f) of Figure 7 against its leader. */
TEST(raft_replication, figure7_leader_brings_every_follower_in_line)
{
    static const struct run leader[MAX_RUNS] = {{1, 3}, {4, 2}, {5, 2}, {6, 3}};
    static const struct run followers[][MAX_RUNS] = {
        {{1, 3}, {4, 2}, {5, 2}, {6, 2}},         /* (a) missing one */
        {{1, 3}, {4, 1}},                         /* (b) missing many */
        {{1, 3}, {4, 2}, {5, 2}, {6, 4}},         /* (c) one extra */
        {{1, 3}, {4, 2}, {5, 2}, {6, 3}, {7, 2}}, /* (d) extra term */
        {{1, 3}, {4, 4}},                         /* (e) missing, extra */
        {{1, 3}, {2, 3}, {3, 5}},                 /* (f) other terms */
    };
    for (size_t i = 0; i < ARRAY_LEN(followers); i++) {
        struct fx *f = fx_alloc(3);
        uint64_t rejects = repair(f, leader, followers[i]);
        char name[32];
        snprintf(name, sizeof name, "follower (%c)", (int)('a' + i));
        ASSERT_EQ_U64_MSG(fx_logs_equal(f, 1, 2), 1, name);
        ASSERT_EQ_U64_MSG(rejects <= 2, 1, name);
        fx_free(f);
    }
}

/* Fast backtracking: a follower with hundreds of divergent entries from
 * several old terms costs about one rejected APPEND per divergent term,
 * not one per entry, and ends with the leader's log exactly. (Each pair of
 * logs obeys Log Matching: an index holding the same term in both has the
 * same prefix in both.) */
TEST(raft_replication, long_divergent_log_is_repaired_in_few_round_trips)
{
    static const struct
    {
        struct run leader[MAX_RUNS];
        struct run follower[MAX_RUNS];
        uint64_t max_rejects;
    } cases[] = {
        {{{1, 10}, {4, 50}}, {{1, 10}, {2, 100}, {3, 100}}, 2},
        {{{1, 10}, {2, 10}, {6, 50}},
         {{1, 10}, {3, 100}, {4, 100}, {5, 100}},
         4},
        {{{1, 300}}, {{1, 10}}, 1},
        {{{1, 10}, {2, 200}, {4, 5}}, {{1, 10}, {2, 100}, {3, 300}}, 2},
        {{{1, 5}, {5, 5}}, {{1, 5}, {2, 100}, {3, 100}, {4, 100}}, 4},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct fx *f = fx_alloc(3);
        uint64_t rejects = repair(f, cases[i].leader, cases[i].follower);
        char name[32];
        snprintf(name, sizeof name, "case %zu", i);
        ASSERT_EQ_U64_MSG(fx_logs_equal(f, 1, 2), 1, name);
        ASSERT_EQ_U64_MSG(rejects <= cases[i].max_rejects, 1, name);
        fx_free(f);
    }
}

/* Appends from the leader to node 2, as seen on the wire. */
struct append_tap
{
    size_t max_bytes;     /* largest payload of one APPEND, bytes */
    size_t n_appends;     /* APPENDs carrying entries */
    size_t n_entries;     /* entries they carried */
    raft_index last[512]; /* last index of each such APPEND */
    raft_index acked;     /* highest index node 2 acknowledged to 1 */
    size_t max_out;       /* most APPENDs unacknowledged at once */
};

static void on_append(void *ctx, const struct raft_msg *m, bool delivered)
{
    struct append_tap *t = ctx;
    size_t bytes = 0, out = 0;
    if (delivered && m->type == RAFT_MSG_APPEND_RESP && m->from == 2 &&
        !m->reject && m->index > t->acked)
        t->acked = m->index;
    if (delivered || m->type != RAFT_MSG_APPEND || m->to != 2 ||
        m->n_entries == 0 || t->n_appends == ARRAY_LEN(t->last))
        return;
    for (size_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].len;
    t->max_bytes = bytes > t->max_bytes ? bytes : t->max_bytes;
    t->n_entries += m->n_entries;
    t->last[t->n_appends++] = m->index + m->n_entries;
    for (size_t i = 0; i < t->n_appends; i++)
        out += t->last[i] > t->acked;
    t->max_out = out > t->max_out ? out : t->max_out;
}

/* Propose `n` commands of `len` bytes on node 1 without a Ready between
 * them, then stabilize with `t` watching. */
static void propose_burst(struct fx *f,
                          struct append_tap *t,
                          size_t n,
                          size_t len)
{
    char buf[256];
    ASSERT_TRUE(len <= sizeof buf);
    memset(buf, 'v', len);
    memset(t, 0, sizeof *t);
    f->tap = on_append;
    f->tap_ctx = t;
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(raft_propose(fx_raft(f, 1), buf, len, NULL, NULL));
    fx_stabilize(f);
    f->tap = NULL;
}

TEST(raft_replication, proposals_between_readies_travel_in_few_appends)
{
    /* 100 entries of 100 bytes each. A lone entry larger than the bound
     * still goes, alone. */
    static const struct
    {
        size_t max_msg_bytes;
        size_t want_appends;
        size_t want_max_bytes; /* largest APPEND payload */
    } cases[] = {
        {1u << 20, 1, 10000},
        {1000, 10, 1000},
        {950, 12, 900},
        {50, 100, 100},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct fx *f = fx_alloc(3);
        struct append_tap t;
        char name[32];
        snprintf(name, sizeof name, "max_msg_bytes %zu",
                 cases[i].max_msg_bytes);
        for (size_t j = 0; j < 3; j++)
            f->nodes[j].cfg.max_msg_bytes = cases[i].max_msg_bytes;
        fx_start(f);
        fx_elect(f, 1);
        propose_burst(f, &t, 100, 100);
        ASSERT_EQ_U64_MSG(t.n_entries, 100, name);
        ASSERT_EQ_U64_MSG(t.n_appends, cases[i].want_appends, name);
        ASSERT_EQ_U64_MSG(t.max_bytes, cases[i].want_max_bytes, name);
        ASSERT_EQ_U64_MSG(f->nodes[1].n_applied, 101, name);
        fx_free(f);
    }
}

/* In REPLICATE state the leader pipelines APPENDs without waiting for
 * each answer, but never more than max_inflight unacknowledged. */
TEST(raft_replication, inflight_window_caps_unacknowledged_appends)
{
    static const unsigned windows[] = {1, 2, 4, 8};
    for (size_t i = 0; i < ARRAY_LEN(windows); i++) {
        struct fx *f = fx_alloc(3);
        struct append_tap t;
        char name[32];
        snprintf(name, sizeof name, "max_inflight %u", windows[i]);
        for (size_t j = 0; j < 3; j++) {
            f->nodes[j].cfg.max_msg_bytes = 100;
            f->nodes[j].cfg.max_inflight = windows[i];
        }
        fx_start(f);
        fx_elect(f, 1);
        propose_burst(f, &t, 40, 100);
        ASSERT_EQ_U64_MSG(t.n_appends, 40, name);
        ASSERT_EQ_U64_MSG(t.max_out, windows[i], name);
        ASSERT_TRUE(fx_logs_equal(f, 1, 2));
        fx_free(f);
    }
}

/* A follower whose APPENDs were lost (with the window full or not) is
 * probed when it answers a heartbeat, and catches up. */
TEST(raft_replication, follower_that_lost_appends_is_probed_and_recovers)
{
    static const unsigned windows[] = {1, 2, 256};
    for (size_t i = 0; i < ARRAY_LEN(windows); i++) {
        struct fx *f = fx_alloc(3);
        for (size_t j = 0; j < 3; j++)
            f->nodes[j].cfg.max_inflight = windows[i];
        fx_start(f);
        fx_elect(f, 1);
        fx_drop(f, 1, 2, RAFT_MSG_APPEND);
        for (int k = 0; k < 5; k++) {
            fx_propose(f, 1, "lost");
            fx_stabilize(f);
        }
        ASSERT_EQ_U64(f->nodes[1].n_log, 1);
        ASSERT_EQ_U64(raft_commit_index(fx_raft(f, 1)), 6);
        fx_heal(f);
        fx_tick(f, 1, 2 * f->nodes[0].cfg.heartbeat_ticks);
        ASSERT_TRUE(fx_logs_equal(f, 1, 2));
        ASSERT_EQ_U64(raft_commit_index(fx_raft(f, 2)), 6);
        fx_free(f);
    }
}

/* Once the leader commits, every follower that stores the entry learns it
 * right away, not at the next heartbeat: here the no-op of a new leader,
 * whose followers were being probed when the commit index moved. */
TEST(raft_replication, follower_learns_commit_without_waiting_for_heartbeat)
{
    static const raft_term terms[] = {1, 1};
    struct fx *f = fx_alloc(3);
    fx_store_log(f, 1, terms, 2, 1);
    fx_start(f);
    fx_elect(f, 1);
    ASSERT_EQ_U64(raft_commit_index(fx_raft(f, 1)), 3);
    for (raft_id id = 2; id <= 3; id++) {
        ASSERT_TRUE(fx_logs_equal(f, 1, id));
        ASSERT_EQ_U64(raft_commit_index(fx_raft(f, id)), 3);
    }
    fx_free(f);
}

TEST(raft_replication, leader_propose_reports_index_and_term)
{
    struct fx *f = fx_new(3);
    struct raft *r;
    raft_index idx = 0;
    raft_term term = 0;
    fx_elect(f, 1);
    r = fx_raft(f, 1);
    ASSERT_OK(raft_propose(r, "abc", 3, &idx, &term));
    ASSERT_EQ_U64(idx, raft_last_index(r));
    ASSERT_EQ_U64(term, raft_term_of(r));
    ASSERT_EQ_U64(raft_entry_at(r, idx)->len, 3);
    ASSERT_EQ_MEM(raft_entry_at(r, idx)->data, "abc", 3);
    fx_free(f);
}

/* A proposal on a follower is forwarded to the leader and committed. */
TEST(raft_replication, follower_forwards_proposal_to_leader)
{
    struct fx *f = fx_new(3);
    raft_index idx = 99;
    raft_term term = 99;
    const struct raft_msg *m;
    fx_elect(f, 1);
    ASSERT_OK(raft_propose(fx_raft(f, 2), "fwd", 3, &idx, &term));
    ASSERT_EQ_U64(idx, 0);
    ASSERT_EQ_U64(term, 0);
    ASSERT_TRUE(fx_ready(f, 2));
    m = fx_find(f, RAFT_MSG_PROPOSE, 2, 1);
    ASSERT_TRUE(m != NULL);
    ASSERT_EQ_U64(m->n_entries, 1);
    fx_stabilize(f);
    for (raft_id id = 1; id <= 3; id++) {
        const struct fx_node *nd = &f->nodes[id - 1];
        ASSERT_EQ_U64(nd->n_applied, 2);
        ASSERT_EQ_U64(nd->applied[1].len, 3);
        ASSERT_EQ_MEM(nd->applied[1].data, "fwd", 3);
    }
    fx_free(f);
}

/* Without a known leader there is nowhere to send a proposal: follower of
 * no leader, pre-candidate and candidate all refuse, and queue nothing. */
TEST(raft_replication, propose_without_leader_returns_enoleader)
{
    for (int pre_vote = 0; pre_vote <= 1; pre_vote++) {
        struct fx *f = fx_alloc(3);
        struct raft *r;
        f->nodes[0].cfg.pre_vote = pre_vote;
        fx_start(f);
        r = fx_raft(f, 1);
        ASSERT_EQ_INT(raft_propose(r, "x", 1, NULL, NULL), RKV_ENOLEADER);
        fx_campaign(f, 1);
        ASSERT_EQ_INT(raft_propose(r, "x", 1, NULL, NULL), RKV_ENOLEADER);
        ASSERT_TRUE(fx_ready(f, 1));
        ASSERT_EQ_U64(fx_count(f, RAFT_MSG_PROPOSE, 0, 0), 0);
        fx_free(f);
    }
}

TEST(raft_replication, propose_too_big_returns_etoobig)
{
    static const uint8_t byte;
    struct fx *f = fx_new(3);
    raft_index last;
    fx_elect(f, 1);
    last = raft_last_index(fx_raft(f, 1));
    for (raft_id id = 1; id <= 2; id++)
        ASSERT_EQ_INT(raft_propose(fx_raft(f, id), &byte,
                                   (size_t)RAFT_ENTRY_MAX + 1, NULL, NULL),
                      RKV_ETOOBIG);
    ASSERT_FALSE(fx_ready(f, 1));
    ASSERT_FALSE(fx_ready(f, 2));
    ASSERT_EQ_U64(raft_last_index(fx_raft(f, 1)), last);
    fx_free(f);
}
