/* ReadIndex (§8; thesis §6.4): a linearizable read needs no log entry. The
 * leader notes the read, proves it is still leader by a heartbeat round
 * acknowledged by a majority, and answers with its commit index; the
 * reading node serves the read once it has applied that far. Reads that
 * arrive between two Readies share one round. The majority is one of the
 * voters in force; a leader that is not one of them does not count itself
 * (thesis §4.2.2). */
#include "raft_int.h"

static int answer(struct raft *r,
                  const struct raft__read *rd,
                  raft_index index,
                  int status)
{
    if (rd->from == r->cfg.id)
        return raft__push_read_state(r, rd->context, index, status);
    struct raft_msg m = {.type = RAFT_MSG_READ_INDEX_RESP,
                         .to = rd->from,
                         .index = index,
                         .context = rd->context,
                         .reject = status != 0};
    return raft__send(r, &m);
}

int raft__read_request(struct raft *r, uint64_t ctx, raft_id from)
{
    struct raft__read rd = {ctx, from, r->read_round + 1};
    ASSERT(r->role == RAFT_LEADER);
#ifdef RAFT_MUTATION_READ_NO_CONFIRM
    return answer(r, &rd, r->commit, 0); /* planted bug: no round at all */
#endif
    if (raft__n_voters(r) == 1 && raft__is_voter(r, r->cfg.id) &&
        raft__log_term(&r->log, r->commit) == r->term)
        return answer(r, &rd, r->commit, 0);
    if (r->n_reads == r->cap_reads) {
        size_t cap = r->cap_reads == 0 ? 16 : r->cap_reads * 2;
        struct raft__read *p = raft__realloc(r, r->reads, cap * sizeof *p);
        if (p == NULL)
            return RKV_ENOMEM;
        r->reads = p;
        r->cap_reads = cap;
    }
    r->reads[r->n_reads++] = rd;
    r->read_round_wanted = true;
    return 0;
}

int raft__read_round_start(struct raft *r)
{
    ASSERT(r->role == RAFT_LEADER);
    r->read_round++;
    r->read_round_wanted = false;
    r->heartbeat_elapsed = 0;
    int rv = raft__bcast_heartbeat(r);
    if (rv != 0)
        return rv;
    return raft__read_acked(r); /* a lone voter is its own majority */
}

/* Answer every read whose round a majority acknowledged. The answer is the
 * commit index now: at least the one at the read's arrival, and a leader
 * of the current term has committed an entry of its term, so the index
 * covers every write acknowledged before the read began. */
int raft__read_acked(struct raft *r)
{
    uint64_t acks[RAFT_MAX_NODES];
    uint64_t confirmed;
    size_t kept = 0, voters = 0;
    if (r->role != RAFT_LEADER || r->n_reads == 0)
        return 0;
    if (raft__log_term(&r->log, r->commit) != r->term)
        return 0; /* §8: wait for the no-op of our term to commit */
    for (size_t i = 0; i < r->n_prs; i++) {
        const struct raft__progress *pr = &r->prs[i];
        if (pr->voter) /* we acknowledge every round we start */
            acks[voters++] = pr->id == r->cfg.id ? r->read_round : pr->read_ack;
    }
    confirmed = raft__quorum_value(acks, voters, voters / 2 + 1);
    for (size_t i = 0; i < r->n_reads; i++) {
        if (r->reads[i].round <= confirmed) {
            int rv = answer(r, &r->reads[i], r->commit, 0);
            if (rv != 0)
                return rv; /* the unanswered stay queued */
        } else {
            r->reads[kept++] = r->reads[i];
        }
    }
    r->n_reads = kept;
    return 0;
}

int raft__reads_fail_all(struct raft *r, int status)
{
    int rv = 0;
    for (size_t i = 0; i < r->n_reads; i++) {
        int e = answer(r, &r->reads[i], 0, status);
        if (rv == 0)
            rv = e;
    }
    r->n_reads = 0;
    r->read_round_wanted = false;
    return rv;
}

int raft__handle_read_index_response(struct raft *r, const struct raft_msg *m)
{
    ASSERT(r->role == RAFT_FOLLOWER);
    return raft__push_read_state(r, m->context, m->index,
                                 m->reject ? RKV_ENOTLEADER : 0);
}
