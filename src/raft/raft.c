/* The core's entry points: creation, the term rules shared by every role
 * (§5.1), dispatch of messages to the role that handles them, and the
 * Ready/Advance hand-off to the host (include/raftkv/raft.h). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

static void *libc_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}
static void *libc_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    return realloc(p, size);
}
static void libc_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

void *raft__malloc(struct raft *r, size_t size)
{
    return r->alloc.malloc(r->alloc.ctx, size);
}
void *raft__realloc(struct raft *r, void *p, size_t size)
{
    return r->alloc.realloc(r->alloc.ctx, p, size);
}
void raft__free(struct raft *r, void *p)
{
    r->alloc.free(r->alloc.ctx, p);
}

void raft__tracef(const struct raft *r, int level, const char *fmt, ...)
{
    char line[512];
    int n;
    va_list ap;
    if (r->cfg.trace == NULL || level < r->cfg.trace_level)
        return;
    n = snprintf(line, sizeof line, "node=%llu term=%llu role=%s ",
                 (unsigned long long)r->cfg.id, (unsigned long long)r->term,
                 raft_role_name(r->role));
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap); /* cut */
    va_end(ap);
    r->cfg.trace(r->cfg.trace_ctx, level, line);
}

void raft_config_default(struct raft_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->election_ticks = 15;
    cfg->heartbeat_ticks = 5;
    cfg->pre_vote = true;
    cfg->check_quorum = true;
    cfg->max_msg_bytes = 1u << 20;
    cfg->max_inflight = 256;
    cfg->trace_level = RAFT_TRACE_INFO;
}

static int check_config(const struct raft_config *cfg)
{
    bool self = false;
    /* A joining node learns its configuration from the leader. */
    if (cfg->id == 0 || cfg->join != (cfg->n_voters == 0) ||
        cfg->n_voters > RAFT_MAX_NODES)
        return RKV_EINVAL;
    if (cfg->election_ticks < 2 || cfg->heartbeat_ticks == 0 ||
        cfg->heartbeat_ticks >= cfg->election_ticks || cfg->max_inflight == 0 ||
        cfg->max_msg_bytes == 0)
        return RKV_EINVAL;
    for (size_t i = 0; i < cfg->n_voters; i++) {
        if (cfg->voters[i] == 0)
            return RKV_EINVAL;
        if (cfg->voters[i] == cfg->id)
            self = true;
        for (size_t j = 0; j < i; j++)
            if (cfg->voters[j] == cfg->voters[i])
                return RKV_EINVAL;
    }
    return self || cfg->join ? 0 : RKV_EINVAL;
}

/* The rings of raft_new() fit in a size_t whatever max_inflight is. */
_Static_assert(SIZE_MAX / RAFT_MAX_NODES / sizeof(raft_index) >= UINT_MAX,
               "inflight pool size cannot overflow");

int raft_new(const struct raft_config *cfg, struct raft **out)
{
    static const struct rkv_alloc libc = {NULL, libc_malloc, libc_realloc,
                                          libc_free};
    const struct rkv_alloc *a = cfg->alloc != NULL ? cfg->alloc : &libc;
    struct raft *r;
    int rv = check_config(cfg);
    if (rv != 0)
        return rv;
    r = a->malloc(a->ctx, sizeof *r);
    if (r == NULL)
        return RKV_ENOMEM;
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->alloc = *a;
    r->rng = cfg->seed;
    r->role = RAFT_FOLLOWER;
    r->unstable = 1;
    raft__log_init(&r->log);
    /* Rings for as many members as a configuration may hold, so that a
     * configuration change never needs memory. */
    r->inflight_pool = raft__malloc(
        r, RAFT_MAX_NODES * (size_t)cfg->max_inflight * sizeof(raft_index));
    if (r->inflight_pool == NULL) {
        raft_free(r);
        return RKV_ENOMEM;
    }
    raft__conf_init(r);
    raft__reset_election_timer(r);
    *out = r;
    return 0;
}

static void outbox_clear(struct raft *r, struct raft__outbox *o)
{
    for (size_t i = 0; i < o->n_msgs; i++) {
        struct raft_msg *m = &o->msgs[i];
        struct raft_entry *es = (struct raft_entry *)(uintptr_t)m->entries;
        for (size_t j = 0; j < m->n_entries; j++)
            raft__entry_unref(r, &es[j]);
        raft__free(r, es);
    }
    o->n_msgs = 0;
    o->n_reads = 0;
    raft__free(r, o->chunk);
    o->chunk = NULL;
    o->chunk_len = 0;
    o->has_chunk = false;
    o->install = false;
}

static void outbox_close(struct raft *r, struct raft__outbox *o)
{
    outbox_clear(r, o);
    raft__free(r, o->msgs);
    raft__free(r, o->reads);
    memset(o, 0, sizeof *o);
}

void raft__release_lent(struct raft *r)
{
    outbox_clear(r, &r->lent);
    for (size_t i = 0; i < r->n_lent_entries; i++)
        raft__entry_unref(r, &r->lent_entries[i]);
    for (size_t i = 0; i < r->n_lent_committed; i++)
        raft__entry_unref(r, &r->lent_committed[i]);
    raft__free(r, r->lent_entries);
    raft__free(r, r->lent_committed);
    r->lent_entries = r->lent_committed = NULL;
    r->n_lent_entries = r->n_lent_committed = 0;
}

void raft_free(struct raft *r)
{
    if (r == NULL)
        return;
    raft__release_lent(r);
    outbox_close(r, &r->out);
    outbox_close(r, &r->lent);
    raft__free(r, r->inflight_pool);
    raft__free(r, r->reads);
    raft__log_close(r, &r->log);
    raft__free(r, r);
}

int raft_load(struct raft *r,
              const struct raft_hard_state *hs,
              const struct raft_entry *entries,
              size_t n)
{
    raft_index first = r->log.offset + 1;
    bool conf_in_log = false;
    ASSERT(r->log.n == 0);
    ASSERT(!r->ready_out);
    for (size_t i = 0; i < n; i++) {
        struct raft_conf conf;
        if (entries[i].index != first + i || entries[i].len > RAFT_ENTRY_MAX ||
            (i > 0 && entries[i].term < entries[i - 1].term) ||
            entries[i].term > hs->term)
            return RKV_EINVAL;
        if (entries[i].type != RAFT_ENTRY_CONF)
            continue;
        conf_in_log = true;
        if (raft_conf_decode(entries[i].data, entries[i].len, &conf, NULL) != 0)
            return RKV_ECORRUPT;
    }
    if (hs->commit > r->log.offset + n)
        return RKV_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int rv = raft__log_append_copy(r, &r->log, &entries[i]);
        if (rv != 0)
            return rv;
    }
    r->term = hs->term;
    r->vote = hs->vote;
    if (hs->commit > r->commit)
        r->commit = hs->commit;
    r->persisted = r->log.offset + n;
    r->unstable = r->persisted + 1;
    r->hs_handed = *hs;
    if (conf_in_log)
        raft__conf_log_changed(r, first);
    raft__tracef(r, RAFT_TRACE_INFO, "loaded %zu entries, commit %llu", n,
                 (unsigned long long)hs->commit);
    return 0;
}

struct raft__progress *raft__progress_of(struct raft *r, raft_id id)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

int raft__send(struct raft *r, struct raft_msg *m)
{
    struct raft__outbox *o = &r->out;
    ASSERT(m->to != r->cfg.id);
    ASSERT(m->to != 0);
    if (o->n_msgs == o->cap_msgs) {
        size_t cap = o->cap_msgs == 0 ? 16 : o->cap_msgs * 2;
        struct raft_msg *p = raft__realloc(r, o->msgs, cap * sizeof *p);
        if (p == NULL)
            return RKV_ENOMEM;
        o->msgs = p;
        o->cap_msgs = cap;
    }
    m->from = r->cfg.id;
    if (m->type != RAFT_MSG_PREVOTE && m->type != RAFT_MSG_PREVOTE_RESP &&
        m->type != RAFT_MSG_PROPOSE && m->type != RAFT_MSG_READ_INDEX)
        m->term = r->term;
    o->msgs[o->n_msgs++] = *m;
    raft__tracef(r, RAFT_TRACE_DEBUG, "send %s to=%llu index=%llu n=%zu%s",
                 raft_msg_type_name(m->type), (unsigned long long)m->to,
                 (unsigned long long)m->index, m->n_entries,
                 m->reject ? " reject" : "");
    return 0;
}

int raft__push_read_state(struct raft *r,
                          uint64_t ctx,
                          raft_index index,
                          int status)
{
    struct raft__outbox *o = &r->out;
    if (o->n_reads == o->cap_reads) {
        size_t cap = o->cap_reads == 0 ? 16 : o->cap_reads * 2;
        struct raft_read_state *p = raft__realloc(r, o->reads, cap * sizeof *p);
        if (p == NULL)
            return RKV_ENOMEM;
        o->reads = p;
        o->cap_reads = cap;
    }
    o->reads[o->n_reads++] = (struct raft_read_state){ctx, index, status};
    return 0;
}

/* CheckQuorum (thesis §6.2): a leader that did not hear from a majority of
 * voters during a whole election timeout steps down, so that a partitioned
 * leader stops accepting work it cannot commit. Returns whether it did. */
static bool check_quorum(struct raft *r)
{
    size_t active = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft__progress *pr = &r->prs[i];
        if (pr->voter && (pr->id == r->cfg.id || pr->recent_active))
            active++;
        pr->recent_active = pr->id == r->cfg.id;
    }
    if (active >= raft__quorum(r))
        return false;
    raft__tracef(r, RAFT_TRACE_INFO, "lost quorum, stepping down");
    raft__become_follower(r, r->term, 0);
    return true;
}

void raft_tick(struct raft *r)
{
    if (r->role == RAFT_LEADER) {
        r->heartbeat_elapsed++;
        r->election_elapsed++;
        raft__transfer_tick(r);
        if (r->election_elapsed >= r->cfg.election_ticks) {
            r->election_elapsed = 0;
            if (r->cfg.check_quorum && check_quorum(r))
                return;
        }
        if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
            r->heartbeat_elapsed = 0;
            (void)raft__bcast_heartbeat(r); /* ENOMEM: next tick retries */
        }
        return;
    }
    raft__tick_election(r);
}

/* Term rules common to every role (§5.1): a higher term makes us a
 * follower, a lower one is answered or ignored. Returns true if `m` must be
 * processed further. */
static bool check_term(struct raft *r, const struct raft_msg *m)
{
    uint8_t t = m->type;
    if (t == RAFT_MSG_PROPOSE || t == RAFT_MSG_READ_INDEX || m->term == r->term)
        return true;
    if (m->term > r->term) {
        if (t == RAFT_MSG_VOTE || t == RAFT_MSG_PREVOTE) {
            /* Leader stickiness (thesis §4.2.3, §9.6): while we hear from a
             * leader, a candidate cannot disrupt the cluster; unless the
             * leader itself asked it to take over (§3.10). */
            bool in_lease = r->cfg.check_quorum && r->leader != 0 &&
                            r->election_elapsed < r->cfg.election_ticks;
            if (in_lease && m->context != RAFT_CONTEXT_TRANSFER)
                return false;
        }
        if (t == RAFT_MSG_PREVOTE || (t == RAFT_MSG_PREVOTE_RESP && !m->reject))
            return true; /* a PreVote never changes our term */
        if (t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT ||
            t == RAFT_MSG_SNAPSHOT)
            raft__become_follower(r, m->term, m->from);
        else
            raft__become_follower(r, m->term, 0);
        return true;
    }
    /* m->term < r->term. A stale leader is told our term so that it steps
     * down; without this a node that bumped its term while partitioned
     * would never let the old leader learn of it: PreVote keeps it from
     * campaigning on its own, and a node the leader counts as a learner or
     * not at all (one re-added after its removal, whose log still says it
     * votes) has its vote requests refused before any term rule. */
    if (t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT) {
        struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP,
                                .to = m->from,
                                .reject = false,
                                .index = 0};
        (void)raft__send(r, &resp); /* best effort */
    } else if (t == RAFT_MSG_PREVOTE) {
        struct raft_msg resp = {.type = RAFT_MSG_PREVOTE_RESP,
                                .to = m->from,
                                .term = r->term,
                                .reject = true};
        (void)raft__send(r, &resp); /* best effort */
    }
    return false;
}

/* Whether `t` is sent only by the leader of the message's term. */
static bool from_leader(uint8_t t)
{
    return t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT ||
           t == RAFT_MSG_SNAPSHOT || t == RAFT_MSG_TIMEOUT_NOW;
}

/* Entry `i` of `m`, checked against the message that carries it. */
static bool valid_entry(const struct raft_msg *m, size_t i)
{
    const struct raft_entry *e = &m->entries[i];
    struct raft_conf conf;
    if (e->len > RAFT_ENTRY_MAX || (e->len > 0 && e->data == NULL) ||
        e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF)
        return false;
    if (m->type == RAFT_MSG_APPEND &&
        (e->index != m->index + 1 + i || e->term > m->term ||
         (i == 0 ? e->term < m->log_term : e->term < m->entries[i - 1].term)))
        return false;
    /* A snapshot's configuration: one entry at the snapshot's index. */
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (m->n_entries != 1 || e->type != RAFT_ENTRY_CONF ||
         e->index != m->index || e->term != m->log_term))
        return false;
    /* Client commands only: configurations come from raft_change_member. */
    if (m->type == RAFT_MSG_PROPOSE && e->type != RAFT_ENTRY_NORMAL)
        return false;
    return e->type != RAFT_ENTRY_CONF ||
           raft_conf_decode(e->data, e->len, &conf, NULL) == 0;
}

/* Rules for nodes outside the configuration, before any term rule, so that
 * they cannot disrupt it (thesis §4.2.3): a vote request is refused unless
 * both we and the candidate are voters (learners never vote), and answers
 * to a leader or candidate from a non-member are ignored. Everything else
 * is processed: a server being added, or a leader this node does not know
 * of yet, must be heard. Returns whether `m` must be processed further. */
static bool member_rules(struct raft *r, const struct raft_msg *m)
{
    uint8_t t = m->type;
    if (t == RAFT_MSG_VOTE || t == RAFT_MSG_PREVOTE) {
        /* Knowing no leader, vote on the log alone (thesis §4.1): our
         * configuration may be stale, and the cluster may need us. */
        if (r->leader == 0 ||
            (raft__is_voter(r, r->cfg.id) && raft__is_voter(r, m->from)))
            return true;
        struct raft_msg resp = {
            .type =
                t == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PREVOTE_RESP,
            .to = m->from,
            .term = r->term,
            .reject = true,
        };
        raft__tracef(r, RAFT_TRACE_DEBUG, "refuse %s of non-voter %llu",
                     raft_msg_type_name(t), (unsigned long long)m->from);
        (void)raft__send(r, &resp); /* best effort */
        return false;
    }
    if (t == RAFT_MSG_APPEND_RESP || t == RAFT_MSG_HEARTBEAT_RESP ||
        t == RAFT_MSG_SNAPSHOT_RESP || t == RAFT_MSG_VOTE_RESP ||
        t == RAFT_MSG_PREVOTE_RESP)
        return raft__progress_of(r, m->from) != NULL;
    return true;
}

static int validate(struct raft *r, const struct raft_msg *m)
{
    if (m->type == 0 || m->type > RAFT_MSG_TYPE_MAX || m->to != r->cfg.id ||
        m->from == r->cfg.id || m->from == 0)
        return RKV_EPROTO;
    if ((m->n_entries > 0 && m->entries == NULL) ||
        (m->len > 0 && m->data == NULL) ||
        (m->type == RAFT_MSG_PROPOSE && m->n_entries == 0) ||
        (m->type == RAFT_MSG_APPEND && m->index > UINT64_MAX - m->n_entries))
        return RKV_EPROTO;
    /* A snapshot covers entries no later than its sender's term. */
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (m->log_term > m->term || (m->index > 0) != (m->log_term > 0)))
        return RKV_EPROTO;
    /* Election Safety (§5.2): one leader at most per term; a leader's
     * message of our term from another node than its known leader is
     * corrupt or misrouted. */
    if (from_leader(m->type) && m->term == r->term && r->leader != 0 &&
        m->from != r->leader)
        return RKV_EPROTO;
    for (size_t i = 0; i < m->n_entries; i++)
        if (!valid_entry(m, i))
            return RKV_EPROTO;
    return 0;
}

static int refuse_read(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp = {.type = RAFT_MSG_READ_INDEX_RESP,
                            .to = m->from,
                            .context = m->context,
                            .reject = true};
    return raft__send(r, &resp);
}

static int step_leader(struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
        case RAFT_MSG_APPEND_RESP:
            return raft__handle_append_response(r, m);
        case RAFT_MSG_HEARTBEAT_RESP:
            return raft__handle_heartbeat_response(r, m);
        case RAFT_MSG_PROPOSE:
            /* Dropped (the proposer times out and retries) while handing
             * over leadership (§3.10), and from non-members: a removed
             * node would never see its command applied. */
            if (r->transfer_target != 0 ||
                raft__progress_of(r, m->from) == NULL)
                return 0;
            for (size_t i = 0; i < m->n_entries; i++) {
                const struct raft_entry *e = &m->entries[i];
                int rv = raft__append_local(r, e->type, e->data, e->len, NULL);
                if (rv != 0)
                    return rv;
            }
            return 0;
        case RAFT_MSG_READ_INDEX:
            if (raft__progress_of(r, m->from) == NULL)
                return refuse_read(r, m); /* it would wait forever */
            return raft__read_request(r, m->context, m->from);
        case RAFT_MSG_SNAPSHOT_RESP:
            return raft__handle_snapshot_response(r, m);
        default:
            return 0; /* stale answers to an earlier campaign, etc. */
    }
}

static int step_follower(struct raft *r, const struct raft_msg *m);

static int step_candidate(struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
        case RAFT_MSG_APPEND:
        case RAFT_MSG_HEARTBEAT:
        case RAFT_MSG_SNAPSHOT:
            /* §5.2: a leader of our term exists; recognize it. */
            raft__become_follower(r, m->term, m->from);
            return step_follower(r, m);
        case RAFT_MSG_VOTE_RESP:
        case RAFT_MSG_PREVOTE_RESP:
            return raft__handle_vote_response(r, m);
        case RAFT_MSG_READ_INDEX:
            return refuse_read(r, m);
        default:
            return 0;
    }
}

/* Hand client entries on to the leader (copied: the caller's are borrowed). */
static int forward_proposal(struct raft *r,
                            const struct raft_entry *entries,
                            size_t n)
{
    struct raft_msg fwd = {.type = RAFT_MSG_PROPOSE, .to = r->leader};
    struct raft_entry *copy;
    int rv;
    ASSERT(r->leader != 0);
    ASSERT(n > 0);
    rv = raft__entries_copy(r, entries, n, &copy);
    if (rv != 0)
        return rv;
    fwd.entries = copy;
    fwd.n_entries = n;
    rv = raft__send(r, &fwd);
    if (rv != 0) {
        for (size_t i = 0; i < n; i++)
            raft__entry_unref(r, &copy[i]);
        raft__free(r, copy);
    }
    return rv;
}

static int step_follower(struct raft *r, const struct raft_msg *m)
{
    switch (m->type) {
        case RAFT_MSG_APPEND:
            r->election_elapsed = 0;
            r->leader = m->from;
            return raft__handle_append(r, m);
        case RAFT_MSG_HEARTBEAT:
            r->election_elapsed = 0;
            r->leader = m->from;
            return raft__handle_heartbeat(r, m);
        case RAFT_MSG_SNAPSHOT:
            r->election_elapsed = 0;
            r->leader = m->from;
            return raft__handle_snapshot(r, m);
        case RAFT_MSG_PROPOSE:
            if (r->leader == 0)
                return 0; /* dropped: the proposer times out and retries */
            return forward_proposal(r, m->entries, m->n_entries);
        case RAFT_MSG_READ_INDEX:
            return refuse_read(r, m);
        case RAFT_MSG_READ_INDEX_RESP:
            return raft__handle_read_index_response(r, m);
        case RAFT_MSG_TIMEOUT_NOW:
            return raft__handle_timeout_now(r, m);
        default:
            return 0;
    }
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    int rv = validate(r, m);
    if (rv != 0) {
        raft__tracef(r, RAFT_TRACE_WARN, "dropped malformed %s from %llu",
                     raft_msg_type_name(m->type), (unsigned long long)m->from);
        return rv;
    }
    raft__tracef(r, RAFT_TRACE_DEBUG,
                 "recv %s from=%llu term=%llu index=%llu"
                 " n=%zu%s",
                 raft_msg_type_name(m->type), (unsigned long long)m->from,
                 (unsigned long long)m->term, (unsigned long long)m->index,
                 m->n_entries, m->reject ? " reject" : "");
    if (!member_rules(r, m))
        return 0;
    if (!check_term(r, m))
        return 0;
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE)
        return raft__handle_vote_request(r, m);
    switch (r->role) {
        case RAFT_LEADER:
            return step_leader(r, m);
        case RAFT_CANDIDATE:
        case RAFT_PRE_CANDIDATE:
            return step_candidate(r, m);
        case RAFT_FOLLOWER:
            return step_follower(r, m);
    }
    return RKV_EINTERNAL;
}

int raft_propose(struct raft *r,
                 const void *data,
                 size_t len,
                 raft_index *index,
                 raft_term *term)
{
    if (len > RAFT_ENTRY_MAX)
        return RKV_ETOOBIG;
    if (r->role == RAFT_LEADER) {
        raft_index idx;
        if (r->transfer_target != 0)
            return RKV_EBUSY; /* §3.10: handing over leadership */
        int rv =
            raft__append_local(r, RAFT_ENTRY_NORMAL, data, (uint32_t)len, &idx);
        if (rv != 0)
            return rv;
        if (index != NULL)
            *index = idx;
        if (term != NULL)
            *term = r->term;
        return 0;
    }
    if (r->leader == 0 || r->role != RAFT_FOLLOWER)
        return RKV_ENOLEADER;
    {
        struct raft_entry e = {.index = 1,
                               .type = RAFT_ENTRY_NORMAL,
                               .len = (uint32_t)len,
                               .data = data};
        int rv = forward_proposal(r, &e, 1);
        if (rv != 0)
            return rv;
        if (index != NULL)
            *index = 0;
        if (term != NULL)
            *term = 0;
        return 0;
    }
}

int raft_read_index(struct raft *r, uint64_t context)
{
    if (r->role == RAFT_LEADER)
        return raft__read_request(r, context, r->cfg.id);
    if (r->leader == 0 || r->role != RAFT_FOLLOWER)
        return RKV_ENOLEADER;
    {
        struct raft_msg m = {
            .type = RAFT_MSG_READ_INDEX, .to = r->leader, .context = context};
        return raft__send(r, &m);
    }
}
