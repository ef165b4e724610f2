/* The leader's per-follower replication state machine, after etcd-raft's
 * Progress: PROBE sends one APPEND at a time until the follower's match is
 * found; REPLICATE streams APPENDs optimistically, at most max_inflight of
 * them unacknowledged (a ring of their last indexes). */
#include <string.h>

#include "raft_int.h"

/* A new member, probed from `next`. Counted active, so that CheckQuorum
 * gives it a whole election timeout to answer. */
void raft__progress_init(struct raft__progress *pr,
                         raft_id id,
                         bool voter,
                         raft_index next,
                         raft_index *ring)
{
    const struct raft *r = NULL; /* for ASSERT */
    ASSERT(id != 0);
    ASSERT(ring != NULL);
    memset(pr, 0, sizeof *pr);
    pr->id = id;
    pr->voter = voter;
    pr->next = next;
    pr->state = RAFT_PROGRESS_PROBE;
    pr->recent_active = true;
    pr->inflight = ring;
}

raft_index raft__progress_match(const struct raft *r,
                                const struct raft__progress *pr)
{
    return pr->id == r->cfg.id ? r->persisted : pr->match;
}

void raft__progress_reset(struct raft__progress *pr, raft_index next)
{
    pr->match = 0;
    pr->sent_commit = 0;
    pr->next = next;
    pr->state = RAFT_PROGRESS_PROBE;
    pr->paused = false;
    pr->in_start = pr->in_count = 0;
}

void raft__progress_become_probe(struct raft__progress *pr)
{
    pr->state = RAFT_PROGRESS_PROBE;
    pr->paused = false;
    pr->next = pr->match + 1;
    pr->in_start = pr->in_count = 0;
}

void raft__progress_become_replicate(struct raft__progress *pr)
{
    pr->state = RAFT_PROGRESS_REPLICATE;
    pr->paused = false;
    pr->next = pr->match + 1;
    pr->in_start = pr->in_count = 0;
}

/* A follower acknowledged up to `n`. Returns true if that is news. */
bool raft__progress_maybe_update(struct raft__progress *pr, raft_index n)
{
    bool updated = false;
    if (pr->match < n) {
        pr->match = n;
        updated = true;
        pr->paused = false;
    }
    if (pr->next < n + 1)
        pr->next = n + 1;
    return updated;
}

/* A follower rejected an APPEND whose previous index was `rejected`, and
 * hinted that its log may match ours up to `match_hint`. Returns false if
 * the rejection is stale (an answer to an older APPEND). */
bool raft__progress_maybe_decr(struct raft__progress *pr,
                               raft_index rejected,
                               raft_index match_hint)
{
    if (pr->state == RAFT_PROGRESS_REPLICATE) {
        if (rejected <= pr->match)
            return false;
        raft__progress_become_probe(pr);
        return true;
    }
    if (pr->next == 0 || pr->next - 1 != rejected)
        return false;
    /* Jump back to just after the hint, never below what is known stored. */
    pr->next = match_hint + 1 < rejected ? match_hint + 1 : rejected;
    if (pr->next < pr->match + 1)
        pr->next = pr->match + 1;
    pr->paused = false;
    return true;
}

bool raft__progress_is_paused(const struct raft *r,
                              const struct raft__progress *pr)
{
    switch (pr->state) {
        case RAFT_PROGRESS_PROBE:
            return pr->paused;
        case RAFT_PROGRESS_REPLICATE:
            return pr->in_count >= r->cfg.max_inflight;
        default:
            return pr->paused;
    }
}

/* An APPEND ending at `last` went out. */
void raft__progress_sent(const struct raft *r,
                         struct raft__progress *pr,
                         raft_index last)
{
    if (pr->state == RAFT_PROGRESS_PROBE) {
        pr->paused = true;
        return;
    }
    ASSERT(pr->state == RAFT_PROGRESS_REPLICATE);
    ASSERT(pr->in_count < r->cfg.max_inflight);
    if (last >= pr->next) {
        pr->inflight[(pr->in_start + pr->in_count) % r->cfg.max_inflight] =
            last;
        pr->in_count++;
        pr->next = last + 1;
    }
}

/* Acknowledgements free every in-flight APPEND ending at or before
 * `index`; the ring is in sending order, so indexes ascend from in_start. */
void raft__inflight_free_to(const struct raft *r,
                            struct raft__progress *pr,
                            raft_index index)
{
    unsigned cap = r->cfg.max_inflight;
    while (pr->in_count > 0 && pr->inflight[pr->in_start] <= index) {
        pr->in_start = (pr->in_start + 1) % cap;
        pr->in_count--;
    }
}

/* A heartbeat answer proves the follower alive: let one more APPEND go so a
 * full window whose answers were lost cannot stall replication forever. */
void raft__inflight_free_first(const struct raft *r, struct raft__progress *pr)
{
    if (pr->in_count > 0) {
        pr->in_start = (pr->in_start + 1) % r->cfg.max_inflight;
        pr->in_count--;
    }
}
