/* The Raft core test fixture (raft_fixture.h): cores, a FIFO network and a
 * synchronous in-memory disk. The Ready contract it honors and checks is
 * the one of include/raftkv/raft.h, struct raft_ready. */
#include "raft_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runner.h"

#define FX_STABILIZE_MAX 100000 /* Readies + deliveries before "not quiet" */
#define FX_ELECT_MAX_TICKS 2000 /* ticks fx_elect() waits for a leader */
#define FX_DRAIN_MAX 100        /* Readies in a row fx_drain() allows */

/* Fixtures not yet freed. A failing ASSERT longjmps out of its test and
 * leaves the fixture behind; keeping it reachable here makes the leak
 * checker report the failure, not the memory. Test code only. */
static struct fx *fx_live;

static void *xmalloc(size_t size)
{
    void *p = malloc(size == 0 ? 1 : size);
    if (p == NULL)
        test__fail(__FILE__, __LINE__, "fixture: out of memory");
    return p;
}

/* Grow array `p` (of `*cap` elements of `size` bytes) to hold at least
 * `n`; returns the array, which may have moved. */
static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    size_t c = *cap == 0 ? 16 : *cap;
    if (n <= *cap)
        return p;
    while (c < n)
        c *= 2;
    p = realloc(p, c * size);
    if (p == NULL)
        test__fail(__FILE__, __LINE__, "fixture: out of memory");
    *cap = c;
    return p;
}

static void entry_dup(const struct raft_entry *src, struct raft_entry *dst)
{
    *dst = *src;
    dst->data = NULL;
    if (src->len > 0) {
        uint8_t *d = xmalloc(src->len);
        memcpy(d, src->data, src->len);
        dst->data = d;
    }
}

static void entry_free(struct raft_entry *e)
{
    free((void *)(uintptr_t)e->data);
    e->data = NULL;
}

static void msg_dup(const struct raft_msg *src, struct raft_msg *dst)
{
    *dst = *src;
    dst->entries = NULL;
    dst->data = NULL;
    if (src->n_entries > 0) {
        struct raft_entry *es = xmalloc(src->n_entries * sizeof *es);
        for (size_t i = 0; i < src->n_entries; i++)
            entry_dup(&src->entries[i], &es[i]);
        dst->entries = es;
    }
    if (src->len > 0) {
        uint8_t *d = xmalloc(src->len);
        memcpy(d, src->data, src->len);
        dst->data = d;
    }
}

static void msg_free(struct raft_msg *m)
{
    struct raft_entry *es = (struct raft_entry *)(uintptr_t)m->entries;
    for (size_t i = 0; i < m->n_entries; i++)
        entry_free(&es[i]);
    free(es);
    free((void *)(uintptr_t)m->data);
    m->entries = NULL;
    m->data = NULL;
}

/* With RKV_TEST_TRACE set in the environment, cores trace to stderr. */
static void trace_stderr(void *ctx, int level, const char *line)
{
    (void)ctx;
    (void)level;
    fprintf(stderr, "    | %s\n", line);
}

struct fx_node *fx_node(struct fx *f, raft_id id)
{
    if (id == 0 || id > f->n)
        test__fail(__FILE__, __LINE__, "fixture: no node %llu",
                   (unsigned long long)id);
    return &f->nodes[id - 1];
}

struct raft *fx_raft(struct fx *f, raft_id id)
{
    return fx_node(f, id)->r;
}

struct fx *fx_alloc(size_t n)
{
    struct fx *f;
    ASSERT_TRUE(n >= 1 && n <= FX_MAX_NODES);
    f = xmalloc(sizeof *f);
    memset(f, 0, sizeof *f);
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        struct raft_config *cfg = &f->nodes[i].cfg;
        raft_config_default(cfg);
        cfg->id = i + 1;
        cfg->seed = i + 1;
        cfg->n_voters = n;
        for (size_t j = 0; j < n; j++)
            cfg->voters[j] = j + 1;
        if (getenv("RKV_TEST_TRACE") != NULL) {
            cfg->trace = trace_stderr;
            cfg->trace_level = RAFT_TRACE_DEBUG;
        }
    }
    f->next_live = fx_live;
    fx_live = f;
    return f;
}

void fx_start(struct fx *f)
{
    for (size_t i = 0; i < f->n; i++)
        fx_restart(f, i + 1);
}

struct fx *fx_new(size_t n)
{
    struct fx *f = fx_alloc(n);
    fx_start(f);
    return f;
}

static void node_clear_applied(struct fx_node *nd)
{
    for (size_t i = 0; i < nd->n_applied; i++)
        entry_free(&nd->applied[i]);
    nd->n_applied = 0;
}

void fx_free(struct fx *f)
{
    for (struct fx **p = &fx_live; *p != NULL; p = &(*p)->next_live)
        if (*p == f) {
            *p = f->next_live;
            break;
        }
    for (size_t i = 0; i < f->n; i++) {
        struct fx_node *nd = &f->nodes[i];
        raft_free(nd->r);
        for (size_t j = 0; j < nd->n_log; j++)
            entry_free(&nd->log[j]);
        free(nd->log);
        node_clear_applied(nd);
        free(nd->applied);
        free(nd->reads);
    }
    fx_clear(f);
    free(f->queue);
    free(f);
}

void fx_store_log(struct fx *f,
                  raft_id id,
                  const raft_term *terms,
                  size_t n,
                  raft_term term)
{
    struct fx_node *nd = fx_node(f, id);
    ASSERT_TRUE(nd->r == NULL);
    ASSERT_TRUE(nd->n_log == 0);
    nd->log = grow(nd->log, &nd->cap_log, n, sizeof *nd->log);
    for (size_t i = 0; i < n; i++) {
        char buf[24];
        int len = snprintf(buf, sizeof buf, "%zu", i + 1);
        struct raft_entry e = {.term = terms[i],
                               .index = i + 1,
                               .type = RAFT_ENTRY_NORMAL,
                               .len = (uint32_t)len,
                               .data = (const uint8_t *)buf};
        entry_dup(&e, &nd->log[i]);
    }
    nd->n_log = n;
    nd->hs = (struct raft_hard_state){.term = term};
}

bool fx_check(struct fx *f, raft_id id, int rv)
{
    if (rv == 0)
        return true;
    if (f->tolerate_enomem && rv == RKV_ENOMEM) {
        fx_crash(f, id);
        return false;
    }
    test__fail(__FILE__, __LINE__, "node %llu: core call returned %d (%s)",
               (unsigned long long)id, rv, rkv_strerror(rv));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void log_drop_front(struct fx_node *nd, size_t n)
{
    ASSERT_TRUE(n <= nd->n_log);
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        entry_free(&nd->log[i]);
    memmove(nd->log, nd->log + n, (nd->n_log - n) * sizeof *nd->log);
    nd->n_log -= n;
}

/* Step 1, a-b: store a snapshot chunk; install a complete snapshot, which
 * replaces the stored log and the state machine. */
static void store_snapshot(struct fx_node *nd, const struct raft_ready *rd)
{
    if (rd->has_chunk && rd->chunk_len > 0) {
        ASSERT_TRUE(rd->chunk_offset <= sizeof nd->incoming);
        ASSERT_TRUE(rd->chunk_len <= sizeof nd->incoming - rd->chunk_offset);
        memcpy(nd->incoming + rd->chunk_offset, rd->chunk, rd->chunk_len);
    }
    if (!rd->install)
        return;
    ASSERT_EQ_U64(get_u64(nd->incoming), rd->snapshot.index);
    ASSERT_EQ_U64(get_u64(nd->incoming + 8), rd->snapshot.term);
    ASSERT_TRUE(rd->snapshot.index > nd->snap.index);
    log_drop_front(nd, nd->n_log);
    nd->snap = rd->snapshot;
    nd->snap_conf.n = 0;
    if (rd->snapshot_conf != NULL)
        nd->snap_conf = *rd->snapshot_conf;
    node_clear_applied(nd);
    nd->applied_base = rd->snapshot.index;
}

/* Step 1: persist the hard state and the entries, checking must_sync. */
static void persist(struct fx_node *nd, const struct raft_ready *rd)
{
    bool term_or_vote =
        rd->hs.term != nd->hs.term || rd->hs.vote != nd->hs.vote;
    if (term_or_vote || rd->n_entries > 0)
        ASSERT_TRUE(rd->must_sync);
    if (term_or_vote)
        ASSERT_TRUE(rd->hs_changed);
    if (rd->hs_changed)
        nd->hs = rd->hs;
    if (rd->n_entries == 0)
        return;
    /* Truncate from entries[0].index, then append (no gap allowed). */
    ASSERT_TRUE(rd->entries[0].index > nd->snap.index);
    ASSERT_TRUE(rd->entries[0].index <= nd->snap.index + nd->n_log + 1);
    while (nd->snap.index + nd->n_log >= rd->entries[0].index)
        entry_free(&nd->log[--nd->n_log]);
    nd->log =
        grow(nd->log, &nd->cap_log, nd->n_log + rd->n_entries, sizeof *nd->log);
    for (size_t i = 0; i < rd->n_entries; i++) {
        ASSERT_EQ_U64(rd->entries[i].index, nd->snap.index + nd->n_log + 1);
        entry_dup(&rd->entries[i], &nd->log[nd->n_log++]);
    }
}

/* Step 2 for a SNAPSHOT message (queued copy `m`): attach the chunk of
 * our snapshot from m->offset, all the rest of it. Returns false if we do
 * not hold the snapshot named: the message must then be dropped. */
static bool attach_snapshot(const struct fx_node *nd, struct raft_msg *m)
{
    uint8_t bytes[sizeof nd->incoming], *chunk;
    ASSERT_TRUE(m->data == NULL);
    if (m->index != nd->snap.index || m->log_term != nd->snap.term)
        return false;
    ASSERT_TRUE(m->offset <= sizeof bytes);
    put_u64(bytes, nd->snap.index);
    put_u64(bytes + 8, nd->snap.term);
    m->len = sizeof bytes - (size_t)m->offset;
    chunk = xmalloc(m->len);
    memcpy(chunk, bytes + m->offset, m->len);
    m->data = chunk;
    m->done = true;
    return true;
}

/* Step 2: send. Messages are counted here and dropped at delivery. A node
 * acknowledges only entries it has stored (step 1 of this Ready or an
 * earlier one). */
static void enqueue(struct fx *f, raft_id id, const struct raft_ready *rd)
{
    const struct fx_node *nd = fx_node(f, id);
    f->queue =
        grow(f->queue, &f->q_cap, f->q_len + rd->n_msgs, sizeof *f->queue);
    for (size_t i = 0; i < rd->n_msgs; i++) {
        const struct raft_msg *m = &rd->msgs[i];
        ASSERT_EQ_U64(m->from, id);
        ASSERT_TRUE(m->to >= 1 && m->to <= f->n && m->to != id);
        ASSERT_TRUE(m->type >= 1 && m->type <= RAFT_MSG_TYPE_MAX);
        if (m->type == RAFT_MSG_APPEND_RESP && !m->reject)
            ASSERT_TRUE(m->index <= nd->snap.index + nd->n_log);
        f->sent[m->type][m->from][m->to]++;
        if (m->reject)
            f->rejects[m->type][m->from][m->to]++;
        if (f->tap != NULL)
            f->tap(f->tap_ctx, m, false);
        msg_dup(m, &f->queue[f->q_len]);
        if (m->type == RAFT_MSG_SNAPSHOT &&
            !attach_snapshot(nd, &f->queue[f->q_len])) {
            msg_free(&f->queue[f->q_len]);
            continue;
        }
        f->q_len++;
    }
}

/* Steps 3 and 4: apply in order, only durable entries; keep read states. */
static void apply(struct fx_node *nd, const struct raft_ready *rd)
{
    nd->applied = grow(nd->applied, &nd->cap_applied,
                       nd->n_applied + rd->n_committed, sizeof *nd->applied);
    for (size_t i = 0; i < rd->n_committed; i++) {
        const struct raft_entry *e = &rd->committed[i];
        ASSERT_EQ_U64(e->index, nd->applied_base + nd->n_applied + 1);
        ASSERT_TRUE(e->index > nd->snap.index);
        ASSERT_TRUE(e->index <= nd->snap.index + nd->n_log);
        ASSERT_EQ_U64(e->term, nd->log[e->index - nd->snap.index - 1].term);
        ASSERT_TRUE(e->index <= rd->hs.commit);
        entry_dup(e, &nd->applied[nd->n_applied++]);
    }
    nd->reads = grow(nd->reads, &nd->cap_reads, nd->n_reads + rd->n_reads,
                     sizeof *nd->reads);
    for (size_t i = 0; i < rd->n_reads; i++)
        nd->reads[nd->n_reads++] = rd->reads[i];
}

void fx_process(struct fx *f, raft_id id, const struct raft_ready *rd)
{
    struct fx_node *nd = fx_node(f, id);
    store_snapshot(nd, rd);
    persist(nd, rd);
    enqueue(f, id, rd);
    apply(nd, rd);
    nd->last =
        (struct fx_ready_info){rd->hs_changed, rd->must_sync, rd->n_reads};
}

bool fx_ready(struct fx *f, raft_id id)
{
    struct raft *r = fx_raft(f, id);
    struct raft_ready rd;
    if (r == NULL || !raft_ready(r, &rd))
        return false;
    fx_process(f, id, &rd);
    raft_advance(r, &rd);
    return true;
}

struct raft_msg fx_msg(int type, raft_id from, raft_id to, raft_term term)
{
    return (struct raft_msg){
        .type = (uint8_t)type, .from = from, .to = to, .term = term};
}

int fx_step(struct fx *f, const struct raft_msg *m)
{
    struct raft *r = fx_raft(f, m->to);
    ASSERT_TRUE(r != NULL);
    return raft_step(r, m);
}

/* Take queue[i] off the queue and deliver it unless its link drops it. */
static void deliver_at(struct fx *f, size_t i)
{
    struct raft_msg m = f->queue[i];
    struct raft *r = fx_raft(f, m.to);
    memmove(&f->queue[i], &f->queue[i + 1],
            (f->q_len - i - 1) * sizeof *f->queue);
    f->q_len--;
    if (r != NULL && (f->drop[m.from][m.to] & (1u << m.type)) == 0) {
        if (f->tap != NULL)
            f->tap(f->tap_ctx, &m, true);
        (void)fx_check(f, m.to, raft_step(r, &m));
    }
    msg_free(&m);
}

size_t fx_deliver(struct fx *f, raft_id from, raft_id to)
{
    size_t taken = 0;
    for (size_t i = 0; i < f->q_len;) {
        const struct raft_msg *m = &f->queue[i];
        if ((from == 0 || m->from == from) && (to == 0 || m->to == to)) {
            deliver_at(f, i);
            taken++;
        } else {
            i++;
        }
    }
    return taken;
}

void fx_drain(struct fx *f, raft_id id)
{
    for (unsigned i = 0; i < FX_DRAIN_MAX; i++)
        if (!fx_ready(f, id))
            return;
    test__fail(__FILE__, __LINE__, "fixture: node %llu never out of work",
               (unsigned long long)id);
}

void fx_stabilize(struct fx *f)
{
    for (unsigned steps = 0; steps < FX_STABILIZE_MAX;) {
        bool moved = false;
        for (size_t i = 0; i < f->n; i++)
            while (steps < FX_STABILIZE_MAX && fx_ready(f, i + 1)) {
                moved = true;
                steps++;
            }
        if (f->q_len > 0) {
            deliver_at(f, 0);
            moved = true;
            steps++;
        }
        if (!moved)
            return;
    }
    test__fail(__FILE__, __LINE__, "fixture: cluster never quiet");
}

void fx_tick(struct fx *f, raft_id id, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        struct raft *r = fx_raft(f, id);
        if (r != NULL)
            raft_tick(r);
        fx_stabilize(f);
    }
}

void fx_tick_all(struct fx *f, unsigned k)
{
    for (unsigned i = 0; i < k; i++) {
        for (size_t j = 0; j < f->n; j++)
            if (f->nodes[j].r != NULL)
                raft_tick(f->nodes[j].r);
        fx_stabilize(f);
    }
}

void fx_campaign(struct fx *f, raft_id id)
{
    struct raft *r = fx_raft(f, id);
    unsigned max = 2 * fx_node(f, id)->cfg.election_ticks;
    ASSERT_TRUE(r != NULL);
    ASSERT_TRUE(raft_role_of(r) == RAFT_FOLLOWER);
    for (unsigned i = 0; i < max && raft_role_of(r) == RAFT_FOLLOWER; i++)
        raft_tick(r);
    ASSERT_TRUE(raft_role_of(r) != RAFT_FOLLOWER);
}

void fx_elect(struct fx *f, raft_id id)
{
    fx_stabilize(f);
    for (unsigned i = 0; i < FX_ELECT_MAX_TICKS; i++) {
        struct raft *r = fx_raft(f, id);
        ASSERT_TRUE(r != NULL);
        if (raft_role_of(r) == RAFT_LEADER)
            return;
        raft_tick(r);
        fx_stabilize(f);
    }
    test__fail(__FILE__, __LINE__, "fixture: node %llu never became leader",
               (unsigned long long)id);
}

raft_id fx_leader(struct fx *f)
{
    raft_id best = 0;
    raft_term best_term = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct raft *r = f->nodes[i].r;
        if (r != NULL && raft_role_of(r) == RAFT_LEADER &&
            (best == 0 || raft_term_of(r) > best_term)) {
            best = i + 1;
            best_term = raft_term_of(r);
        }
    }
    return best;
}

void fx_propose(struct fx *f, raft_id id, const char *s)
{
    struct raft *r = fx_raft(f, id);
    ASSERT_TRUE(r != NULL);
    ASSERT_OK(raft_propose(r, s, strlen(s), NULL, NULL));
}

void fx_cut(struct fx *f, raft_id a, raft_id b)
{
    ASSERT_TRUE(a <= f->n && b <= f->n);
    f->drop[a][b] = f->drop[b][a] = UINT32_MAX;
}

void fx_isolate(struct fx *f, raft_id id)
{
    for (size_t j = 1; j <= f->n; j++)
        if (j != id)
            fx_cut(f, id, j);
}

void fx_drop(struct fx *f, raft_id from, raft_id to, int type)
{
    ASSERT_TRUE(from <= f->n && to <= f->n);
    ASSERT_TRUE(type >= 1 && type <= RAFT_MSG_TYPE_MAX);
    f->drop[from][to] |= 1u << type;
}

void fx_heal(struct fx *f)
{
    memset(f->drop, 0, sizeof f->drop);
}

void fx_crash(struct fx *f, raft_id id)
{
    struct fx_node *nd = fx_node(f, id);
    raft_free(nd->r);
    nd->r = NULL;
}

void fx_restart(struct fx *f, raft_id id)
{
    struct fx_node *nd = fx_node(f, id);
    struct raft *r;
    ASSERT_TRUE(nd->r == NULL);
    node_clear_applied(nd);
    nd->applied_base = nd->snap.index;
    if (!fx_check(f, id, raft_new(&nd->cfg, &r)))
        return;
    nd->r = r;
    if (nd->snap.index > 0 &&
        !fx_check(
            f, id,
            raft_load_snapshot_conf(
                r, &nd->snap, nd->snap_conf.n > 0 ? &nd->snap_conf : NULL)))
        return;
    (void)fx_check(f, id, raft_load(r, &nd->hs, nd->log, nd->n_log));
}

static bool matches(const struct raft_msg *m,
                    int type,
                    raft_id from,
                    raft_id to)
{
    return (type == 0 || m->type == type) && (from == 0 || m->from == from) &&
           (to == 0 || m->to == to);
}

size_t fx_count(const struct fx *f, int type, raft_id from, raft_id to)
{
    size_t n = 0;
    for (size_t i = 0; i < f->q_len; i++)
        n += matches(&f->queue[i], type, from, to);
    return n;
}

const struct raft_msg *fx_find(const struct fx *f,
                               int type,
                               raft_id from,
                               raft_id to)
{
    for (size_t i = 0; i < f->q_len; i++)
        if (matches(&f->queue[i], type, from, to))
            return &f->queue[i];
    return NULL;
}

void fx_clear(struct fx *f)
{
    for (size_t i = 0; i < f->q_len; i++)
        msg_free(&f->queue[i]);
    f->q_len = 0;
}

void fx_reset_counters(struct fx *f)
{
    memset(f->sent, 0, sizeof f->sent);
    memset(f->rejects, 0, sizeof f->rejects);
}

static bool conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct raft_member *x = &a->members[i], *y = &b->members[i];
        if (x->id != y->id || x->voter != y->voter ||
            x->ctx_len != y->ctx_len || memcmp(x->ctx, y->ctx, x->ctx_len))
            return false;
    }
    return true;
}

void fx_compact(struct fx *f, raft_id id, raft_index index)
{
    struct fx_node *nd = fx_node(f, id);
    struct raft_conf after;
    raft_index before = nd->snap.index;
    ASSERT_TRUE(nd->r != NULL);
    ASSERT_OK(raft_conf_at(nd->r, index, &nd->snap_conf));
    ASSERT_OK(raft_compact(nd->r, index));
    nd->snap = raft_snapshot_of(nd->r);
    ASSERT_EQ_U64(nd->snap.index, index);
    ASSERT_OK(raft_conf_at(nd->r, index, &after));
    ASSERT_TRUE(conf_equal(&nd->snap_conf, &after));
    log_drop_front(nd, (size_t)(index - before));
}

bool fx_logs_equal(const struct fx *f, raft_id a, raft_id b)
{
    const struct fx_node *x = &f->nodes[a - 1], *y = &f->nodes[b - 1];
    if (x->n_log != y->n_log || x->snap.index != y->snap.index)
        return false;
    for (size_t i = 0; i < x->n_log; i++) {
        const struct raft_entry *p = &x->log[i], *q = &y->log[i];
        if (p->term != q->term || p->type != q->type || p->len != q->len ||
            (p->len > 0 && memcmp(p->data, q->data, p->len) != 0))
            return false;
    }
    return true;
}

static void *fa_malloc(void *ctx, size_t size)
{
    struct fx_fail_alloc *fa = ctx;
    void *p;
    if (++fa->calls == fa->fail_at)
        return NULL;
    p = malloc(size);
    fa->live += p != NULL;
    return p;
}

static void *fa_realloc(void *ctx, void *p, size_t size)
{
    struct fx_fail_alloc *fa = ctx;
    void *q;
    if (++fa->calls == fa->fail_at)
        return NULL;
    q = realloc(p, size);
    fa->live += q != NULL && p == NULL;
    return q;
}

static void fa_free(void *ctx, void *p)
{
    struct fx_fail_alloc *fa = ctx;
    fa->live -= p != NULL;
    free(p);
}

struct fx_fail_alloc fx_fail_alloc(void)
{
    return (struct fx_fail_alloc){
        {NULL, fa_malloc, fa_realloc, fa_free}, 0, 0, 0};
}
