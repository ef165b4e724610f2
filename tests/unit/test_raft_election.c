/* Election safeguards beyond Figure 2 (src/raft/election.c, raft.c): PreVote
 * (Ongaro's thesis §9.6), leader stickiness within the lease, and
 * CheckQuorum (thesis §6.2). */
#include "lib/runner.h"
#include "raft_fixture.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A 3-node cluster led by node 1 in which node 3 spent ten election
 * timeouts cut off from the others. */
static struct fx *partition_node_3(bool pre_vote, raft_term *term)
{
    struct fx *f = fx_alloc(3);
    for (size_t i = 0; i < 3; i++) {
        f->nodes[i].cfg.pre_vote = pre_vote;
        f->nodes[i].cfg.check_quorum = pre_vote;
    }
    fx_start(f);
    fx_elect(f, 1);
    *term = raft_term_of(fx_raft(f, 1));
    fx_isolate(f, 3);
    fx_tick_all(f, 10 * f->nodes[0].cfg.election_ticks);
    return f;
}

TEST(raft_election, prevote_partitioned_node_does_not_increase_term)
{
    raft_term t;
    struct fx *f = partition_node_3(true, &t);
    ASSERT_EQ_U64(raft_term_of(fx_raft(f, 3)), t);
    ASSERT_EQ_U64(f->nodes[2].hs.term, t);
    ASSERT_EQ_U64(fx_leader(f), 1);
    fx_free(f);
}

TEST(raft_election, prevote_rejoining_node_does_not_depose_leader)
{
    raft_term t;
    struct fx *f = partition_node_3(true, &t);
    fx_propose(f, 1, "while away");
    fx_heal(f);
    fx_tick_all(f, 3 * f->nodes[0].cfg.election_ticks);
    ASSERT_EQ_U64(fx_leader(f), 1);
    for (raft_id id = 1; id <= 3; id++) {
        ASSERT_EQ_U64(raft_term_of(fx_raft(f, id)), t);
        ASSERT_EQ_U64(raft_leader_of(fx_raft(f, id)), 1);
    }
    ASSERT_TRUE(fx_logs_equal(f, 1, 3));
    fx_free(f);
}

/* The contrast that makes the two tests above meaningful: without PreVote
 * the lone node inflates its term and deposes the leader on return. */
TEST(raft_election, without_prevote_rejoining_node_deposes_leader)
{
    raft_term t;
    struct fx *f = partition_node_3(false, &t);
    ASSERT_TRUE(raft_term_of(fx_raft(f, 3)) > t);
    fx_heal(f);
    fx_tick_all(f, 2 * f->nodes[0].cfg.election_ticks);
    ASSERT_TRUE(raft_term_of(fx_raft(f, 1)) > t);
    fx_free(f);
}

/* Leader stickiness: a node that heard from its leader within the election
 * timeout ignores requests for a vote or pre-vote of a later term, and so
 * does the leader itself. */
TEST(raft_election, vote_requests_ignored_within_leader_lease)
{
    static const int types[] = {RAFT_MSG_VOTE, RAFT_MSG_PREVOTE};
    struct fx *f = fx_new(3);
    raft_term t;
    fx_elect(f, 1);
    t = raft_term_of(fx_raft(f, 1));
    for (size_t i = 0; i < ARRAY_LEN(types); i++)
        for (raft_id to = 1; to <= 2; to++) {
            struct raft *r = fx_raft(f, to);
            struct raft_msg m = fx_msg(types[i], 3, to, t + 1);
            m.index = raft_last_index(r);
            m.log_term = raft_term_at(r, m.index);
            fx_clear(f);
            ASSERT_OK(fx_step(f, &m));
            fx_drain(f, to);
            ASSERT_EQ_U64(fx_count(f, 0, to, 3), 0);
            ASSERT_EQ_U64(raft_term_of(r), t);
            ASSERT_EQ_U64(raft_leader_of(r), 1);
        }
    ASSERT_EQ_U64(fx_leader(f), 1);
    fx_free(f);
}

/* Without CheckQuorum there is no lease: the same request is granted. */
TEST(raft_election, without_check_quorum_vote_request_is_granted)
{
    struct fx *f = fx_alloc(3);
    struct raft *r;
    struct raft_msg m;
    raft_term t;
    for (size_t i = 0; i < 3; i++)
        f->nodes[i].cfg.check_quorum = false;
    fx_start(f);
    fx_elect(f, 1);
    r = fx_raft(f, 2);
    t = raft_term_of(r);
    m = fx_msg(RAFT_MSG_VOTE, 3, 2, t + 1);
    m.index = raft_last_index(r);
    m.log_term = raft_term_at(r, m.index);
    ASSERT_OK(fx_step(f, &m));
    ASSERT_EQ_U64(raft_term_of(r), t + 1);
    ASSERT_EQ_U64(raft_vote_of(r), 3);
    fx_free(f);
}

/* A PreVote grant changes nothing on the voter: no term, no vote, nothing
 * to persist. */
TEST(raft_election, prevote_grant_leaves_voter_state_unchanged)
{
    struct fx *f = fx_new(3);
    struct raft *r = fx_raft(f, 1);
    struct raft_msg m = fx_msg(RAFT_MSG_PREVOTE, 2, 1, 1);
    const struct raft_msg *resp;
    ASSERT_OK(fx_step(f, &m));
    ASSERT_TRUE(fx_ready(f, 1));
    resp = fx_find(f, RAFT_MSG_PREVOTE_RESP, 1, 2);
    ASSERT_TRUE(resp != NULL);
    ASSERT_FALSE(resp->reject);
    ASSERT_EQ_U64(resp->term, 1);
    ASSERT_EQ_U64(raft_term_of(r), 0);
    ASSERT_EQ_U64(raft_vote_of(r), 0);
    ASSERT_FALSE(f->nodes[0].last.hs_changed);
    ASSERT_FALSE(f->nodes[0].last.must_sync);
    fx_free(f);
}

/* A pre-candidate becomes a candidate only with a majority of pre-votes,
 * and only then increments its term. */
TEST(raft_election, precandidate_campaigns_after_majority_of_prevotes)
{
    struct fx *f = fx_new(3);
    struct raft *r = fx_raft(f, 1);
    struct raft_msg m = fx_msg(RAFT_MSG_PREVOTE_RESP, 2, 1, 1);
    fx_campaign(f, 1);
    ASSERT_EQ_INT(raft_role_of(r), RAFT_PRE_CANDIDATE);
    ASSERT_EQ_U64(raft_term_of(r), 0);
    ASSERT_TRUE(fx_ready(f, 1));
    ASSERT_EQ_U64(fx_count(f, RAFT_MSG_PREVOTE, 1, 0), 2);
    ASSERT_EQ_U64(fx_find(f, RAFT_MSG_PREVOTE, 1, 2)->term, 1);
    ASSERT_OK(fx_step(f, &m));
    ASSERT_EQ_INT(raft_role_of(r), RAFT_CANDIDATE);
    ASSERT_EQ_U64(raft_term_of(r), 1);
    fx_free(f);
}

/* CheckQuorum: a leader that hears from fewer than a majority during an
 * election timeout steps down (the check runs every election timeout, so
 * within two of them from the cut); one that hears from a majority stays,
 * in the same term. */
TEST(raft_election, check_quorum_leader_steps_down_without_majority)
{
    static const struct
    {
        size_t n;
        size_t cut; /* followers cut off from the leader */
        bool stays;
    } cases[] = {
        {3, 1, true},
        {3, 2, false},
        {5, 2, true},
        {5, 3, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct fx *f = fx_new(cases[i].n);
        struct raft *r;
        unsigned e = f->nodes[0].cfg.election_ticks, ticks = 0;
        raft_term t;
        fx_elect(f, 1);
        r = fx_raft(f, 1);
        t = raft_term_of(r);
        for (raft_id id = 2; id < 2 + cases[i].cut; id++)
            fx_cut(f, 1, id);
        while (raft_role_of(r) == RAFT_LEADER && ticks < 10 * e) {
            fx_tick(f, 1, 1);
            ticks++;
        }
        if (cases[i].stays) {
            ASSERT_EQ_INT(raft_role_of(r), RAFT_LEADER);
        } else {
            ASSERT_EQ_INT(raft_role_of(r), RAFT_FOLLOWER);
            ASSERT_TRUE(ticks >= e);
            ASSERT_TRUE(ticks <= 2 * e);
        }
        ASSERT_EQ_U64(raft_term_of(r), t);
        fx_free(f);
    }
}
