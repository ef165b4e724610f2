/* Leadership transfer (Ongaro's thesis §3.10; src/raft/transfer.c): the
 * leader stops taking proposals, catches the target up, and sends it
 * TIMEOUT_NOW; the target campaigns at once and voters grant it despite the
 * leader lease; a transfer that does not complete within an election
 * timeout is cancelled. */
#include <string.h>

#include "lib/runner.h"
#include "raft_fixture.h"

/* Whether any node's stored log holds an entry with payload `s`. */
static bool stored_anywhere(const struct fx *f, const char *s)
{
    for (size_t i = 0; i < f->n; i++)
        for (size_t j = 0; j < f->nodes[i].n_log; j++) {
            const struct raft_entry *e = &f->nodes[i].log[j];
            if (e->len == strlen(s) && memcmp(e->data, s, e->len) == 0)
                return true;
        }
    return false;
}

TEST(raft_transfer, up_to_date_follower_takes_over_and_proposals_wait)
{
    struct fx *f = fx_new(3);
    struct raft *r1, *r2;
    raft_term t;
    fx_elect(f, 1);
    r1 = fx_raft(f, 1);
    r2 = fx_raft(f, 2);
    t = raft_term_of(r1);
    ASSERT_OK(raft_transfer_leader(r1, 2));
    ASSERT_EQ_U64(raft_transfer_target(r1), 2);
    ASSERT_EQ_INT(raft_propose(r1, "x", 1, NULL, NULL), RKV_EBUSY);
    ASSERT_EQ_INT(raft_change_member(r1, RAFT_CHANGE_REMOVE, 3, NULL, 0, NULL),
                  RKV_EBUSY);
    fx_propose(f, 3, "forwarded"); /* dropped by the leader */
    fx_stabilize(f);
    ASSERT_EQ_INT(raft_role_of(r2), RAFT_LEADER);
    ASSERT_EQ_U64(raft_term_of(r2), t + 1);
    ASSERT_EQ_INT(raft_role_of(r1), RAFT_FOLLOWER);
    ASSERT_EQ_U64(raft_leader_of(r1), 2);
    ASSERT_EQ_U64(raft_transfer_target(r1), 0);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_TIMEOUT_NOW][1][2], 1);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_PREVOTE][2][1], 0); /* no PreVote */
    ASSERT_FALSE(stored_anywhere(f, "forwarded"));
    fx_propose(f, 2, "after");
    fx_stabilize(f);
    ASSERT_TRUE(fx_logs_equal(f, 1, 2));
    ASSERT_TRUE(fx_logs_equal(f, 1, 3));
    fx_free(f);
}

/* What the leader's log and the target's stored log held when the leader
 * sent TIMEOUT_NOW. */
struct timeout_now_seen
{
    struct fx *f;           /* the fixture */
    unsigned n;             /* TIMEOUT_NOW messages sent */
    raft_index leader_last; /* leader's last index then */
    size_t target_stored;   /* entries the target had stored then */
};

static void watch_timeout_now(void *ctx, const struct raft_msg *m, bool d)
{
    struct timeout_now_seen *w = ctx;
    if (d || m->type != RAFT_MSG_TIMEOUT_NOW)
        return;
    w->n++;
    w->leader_last = raft_last_index(fx_raft(w->f, m->from));
    w->target_stored = fx_node(w->f, m->to)->n_log;
}

TEST(raft_transfer, lagging_follower_is_caught_up_before_timeout_now)
{
    struct fx *f = fx_new(3);
    struct timeout_now_seen w = {f, 0, 0, 0};
    struct raft *r1;
    fx_elect(f, 1);
    r1 = fx_raft(f, 1);
    fx_cut(f, 1, 3);
    for (int i = 0; i < 5; i++)
        fx_propose(f, 1, "while 3 is away");
    fx_stabilize(f);
    ASSERT_TRUE(raft_last_index(fx_raft(f, 3)) < raft_last_index(r1));
    fx_heal(f);
    f->tap = watch_timeout_now;
    f->tap_ctx = &w;
    ASSERT_OK(raft_transfer_leader(r1, 3));
    fx_stabilize(f);
    ASSERT_EQ_U64(w.n, 1);
    ASSERT_EQ_U64(w.target_stored, w.leader_last);
    ASSERT_EQ_U64(fx_leader(f), 3);
    ASSERT_TRUE(fx_logs_equal(f, 1, 3));
    ASSERT_TRUE(fx_logs_equal(f, 2, 3));
    fx_free(f);
}

TEST(raft_transfer, cancelled_after_election_timeout_when_target_unreachable)
{
    struct fx *f = fx_new(3);
    struct raft *r1;
    unsigned e = f->nodes[0].cfg.election_ticks;
    raft_term t;
    raft_index idx;
    fx_elect(f, 1);
    r1 = fx_raft(f, 1);
    t = raft_term_of(r1);
    fx_isolate(f, 2);
    ASSERT_OK(raft_transfer_leader(r1, 2));
    fx_tick(f, 1, e - 1);
    ASSERT_EQ_U64(raft_transfer_target(r1), 2);
    ASSERT_EQ_INT(raft_propose(r1, "x", 1, NULL, NULL), RKV_EBUSY);
    fx_tick(f, 1, 1);
    ASSERT_EQ_U64(raft_transfer_target(r1), 0);
    ASSERT_OK(raft_propose(r1, "x", 1, &idx, NULL));
    fx_stabilize(f);
    ASSERT_TRUE(raft_commit_index(r1) >= idx);
    ASSERT_EQ_INT(raft_role_of(r1), RAFT_LEADER);
    ASSERT_EQ_U64(raft_term_of(r1), t);
    fx_free(f);
}

TEST(raft_transfer, refused_to_self_learner_stranger_and_while_running)
{
    struct fx *f = fx_alloc(4);
    struct raft *r1;
    for (size_t i = 0; i < 4; i++) {
        f->nodes[i].cfg.n_voters = i < 3 ? 3 : 0;
        f->nodes[i].cfg.join = i == 3;
    }
    fx_start(f);
    fx_elect(f, 1);
    r1 = fx_raft(f, 1);
    ASSERT_OK(
        raft_change_member(r1, RAFT_CHANGE_ADD_LEARNER, 4, NULL, 0, NULL));
    fx_stabilize(f);
    ASSERT_EQ_INT(raft_transfer_leader(r1, 1), RKV_EINVAL);
    ASSERT_EQ_INT(raft_transfer_leader(r1, 4), RKV_EINVAL);
    ASSERT_EQ_INT(raft_transfer_leader(r1, 9), RKV_EINVAL);
    ASSERT_EQ_INT(raft_transfer_leader(fx_raft(f, 2), 3), RKV_ENOTLEADER);
    ASSERT_EQ_U64(raft_transfer_target(r1), 0);
    ASSERT_OK(raft_transfer_leader(r1, 2));
    ASSERT_EQ_INT(raft_transfer_leader(r1, 3), RKV_EBUSY);
    ASSERT_EQ_U64(raft_transfer_target(r1), 2);
    /* A learner told to take over does not campaign. */
    {
        struct raft_msg m =
            fx_msg(RAFT_MSG_TIMEOUT_NOW, 1, 4, raft_term_of(r1));
        ASSERT_OK(fx_step(f, &m));
        ASSERT_EQ_INT(raft_role_of(fx_raft(f, 4)), RAFT_FOLLOWER);
    }
    fx_free(f);
}

/* The lease (thesis §4.2.3) makes voters ignore a later term's vote
 * request while they hear from a leader, except the one a transfer asked
 * for. */
TEST(raft_transfer, transfer_vote_request_is_granted_within_lease)
{
    struct fx *f = fx_new(3);
    struct raft *r2;
    struct raft_msg m;
    raft_term t;
    fx_elect(f, 1);
    r2 = fx_raft(f, 2);
    t = raft_term_of(r2);
    m = fx_msg(RAFT_MSG_VOTE, 3, 2, t + 1);
    m.index = raft_last_index(r2);
    m.log_term = raft_term_at(r2, m.index);
    ASSERT_OK(fx_step(f, &m));
    ASSERT_EQ_U64(raft_term_of(r2), t);
    m.context = RAFT_CONTEXT_TRANSFER;
    ASSERT_OK(fx_step(f, &m));
    ASSERT_EQ_U64(raft_term_of(r2), t + 1);
    ASSERT_EQ_U64(raft_vote_of(r2), 3);
    fx_free(f);
}
