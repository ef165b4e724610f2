/* The Ready/Advance hand-off (include/raftkv/raft.h, struct raft_ready):
 * what the host must persist, send, apply and answer, and the bookkeeping
 * once it has. Also the read-only views of the core. */
#include <string.h>

#include "raft_int.h"

static struct raft_hard_state hard_state(const struct raft *r)
{
#ifdef RAFT_MUTATION_NO_PERSIST_VOTE
    return (struct raft_hard_state){r->term, 0, r->commit}; /* planted bug:
                                                the vote never reaches disk */
#else
    return (struct raft_hard_state){r->term, r->vote, r->commit};
#endif
}

static bool hs_equal(const struct raft_hard_state *a,
                     const struct raft_hard_state *b)
{
    return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

/* Entries may be applied once committed and durable here. */
static raft_index applicable_to(const struct raft *r)
{
    return r->commit < r->persisted ? r->commit : r->persisted;
}

/* Leader work deferred to the Ready boundary, so that every proposal and
 * read that arrived meanwhile shares one APPEND and one heartbeat round. */
static void flush(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    if (r->bcast_wanted) {
        r->bcast_wanted = false;
        (void)raft__bcast_append(r); /* ENOMEM: heartbeats retry */
    }
    if (r->read_round_wanted)
        (void)raft__read_round_start(r); /* ENOMEM: next heartbeat retries */
}

bool raft_has_ready(const struct raft *r)
{
    struct raft_hard_state hs = hard_state(r);
    if (r->ready_out)
        return false;
    return !hs_equal(&hs, &r->hs_handed) || r->out.n_msgs > 0 ||
           r->out.n_reads > 0 || r->out.has_chunk || r->out.install ||
           r->unstable <= raft__log_last_index(&r->log) ||
           applicable_to(r) > r->applied ||
           (r->role == RAFT_LEADER &&
            (r->bcast_wanted || r->read_round_wanted));
}

static int lend_entries(struct raft *r,
                        raft_index from,
                        raft_index to,
                        struct raft_entry **out,
                        size_t *n)
{
    size_t count = (size_t)(to - from + 1);
    struct raft_entry *es;
    *out = NULL;
    *n = 0;
    if (from > to)
        return 0;
    es = raft__malloc(r, count * sizeof *es);
    if (es == NULL)
        return RKV_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        const struct raft_entry *e = raft__log_get(&r->log, from + i);
        ASSERT(e != NULL);
        raft__entry_ref(e, &es[i]);
    }
    *out = es;
    *n = count;
    return 0;
}

bool raft_ready(struct raft *r, struct raft_ready *rd)
{
    struct raft__outbox swap;
    raft_index last = raft__log_last_index(&r->log);
    raft_index apply_to;
    ASSERT(!r->ready_out);
    memset(rd, 0, sizeof *rd);
    flush(r);
    if (!raft_has_ready(r))
        return false;
    /* On ENOMEM hand out nothing: the messages may acknowledge these
     * entries, which must be durable before they go. All stays pending. */
    if (lend_entries(r, r->unstable, last, &r->lent_entries,
                     &r->n_lent_entries) != 0)
        return false;
    if (r->n_lent_entries > 0)
        r->unstable = last + 1;
    apply_to = applicable_to(r);
    ASSERT(r->applied >= r->log.offset);
    if (lend_entries(r, r->applied + 1, apply_to, &r->lent_committed,
                     &r->n_lent_committed) == 0 &&
        r->n_lent_committed > 0)
        r->applying = apply_to;
    swap = r->lent;
    r->lent = r->out;
    r->out = swap;
    rd->hs = hard_state(r);
#ifdef RAFT_MUTATION_NO_PERSIST_VOTE
    rd->hs.vote = 0; /* planted bug: the vote never reaches the disk */
#endif
    rd->hs_changed = !hs_equal(&rd->hs, &r->hs_handed);
    rd->must_sync = r->n_lent_entries > 0 || rd->hs.term != r->hs_handed.term ||
                    rd->hs.vote != r->hs_handed.vote;
    r->hs_handed = rd->hs;
    rd->entries = r->lent_entries;
    rd->n_entries = r->n_lent_entries;
    rd->msgs = r->lent.msgs;
    rd->n_msgs = r->lent.n_msgs;
    rd->committed = r->lent_committed;
    rd->n_committed = r->n_lent_committed;
    rd->reads = r->lent.reads;
    rd->n_reads = r->lent.n_reads;
    rd->has_chunk = r->lent.has_chunk;
    rd->chunk_meta = r->lent.chunk_meta;
    rd->chunk_offset = r->lent.chunk_offset;
    rd->chunk = r->lent.chunk;
    rd->chunk_len = r->lent.chunk_len;
    rd->install = r->lent.install;
    rd->snapshot = r->lent.install_meta;
    if (rd->install && r->snap_conf.n > 0) {
        /* Nothing replaces the snapshot between its install and this Ready
         * (no chunk is taken while one waits), but one may come before
         * raft_advance(): lend a copy. */
        ASSERT(r->snap.index == rd->snapshot.index);
        r->lent_conf = r->snap_conf;
        rd->snapshot_conf = &r->lent_conf;
    }
    r->ready_out = true;
    return true;
}

void raft_advance(struct raft *r, const struct raft_ready *rd)
{
    ASSERT(r->ready_out);
    ASSERT(rd->entries == r->lent_entries);
    if (rd->n_entries > 0) {
        const struct raft_entry *e = &rd->entries[rd->n_entries - 1];
        /* §5.3 Log Matching: if our log still has this (index, term), every
         * entry up to it is the one just made durable. If a conflicting
         * leader truncated it meanwhile, the newer entries come in the next
         * Ready and count then. */
        if (raft__log_term(&r->log, e->index) == e->term &&
            e->index > r->persisted) {
            r->persisted = e->index;
            /* A lone voter commits (and answers reads) on this alone. */
            if (r->role == RAFT_LEADER && raft__maybe_commit(r))
                raft__leader_committed(r);
        }
    }
    if (rd->n_committed > 0) {
        ASSERT(r->applying == rd->committed[rd->n_committed - 1].index);
        ASSERT(r->applying <= r->commit);
        /* An installed snapshot may have moved applied past it already. */
        if (r->applying > r->applied)
            r->applied = r->applying;
    }
    raft__release_lent(r);
    r->ready_out = false;
}

bool raft_msg_may_precede_persist(int type)
{
    return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT ||
           type == RAFT_MSG_SNAPSHOT;
}

raft_id raft_id_of(const struct raft *r)
{
    return r->cfg.id;
}
enum raft_role raft_role_of(const struct raft *r)
{
    return r->role;
}
raft_term raft_term_of(const struct raft *r)
{
    return r->term;
}
raft_id raft_vote_of(const struct raft *r)
{
    return r->vote;
}
raft_id raft_leader_of(const struct raft *r)
{
    return r->leader;
}
raft_index raft_commit_index(const struct raft *r)
{
    return r->commit;
}
raft_index raft_applied_index(const struct raft *r)
{
    return r->applied;
}
raft_index raft_last_index(const struct raft *r)
{
    return raft__log_last_index(&r->log);
}
raft_index raft_first_index(const struct raft *r)
{
    return r->log.offset + 1;
}
raft_term raft_term_at(const struct raft *r, raft_index index)
{
    return index == 0 ? 0 : raft__log_term(&r->log, index);
}
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index)
{
    return raft__log_get(&r->log, index);
}

size_t raft_progress(const struct raft *r,
                     struct raft_progress_info *out,
                     size_t cap)
{
    size_t n = 0;
    if (r->role != RAFT_LEADER)
        return 0;
    for (size_t i = 0; i < r->n_prs && n < cap; i++) {
        const struct raft__progress *pr = &r->prs[i];
        out[n++] = (struct raft_progress_info){
            pr->id,    raft__progress_match(r, pr), pr->next,
            pr->state, pr->recent_active,           pr->voter};
    }
    return n;
}

const char *raft_role_name(enum raft_role role)
{
    switch (role) {
        case RAFT_FOLLOWER:
            return "follower";
        case RAFT_PRE_CANDIDATE:
            return "pre-candidate";
        case RAFT_CANDIDATE:
            return "candidate";
        case RAFT_LEADER:
            return "leader";
    }
    return "?";
}

const char *raft_msg_type_name(int type)
{
    static const char *const names[] = {
        "?",
        "append",
        "append-resp",
        "vote",
        "vote-resp",
        "prevote",
        "prevote-resp",
        "heartbeat",
        "heartbeat-resp",
        "propose",
        "read-index",
        "read-index-resp",
        "snapshot",
        "snapshot-resp",
        "timeout-now",
    };
    _Static_assert(sizeof names / sizeof names[0] == RAFT_MSG_TYPE_MAX + 1,
                   "one name per message type");
    if (type < 0 || type > RAFT_MSG_TYPE_MAX)
        return "?";
    return names[type];
}
