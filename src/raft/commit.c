/* The commit rule (§5.3, §5.4.2): an entry is committed once a majority of
 * voters store it AND it belongs to the leader's current term; earlier
 * terms' entries are committed only indirectly (Figure 8). The voters are
 * those of the configuration in force, the latest in the log (thesis
 * §4.1), which need not include the leader (§4.2.2). */
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
    size_t voters = 0;
    raft_index n;
    ASSERT(r->role == RAFT_LEADER);
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].voter) /* our own: what we have persisted */
            match[voters++] = raft__progress_match(r, &r->prs[i]);
    n = raft__quorum_value(match, voters, voters / 2 + 1);
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

void raft__leader_committed(struct raft *r)
{
    ASSERT(r->role == RAFT_LEADER);
    ASSERT(r->commit <= raft__log_last_index(&r->log));
    r->bcast_wanted = true;
    (void)raft__read_acked(r); /* ENOMEM: reads stay queued */
    /* §4.2.2: a leader that is not part of its new configuration manages
     * the cluster until that configuration is committed, then steps down.
     * It first tells the others the commit index. */
    if (!raft__is_voter(r, r->cfg.id) && r->commit >= r->conf_index) {
        (void)raft__bcast_append(r); /* ENOMEM: they learn it later */
        raft__tracef(r, RAFT_TRACE_INFO,
                     "configuration without us committed, stepping down");
        raft__become_follower(r, r->term, 0);
    }
}
