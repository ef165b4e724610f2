/* One simulated node: its core, its disk, its state machine, and the host
 * side of the Ready contract (include/raftkv/raft.h): take a Ready, write
 * it, and only after a simulated fsync delay make it durable, install a
 * snapshot received, send its messages, apply, resolve reads and advance.
 * A crash frees the core and loses (or tears) everything not yet synced; a
 * restart loads what the disk holds: the current snapshot, then the WAL
 * after it. A node added to the cluster later (--membership) starts as a
 * joining core, without a configuration. Snapshots themselves are in
 * sim_snap.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define NODE_FSYNC_MIN_MS 1 /* write + fsync latency range */
#define NODE_FSYNC_MAX_MS 5
#define NODE_FSYNC_SLOW_MS 30   /* an occasional slow fsync, up to this */
#define NODE_FSYNC_STALL_MS 300 /* a slow disk's fsync, up to this */

static void core_trace(void *ctx, int level, const char *line)
{
    struct sim_node *n = ctx;
    (void)level; /* the core already filtered on cfg.trace_level */
    SIM_TRACE(n->sim, "%s", line);
}

static void node_config(struct sim *s, unsigned node, struct raft_config *cfg)
{
    raft_config_default(cfg);
    cfg->id = node + 1;
    for (unsigned i = 0; i < s->opt.n_nodes; i++)
        cfg->voters[i] = i + 1;
    cfg->n_voters = s->opt.n_nodes;
    if (node >= s->opt.n_nodes) { /* a spare slot: it joins */
        cfg->join = true;
        cfg->n_voters = 0;
    }
    cfg->seed = sim_rng_next(&s->rng);
    cfg->pre_vote = s->prof.pre_vote;
    cfg->check_quorum = s->prof.check_quorum;
    if (s->prof.max_msg_bytes != 0)
        cfg->max_msg_bytes = s->prof.max_msg_bytes;
    if (s->prof.max_inflight != 0)
        cfg->max_inflight = s->prof.max_inflight;
    if (s->tracing) {
        cfg->trace = core_trace;
        cfg->trace_ctx = &s->nodes[node];
        cfg->trace_level = RAFT_TRACE_DEBUG;
    }
}

void sim_node_sm_reserve(struct sim_node *n, raft_index index)
{
    size_t cap = n->cap_sm == 0 ? 1024 : n->cap_sm;
    if (index < n->cap_sm)
        return;
    while (cap <= index)
        cap *= 2;
    n->sm = sim_xrealloc(n->sm, cap * sizeof *n->sm);
    n->cap_sm = cap;
}

/* Recovery: cut a torn WAL tail, rebuild the state machine from the current
 * snapshot (it is volatile: otherwise rebuilt from index 1), and hand the
 * core the snapshot, then the WAL entries after it. Returns 0, or -1 after
 * recording a violation. */
static int load_disk(struct sim *s, unsigned node)
{
    struct sim_node *n = &s->nodes[node];
    struct sim_disk *d = &n->disk;
    raft_index snap = d->snap.meta.index;
    size_t cut = sim_disk_recover(d), skip = 0;
    int rv = 0;
    if (cut > 0)
        SIM_TRACE(s, "n%u recovery: WAL cut after index %llu (torn record)",
                  node + 1, (unsigned long long)d->last_written);
    n->applied = 0;
    n->applied_term = 0;
    if (snap > 0) {
        if (sim_snap_restore(s, node, "restarts from") != 0)
            return -1;
        rv = raft_load_snapshot_conf(n->core, &d->snap.meta,
                                     d->snap.has_conf ? &d->snap.conf : NULL);
    }
    /* The WAL may still hold entries the snapshot covers: the drop of
     * that prefix is lazy, and a crash can lose it. */
    while (skip < d->n_log && d->log[skip].index <= snap)
        skip++;
    if (rv == 0)
        rv = raft_load(n->core, &d->hs, d->log + skip, d->n_log - skip);
    if (rv != 0) {
        sim_violation(
            s, "Restart",
            "n%u loading its own disk (snapshot %llu, %zu WAL "
            "entries from %llu): %s",
            node + 1, (unsigned long long)snap, d->n_log - skip,
            (unsigned long long)(skip < d->n_log ? d->log[skip].index : 0),
            rkv_strerror(rv));
        return -1;
    }
    return 0;
}

void sim_node_start(struct sim *s, unsigned node)
{
    struct sim_node *n = &s->nodes[node];
    struct raft_config cfg;
    int rv;
    if (n->core != NULL)
        return;
    node_config(s, node, &cfg);
    SIM_TRACE(s, "n%u start: term=%llu vote=%llu commit=%llu entries=%zu",
              node + 1, (unsigned long long)n->disk.hs.term,
              (unsigned long long)n->disk.hs.vote,
              (unsigned long long)n->disk.hs.commit, n->disk.n_log);
    rv = raft_new(&cfg, &n->core);
    if (rv != 0) {
        sim_violation(s, "Restart", "n%u raft_new: %s", node + 1,
                      rkv_strerror(rv));
        return;
    }
    n->probe_applied = false;
    memset(&n->chk, 0, sizeof n->chk);
    if (load_disk(s, node) != 0)
        return;
    n->tick_ms = SIM_TICK_MS;
    sim_schedule(s, sim_rng_range(&s->rng, 1, SIM_TICK_MS), SIM_EV_TICK, node,
                 n->inc);
    sim_node_pump(s, node);
}

/* Free the core; the disk keeps what was synced (`tear`: maybe the last
 * write torn). */
static void node_down(struct sim *s, unsigned node, bool tear)
{
    struct sim_node *n = &s->nodes[node];
    sim_check_log(s, node);
    raft_free(n->core); /* also frees what the pending Ready lent */
    n->core = NULL;
    n->ready_out = false;
    memset(&n->rd, 0, sizeof n->rd);
    if (sim_disk_crash(&n->disk, tear ? &s->rng : NULL)) {
        s->stats.torn++;
        SIM_TRACE(s, "n%u disk: its last unsynced write is torn", node + 1);
    }
    n->inc++; /* its ticks and fsync completion are stale now */
    n->applied = 0;
    sim_client_node_crashed(s, node);
}

void sim_node_crash(struct sim *s, unsigned node, uint64_t downtime_ms)
{
    struct sim_node *n = &s->nodes[node];
    if (n->core == NULL)
        return;
    SIM_TRACE(s, "n%u crash (down %llu ms, %zu unsynced writes lost)", node + 1,
              (unsigned long long)downtime_ms, n->disk.n_pending);
    node_down(s, node,
              s->opt.crash_disk && sim_rng_chance(&s->rng, s->prof.tear_pm));
    s->stats.crashes++;
    sim_schedule(s, downtime_ms, SIM_EV_RESTART, node, 0);
}

void sim_node_stop(struct sim *s, unsigned node)
{
    struct sim_node *n = &s->nodes[node];
    n->out = true;
    if (n->core == NULL)
        return;
    SIM_TRACE(s, "n%u stopped: removed from the cluster", node + 1);
    node_down(s, node, false);
}

void sim_node_close(struct sim_node *n)
{
    raft_free(n->core);
    n->core = NULL;
    sim_disk_close(&n->disk);
    free(n->sm);
    n->sm = NULL;
}

void sim_node_tick(struct sim *s, unsigned node, uint64_t inc)
{
    struct sim_node *n = &s->nodes[node];
    if (n->core == NULL || inc != n->inc)
        return;
    raft_tick(n->core);
    sim_node_pump(s, node);
    sim_schedule(s, sim_rng_range(&s->rng, n->tick_ms - 1, n->tick_ms + 1),
                 SIM_EV_TICK, node, inc);
}

static void trace_ready(struct sim *s,
                        unsigned node,
                        const struct raft_ready *rd)
{
    char snap[96] = "";
    if (!s->tracing)
        return;
    if (rd->has_chunk || rd->install)
        snprintf(snap, sizeof snap, " chunk=%llu+%zu install=%llu/%llu",
                 (unsigned long long)rd->chunk_offset, rd->chunk_len,
                 (unsigned long long)rd->snapshot.index,
                 (unsigned long long)rd->snapshot.term);
    SIM_TRACE(
        s,
        "n%u ready: hs=(term %llu vote %llu commit %llu)%s%s "
        "entries=%zu@%llu msgs=%zu committed=%zu@%llu reads=%zu%s",
        node + 1, (unsigned long long)rd->hs.term,
        (unsigned long long)rd->hs.vote, (unsigned long long)rd->hs.commit,
        rd->hs_changed ? " changed" : "", rd->must_sync ? " sync" : "",
        rd->n_entries,
        (unsigned long long)(rd->n_entries ? rd->entries[0].index : 0),
        rd->n_msgs, rd->n_committed,
        (unsigned long long)(rd->n_committed ? rd->committed[0].index : 0),
        rd->n_reads, snap);
}

/* raft_has_ready() promised work: an empty Ready would make a host loop
 * spin (the simulator's clock would stand still). Until a host compacted,
 * no snapshot may travel. */
static void check_ready_contract(struct sim *s,
                                 unsigned node,
                                 const struct raft_ready *rd)
{
    if (!rd->hs_changed && rd->n_entries == 0 && rd->n_msgs == 0 &&
        rd->n_committed == 0 && rd->n_reads == 0 && !rd->has_chunk &&
        !rd->install)
        sim_violation(s, "Ready Contract",
                      "n%u: raft_has_ready() was true, raft_ready() handed "
                      "out nothing",
                      node + 1);
    if ((rd->has_chunk || rd->install) && s->stats.snapshots == 0)
        sim_violation(s, "Ready Contract",
                      "n%u: snapshot chunk or install, but no node compacted",
                      node + 1);
}

/* How long the write and fsync of a Ready take. */
static uint64_t fsync_delay(struct sim *s, const struct sim_node *n)
{
    if (s->now_ms < n->disk_slow_until_ms)
        return sim_rng_range(&s->rng, NODE_FSYNC_SLOW_MS, NODE_FSYNC_STALL_MS);
    if (sim_rng_chance(&s->rng, 500))
        return sim_rng_range(&s->rng, NODE_FSYNC_MAX_MS, NODE_FSYNC_SLOW_MS);
    return sim_rng_range(&s->rng, NODE_FSYNC_MIN_MS, NODE_FSYNC_MAX_MS);
}

/* Steps 1a and 1b make the chunk and install durable: they need the fsync
 * too. */
static bool needs_sync(const struct raft_ready *rd)
{
    return rd->must_sync || rd->install;
}

void sim_node_pump(struct sim *s, unsigned node)
{
    struct sim_node *n = &s->nodes[node];
    char errmsg[RKV_ERRMSG_LEN];
    uint64_t delay = 0;
    int rv;
    if (n->core == NULL || n->ready_out || !raft_has_ready(n->core))
        return;
    if (!raft_ready(n->core, &n->rd))
        return;
    n->ready_out = true;
    trace_ready(s, node, &n->rd);
    check_ready_contract(s, node, &n->rd);
    sim_check_ready(s, node, &n->rd);
    rv = sim_disk_write(&n->disk, &n->rd, errmsg);
    if (rv != 0)
        sim_violation(s, "Persist Contract", "n%u %s", node + 1, errmsg);
    if (needs_sync(&n->rd))
        delay = fsync_delay(s, n);
    sim_schedule(s, delay, SIM_EV_PERSISTED, node, n->inc);
}

/* Step 3: apply committed entries to the state machine, in order. */
static void apply_committed(struct sim *s,
                            unsigned node,
                            const struct raft_ready *rd)
{
    struct sim_node *n = &s->nodes[node];
    for (size_t i = 0; i < rd->n_committed; i++) {
        const struct raft_entry *e = &rd->committed[i];
        sim_check_apply(s, node, e);
        sim_node_sm_reserve(n, e->index);
        n->sm[e->index] = sim_entry_hash(e);
        n->applied = e->index;
        n->applied_term = e->term;
        sim_client_applied(s, node, e);
    }
}

/* A node that just granted a vote may crash at once: with its vote
 * lost, it could vote again in the same term (§5.2, "persistent state"). */
static void maybe_crash_voter(struct sim *s,
                              unsigned node,
                              const struct raft_msg *m)
{
    if (s->phase != SIM_CHAOS || m->type != RAFT_MSG_VOTE_RESP || m->reject ||
        !sim_rng_chance(&s->rng, s->prof.crash_voter_pm))
        return;
    sim_schedule_crash(s, node, 3, 20);
}

void sim_node_persisted(struct sim *s, unsigned node, uint64_t inc)
{
    struct sim_node *n = &s->nodes[node];
    const struct raft_ready *rd = &n->rd;
    if (n->core == NULL || inc != n->inc || !n->ready_out)
        return;
    if (needs_sync(rd))
        sim_disk_sync(&n->disk);
    if (rd->install) {
        if (sim_snap_restore(s, node, "installs") != 0)
            return;
        s->stats.installs++;
    }
    for (size_t i = 0; i < rd->n_msgs; i++) {
        if (rd->msgs[i].type == RAFT_MSG_SNAPSHOT)
            sim_snap_send(s, node, &rd->msgs[i]);
        else
            sim_net_send(s, &rd->msgs[i]);
        maybe_crash_voter(s, node, &rd->msgs[i]);
    }
    apply_committed(s, node, rd);
    sim_client_apply_done(s, node);
    for (size_t i = 0; i < rd->n_reads; i++)
        sim_client_read_state(s, node, &rd->reads[i]);
    raft_advance(n->core, &n->rd);
    n->ready_out = false;
    memset(&n->rd, 0, sizeof n->rd);
    sim_snap_maybe_take(s, node);
    sim_node_pump(s, node);
}
