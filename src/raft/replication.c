/* Log replication (§5.3): the leader's APPENDs with batching and
 * pipelining, the follower's consistency check and conflict truncation,
 * fast backtracking of rejected APPENDs, and heartbeats. */
#include "raft_int.h"

/* Send `pr` the entries it lacks, as many as fit in max_msg_bytes (at
 * least one). Sends nothing if its flow is paused, or if there is nothing
 * to send unless `send_if_empty` (an empty APPEND carries the commit index
 * and probes the follower's log end). */
int raft__send_append(struct raft *r,
                      struct raft__progress *pr,
                      bool send_if_empty)
{
    raft_index last = raft__log_last_index(&r->log);
    raft_index prev;
    size_t n = 0, bytes = 0;
    struct raft_entry *es = NULL;
    struct raft_msg m = {.type = RAFT_MSG_APPEND, .to = pr->id};
    int rv;
    ASSERT(r->role == RAFT_LEADER);
    ASSERT(pr->id != r->cfg.id);
    /* §7: entries it needs were compacted away: send the snapshot. */
    if (pr->state == RAFT_PROGRESS_SNAPSHOT || pr->next <= r->log.offset)
        return raft__send_snapshot(r, pr);
    if (raft__progress_is_paused(r, pr))
        return 0;
    ASSERT(pr->next >= 1);
    prev = pr->next - 1;
    ASSERT(prev >= r->log.offset);
    ASSERT(prev <= last);
    while (prev + n < last) {
        const struct raft_entry *e = raft__log_get(&r->log, prev + n + 1);
        if (n > 0 && bytes + e->len > r->cfg.max_msg_bytes)
            break;
        bytes += e->len;
        n++;
    }
    if (n == 0 && !send_if_empty)
        return 0;
    if (n > 0) {
        es = raft__malloc(r, n * sizeof *es);
        if (es == NULL)
            return RKV_ENOMEM;
        for (size_t i = 0; i < n; i++)
            raft__entry_ref(raft__log_get(&r->log, prev + 1 + i), &es[i]);
    }
    m.index = prev;
    m.log_term = raft__log_term(&r->log, prev);
    m.commit = r->commit;
    m.entries = es;
    m.n_entries = n;
    rv = raft__send(r, &m);
    if (rv != 0) {
        for (size_t i = 0; i < n; i++)
            raft__entry_unref(r, &es[i]);
        raft__free(r, es);
        return rv;
    }
    raft__progress_sent(r, pr, prev + n);
    /* It may commit up to the end of what it accepts from us. */
    if (m.commit > prev + n)
        m.commit = prev + n;
    if (m.commit > pr->sent_commit)
        pr->sent_commit = m.commit;
    return 0;
}

int raft__bcast_append(struct raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++) {
        if (r->prs[i].id == r->cfg.id)
            continue;
        int rv = raft__send_append(r, &r->prs[i], true);
        if (rv != 0)
            return rv;
    }
    return 0;
}

int raft__bcast_heartbeat(struct raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft__progress *pr = &r->prs[i];
        if (pr->id == r->cfg.id)
            continue;
        /* Never tell a follower to commit past what it is known to store:
         * its log beyond match may still hold another leader's entries. */
        struct raft_msg m = {
            .type = RAFT_MSG_HEARTBEAT,
            .to = pr->id,
            .commit = pr->match < r->commit ? pr->match : r->commit,
            .context = r->read_round,
        };
        int rv = raft__send(r, &m);
        if (rv != 0)
            return rv;
        if (m.commit > pr->sent_commit)
            pr->sent_commit = m.commit;
    }
    return 0;
}

int raft__append_local(struct raft *r,
                       uint8_t type,
                       const uint8_t *data,
                       uint32_t len,
                       raft_index *index)
{
    struct raft_entry e = {
        .term = r->term,
        .index = raft__log_last_index(&r->log) + 1,
        .type = type,
        .len = len,
        .data = data,
    };
    int rv;
    ASSERT(r->role == RAFT_LEADER);
    rv = raft__log_append_copy(r, &r->log, &e);
    if (rv != 0)
        return rv;
    if (type == RAFT_ENTRY_CONF)
        raft__conf_log_changed(r, e.index); /* in force once appended */
    if (index != NULL)
        *index = e.index;
    /* Sent out at the next Ready, batched with whatever else arrives. */
    r->bcast_wanted = true;
    return 0;
}

/* Drop our entries from `from` on: they conflict with the leader's. */
static void truncate_from(struct raft *r, raft_index from)
{
    /* §5.4: committed entries are never overwritten. */
    ASSERT(from > r->commit);
    raft__log_truncate(r, &r->log, from);
    if (r->unstable > from)
        r->unstable = from;
    if (r->persisted >= from)
        r->persisted = from - 1;
}

/* Figure 2, AppendEntries receiver steps 3-4: find the first entry that is
 * new or conflicting, truncate there, append the rest. A configuration
 * entry takes effect as soon as it is in the log, and stops as soon as it
 * is truncated from it (thesis §4.1). */
static int append_new_entries(struct raft *r, const struct raft_msg *m)
{
    size_t i = 0;
    raft_index changed = 0; /* first index truncated or appended */
    bool conf_touched = false;
    int rv = 0;
    for (; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index > raft__log_last_index(&r->log))
            break;
        if (raft__log_term(&r->log, e->index) != e->term) {
#ifdef RAFT_MUTATION_NO_TRUNCATE
            (void)truncate_from;
            continue; /* planted bug: keep our conflicting entry */
#else
            truncate_from(r, e->index);
            conf_touched = r->conf_index >= e->index;
            break;
#endif
        }
    }
    if (i < m->n_entries)
        changed = m->entries[i].index;
    for (; i < m->n_entries && rv == 0; i++) {
        rv = raft__log_append_copy(r, &r->log, &m->entries[i]);
        if (rv == 0 && m->entries[i].type == RAFT_ENTRY_CONF)
            conf_touched = true;
    }
    /* On ENOMEM what was appended stays, and is in force. */
    if (conf_touched)
        raft__conf_log_changed(r, changed);
    return rv;
}

int raft__handle_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from};
    raft_index last = raft__log_last_index(&r->log);
    ASSERT(r->role == RAFT_FOLLOWER);
    ASSERT(m->term == r->term);
    if (m->index < r->commit) {
        /* Everything up to our commit index matches any leader's log. */
        resp.index = r->commit;
        return raft__send(r, &resp);
    }
    /* Figure 2, step 2: reply false if the log has no entry at prevLogIndex
     * whose term matches prevLogTerm. */
    if (m->index <= last && raft__log_term(&r->log, m->index) == m->log_term) {
        raft_index last_new = m->index + m->n_entries;
        int rv = append_new_entries(r, m);
        if (rv != 0)
            return rv;
        /* Step 5: commitIndex = min(leaderCommit, index of last new entry). */
        raft__commit_to(r, m->commit < last_new ? m->commit : last_new);
        resp.index = last_new;
        return raft__send(r, &resp);
    }
    /* Fast backtracking: skip, in one round trip, every entry of ours whose
     * term is above prevLogTerm; such entries cannot match. */
    resp.reject = true;
    resp.index = m->index;
    resp.hint_index = raft__log_find_conflict_by_term(
        &r->log, m->index < last ? m->index : last, m->log_term);
    resp.hint_term = raft__log_term(&r->log, resp.hint_index);
    raft__tracef(r, RAFT_TRACE_DEBUG, "reject append prev=%llu hint=%llu/%llu",
                 (unsigned long long)m->index,
                 (unsigned long long)resp.hint_index,
                 (unsigned long long)resp.hint_term);
    return raft__send(r, &resp);
}

/* Send `pr` as much as its flow control allows. */
static int send_more(struct raft *r, struct raft__progress *pr)
{
    raft_index last = raft__log_last_index(&r->log);
    while (pr->next <= last && !raft__progress_is_paused(r, pr)) {
        raft_index before = pr->next;
        int rv = raft__send_append(r, pr, false);
        if (rv != 0)
            return rv;
        if (pr->state != RAFT_PROGRESS_REPLICATE || pr->next == before)
            break;
    }
    return 0;
}

int raft__handle_append_response(struct raft *r, const struct raft_msg *m)
{
    struct raft__progress *pr = raft__progress_of(r, m->from);
    int rv;
    ASSERT(pr != NULL);
    pr->recent_active = true;
    if (m->index > raft__log_last_index(&r->log))
        return RKV_EPROTO; /* we never sent such an index in this term */
    if (m->reject) {
        /* The leader-side half of fast backtracking: the follower has
         * hint_term at hint_index; our last entry of a term <= hint_term at
         * or before it is the next candidate match. */
        raft_index probe = m->hint_index;
        if (m->hint_term > 0)
            probe = raft__log_find_conflict_by_term(&r->log, m->hint_index,
                                                    m->hint_term);
        if (raft__progress_maybe_decr(pr, m->index, probe))
            return raft__send_append(r, pr, true);
        return 0;
    }
    if (!raft__progress_maybe_update(pr, m->index))
        return 0;
    if (pr->state == RAFT_PROGRESS_SNAPSHOT)
        raft__progress_become_probe(pr); /* it caught up another way */
    else if (pr->state == RAFT_PROGRESS_PROBE)
        raft__progress_become_replicate(pr);
    else
        raft__inflight_free_to(r, pr, m->index);
    if (raft__maybe_commit(r)) {
        raft__leader_committed(r);
        if (r->role != RAFT_LEADER)
            return 0; /* it removed itself (thesis §4.2.2) */
    }
    rv = raft__transfer_maybe_send(r, pr);
    if (rv != 0)
        return rv;
    rv = send_more(r, pr);
    if (rv != 0)
        return rv;
    /* A follower that was paused when the commit index moved missed the
     * APPEND that carried it: tell it now, not at the next heartbeat. */
    if (pr->sent_commit < r->commit && pr->sent_commit < pr->match)
        return raft__send_append(r, pr, true);
    return 0;
}

int raft__handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp = {
        .type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .context = m->context};
    raft_index last = raft__log_last_index(&r->log);
    ASSERT(r->role == RAFT_FOLLOWER);
    raft__commit_to(r, m->commit < last ? m->commit : last);
    return raft__send(r, &resp);
}

int raft__handle_heartbeat_response(struct raft *r, const struct raft_msg *m)
{
    struct raft__progress *pr = raft__progress_of(r, m->from);
    int rv;
    ASSERT(pr != NULL);
    pr->recent_active = true;
    pr->paused = false;
    if (pr->state == RAFT_PROGRESS_REPLICATE && raft__progress_is_paused(r, pr))
        raft__inflight_free_first(r, pr);
    if (m->context > pr->read_ack)
        pr->read_ack = m->context;
    if (pr->match < raft__log_last_index(&r->log)) {
        rv = raft__send_append(r, pr, true);
        if (rv != 0)
            return rv;
    }
    rv = raft__transfer_maybe_send(r, pr);
    if (rv != 0)
        return rv;
    return raft__read_acked(r);
}
