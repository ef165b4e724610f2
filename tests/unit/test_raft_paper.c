/* Paper tests: one test per rule of Figure 2 of the Raft paper ("In Search
 * of an Understandable Consensus Algorithm", Ongaro & Ousterhout, 2014),
 * each named after the rule it checks, driven through the public core API
 * with the fixture of raft_fixture.h. */
#include <stdio.h>
#include <string.h>

#include "lib/runner.h"
#include "raft_fixture.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A fixture of `n` nodes without PreVote, where node 1 starts from a
 * stored log with `terms` and hard-state term `term`. */
static struct fx *with_log(size_t n,
                           const raft_term *terms,
                           size_t n_terms,
                           raft_term term)
{
    struct fx *f = fx_alloc(n);
    for (size_t i = 0; i < n; i++)
        f->nodes[i].cfg.pre_vote = false;
    fx_store_log(f, 1, terms, n_terms, term);
    fx_start(f);
    return f;
}

/* An APPEND from 2 to 1 in `term` after (prev, prev_term). */
static struct raft_msg append_msg(raft_term term,
                                  raft_index prev,
                                  raft_term prev_term,
                                  const struct raft_entry *es,
                                  size_t n,
                                  raft_index commit)
{
    struct raft_msg m = fx_msg(RAFT_MSG_APPEND, 2, 1, term);
    m.index = prev;
    m.log_term = prev_term;
    m.entries = es;
    m.n_entries = n;
    m.commit = commit;
    return m;
}

/* Step `m` into node 1, process its Readies, and return its answer of
 * `type` to the sender (NULL if none). */
static const struct raft_msg *answer_of(struct fx *f,
                                        const struct raft_msg *m,
                                        int type)
{
    fx_clear(f);
    ASSERT_OK(fx_step(f, m));
    fx_drain(f, 1);
    return fx_find(f, type, 1, m->from);
}

/* Rules for all servers: "If RPC request or response contains term T >
 * currentTerm: set currentTerm = T, convert to follower". */
TEST(raft_paper, follower_updates_term_on_higher_term_message)
{
    struct fx *f = fx_new(3);
    struct raft *r = fx_raft(f, 1);
    struct raft_msg m = fx_msg(RAFT_MSG_HEARTBEAT, 2, 1, 5);
    ASSERT_OK(fx_step(f, &m));
    ASSERT_EQ_U64(raft_term_of(r), 5);
    ASSERT_EQ_INT(raft_role_of(r), RAFT_FOLLOWER);
    ASSERT_EQ_U64(raft_leader_of(r), 2);
    ASSERT_EQ_U64(raft_vote_of(r), 0);
    ASSERT_TRUE(fx_ready(f, 1));
    ASSERT_TRUE(f->nodes[0].last.must_sync);
    ASSERT_EQ_U64(f->nodes[0].hs.term, 5);
    fx_free(f);
}

TEST(raft_paper, candidate_steps_down_on_higher_term)
{
    static const int resp[] = {RAFT_MSG_VOTE_RESP, RAFT_MSG_PREVOTE_RESP};
    for (size_t i = 0; i < ARRAY_LEN(resp); i++) {
        struct fx *f = fx_alloc(3);
        struct raft *r;
        struct raft_msg m;
        f->nodes[0].cfg.pre_vote = resp[i] == RAFT_MSG_PREVOTE_RESP;
        fx_start(f);
        r = fx_raft(f, 1);
        fx_campaign(f, 1);
        m = fx_msg(resp[i], 2, 1, 4);
        m.reject = true;
        ASSERT_OK(fx_step(f, &m));
        ASSERT_EQ_INT(raft_role_of(r), RAFT_FOLLOWER);
        ASSERT_EQ_U64(raft_term_of(r), 4);
        ASSERT_EQ_U64(raft_vote_of(r), 0);
        fx_free(f);
    }
}

TEST(raft_paper, leader_steps_down_on_higher_term)
{
    struct fx *f = fx_new(3);
    struct raft *r;
    struct raft_msg m;
    raft_term t;
    fx_elect(f, 1);
    r = fx_raft(f, 1);
    t = raft_term_of(r);
    m = fx_msg(RAFT_MSG_APPEND_RESP, 2, 1, t + 1);
    ASSERT_OK(fx_step(f, &m));
    ASSERT_EQ_INT(raft_role_of(r), RAFT_FOLLOWER);
    ASSERT_EQ_U64(raft_term_of(r), t + 1);
    fx_free(f);
}

/* AppendEntries receiver 1: "Reply false if term < currentTerm"; the
 * answer carries our term so that the stale leader steps down. */
TEST(raft_paper, reject_append_with_stale_term)
{
    static const raft_term terms[] = {1, 1, 2};
    struct raft_entry e = {.term = 2, .index = 4, .type = RAFT_ENTRY_NORMAL};
    struct fx *f = with_log(3, terms, 3, 3);
    struct raft_msg m = append_msg(2, 3, 2, &e, 1, 3);
    const struct raft_msg *resp = answer_of(f, &m, RAFT_MSG_APPEND_RESP);
    struct raft *r = fx_raft(f, 1);
    ASSERT_EQ_U64(raft_last_index(r), 3);
    ASSERT_EQ_U64(raft_commit_index(r), 0);
    ASSERT_EQ_U64(raft_term_of(r), 3);
    ASSERT_EQ_U64(raft_leader_of(r), 0);
    ASSERT_TRUE(resp != NULL);
    ASSERT_EQ_U64(resp->term, 3);
    ASSERT_TRUE(resp->index != 4);
    fx_free(f);
}

/* AppendEntries receiver 2: "Reply false if log doesn't contain an entry
 * at prevLogIndex whose term matches prevLogTerm". */
TEST(raft_paper, follower_rejects_append_with_mismatched_prev_term)
{
    static const raft_term terms[] = {1, 1, 2};
    static const struct
    {
        raft_index prev;
        raft_term prev_term;
        bool accept;
    } cases[] = {
        {3, 3, false}, /* term differs at prevLogIndex */
        {4, 2, false}, /* prevLogIndex past our log */
        {2, 2, false}, {3, 2, true}, {2, 1, true}, {0, 0, true},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct fx *f = with_log(3, terms, 3, 2);
        struct raft_msg m =
            append_msg(3, cases[i].prev, cases[i].prev_term, NULL, 0, 0);
        const struct raft_msg *resp = answer_of(f, &m, RAFT_MSG_APPEND_RESP);
        char name[32];
        snprintf(name, sizeof name, "case %zu", i);
        ASSERT_TRUE(resp != NULL);
        ASSERT_EQ_U64_MSG(resp->reject, !cases[i].accept, name);
        if (cases[i].accept)
            ASSERT_EQ_U64_MSG(resp->index, cases[i].prev, name);
        ASSERT_EQ_U64_MSG(raft_last_index(fx_raft(f, 1)), 3, name);
        ASSERT_EQ_U64_MSG(raft_term_at(fx_raft(f, 1), 3), 2, name);
        fx_free(f);
    }
}

/* AppendEntries receiver 3: "If an existing entry conflicts with a new one
 * (same index but different terms), delete the existing entry and all
 * that follow it". The stored log is truncated too. */
TEST(raft_paper, follower_truncates_conflicting_suffix)
{
    static const raft_term terms[] = {1, 1, 2, 2};
    struct raft_entry e = {.term = 3, .index = 3, .type = RAFT_ENTRY_NORMAL};
    struct fx *f = with_log(3, terms, 4, 2);
    struct raft_msg m = append_msg(3, 2, 1, &e, 1, 0);
    const struct raft_msg *resp = answer_of(f, &m, RAFT_MSG_APPEND_RESP);
    struct raft *r = fx_raft(f, 1);
    ASSERT_TRUE(resp != NULL);
    ASSERT_FALSE(resp->reject);
    ASSERT_EQ_U64(resp->index, 3);
    ASSERT_EQ_U64(raft_last_index(r), 3);
    ASSERT_EQ_U64(raft_term_at(r, 3), 3);
    ASSERT_EQ_U64(f->nodes[0].n_log, 3);
    ASSERT_EQ_U64(f->nodes[0].log[2].term, 3);
    ASSERT_EQ_U64(f->nodes[0].log[1].term, 1);
    fx_free(f);
}

/* AppendEntries receiver 4: "Append any new entries not already in the
 * log". */
TEST(raft_paper, follower_appends_new_entries)
{
    static const raft_term terms[] = {1, 1};
    struct raft_entry es[] = {
        {.term = 1,
         .index = 2,
         .type = RAFT_ENTRY_NORMAL,
         .len = 1,
         .data = (const uint8_t *)"x"},
        {.term = 1,
         .index = 3,
         .type = RAFT_ENTRY_NORMAL,
         .len = 1,
         .data = (const uint8_t *)"c"},
    };
    struct fx *f = with_log(3, terms, 2, 1);
    struct raft_msg m = append_msg(1, 1, 1, es, 2, 0);
    const struct raft_msg *resp = answer_of(f, &m, RAFT_MSG_APPEND_RESP);
    const struct fx_node *nd = &f->nodes[0];
    ASSERT_TRUE(resp != NULL);
    ASSERT_FALSE(resp->reject);
    ASSERT_EQ_U64(resp->index, 3);
    ASSERT_EQ_U64(nd->n_log, 3);
    /* Entry 2 was already there (same term): it is kept, not rewritten. */
    ASSERT_EQ_MEM(nd->log[1].data, "2", 1);
    ASSERT_EQ_MEM(nd->log[2].data, "c", 1);
    fx_free(f);
}

/* A delayed APPEND carrying a prefix of what we hold truncates nothing:
 * only a conflict does (receiver 3). */
TEST(raft_paper, follower_keeps_suffix_on_append_of_matching_prefix)
{
    static const raft_term terms[] = {1, 1, 1, 1};
    struct raft_entry e = {.term = 1,
                           .index = 2,
                           .type = RAFT_ENTRY_NORMAL,
                           .len = 1,
                           .data = (const uint8_t *)"2"};
    struct fx *f = with_log(3, terms, 4, 1);
    struct raft_msg m = append_msg(1, 1, 1, &e, 1, 0);
    const struct raft_msg *resp = answer_of(f, &m, RAFT_MSG_APPEND_RESP);
    ASSERT_TRUE(resp != NULL);
    ASSERT_FALSE(resp->reject);
    ASSERT_EQ_U64(raft_last_index(fx_raft(f, 1)), 4);
    ASSERT_EQ_U64(f->nodes[0].n_log, 4);
    fx_free(f);
}

/* AppendEntries receiver 5: "If leaderCommit > commitIndex, set
 * commitIndex = min(leaderCommit, index of last new entry)". */
TEST(raft_paper, follower_commit_is_min_of_leader_commit_and_last_new)
{
    static const raft_term terms[] = {1, 1, 1, 1, 1};
    static const struct
    {
        raft_index prev;
        size_t n;
        raft_index leader_commit;
        raft_index want;
    } cases[] = {
        {2, 0, 5, 2}, {2, 1, 5, 3}, {5, 0, 3, 3}, {2, 1, 1, 1}, {0, 0, 5, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct raft_entry e = {.term = 1,
                               .index = cases[i].prev + 1,
                               .type = RAFT_ENTRY_NORMAL,
                               .len = 1,
                               .data = (const uint8_t *)"x"};
        struct fx *f = with_log(3, terms, 5, 1);
        struct raft_msg m = append_msg(1, cases[i].prev, 1, &e, cases[i].n,
                                       cases[i].leader_commit);
        char name[32];
        snprintf(name, sizeof name, "case %zu", i);
        ASSERT_TRUE(answer_of(f, &m, RAFT_MSG_APPEND_RESP) != NULL);
        ASSERT_EQ_U64_MSG(raft_commit_index(fx_raft(f, 1)), cases[i].want,
                          name);
        /* "If commitIndex > lastApplied: ... apply log[lastApplied]". */
        ASSERT_EQ_U64_MSG(f->nodes[0].n_applied, cases[i].want, name);
        fx_free(f);
    }
}

/* RequestVote receiver 2: "If votedFor is null or candidateId ... grant
 * vote": at most one candidate per term, asked again it still gets it. */
TEST(raft_paper, grants_at_most_one_vote_per_term)
{
    static const struct
    {
        raft_id from;
        raft_term term;
        bool grant;
    } steps[] = {{2, 1, true}, {3, 1, false}, {2, 1, true}, {3, 2, true}};
    struct fx *f = fx_new(3);
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        struct raft_msg m =
            fx_msg(RAFT_MSG_VOTE, steps[i].from, 1, steps[i].term);
        const struct raft_msg *resp = answer_of(f, &m, RAFT_MSG_VOTE_RESP);
        char name[32];
        snprintf(name, sizeof name, "step %zu", i);
        ASSERT_TRUE(resp != NULL);
        ASSERT_EQ_U64_MSG(resp->reject, !steps[i].grant, name);
    }
    ASSERT_EQ_U64(raft_vote_of(fx_raft(f, 1)), 3);
    fx_free(f);
}

/* "Updated on stable storage before responding to RPCs": the grant and
 * the vote are in one Ready that must be synced before it is sent, and a
 * restarted node remembers whom it voted for. */
TEST(raft_paper, vote_persisted_before_reply)
{
    struct fx *f = fx_new(3);
    struct raft *r = fx_raft(f, 1);
    struct raft_msg m = fx_msg(RAFT_MSG_VOTE, 2, 1, 1);
    struct raft_ready rd;
    bool granted = false;
    ASSERT_OK(fx_step(f, &m));
    ASSERT_TRUE(raft_ready(r, &rd));
    for (size_t i = 0; i < rd.n_msgs; i++)
        if (rd.msgs[i].type == RAFT_MSG_VOTE_RESP && !rd.msgs[i].reject)
            granted = true;
    ASSERT_TRUE(granted);
    ASSERT_TRUE(rd.hs_changed);
    ASSERT_TRUE(rd.must_sync);
    ASSERT_EQ_U64(rd.hs.term, 1);
    ASSERT_EQ_U64(rd.hs.vote, 2);
    fx_process(f, 1, &rd);
    raft_advance(r, &rd);
    fx_crash(f, 1);
    fx_restart(f, 1);
    ASSERT_EQ_U64(raft_vote_of(fx_raft(f, 1)), 2);
    m = fx_msg(RAFT_MSG_VOTE, 3, 1, 1);
    ASSERT_TRUE(answer_of(f, &m, RAFT_MSG_VOTE_RESP)->reject);
    fx_free(f);
}

/* RequestVote receiver 2 and §5.4.1: grant only "if candidate's log is at
 * least as up-to-date as receiver's log": last terms first, then last
 * indexes. */
TEST(raft_paper, rejects_vote_for_less_up_to_date_log)
{
    static const raft_term terms[] = {1, 1, 2};
    static const struct
    {
        raft_term last_term;
        raft_index last_index;
        bool grant;
    } cases[] = {
        {1, 10, false}, /* older last term, however long */
        {2, 2, false},  /* same last term, shorter */
        {0, 0, false},  /* empty */
        {2, 3, true},   {2, 4, true}, {3, 1, true},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct fx *f = with_log(3, terms, 3, 2);
        struct raft_msg m = fx_msg(RAFT_MSG_VOTE, 2, 1, 3);
        const struct raft_msg *resp;
        char name[32];
        snprintf(name, sizeof name, "case %zu", i);
        m.log_term = cases[i].last_term;
        m.index = cases[i].last_index;
        resp = answer_of(f, &m, RAFT_MSG_VOTE_RESP);
        ASSERT_TRUE(resp != NULL);
        ASSERT_EQ_U64_MSG(resp->reject, !cases[i].grant, name);
        ASSERT_EQ_U64_MSG(raft_vote_of(fx_raft(f, 1)), cases[i].grant ? 2 : 0,
                          name);
        fx_free(f);
    }
}

/* RequestVote receiver 1: "Reply false if term < currentTerm". */
TEST(raft_paper, reject_vote_with_stale_term)
{
    struct fx *f = with_log(3, NULL, 0, 3);
    struct raft_msg m = fx_msg(RAFT_MSG_VOTE, 2, 1, 2);
    const struct raft_msg *resp = answer_of(f, &m, RAFT_MSG_VOTE_RESP);
    ASSERT_TRUE(resp == NULL || resp->reject);
    ASSERT_EQ_U64(raft_term_of(fx_raft(f, 1)), 3);
    ASSERT_EQ_U64(raft_vote_of(fx_raft(f, 1)), 0);
    fx_free(f);
}

/* Candidates: "On conversion to candidate, start election: increment
 * currentTerm, vote for self, ... send RequestVote RPCs to all other
 * servers", each naming our last log entry. */
TEST(raft_paper, candidate_votes_for_itself_and_requests_votes_from_all)
{
    static const raft_term terms[] = {1, 2};
    struct fx *f = with_log(5, terms, 2, 2);
    struct raft *r = fx_raft(f, 1);
    fx_campaign(f, 1);
    ASSERT_EQ_INT(raft_role_of(r), RAFT_CANDIDATE);
    ASSERT_EQ_U64(raft_term_of(r), 3);
    ASSERT_EQ_U64(raft_vote_of(r), 1);
    ASSERT_TRUE(fx_ready(f, 1));
    ASSERT_TRUE(f->nodes[0].last.must_sync);
    ASSERT_EQ_U64(f->nodes[0].hs.vote, 1);
    ASSERT_EQ_U64(fx_count(f, RAFT_MSG_VOTE, 1, 0), 4);
    for (raft_id id = 2; id <= 5; id++) {
        const struct raft_msg *m = fx_find(f, RAFT_MSG_VOTE, 1, id);
        ASSERT_TRUE(m != NULL);
        ASSERT_EQ_U64(m->term, 3);
        ASSERT_EQ_U64(m->index, 2);
        ASSERT_EQ_U64(m->log_term, 2);
    }
    fx_free(f);
}

/* Candidates: "If election timeout elapses: start new election". */
TEST(raft_paper, candidate_restarts_election_on_timeout)
{
    struct fx *f = with_log(3, NULL, 0, 0);
    struct raft *r = fx_raft(f, 1);
    fx_campaign(f, 1);
    ASSERT_EQ_U64(raft_term_of(r), 1);
    for (unsigned i = 0; i < 2 * f->nodes[0].cfg.election_ticks; i++)
        raft_tick(r);
    ASSERT_EQ_INT(raft_role_of(r), RAFT_CANDIDATE);
    ASSERT_EQ_U64(raft_term_of(r), 2);
    ASSERT_TRUE(fx_ready(f, 1));
    ASSERT_TRUE(fx_find(f, RAFT_MSG_VOTE, 1, 2) != NULL);
    ASSERT_EQ_U64(f->nodes[0].hs.term, 2);
    fx_free(f);
}

/* Followers: "If election timeout elapses without receiving AppendEntries
 * RPC from current leader ...: convert to candidate"; while they do hear
 * from it, they never campaign. */
TEST(raft_paper, heartbeats_keep_followers_from_campaigning)
{
    struct fx *f = fx_new(3);
    raft_term t;
    fx_elect(f, 1);
    t = raft_term_of(fx_raft(f, 1));
    fx_tick_all(f, 10 * f->nodes[0].cfg.election_ticks);
    ASSERT_EQ_U64(fx_leader(f), 1);
    for (raft_id id = 1; id <= 3; id++) {
        ASSERT_EQ_U64(raft_term_of(fx_raft(f, id)), t);
        ASSERT_EQ_U64(raft_leader_of(fx_raft(f, id)), 1);
    }
    fx_free(f);
}

/* Leaders: "Upon election: send initial empty AppendEntries RPCs
 * (heartbeat) to each server; repeat during idle periods". */
TEST(raft_paper, leader_sends_heartbeats_when_idle)
{
    struct fx *f = fx_new(3);
    fx_elect(f, 1);
    fx_reset_counters(f);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_HEARTBEAT][1][2], 1);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_HEARTBEAT][1][3], 1);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_APPEND][1][2], 0);
    fx_free(f);
}

/* §8: each new leader appends a no-op of its term, and commits it. */
TEST(raft_paper, leader_appends_noop_on_election)
{
    static const raft_term terms[] = {1, 1};
    struct fx *f = with_log(3, terms, 2, 1);
    struct raft *r = fx_raft(f, 1);
    const struct raft_entry *e;
    fx_elect(f, 1);
    e = raft_entry_at(r, 3);
    ASSERT_EQ_U64(raft_last_index(r), 3);
    ASSERT_TRUE(e != NULL);
    ASSERT_EQ_INT(e->type, RAFT_ENTRY_NOOP);
    ASSERT_EQ_U64(e->term, raft_term_of(r));
    ASSERT_EQ_U64(raft_commit_index(r), 3);
    for (raft_id id = 2; id <= 3; id++)
        ASSERT_TRUE(fx_logs_equal(f, 1, id));
    fx_free(f);
}

/* Candidates: "If votes received from majority of servers: become leader";
 * a majority of refusals sends the candidate back to follower. */
TEST(raft_paper, candidate_wins_with_majority)
{
    static const struct
    {
        size_t n;
        const char *votes; /* from node 2 on: y granted, n refused, - none */
        int want;
    } cases[] = {
        {1, "", RAFT_LEADER},        {3, "y-", RAFT_LEADER},
        {3, "yn", RAFT_LEADER},      {3, "--", RAFT_CANDIDATE},
        {3, "nn", RAFT_FOLLOWER},    {5, "yy--", RAFT_LEADER},
        {5, "y---", RAFT_CANDIDATE}, {5, "ynn-", RAFT_CANDIDATE},
        {5, "nnn-", RAFT_FOLLOWER},  {5, "ynnyy", RAFT_LEADER},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct fx *f = with_log(cases[i].n, NULL, 0, 0);
        struct raft *r = fx_raft(f, 1);
        char name[32];
        snprintf(name, sizeof name, "case %zu", i);
        fx_campaign(f, 1);
        for (size_t j = 0; j + 2 <= cases[i].n; j++) {
            struct raft_msg m = fx_msg(RAFT_MSG_VOTE_RESP, j + 2, 1, 1);
            if (cases[i].votes[j] == '-')
                continue;
            m.reject = cases[i].votes[j] == 'n';
            ASSERT_OK(fx_step(f, &m));
        }
        ASSERT_EQ_U64_MSG(raft_role_of(r), cases[i].want, name);
        ASSERT_EQ_U64_MSG(raft_term_of(r), 1, name);
        fx_free(f);
    }
}

/* Candidates: "If AppendEntries RPC received from new leader: convert to
 * follower" (§5.2: its term is at least as large as ours). */
TEST(raft_paper, candidate_becomes_follower_on_append_from_leader_of_same_term)
{
    static const int types[] = {RAFT_MSG_APPEND, RAFT_MSG_HEARTBEAT};
    for (size_t i = 0; i < 2 * ARRAY_LEN(types); i++) {
        struct fx *f = fx_alloc(3);
        struct raft *r;
        struct raft_msg m;
        raft_term t;
        /* A pre-candidate keeps its term: it gives way to a leader of it. */
        f->nodes[0].cfg.pre_vote = i >= ARRAY_LEN(types);
        fx_store_log(f, 1, NULL, 0, 2);
        fx_start(f);
        r = fx_raft(f, 1);
        fx_campaign(f, 1);
        t = raft_term_of(r);
        m = fx_msg(types[i % ARRAY_LEN(types)], 2, 1, t);
        ASSERT_OK(fx_step(f, &m));
        ASSERT_EQ_INT(raft_role_of(r), RAFT_FOLLOWER);
        ASSERT_EQ_U64(raft_leader_of(r), 2);
        ASSERT_EQ_U64(raft_term_of(r), t);
        fx_free(f);
    }
}

/* §5.2: "election timeouts are chosen randomly from a fixed interval", here
 * [e, 2e), drawn anew for each election. */
TEST(raft_paper, election_timeout_is_randomized_within_range)
{
    enum { SEEDS = 1000, E = 10 };
    unsigned seen[2 * E] = {0};
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct raft_config cfg;
        struct raft *r;
        unsigned ticks = 0;
        raft_config_default(&cfg);
        cfg.id = 1;
        cfg.n_voters = 3;
        cfg.voters[0] = 1, cfg.voters[1] = 2, cfg.voters[2] = 3;
        cfg.election_ticks = E;
        cfg.heartbeat_ticks = 1;
        cfg.pre_vote = false;
        cfg.seed = seed;
        ASSERT_OK(raft_new(&cfg, &r));
        for (raft_term t = 1; t <= 2; t++) {
            for (ticks = 0; raft_term_of(r) < t && ticks < 2 * E; ticks++)
                raft_tick(r);
            ASSERT_EQ_U64(raft_term_of(r), t);
            ASSERT_TRUE(ticks >= E);
            ASSERT_TRUE(ticks < 2 * E);
            seen[ticks]++;
        }
        raft_free(r);
    }
    for (unsigned t = E; t < 2 * E; t++)
        ASSERT_TRUE(seen[t] > 2 * SEEDS / (2 * E)); /* roughly uniform */
}

/* "If commitIndex > lastApplied: increment lastApplied, apply
 * log[lastApplied] to state machine": every node applies every committed
 * entry once, in log order, across a restart too (the fixture checks the
 * order and that applied entries are durable). */
TEST(raft_paper, apply_in_order_once)
{
    struct fx *f = fx_new(3);
    char buf[16];
    fx_elect(f, 1);
    for (int i = 0; i < 20; i++) {
        snprintf(buf, sizeof buf, "cmd%d", i);
        fx_propose(f, i % 3 == 0 ? 2 : 1, buf);
        if (i == 10) {
            fx_stabilize(f);
            fx_crash(f, 3);
        }
        if (i == 15)
            fx_restart(f, 3);
        if (i % 4 == 0)
            fx_stabilize(f);
    }
    fx_tick_all(f, f->nodes[0].cfg.heartbeat_ticks);
    for (raft_id id = 1; id <= 3; id++) {
        const struct fx_node *nd = &f->nodes[id - 1];
        unsigned found[20] = {0};
        ASSERT_EQ_U64(nd->n_applied, raft_commit_index(nd->r));
        ASSERT_EQ_U64(nd->n_applied, f->nodes[0].n_log);
        ASSERT_TRUE(fx_logs_equal(f, 1, id));
        for (size_t j = 0; j < nd->n_applied; j++) {
            const struct raft_entry *e = &nd->applied[j];
            int k;
            ASSERT_EQ_U64(e->term, nd->log[j].term);
            if (e->type != RAFT_ENTRY_NORMAL)
                continue;
            ASSERT_TRUE(e->len < sizeof buf);
            memcpy(buf, e->data, e->len);
            buf[e->len] = '\0';
            ASSERT_TRUE(sscanf(buf, "cmd%d", &k) == 1 && k >= 0 && k < 20);
            found[k]++;
        }
        for (int k = 0; k < 20; k++)
            ASSERT_EQ_U64(found[k], 1);
    }
    fx_free(f);
}
