/* Leader election (§5.2, §5.4.1), with PreVote (thesis §9.6): roles, the
 * randomized election timer, campaigns, and the vote rule. Only voters of
 * the configuration in force campaign and are asked for votes (thesis
 * §4.2.1: learners do not vote). */
#include "raft_int.h"

void raft__reset_election_timer(struct raft *r)
{
    r->election_elapsed = 0;
    /* §5.2: randomized timeouts make split votes rare. */
    r->randomized_timeout = raft__rng_range(&r->rng, r->cfg.election_ticks,
                                            2 * r->cfg.election_ticks);
}

static void reset_votes(struct raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++) {
        r->prs[i].vote_responded = false;
        r->prs[i].vote_granted = false;
    }
}

void raft__become_follower(struct raft *r, raft_term term, raft_id leader)
{
    ASSERT(term >= r->term);
    if (r->role == RAFT_LEADER)
        (void)raft__reads_fail_all(r, RKV_ENOTLEADER); /* ENOMEM: host
                                                          times out */
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
    }
    if (r->role != RAFT_FOLLOWER || r->leader != leader)
        raft__tracef(r, RAFT_TRACE_INFO, "follower, leader %llu",
                     (unsigned long long)leader);
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->bcast_wanted = false;
    r->transfer_target = 0;
    raft__reset_election_timer(r);
}

static int become_leader(struct raft *r)
{
    raft_index last = raft__log_last_index(&r->log);
    ASSERT(r->role == RAFT_CANDIDATE);
    ASSERT(r->vote == r->cfg.id);
    r->role = RAFT_LEADER;
    r->leader = r->cfg.id;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft__progress *pr = &r->prs[i];
        raft__progress_reset(pr, last + 1);
        pr->recent_active = true;
        pr->read_ack = 0;
        if (pr->id == r->cfg.id) {
            pr->match = r->persisted;
            raft__progress_become_replicate(pr);
        }
    }
    raft__tracef(r, RAFT_TRACE_INFO, "became leader at last index %llu",
                 (unsigned long long)last);
    /* §8: a no-op of our own term lets us learn what is committed, and
     * (Figure 8) commit earlier terms' entries with it. */
    return raft__append_local(r, RAFT_ENTRY_NOOP, NULL, 0, NULL);
}

/* Count answers; returns +1 won, -1 lost, 0 undecided. */
static int tally(const struct raft *r)
{
    size_t granted = 0, rejected = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        if (!r->prs[i].vote_responded)
            continue;
        if (r->prs[i].vote_granted)
            granted++;
        else
            rejected++;
    }
    if (granted >= raft__quorum(r))
        return 1;
    if (rejected >= raft__quorum(r))
        return -1;
    return 0;
}

static void record_vote(struct raft *r, raft_id id, bool granted)
{
    struct raft__progress *pr = raft__progress_of(r, id);
    if (pr == NULL || !pr->voter || pr->vote_responded)
        return; /* not asked, or a duplicated message */
    pr->vote_responded = true;
    pr->vote_granted = granted;
}

/* Start a (pre-)campaign: ask every voter for its vote (§5.2). A PreVote
 * asks "would you vote for me in term+1?" without changing any term, so a
 * node that cannot win never disrupts the cluster. */
int raft__campaign(struct raft *r, bool pre, bool transfer)
{
    raft_term term;
    int outcome;
    ASSERT(r->role != RAFT_LEADER);
    ASSERT(raft__is_voter(r, r->cfg.id));
    ASSERT(!(pre && transfer));
    reset_votes(r);
    raft__reset_election_timer(r);
    r->leader = 0;
    if (pre) {
        r->role = RAFT_PRE_CANDIDATE;
        term = r->term + 1;
    } else {
        r->role = RAFT_CANDIDATE;
        r->term++;
        r->vote = r->cfg.id;
        term = r->term;
    }
    /* A partitioned node pre-campaigns every election timeout: that is
     * not a state change, so only the real campaign is logged at info. */
    raft__tracef(r, pre ? RAFT_TRACE_DEBUG : RAFT_TRACE_INFO,
                 "%s for term %llu", pre ? "pre-campaign" : "campaign",
                 (unsigned long long)term);
    record_vote(r, r->cfg.id, true);
    outcome = tally(r);
    if (outcome > 0)
        return pre ? raft__campaign(r, false, false) : become_leader(r);
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft_msg m = {
            .type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE,
            .to = r->prs[i].id,
            .term = term,
            .index = raft__log_last_index(&r->log),
            .log_term = raft__log_last_term(&r->log),
            .context = transfer ? RAFT_CONTEXT_TRANSFER : 0,
        };
        if (m.to == r->cfg.id || !r->prs[i].voter)
            continue;
        int rv = raft__send(r, &m);
        if (rv != 0)
            return rv;
    }
    return 0;
}

void raft__tick_election(struct raft *r)
{
    ASSERT(r->role != RAFT_LEADER);
    r->election_elapsed++;
    if (r->election_elapsed < r->randomized_timeout)
        return;
    if (!raft__is_voter(r, r->cfg.id)) {
        /* A learner, removed or joining node never campaigns; after a
         * timeout without word from the leader it stops naming one, so
         * that clients look elsewhere. */
        ASSERT(r->role == RAFT_FOLLOWER);
        r->leader = 0;
        raft__reset_election_timer(r);
        return;
    }
    (void)raft__campaign(r, r->cfg.pre_vote, false); /* ENOMEM: the timer
                                                        retries */
}

/* §5.4.1: "the voter denies its vote if its own log is more up-to-date than
 * that of the candidate": compare last terms, then last indexes. */
static bool log_up_to_date(const struct raft *r,
                           raft_term term,
                           raft_index index)
{
    raft_term last_term = raft__log_last_term(&r->log);
#ifdef RAFT_MUTATION_VOTE_NO_UPTODATE
    (void)last_term;
    (void)term;
    (void)index;
    return true; /* planted bug: any candidate's log is good enough */
#else
    return term > last_term ||
           (term == last_term && index >= raft__log_last_index(&r->log));
#endif
}

int raft__handle_vote_request(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    /* Figure 2, RequestVote: grant if votedFor is null or candidateId. A
     * PreVote for a later term may be granted whatever we voted. */
    bool can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
                    (pre && m->term > r->term);
    struct raft_msg resp = {
        .type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
        .to = m->from,
    };
    if (can_vote && log_up_to_date(r, m->log_term, m->index)) {
        resp.term = m->term;
        if (!pre) {
            ASSERT(m->term == r->term);
            /* The vote is part of the hard state of the next Ready, which
             * the host persists before sending this answer. */
            r->vote = m->from;
            r->election_elapsed = 0;
        }
        raft__tracef(r, pre ? RAFT_TRACE_DEBUG : RAFT_TRACE_INFO,
                     "grant %s to %llu", pre ? "pre-vote" : "vote",
                     (unsigned long long)m->from);
    } else {
        resp.term = r->term;
        resp.reject = true;
    }
    return raft__send(r, &resp);
}

int raft__handle_vote_response(struct raft *r, const struct raft_msg *m)
{
    int outcome;
    if ((r->role == RAFT_PRE_CANDIDATE) != (m->type == RAFT_MSG_PREVOTE_RESP))
        return 0; /* an answer to another kind of campaign */
    record_vote(r, m->from, !m->reject);
    outcome = tally(r);
    if (outcome > 0) {
        if (r->role == RAFT_PRE_CANDIDATE)
            return raft__campaign(r, false, false);
        return become_leader(r);
    }
    if (outcome < 0)
        raft__become_follower(r, r->term, 0);
    return 0;
}
