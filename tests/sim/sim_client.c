/* Simulated clients and the liveness probe. Each client has one operation
 * outstanding at a time: a write of a unique value "c<client>-<n>", acked
 * when the node it was proposed to applies an entry with exactly that data,
 * or a ReadIndex read, served once the node has applied up to the read
 * index. Reads are checked for linearizability: a read that starts after a
 * write was acked must get a read index at or past the write's index, and
 * the state it is served from must hold that write. */
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define CLIENT_TIMEOUT_MS 1000 /* a lost request is given up after this */
#define CLIENT_RETRY_MIN_MS 10 /* pause before retrying a failed request */
#define CLIENT_RETRY_MAX_MS 60
#define CLIENT_THINK_MAX_MS 20 /* pause between two operations */
#define PROBE_EVERY_MS 50      /* the probe looks for a leader this often */
#define PROBE_RETRY_MS 500     /* and proposes again after this long */

/* End the current operation and schedule the next one. */
static void finish_op(struct sim *s, struct sim_client *cl, uint64_t delay_ms)
{
    cl->state = SIM_OP_IDLE;
    cl->epoch++;
    sim_schedule(s, delay_ms, SIM_EV_CLIENT, cl->id, cl->epoch);
}

static void retry_later(struct sim *s, struct sim_client *cl)
{
    finish_op(s, cl,
              sim_rng_range(&s->rng, CLIENT_RETRY_MIN_MS, CLIENT_RETRY_MAX_MS));
}

void sim_clients_start(struct sim *s)
{
    for (unsigned i = 0; i < s->prof.n_clients; i++) {
        struct sim_client *cl = &s->clients[i];
        memset(cl, 0, sizeof *cl);
        cl->id = i;
        sim_schedule(s, sim_rng_range(&s->rng, 0, CLIENT_THINK_MAX_MS),
                     SIM_EV_CLIENT, i, cl->epoch);
    }
}

static int start_write(struct sim *s, struct sim_client *cl)
{
    struct raft *r = s->nodes[cl->node].core;
    char buf[48];
    int len = snprintf(buf, sizeof buf, "c%u-%llu", cl->id,
                       (unsigned long long)cl->next_value);
    int rv = raft_propose(r, buf, (size_t)len, NULL, NULL);
    SIM_TRACE(s, "client %u write %s at n%u: %s", cl->id, buf, cl->node + 1,
              rkv_strerror(rv));
    if (rv != 0)
        return rv;
    cl->state = SIM_OP_WRITE;
    cl->seq = cl->next_value++;
    return 0;
}

static int start_read(struct sim *s, struct sim_client *cl)
{
    uint64_t ctx = ++s->next_read_ctx;
    int rv = raft_read_index(s->nodes[cl->node].core, ctx);
    SIM_TRACE(s, "client %u read ctx=%llu at n%u after acked index %llu: %s",
              cl->id, (unsigned long long)ctx, cl->node + 1,
              (unsigned long long)s->acked_index, rkv_strerror(rv));
    if (rv != 0)
        return rv;
    cl->state = SIM_OP_READ;
    cl->seq = ctx;
    cl->min_index = s->acked_index;
    cl->min_hash = s->acked_hash;
    return 0;
}

/* Pick a node (mostly the leader we were told about) and send it a write
 * (60%) or a read. */
static void start_op(struct sim *s, struct sim_client *cl)
{
    unsigned n = s->n_slots;
    int rv;
    cl->node = cl->leader_hint != 0 && sim_rng_chance(&s->rng, 8000)
                   ? (unsigned)(cl->leader_hint - 1)
                   : (unsigned)sim_rng_range(&s->rng, 0, n - 1);
    if (s->nodes[cl->node].core == NULL) {
        cl->leader_hint = 0;
        retry_later(s, cl);
        return;
    }
    cl->node_inc = s->nodes[cl->node].inc;
    rv = sim_rng_chance(&s->rng, 6000) ? start_write(s, cl) : start_read(s, cl);
    cl->leader_hint = raft_leader_of(s->nodes[cl->node].core);
    if (rv != 0) {
        retry_later(s, cl);
        return;
    }
    cl->epoch++;
    sim_schedule(s, CLIENT_TIMEOUT_MS, SIM_EV_CLIENT, cl->id, cl->epoch);
    sim_node_pump(s, cl->node);
}

void sim_client_event(struct sim *s, unsigned client, uint64_t epoch)
{
    struct sim_client *cl = &s->clients[client];
    if (epoch != cl->epoch)
        return; /* the operation this event was for is over */
    if (cl->state != SIM_OP_IDLE) {
        SIM_TRACE(s, "client %u timed out at n%u", cl->id, cl->node + 1);
        cl->state = SIM_OP_IDLE;
        cl->leader_hint = 0;
    }
    start_op(s, cl);
}

/* Is this client's operation waiting on this incarnation of this node? */
static bool waits_on(const struct sim *s,
                     const struct sim_client *cl,
                     unsigned node,
                     uint8_t state)
{
    return cl->state == state && cl->node == node &&
           cl->node_inc == s->nodes[node].inc;
}

/* Parse "c<client>-<n>"; false if `e` is not a client write. */
static bool parse_value(const struct raft_entry *e,
                        unsigned *client,
                        uint64_t *value)
{
    uint32_t i = 1;
    uint64_t c = 0, v = 0;
    if (e->len < 4 || e->data[0] != 'c')
        return false;
    for (; i < e->len && e->data[i] >= '0' && e->data[i] <= '9'; i++)
        c = c * 10 + (uint64_t)(e->data[i] - '0');
    if (i == 1 || i >= e->len || e->data[i] != '-' || c >= SIM_MAX_CLIENTS)
        return false;
    for (i++; i < e->len && e->data[i] >= '0' && e->data[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(e->data[i] - '0');
    *client = (unsigned)c;
    *value = v;
    return i == e->len;
}

void sim_client_applied(struct sim *s,
                        unsigned node,
                        const struct raft_entry *e)
{
    struct sim_client *cl;
    unsigned client;
    uint64_t value;
    if (e->type != RAFT_ENTRY_NORMAL)
        return;
    if (e->len > 0 && e->data[0] == 'p') {
        s->nodes[node].probe_applied = true;
        /* Nodes apply in index order, so the first probe applied is the
         * lowest committed one: a snapshot reaching it covers it. */
        if (s->probe_index == 0)
            s->probe_index = e->index;
        return;
    }
    if (!parse_value(e, &client, &value) || client >= s->prof.n_clients)
        return;
    cl = &s->clients[client];
    if (!waits_on(s, cl, node, SIM_OP_WRITE) || cl->seq != value)
        return;
    SIM_TRACE(s, "client %u write c%u-%llu acked at index %llu", cl->id, cl->id,
              (unsigned long long)value, (unsigned long long)e->index);
    if (e->index > s->acked_index) {
        s->acked_index = e->index;
        s->acked_hash = sim_entry_hash(e);
    }
    s->stats.writes++;
    finish_op(s, cl, sim_rng_range(&s->rng, 0, CLIENT_THINK_MAX_MS));
}

/* Serve the read if the node has applied up to its index. */
static void try_serve(struct sim *s, struct sim_client *cl)
{
    const struct sim_node *n = &s->nodes[cl->node];
    if (n->applied < cl->read_index)
        return;
    if (cl->min_index > 0 && n->sm[cl->min_index] != cl->min_hash) {
        sim_violation(s, "Linearizable Read",
                      "client %u read at n%u (read index %llu) misses the "
                      "write acked at index %llu before it started",
                      cl->id, cl->node + 1, (unsigned long long)cl->read_index,
                      (unsigned long long)cl->min_index);
        return;
    }
    SIM_TRACE(s, "client %u read ctx=%llu served at n%u index %llu", cl->id,
              (unsigned long long)cl->seq, cl->node + 1,
              (unsigned long long)n->applied);
    s->stats.reads++;
    finish_op(s, cl, sim_rng_range(&s->rng, 0, CLIENT_THINK_MAX_MS));
}

void sim_client_read_state(struct sim *s,
                           unsigned node,
                           const struct raft_read_state *rs)
{
    for (unsigned i = 0; i < s->prof.n_clients; i++) {
        struct sim_client *cl = &s->clients[i];
        if (!waits_on(s, cl, node, SIM_OP_READ) || cl->seq != rs->context)
            continue;
        if (rs->status != 0) {
            SIM_TRACE(s, "client %u read ctx=%llu failed: %s", cl->id,
                      (unsigned long long)rs->context,
                      rkv_strerror(rs->status));
            retry_later(s, cl);
            return;
        }
        /* §8: the read index is the leader's commit index once it has
         * confirmed its leadership, so it covers every acked write. */
        if (rs->index < cl->min_index) {
            sim_violation(s, "Linearizable Read",
                          "client %u read at n%u got read index %llu, but "
                          "a write was acked at index %llu before it started",
                          cl->id, node + 1, (unsigned long long)rs->index,
                          (unsigned long long)cl->min_index);
            return;
        }
        cl->state = SIM_OP_READ_APPLY;
        cl->read_index = rs->index;
        try_serve(s, cl);
        return;
    }
}

void sim_client_apply_done(struct sim *s, unsigned node)
{
    for (unsigned i = 0; i < s->prof.n_clients; i++)
        if (waits_on(s, &s->clients[i], node, SIM_OP_READ_APPLY))
            try_serve(s, &s->clients[i]);
}

void sim_client_node_crashed(struct sim *s, unsigned node)
{
    for (unsigned i = 0; i < s->prof.n_clients; i++) {
        struct sim_client *cl = &s->clients[i];
        if (cl->state != SIM_OP_IDLE && cl->node == node) {
            cl->leader_hint = 0;
            retry_later(s, cl);
        }
    }
}

/* After the faults end: propose "p<n>" to the leader until one such entry
 * is applied on every node (checked by the driver). */
void sim_probe_event(struct sim *s)
{
    int leader = sim_find_leader(s);
    if (s->phase != SIM_HEALED)
        return;
    if (leader >= 0 &&
        (s->probe_seq == 0 || s->now_ms - s->probe_last_ms >= PROBE_RETRY_MS)) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "p%llu",
                           (unsigned long long)++s->probe_seq);
        int rv =
            raft_propose(s->nodes[leader].core, buf, (size_t)len, NULL, NULL);
        SIM_TRACE(s, "probe %s at n%d: %s", buf, leader + 1, rkv_strerror(rv));
        s->probe_last_ms = s->now_ms;
        sim_node_pump(s, (unsigned)leader);
    }
    sim_schedule(s, PROBE_EVERY_MS, SIM_EV_PROBE, 0, 0);
}
