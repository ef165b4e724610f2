/* ReadIndex (§8; Ongaro's thesis §6.4; src/raft/readindex.c): a read is
 * answered with the leader's commit index only once a heartbeat round
 * started after it was acknowledged by a majority, and only once the
 * leader has committed an entry of its own term. */
#include "lib/runner.h"
#include "raft_fixture.h"

/* The read state of `ctx` node `id` received, or NULL. */
static const struct raft_read_state *read_of(struct fx *f,
                                             raft_id id,
                                             uint64_t ctx)
{
    const struct fx_node *nd = fx_node(f, id);
    for (size_t i = 0; i < nd->n_reads; i++)
        if (nd->reads[i].context == ctx)
            return &nd->reads[i];
    return NULL;
}

/* Deliver one node's heartbeat and bring its answer back to the leader. */
static void heartbeat_round_trip(struct fx *f, raft_id leader, raft_id id)
{
    ASSERT_EQ_U64(fx_deliver(f, leader, id), 1);
    ASSERT_TRUE(fx_ready(f, id));
    ASSERT_EQ_U64(fx_deliver(f, id, leader), 1);
}

TEST(raft_readindex, leader_read_waits_for_heartbeat_quorum)
{
    struct fx *f = fx_new(5);
    struct raft *r;
    const struct raft_read_state *rs;
    fx_elect(f, 1);
    r = fx_raft(f, 1);
    ASSERT_OK(raft_read_index(r, 42));
    ASSERT_TRUE(fx_ready(f, 1));
    ASSERT_EQ_U64(f->nodes[0].last.n_reads, 0);
    ASSERT_EQ_U64(fx_count(f, RAFT_MSG_HEARTBEAT, 1, 0), 4);
    heartbeat_round_trip(f, 1, 2);
    (void)fx_ready(f, 1);
    ASSERT_TRUE(read_of(f, 1, 42) == NULL); /* 2 of 5 */
    heartbeat_round_trip(f, 1, 3);
    ASSERT_TRUE(fx_ready(f, 1)); /* 3 of 5 */
    rs = read_of(f, 1, 42);
    ASSERT_TRUE(rs != NULL);
    ASSERT_EQ_INT(rs->status, 0);
    ASSERT_EQ_U64(rs->index, raft_commit_index(r));
    fx_free(f);
}

TEST(raft_readindex, reads_between_readies_share_one_heartbeat_round)
{
    struct fx *f = fx_new(3);
    struct raft *r;
    fx_elect(f, 1);
    r = fx_raft(f, 1);
    fx_reset_counters(f);
    for (uint64_t ctx = 1; ctx <= 10; ctx++)
        ASSERT_OK(raft_read_index(r, ctx));
    fx_stabilize(f);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_HEARTBEAT][1][2], 1);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_HEARTBEAT][1][3], 1);
    ASSERT_EQ_U64(f->nodes[0].n_reads, 10);
    for (uint64_t ctx = 1; ctx <= 10; ctx++) {
        const struct raft_read_state *rs = &f->nodes[0].reads[ctx - 1];
        ASSERT_EQ_U64(rs->context, ctx);
        ASSERT_EQ_INT(rs->status, 0);
        ASSERT_EQ_U64(rs->index, raft_commit_index(r));
    }
    fx_free(f);
}

TEST(raft_readindex, follower_read_is_forwarded_and_answered_with_leader_commit)
{
    struct fx *f = fx_new(3);
    const struct raft_read_state *rs;
    fx_elect(f, 1);
    fx_propose(f, 1, "a");
    fx_propose(f, 1, "b");
    fx_stabilize(f);
    ASSERT_OK(raft_read_index(fx_raft(f, 2), 7));
    ASSERT_TRUE(fx_ready(f, 2));
    ASSERT_TRUE(fx_find(f, RAFT_MSG_READ_INDEX, 2, 1) != NULL);
    fx_stabilize(f);
    rs = read_of(f, 2, 7);
    ASSERT_TRUE(rs != NULL);
    ASSERT_EQ_INT(rs->status, 0);
    ASSERT_EQ_U64(rs->index, raft_commit_index(fx_raft(f, 1)));
    ASSERT_EQ_U64(rs->index, 3);
    ASSERT_TRUE(read_of(f, 1, 7) == NULL);
    fx_free(f);
}

/* §8: "a leader must have the latest information on which entries are
 * committed ... the leader [commits] a blank no-op entry at the start of
 * its term". A read on a new leader waits for that, even with a heartbeat
 * round acknowledged, and gets an index covering the no-op. */
TEST(raft_readindex, new_leader_read_waits_for_its_noop_to_commit)
{
    static const raft_term terms[] = {1, 1, 1};
    struct fx *f = fx_alloc(3);
    const struct raft_read_state *rs;
    for (raft_id id = 1; id <= 3; id++)
        fx_store_log(f, id, terms, 3, 1);
    fx_start(f);
    fx_drop(f, 1, 2, RAFT_MSG_APPEND);
    fx_drop(f, 1, 3, RAFT_MSG_APPEND);
    fx_elect(f, 1);
    ASSERT_EQ_U64(raft_last_index(fx_raft(f, 1)), 4);
    ASSERT_OK(raft_read_index(fx_raft(f, 1), 5));
    fx_stabilize(f);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    ASSERT_TRUE(read_of(f, 1, 5) == NULL);
    fx_heal(f);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    ASSERT_EQ_U64(raft_commit_index(fx_raft(f, 1)), 4);
    rs = read_of(f, 1, 5);
    ASSERT_TRUE(rs != NULL);
    ASSERT_EQ_INT(rs->status, 0);
    ASSERT_EQ_U64(rs->index, 4);
    fx_free(f);
}

/* A single node needs no heartbeat round, but still its no-op: a read
 * issued before the no-op commits is answered once it does. */
TEST(raft_readindex, single_node_read_before_noop_commit_is_answered)
{
    struct fx *f = fx_new(1);
    struct raft *r = fx_raft(f, 1);
    const struct raft_read_state *rs;
    fx_campaign(f, 1);
    ASSERT_EQ_INT(raft_role_of(r), RAFT_LEADER);
    ASSERT_OK(raft_read_index(r, 3));
    fx_stabilize(f);
    ASSERT_EQ_U64(raft_commit_index(r), 1);
    rs = read_of(f, 1, 3);
    ASSERT_TRUE(rs != NULL);
    ASSERT_EQ_INT(rs->status, 0);
    ASSERT_EQ_U64(rs->index, 1);
    fx_free(f);
}

TEST(raft_readindex, single_node_read_is_answered_at_once)
{
    struct fx *f = fx_new(1);
    struct raft *r;
    fx_elect(f, 1);
    fx_stabilize(f);
    r = fx_raft(f, 1);
    ASSERT_OK(raft_read_index(r, 8));
    ASSERT_TRUE(fx_ready(f, 1));
    ASSERT_TRUE(read_of(f, 1, 8) != NULL);
    ASSERT_EQ_U64(read_of(f, 1, 8)->index, 1);
    fx_free(f);
}

/* The same wait in a cluster: with node 3 down, the no-op commits only
 * when the leader's own Ready is advanced, after node 2 acknowledged both
 * the no-op and the heartbeat round. The read must be answered then,
 * without waiting for another heartbeat. */
TEST(raft_readindex, read_answered_when_leaders_own_persist_commits_noop)
{
    struct fx *f = fx_new(3);
    struct raft *r = fx_raft(f, 1);
    struct raft_ready rd;
    fx_crash(f, 3);
    fx_campaign(f, 1);
    while (raft_role_of(r) != RAFT_LEADER) {
        fx_drain(f, 1);
        fx_drain(f, 2);
        ASSERT_TRUE(fx_deliver(f, 0, 0) > 0);
    }
    ASSERT_OK(raft_read_index(r, 11));
    ASSERT_TRUE(raft_ready(r, &rd));
    ASSERT_EQ_U64(rd.n_entries, 1); /* the no-op */
    fx_process(f, 1, &rd);
    ASSERT_TRUE(fx_deliver(f, 1, 2) >= 2); /* APPEND and the round */
    ASSERT_TRUE(fx_ready(f, 2));
    ASSERT_TRUE(fx_deliver(f, 2, 1) >= 2);
    ASSERT_EQ_U64(raft_commit_index(r), 0);
    raft_advance(r, &rd);
    ASSERT_EQ_U64(raft_commit_index(r), 1);
    fx_stabilize(f);
    ASSERT_TRUE(read_of(f, 1, 11) != NULL);
    ASSERT_EQ_U64(read_of(f, 1, 11)->index, 1);
    fx_free(f);
}

/* A leader that steps down fails its pending reads, local and forwarded,
 * with a non-zero status so that the host retries elsewhere: through
 * CheckQuorum, and through a higher term. */
TEST(raft_readindex, leader_losing_leadership_fails_pending_reads)
{
    for (int how = 0; how < 2; how++) {
        struct fx *f = fx_new(3);
        struct raft *r;
        struct raft_msg m;
        const struct raft_read_state *rs;
        const struct raft_msg *resp;
        fx_elect(f, 1);
        r = fx_raft(f, 1);
        fx_isolate(f, 1);
        ASSERT_OK(raft_read_index(r, 9));
        m = fx_msg(RAFT_MSG_READ_INDEX, 2, 1, 0);
        m.context = 10;
        ASSERT_OK(fx_step(f, &m));
        if (how == 0) {
            for (unsigned i = 0; i < 4 * f->nodes[0].cfg.election_ticks &&
                                 raft_role_of(r) == RAFT_LEADER;
                 i++)
                raft_tick(r);
        } else {
            m = fx_msg(RAFT_MSG_HEARTBEAT, 2, 1, raft_term_of(r) + 1);
            ASSERT_OK(fx_step(f, &m));
        }
        ASSERT_EQ_INT(raft_role_of(r), RAFT_FOLLOWER);
        fx_clear(f);
        fx_drain(f, 1);
        rs = read_of(f, 1, 9);
        ASSERT_TRUE(rs != NULL);
        ASSERT_TRUE(rs->status != 0);
        resp = fx_find(f, RAFT_MSG_READ_INDEX_RESP, 1, 2);
        ASSERT_TRUE(resp != NULL);
        ASSERT_TRUE(resp->reject);
        ASSERT_EQ_U64(resp->context, 10);
        fx_free(f);
    }
}

/* A forwarded read that reaches a node which is not the leader is refused,
 * and the refusal reaches the reader as a non-zero status. */
TEST(raft_readindex, forwarded_read_refused_by_non_leader)
{
    struct fx *f = fx_new(3);
    struct raft_msg m = fx_msg(RAFT_MSG_READ_INDEX_RESP, 1, 2, 1);
    const struct raft_read_state *rs;
    fx_elect(f, 1);
    m.term = raft_term_of(fx_raft(f, 1));
    m.context = 4;
    m.reject = true;
    ASSERT_OK(fx_step(f, &m));
    ASSERT_TRUE(fx_ready(f, 2));
    rs = read_of(f, 2, 4);
    ASSERT_TRUE(rs != NULL);
    ASSERT_TRUE(rs->status != 0);
    m = fx_msg(RAFT_MSG_READ_INDEX, 3, 2, 0);
    m.context = 6;
    ASSERT_OK(fx_step(f, &m));
    fx_clear(f);
    ASSERT_TRUE(fx_ready(f, 2));
    ASSERT_TRUE(fx_find(f, RAFT_MSG_READ_INDEX_RESP, 2, 3)->reject);
    fx_free(f);
}

TEST(raft_readindex, read_without_leader_returns_enoleader)
{
    struct fx *f = fx_new(3);
    struct raft *r = fx_raft(f, 1);
    ASSERT_EQ_INT(raft_read_index(r, 1), RKV_ENOLEADER);
    fx_campaign(f, 1);
    ASSERT_EQ_INT(raft_read_index(r, 1), RKV_ENOLEADER);
    ASSERT_TRUE(fx_ready(f, 1));
    ASSERT_EQ_U64(f->nodes[0].n_reads, 0);
    ASSERT_EQ_U64(fx_count(f, RAFT_MSG_READ_INDEX, 0, 0), 0);
    fx_free(f);
}
