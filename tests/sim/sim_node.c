/* One simulated node: its core, its disk, its state machine, and the host
 * side of the Ready contract (include/raftkv/raft.h): take a Ready, write
 * it, and only after a simulated fsync delay make it durable, send its
 * messages, apply, resolve reads and advance. A crash frees the core and
 * loses everything not yet synced; a restart loads what the disk holds. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define NODE_FSYNC_MIN_MS 1 /* write + fsync latency range */
#define NODE_FSYNC_MAX_MS 5
#define NODE_FSYNC_SLOW_MS 30 /* an occasional slow fsync, up to this */

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
    rv = raft_load(n->core, &n->disk.hs, n->disk.log, n->disk.n_log);
    if (rv != 0) {
        sim_violation(s, "Restart", "n%u raft_load of its own disk: %s",
                      node + 1, rkv_strerror(rv));
        return;
    }
    n->tick_ms = SIM_TICK_MS;
    n->applied = 0; /* the state machine is volatile: rebuilt from 1 */
    n->probe_applied = false;
    memset(&n->chk, 0, sizeof n->chk);
    sim_schedule(s, sim_rng_range(&s->rng, 1, SIM_TICK_MS), SIM_EV_TICK, node,
                 n->inc);
    sim_node_pump(s, node);
}

void sim_node_crash(struct sim *s, unsigned node, uint64_t downtime_ms)
{
    struct sim_node *n = &s->nodes[node];
    if (n->core == NULL)
        return;
    SIM_TRACE(s, "n%u crash (down %llu ms, %zu unsynced writes lost)", node + 1,
              (unsigned long long)downtime_ms, n->disk.n_pending);
    sim_check_log(s, node);
    raft_free(n->core); /* also frees what the pending Ready lent */
    n->core = NULL;
    n->ready_out = false;
    memset(&n->rd, 0, sizeof n->rd);
    sim_disk_crash(&n->disk);
    n->inc++; /* its ticks and fsync completion are stale now */
    n->applied = 0;
    s->stats.crashes++;
    sim_client_node_crashed(s, node);
    sim_schedule(s, downtime_ms, SIM_EV_RESTART, node, 0);
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
    SIM_TRACE(
        s,
        "n%u ready: hs=(term %llu vote %llu commit %llu)%s%s "
        "entries=%zu@%llu msgs=%zu committed=%zu@%llu reads=%zu",
        node + 1, (unsigned long long)rd->hs.term,
        (unsigned long long)rd->hs.vote, (unsigned long long)rd->hs.commit,
        rd->hs_changed ? " changed" : "", rd->must_sync ? " sync" : "",
        rd->n_entries,
        (unsigned long long)(rd->n_entries ? rd->entries[0].index : 0),
        rd->n_msgs, rd->n_committed,
        (unsigned long long)(rd->n_committed ? rd->committed[0].index : 0),
        rd->n_reads);
}

/* raft_has_ready() promised work: an empty Ready would make a host loop
 * spin (the simulator's clock would stand still). The simulator never
 * calls raft_compact(), so no snapshot may be installed either. */
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
    if (rd->has_chunk || rd->install)
        sim_violation(s, "Ready Contract",
                      "n%u: snapshot chunk or install, but no node compacted",
                      node + 1);
}

void sim_node_pump(struct sim *s, unsigned node)
{
    struct sim_node *n = &s->nodes[node];
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
    rv = sim_disk_write(&n->disk, &n->rd);
    if (rv != 0)
        sim_violation(s, "Persist Contract",
                      "n%u hands out entries from %llu, its disk ends at %llu",
                      node + 1, (unsigned long long)n->rd.entries[0].index,
                      (unsigned long long)n->disk.last_written);
    if (n->rd.must_sync)
        delay =
            sim_rng_chance(&s->rng, 500)
                ? sim_rng_range(&s->rng, NODE_FSYNC_MAX_MS, NODE_FSYNC_SLOW_MS)
                : sim_rng_range(&s->rng, NODE_FSYNC_MIN_MS, NODE_FSYNC_MAX_MS);
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
        if (e->index >= n->cap_sm) {
            size_t cap = n->cap_sm == 0 ? 1024 : n->cap_sm;
            while (cap <= e->index)
                cap *= 2;
            n->sm = sim_xrealloc(n->sm, cap * sizeof *n->sm);
            n->cap_sm = cap;
        }
        n->sm[e->index] = sim_entry_hash(e);
        n->applied = e->index;
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
    if (rd->must_sync)
        sim_disk_sync(&n->disk);
    for (size_t i = 0; i < rd->n_msgs; i++) {
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
    sim_node_pump(s, node);
}
