/* Leadership transfer (Ongaro's thesis §3.10): the leader stops taking new
 * work, brings the target's log up to date, and tells it to campaign at
 * once (RAFT_MSG_TIMEOUT_NOW); the target's vote requests carry
 * RAFT_CONTEXT_TRANSFER, so voters grant them within the leader lease. A
 * transfer that has not completed within an election timeout is given up,
 * and the leader takes proposals again. */
#include "raft_int.h"

int raft_transfer_leader(struct raft *r, raft_id target)
{
    struct raft__progress *pr;
    int rv;
    if (r->role != RAFT_LEADER)
        return RKV_ENOTLEADER;
    if (target == r->cfg.id || !raft__is_voter(r, target))
        return RKV_EINVAL;
    if (r->transfer_target != 0)
        return RKV_EBUSY;
    pr = raft__progress_of(r, target);
    ASSERT(pr != NULL);
    r->transfer_target = target;
    r->transfer_elapsed = 0;
    raft__tracef(r, RAFT_TRACE_INFO, "transferring leadership to %llu",
                 (unsigned long long)target);
    rv = raft__transfer_maybe_send(r, pr);
    if (rv == 0 && raft__progress_match(r, pr) < raft__log_last_index(&r->log))
        rv = raft__send_append(r, pr, true); /* catch it up first */
    if (rv != 0)
        r->transfer_target = 0;
    return rv;
}

raft_id raft_transfer_target(const struct raft *r)
{
    return r->transfer_target;
}

void raft__transfer_tick(struct raft *r)
{
    ASSERT(r->role == RAFT_LEADER);
    if (r->transfer_target == 0)
        return;
    r->transfer_elapsed++;
    if (r->transfer_elapsed >= r->cfg.election_ticks) {
        raft__tracef(r, RAFT_TRACE_INFO,
                     "leadership transfer to %llu timed out",
                     (unsigned long long)r->transfer_target);
        r->transfer_target = 0;
    }
}

/* Sent each time the target is heard from with our whole log, so that a
 * lost TIMEOUT_NOW is repeated; once the target campaigns, the copies of
 * our (older) term are ignored. */
int raft__transfer_maybe_send(struct raft *r, const struct raft__progress *pr)
{
    struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = pr->id};
    ASSERT(r->role == RAFT_LEADER);
    if (pr->id != r->transfer_target ||
        raft__progress_match(r, pr) < raft__log_last_index(&r->log))
        return 0;
    ASSERT(pr->voter);
    return raft__send(r, &m);
}

int raft__handle_timeout_now(struct raft *r, const struct raft_msg *m)
{
    ASSERT(r->role == RAFT_FOLLOWER);
    ASSERT(m->term == r->term);
    /* Only a voter can be elected; a stale leader's request is moot. */
    if (!raft__is_voter(r, r->cfg.id))
        return 0;
    raft__tracef(r, RAFT_TRACE_INFO, "asked by %llu to take over",
                 (unsigned long long)m->from);
    return raft__campaign(r, false, true); /* §3.10: no PreVote round */
}
