/* The commit rule (§5.3, §5.4.2): an entry is committed once a majority of
 * voters store it AND it belongs to the leader's current term; earlier
 * terms' entries are committed only indirectly (Figure 8). */
#include "raft_int.h"

uint64_t raft__quorum_value(uint64_t *vals, size_t n, size_t quorum)
{
    const struct raft *r = NULL; /* for ASSERT */
    ASSERT(quorum >= 1);
    ASSERT(quorum <= n);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && vals[j - 1] < vals[j]; j--) {
            uint64_t t = vals[j];
            vals[j] = vals[j - 1];
            vals[j - 1] = t;
        }
    return vals[quorum - 1];
}

bool raft__maybe_commit(struct raft *r)
{
    uint64_t match[RAFT_MAX_NODES];
    raft_index n;
    ASSERT(r->role == RAFT_LEADER);
    for (size_t i = 0; i < r->n_prs; i++)
        match[i] = r->prs[i].match; /* our own: what we have persisted */
    n = raft__quorum_value(match, r->n_prs, raft__quorum(r));
    if (n <= r->commit)
        return false;
    ASSERT(n <= raft__log_last_index(&r->log));
#ifndef RAFT_MUTATION_COMMIT_OLD_TERM
    /* §5.4.2: "Raft never commits log entries from previous terms by
     * counting replicas." */
    if (raft__log_term(&r->log, n) != r->term)
        return false;
#endif
    r->commit = n;
    raft__tracef(r, RAFT_TRACE_DEBUG, "commit %llu", (unsigned long long)n);
    return true;
}

void raft__commit_to(struct raft *r, raft_index index)
{
    if (index <= r->commit)
        return;
    ASSERT(index <= raft__log_last_index(&r->log));
    r->commit = index;
}
