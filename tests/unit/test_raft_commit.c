/* The commit rule (§5.3, §5.4.2, src/raft/commit.c): the quorum math, the
 * leader counting itself only once its own entries are durable, and the
 * Figure 8 scenario: an entry from an earlier term is never committed by
 * counting replicas. */
#include <string.h>

#include "lib/runner.h"
#include "raft/raft_int.h"
#include "raft_fixture.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

TEST(raft_commit, quorum_value_is_the_quorum_th_largest)
{
    static const struct
    {
        const char *name;
        uint64_t vals[5];
        size_t n;
        size_t quorum;
        uint64_t want;
    } cases[] = {
        {"1 voter", {7}, 1, 1, 7},
        {"2 voters need both", {4, 2}, 2, 2, 2},
        {"3 voters, majority at 5", {5, 5, 3}, 3, 2, 5},
        {"3 voters, unsorted", {3, 5, 5}, 3, 2, 5},
        {"3 voters, one ahead", {9, 1, 1}, 3, 2, 1},
        {"3 voters, nothing", {0, 0, 0}, 3, 2, 0},
        {"4 voters need 3", {10, 8, 6, 4}, 4, 3, 6},
        {"5 voters, two lagging", {9, 7, 7, 2, 1}, 5, 3, 7},
        {"5 voters, ascending", {1, 2, 3, 4, 5}, 5, 3, 3},
        {"5 voters, all equal", {4, 4, 4, 4, 4}, 5, 3, 4},
        {"largest values", {UINT64_MAX, UINT64_MAX, 0}, 3, 2, UINT64_MAX},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint64_t vals[5];
        memcpy(vals, cases[i].vals, sizeof vals);
        ASSERT_EQ_U64_MSG(raft__quorum_value(vals, cases[i].n, cases[i].quorum),
                          cases[i].want, cases[i].name);
    }
}

/* A leader that has not yet persisted an entry does not count itself: in
 * a 3-node cluster one follower's acknowledgement is not enough until the
 * leader's own Ready is advanced. */
TEST(raft_commit, leader_commits_after_majority_persist)
{
    struct fx *f = fx_new(3);
    struct raft *r, *r2;
    struct raft_ready rd, rd2;
    raft_index idx;
    bool acked = false;
    fx_elect(f, 1);
    r = fx_raft(f, 1);
    r2 = fx_raft(f, 2);
    ASSERT_OK(raft_propose(r, "x", 1, &idx, NULL));
    ASSERT_TRUE(raft_ready(r, &rd));
    ASSERT_EQ_U64(rd.n_entries, 1);
    ASSERT_EQ_U64(rd.entries[0].index, idx);
    fx_process(f, 1, &rd); /* persisted and sent, not yet advanced */
    ASSERT_EQ_U64(fx_deliver(f, 1, 2), 1);
    /* The follower's acknowledgement comes in the Ready that persists. */
    ASSERT_TRUE(raft_ready(r2, &rd2));
    for (size_t i = 0; i < rd2.n_msgs; i++)
        if (rd2.msgs[i].type == RAFT_MSG_APPEND_RESP && !rd2.msgs[i].reject &&
            rd2.msgs[i].index == idx)
            acked = true;
    ASSERT_TRUE(acked);
    ASSERT_EQ_U64(rd2.n_entries, 1);
    ASSERT_TRUE(rd2.must_sync);
    fx_process(f, 2, &rd2);
    raft_advance(r2, &rd2);
    ASSERT_EQ_U64(fx_deliver(f, 2, 1), 1);
    ASSERT_TRUE(raft_commit_index(r) < idx);
    raft_advance(r, &rd);
    ASSERT_EQ_U64(raft_commit_index(r), idx);
    fx_stabilize(f);
    ASSERT_EQ_U64(f->nodes[0].n_applied, idx);
    fx_free(f);
}

TEST(raft_commit, single_node_commits_only_after_its_own_persist)
{
    struct fx *f = fx_new(1);
    struct raft *r;
    struct raft_ready rd;
    raft_index idx;
    fx_elect(f, 1);
    r = fx_raft(f, 1);
    ASSERT_EQ_U64(raft_commit_index(r), 1); /* the no-op */
    ASSERT_OK(raft_propose(r, "x", 1, &idx, NULL));
    ASSERT_EQ_U64(idx, 2);
    ASSERT_TRUE(raft_ready(r, &rd));
    ASSERT_EQ_U64(rd.n_entries, 1);
    ASSERT_EQ_U64(rd.n_committed, 0);
    ASSERT_EQ_U64(raft_commit_index(r), 1);
    fx_process(f, 1, &rd);
    raft_advance(r, &rd);
    ASSERT_EQ_U64(raft_commit_index(r), 2);
    fx_stabilize(f);
    ASSERT_EQ_U64(f->nodes[0].n_applied, 2);
    fx_free(f);
}

/* §5.4.2: "Raft never commits log entries from previous terms by counting
 * replicas." Node 1 is elected in term 3 holding an uncommitted entry of
 * term 2 at index 2 and its no-op at 3. Node 2 acknowledging index 2 (it
 * has it) makes index 2 a majority, but it stays uncommitted until the
 * no-op of term 3 reaches a majority. */
TEST(raft_commit, leader_never_commits_earlier_term_entry_by_counting_replicas)
{
    static const raft_term log[] = {1, 2};
    struct fx *f = fx_alloc(3);
    struct raft *r;
    struct raft_msg ack;
    for (size_t i = 0; i < 3; i++)
        f->nodes[i].cfg.pre_vote = false;
    fx_store_log(f, 1, log, 2, 2);
    fx_store_log(f, 2, log, 2, 2);
    fx_store_log(f, 3, log, 1, 2);
    fx_start(f);
    fx_drop(f, 1, 2, RAFT_MSG_APPEND);
    fx_drop(f, 1, 3, RAFT_MSG_APPEND);
    fx_elect(f, 1);
    r = fx_raft(f, 1);
    ASSERT_EQ_U64(raft_term_of(r), 3);
    ASSERT_EQ_U64(raft_last_index(r), 3);
    ack = fx_msg(RAFT_MSG_APPEND_RESP, 2, 1, 3);
    ack.index = 2;
    ASSERT_OK(fx_step(f, &ack));
    fx_stabilize(f);
    ASSERT_EQ_U64(raft_commit_index(r), 0);
    fx_heal(f);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    ASSERT_EQ_U64(raft_commit_index(r), 3);
    fx_free(f);
}

static bool applied_contains(const struct fx_node *nd, const char *s)
{
    for (size_t i = 0; i < nd->n_applied; i++)
        if (nd->applied[i].len == strlen(s) &&
            memcmp(nd->applied[i].data, s, strlen(s)) == 0)
            return true;
    return false;
}

static void drop_appends_from(struct fx *f, raft_id from)
{
    for (raft_id to = 1; to <= f->n; to++)
        if (to != from)
            fx_drop(f, from, to, RAFT_MSG_APPEND);
}

/* Figure 8 of the paper, played out on 5 nodes. Had S1 committed X in (c)
 * by counting S1, S2, S3, then in (d) S5 would overwrite a committed entry.
 * The only crafted message is S2's acknowledgement of X alone in (c): the
 * core always sends the no-op along with X, so that state cannot arise on
 * its own, which is the other half of the defense. */
TEST(raft_commit, figure8_entry_from_earlier_term_is_not_committed)
{
    struct fx *f = fx_alloc(5);
    struct raft_msg ack;
    raft_index x;
    for (size_t i = 0; i < 5; i++) {
        f->nodes[i].cfg.pre_vote = false;
        f->nodes[i].cfg.check_quorum = false;
    }
    fx_start(f);
    /* (a) S1 leads term 1; X reaches S2 only. */
    fx_elect(f, 1);
    for (raft_id id = 3; id <= 5; id++)
        fx_cut(f, 1, id);
    fx_propose(f, 1, "X");
    fx_stabilize(f);
    x = raft_last_index(fx_raft(f, 1));
    ASSERT_EQ_U64(raft_term_at(fx_raft(f, 2), x), 1);
    ASSERT_TRUE(raft_commit_index(fx_raft(f, 1)) < x);
    /* (b) S1 crashes; S5 wins term 2 with S3 and S4 (S2 refuses: its log is
     * longer); S5's no-op at index x stays on S5. */
    fx_crash(f, 1);
    fx_heal(f);
    drop_appends_from(f, 5);
    fx_elect(f, 5);
    ASSERT_EQ_U64(raft_term_at(fx_raft(f, 5), x), 2);
    /* (c) S5 crashes; S1 returns and wins term 3; its APPENDs reach S3
     * alone, so X is on S1, S2, S3 and the no-op of term 3 on S1, S3. */
    fx_crash(f, 5);
    fx_heal(f);
    fx_restart(f, 1);
    fx_drop(f, 1, 2, RAFT_MSG_APPEND);
    fx_drop(f, 1, 4, RAFT_MSG_APPEND);
    fx_elect(f, 1);
    ASSERT_EQ_U64(raft_term_of(fx_raft(f, 1)), 3);
    ASSERT_EQ_U64(raft_term_at(fx_raft(f, 3), x + 1), 3);
    ack = fx_msg(RAFT_MSG_APPEND_RESP, 2, 1, 3);
    ack.index = x;
    ASSERT_OK(fx_step(f, &ack));
    fx_stabilize(f);
    ASSERT_EQ_U64(raft_commit_index(fx_raft(f, 1)), x - 1);
    /* (d) S1 crashes; S5 wins term 4 with S2 and S4 (its last term 2 beats
     * their 1) and replaces X everywhere. No node ever applied X. */
    fx_crash(f, 1);
    fx_heal(f);
    fx_restart(f, 5);
    fx_elect(f, 5);
    ASSERT_EQ_U64(raft_term_of(fx_raft(f, 5)), 4);
    fx_stabilize(f);
    for (raft_id id = 2; id <= 5; id++) {
        ASSERT_EQ_U64(raft_term_at(fx_raft(f, id), x), 2);
        ASSERT_TRUE(fx_logs_equal(f, 5, id));
        ASSERT_FALSE(applied_contains(&f->nodes[id - 1], "X"));
    }
    ASSERT_EQ_U64(raft_commit_index(fx_raft(f, 5)), x + 1);
    fx_free(f);
}
