/* The simulator's invariant checks (Raft paper, Figure 3), run after every
 * event. Global registries make each check cost O(changed entries):
 *   - Log Matching: (index, term) -> (term at index-1, hash of type+data);
 *     every entry any node holds must agree with the first one seen;
 *   - committed: index -> (term, hash, term it was committed in), filled as
 *     nodes' commit indexes cover it;
 *   - term -> leader, for Election Safety.
 * Leader Append-Only, Leader Completeness and State Machine Safety are
 * checked against those; read linearizability is in sim_client.c.
 *
 * A node may hold, and even write, an entry that differs from a committed
 * one at the same index, as long as its own commit index does not cover it
 * (a deposed leader that has not heard of its successor yet). So entries
 * are compared with the committed registry only below the node's commit
 * index, and a new leader of term T only for entries committed in a term
 * below T (§5.4: "present in the logs of the leaders for all
 * higher-numbered terms").
 *
 * Entries a node's snapshot covers (below raft_first_index()) count as
 * present and committed: the snapshot's last entry must be the committed
 * one, and a state machine restored from a snapshot must equal, index by
 * index, what was committed (sim_check_restored). */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sim_check_init(struct sim_check *c)
{
    memset(c, 0, sizeof *c);
}

void sim_check_close(struct sim_check *c)
{
    for (size_t i = 0; i < c->cap; i++)
        free(c->logs[i].v);
    free(c->logs);
    free(c->committed);
    free(c->term_leader);
    sim_check_init(c);
}

uint64_t sim_entry_hash(const struct raft_entry *e)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a 64 */
    h = (h ^ e->type) * 1099511628211ull;
    for (uint32_t i = 0; i < e->len; i++)
        h = (h ^ e->data[i]) * 1099511628211ull;
    return h;
}

static void ensure_index(struct sim_check *c, raft_index index)
{
    size_t cap = c->cap;
    if (index < cap)
        return;
    while (cap <= index)
        cap = cap == 0 ? 1024 : cap * 2;
    c->logs = sim_xrealloc(c->logs, cap * sizeof *c->logs);
    c->committed = sim_xrealloc(c->committed, cap * sizeof *c->committed);
    memset(c->logs + c->cap, 0, (cap - c->cap) * sizeof *c->logs);
    memset(c->committed + c->cap, 0, (cap - c->cap) * sizeof *c->committed);
    c->cap = cap;
}

/* Log Matching: an entry with this (index, term) was seen before with the
 * same predecessor term and the same content, or is recorded now. */
static void check_log_entry(struct sim *s,
                            unsigned node,
                            const struct raft_entry *e,
                            raft_term prev_term)
{
    struct sim_check *c = &s->chk;
    struct sim_reg_slot *slot;
    uint64_t hash = sim_entry_hash(e);
    ensure_index(c, e->index);
    slot = &c->logs[e->index];
    for (uint32_t i = 0; i < slot->n; i++) {
        const struct sim_reg_entry *r = &slot->v[i];
        if (r->term != e->term)
            continue;
        if (r->prev_term != prev_term || r->hash != hash)
            sim_violation(
                s, "Log Matching",
                "n%u index %llu term %llu: prev_term %llu hash "
                "%016llx, another log has prev_term %llu hash "
                "%016llx",
                node + 1, (unsigned long long)e->index,
                (unsigned long long)e->term, (unsigned long long)prev_term,
                (unsigned long long)hash, (unsigned long long)r->prev_term,
                (unsigned long long)r->hash);
        return;
    }
    if (slot->n == slot->cap) {
        slot->cap = slot->cap == 0 ? 2 : slot->cap * 2;
        slot->v = sim_xrealloc(slot->v, slot->cap * sizeof *slot->v);
    }
    slot->v[slot->n++] = (struct sim_reg_entry){e->term, prev_term, hash};
}

/* The entry a node holds at a committed index equals the committed one. */
static void check_committed(struct sim *s,
                            unsigned node,
                            const struct raft_entry *e,
                            const char *invariant,
                            const char *what)
{
    const struct sim_commit *r = &s->chk.committed[e->index];
    if (r->term == e->term && r->hash == sim_entry_hash(e))
        return;
    sim_violation(s, invariant,
                  "n%u %s index %llu term %llu, but term %llu was committed "
                  "there%s",
                  node + 1, what, (unsigned long long)e->index,
                  (unsigned long long)e->term, (unsigned long long)r->term,
                  r->term == e->term ? " with other content" : "");
}

/* Index `i`, below the node's first index, is covered by its snapshot:
 * whatever the snapshot holds was committed, ending with the very entry
 * committed at the snapshot's index. Returns false on a violation. */
static bool check_covered(struct sim *s, unsigned node, raft_index i)
{
    struct raft_snapshot_meta snap = raft_snapshot_of(s->nodes[node].core);
    if (i <= s->chk.committed_max &&
        (i != snap.index || s->chk.committed[i].term == snap.term))
        return true;
    sim_violation(s, "State Machine Safety",
                  "n%u's snapshot %llu/%llu covers index %llu, but %s",
                  node + 1, (unsigned long long)snap.index,
                  (unsigned long long)snap.term, (unsigned long long)i,
                  i > s->chk.committed_max ? "it was never committed"
                                           : "another term was committed");
    return false;
}

/* The node's commit index moved from chk.commit_seen to `commit`; `term`
 * is its current term. */
static void check_commit(struct sim *s,
                         unsigned node,
                         raft_index commit,
                         raft_term term)
{
    struct sim_node *n = &s->nodes[node];
    struct sim_check *c = &s->chk;
    if (commit < n->chk.commit_seen) {
        sim_violation(s, "Commit Monotonic", "n%u commit %llu -> %llu",
                      node + 1, (unsigned long long)n->chk.commit_seen,
                      (unsigned long long)commit);
        return;
    }
    for (raft_index i = n->chk.commit_seen + 1; i <= commit; i++) {
        const struct raft_entry *e = raft_entry_at(n->core, i);
        if (e == NULL && i < raft_first_index(n->core)) {
            if (!check_covered(s, node, i))
                return;
            if (term < c->committed[i].in_term)
                c->committed[i].in_term = term;
            continue;
        }
        if (e == NULL) {
            sim_violation(s, "Commit Index", "n%u commit %llu past its log",
                          node + 1, (unsigned long long)commit);
            return;
        }
        if (i <= c->committed_max) {
            check_committed(s, node, e, "State Machine Safety", "commits");
            if (term < c->committed[i].in_term)
                c->committed[i].in_term = term;
            continue;
        }
        ensure_index(c, i);
        c->committed[i] = (struct sim_commit){e->term, sim_entry_hash(e), term};
        if (e->type == RAFT_ENTRY_CONF)
            s->stats.changes++;
        c->committed_max = i;
    }
    n->chk.commit_seen = commit;
    s->stats.commits = c->committed_max;
}

/* A node just became leader of its term. */
static void check_new_leader(struct sim *s, unsigned node, raft_term term)
{
    struct sim_check *c = &s->chk;
    struct sim_node *n = &s->nodes[node];
    if (term >= c->cap_terms) {
        size_t cap = c->cap_terms == 0 ? 64 : c->cap_terms;
        while (cap <= term)
            cap *= 2;
        c->term_leader =
            sim_xrealloc(c->term_leader, cap * sizeof *c->term_leader);
        memset(c->term_leader + c->cap_terms, 0,
               (cap - c->cap_terms) * sizeof *c->term_leader);
        c->cap_terms = cap;
    }
    if (c->term_leader[term] != 0 && c->term_leader[term] != n->id) {
        sim_violation(s, "Election Safety", "n%u and n%llu both lead term %llu",
                      node + 1, (unsigned long long)c->term_leader[term],
                      (unsigned long long)term);
        return;
    }
    if (c->term_leader[term] == 0)
        s->stats.elections++;
    c->term_leader[term] = n->id;
    /* §5.4: the leader of a term holds every entry committed in a lower
     * term. */
    for (raft_index i = raft_first_index(n->core); i <= c->committed_max; i++) {
        const struct raft_entry *e = raft_entry_at(n->core, i);
        if (c->committed[i].in_term >= term)
            continue;
        if (e == NULL) {
            sim_violation(s, "Leader Completeness",
                          "n%u leads term %llu without committed index %llu",
                          node + 1, (unsigned long long)term,
                          (unsigned long long)i);
            return;
        }
        check_committed(s, node, e, "Leader Completeness", "leads with");
    }
    sim_check_log(s, node);
}

/* Leader Append-Only: what the leader held at the last check is intact
 * (or compacted into its snapshot since). */
static void check_append_only(struct sim *s, unsigned node)
{
    struct sim_node *n = &s->nodes[node];
    raft_index last = raft_last_index(n->core);
    raft_term t = n->chk.lead_last + 1 < raft_first_index(n->core)
                      ? n->chk.lead_last_term
                      : raft_term_at(n->core, n->chk.lead_last);
    if (last < n->chk.lead_last || t != n->chk.lead_last_term)
        sim_violation(s, "Leader Append-Only",
                      "n%u leader of term %llu: last %llu (term %llu) became "
                      "last %llu, term %llu at %llu",
                      node + 1, (unsigned long long)n->chk.lead_term,
                      (unsigned long long)n->chk.lead_last,
                      (unsigned long long)n->chk.lead_last_term,
                      (unsigned long long)last, (unsigned long long)t,
                      (unsigned long long)n->chk.lead_last);
}

static void check_node(struct sim *s, unsigned node, struct sim_moments *mo)
{
    struct sim_node *n = &s->nodes[node];
    struct raft *r = n->core;
    raft_index last = raft_last_index(r);
    raft_index commit_before = n->chk.commit_seen;
    raft_term term = raft_term_of(r);
    if (last >= raft_first_index(r))
        check_log_entry(s, node, raft_entry_at(r, last),
                        raft_term_at(r, last - 1));
    check_commit(s, node, raft_commit_index(r), term);
    if (raft_role_of(r) != RAFT_LEADER) {
        n->chk.was_leader = false;
        return;
    }
    if (!n->chk.was_leader || n->chk.lead_term != term) {
        check_new_leader(s, node, term);
        mo->elected |= 1u << node;
        n->chk.lead_committed = false;
    } else {
        check_append_only(s, node);
    }
    if (!n->chk.lead_committed && n->chk.commit_seen > commit_before) {
        mo->first_commit |= 1u << node;
        n->chk.lead_committed = true;
    }
    n->chk.was_leader = true;
    n->chk.lead_term = term;
    n->chk.lead_last = last;
    n->chk.lead_last_term = raft_term_at(r, last);
}

void sim_check_step(struct sim *s, struct sim_moments *mo)
{
    memset(mo, 0, sizeof *mo);
    for (unsigned i = 0; i < s->n_slots; i++)
        if (s->nodes[i].core != NULL)
            check_node(s, i, mo);
}

void sim_check_ready(struct sim *s, unsigned node, const struct raft_ready *rd)
{
    const struct sim_node *n = &s->nodes[node];
    for (size_t i = 0; i < rd->n_entries; i++) {
        const struct raft_entry *e = &rd->entries[i];
        raft_term prev = i > 0 ? rd->entries[i - 1].term
                               : raft_term_at(n->core, e->index - 1);
        check_log_entry(s, node, e, prev);
        /* Its commit index covered this index: the entry is settled. */
        if (e->index <= n->chk.commit_seen)
            check_committed(s, node, e, "Committed Entry Overwritten",
                            "persists over its committed");
    }
}

void sim_check_apply(struct sim *s, unsigned node, const struct raft_entry *e)
{
    struct sim_node *n = &s->nodes[node];
    if (e->index != n->applied + 1) {
        sim_violation(s, "State Machine Safety",
                      "n%u applies index %llu after %llu", node + 1,
                      (unsigned long long)e->index,
                      (unsigned long long)n->applied);
        return;
    }
    if (e->index > s->chk.committed_max) {
        sim_violation(s, "State Machine Safety",
                      "n%u applies index %llu, never committed", node + 1,
                      (unsigned long long)e->index);
        return;
    }
    check_committed(s, node, e, "State Machine Safety", "applies");
}

void sim_check_log(struct sim *s, unsigned node)
{
    struct raft *r = s->nodes[node].core;
    raft_index last = raft_last_index(r);
    raft_index commit = raft_commit_index(r);
    for (raft_index i = raft_first_index(r); i <= last; i++) {
        const struct raft_entry *e = raft_entry_at(r, i);
        check_log_entry(s, node, e, raft_term_at(r, i - 1));
        if (i <= commit && i <= s->chk.committed_max)
            check_committed(s, node, e, "State Machine Safety", "holds");
    }
}

void sim_check_restored(struct sim *s,
                        unsigned node,
                        const struct raft_snapshot_meta *meta,
                        const char *how)
{
    const struct sim_node *n = &s->nodes[node];
    const struct sim_check *c = &s->chk;
    if (meta->index > c->committed_max ||
        c->committed[meta->index].term != meta->term) {
        sim_violation(s, "State Machine Safety",
                      "n%u %s snapshot %llu/%llu, but %s", node + 1, how,
                      (unsigned long long)meta->index,
                      (unsigned long long)meta->term,
                      meta->index > c->committed_max
                          ? "its index was never committed"
                          : "another term was committed there");
        return;
    }
    for (raft_index i = 1; i <= meta->index; i++)
        if (n->sm[i] != c->committed[i].hash) {
            sim_violation(s, "State Machine Safety",
                          "n%u %s snapshot %llu/%llu, whose index %llu "
                          "holds other content than was committed",
                          node + 1, how, (unsigned long long)meta->index,
                          (unsigned long long)meta->term,
                          (unsigned long long)i);
            return;
        }
}
