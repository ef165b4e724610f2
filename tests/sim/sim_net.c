/* The simulated network: every message is deep-copied when sent (the core's
 * memory is valid only until raft_advance), then lost, duplicated or
 * delivered after a random latency, long delays reordering it. Links can be
 * cut in both directions or in one only; a cut link loses what crosses it,
 * both at send and at delivery time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define NET_LATENCY_MIN_MS 1 /* usual one-way latency range */
#define NET_LATENCY_MAX_MS 15
#define NET_SLOW_MIN_MS 20 /* a long delay, for reordering */
#define NET_SLOW_MAX_MS 300
#define NET_PARTITION_MIN_MS 50 /* how long a partition lasts */
#define NET_PARTITION_MAX_MS 2000

/* One allocation holds the message, its entries and all payload bytes. */
static struct sim_msg *copy_msg(const struct raft_msg *m)
{
    size_t size = sizeof(struct sim_msg) +
                  m->n_entries * sizeof(struct raft_entry) + m->len;
    struct sim_msg *sm;
    struct raft_entry *ents;
    uint8_t *bytes;
    for (size_t i = 0; i < m->n_entries; i++)
        size += m->entries[i].len;
    sm = sim_xmalloc(size);
    ents = (struct raft_entry *)(sm + 1);
    bytes = (uint8_t *)(ents + m->n_entries);
    sm->m = *m;
    sm->m.entries = m->n_entries > 0 ? ents : NULL;
    for (size_t i = 0; i < m->n_entries; i++) {
        ents[i] = m->entries[i];
        ents[i].data = m->entries[i].len > 0 ? bytes : NULL;
        if (m->entries[i].len > 0)
            memcpy(bytes, m->entries[i].data, m->entries[i].len);
        bytes += m->entries[i].len;
    }
    sm->m.data = m->len > 0 ? bytes : NULL;
    if (m->len > 0)
        memcpy(bytes, m->data, m->len);
    return sm;
}

static bool link_cut(const struct sim *s, raft_id from, raft_id to)
{
    return s->net.blocked[from - 1][to - 1];
}

static void trace_msg(struct sim *s, const char *what, const struct raft_msg *m)
{
    char chunk[64] = "";
    if (!s->tracing)
        return;
    if (m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_SNAPSHOT_RESP)
        snprintf(chunk, sizeof chunk, " offset=%llu len=%zu%s",
                 (unsigned long long)m->offset, m->len, m->done ? " done" : "");
    SIM_TRACE(s,
              "n%llu%sn%llu %s term=%llu index=%llu log_term=%llu "
              "commit=%llu n=%zu ctx=%llu%s%s",
              (unsigned long long)m->from, what, (unsigned long long)m->to,
              raft_msg_type_name(m->type), (unsigned long long)m->term,
              (unsigned long long)m->index, (unsigned long long)m->log_term,
              (unsigned long long)m->commit, m->n_entries,
              (unsigned long long)m->context, m->reject ? " reject" : "",
              chunk);
}

static uint64_t latency_ms(struct sim *s)
{
    if (sim_rng_chance(&s->rng, s->net.slow_pm))
        return sim_rng_range(&s->rng, NET_SLOW_MIN_MS, NET_SLOW_MAX_MS);
    return sim_rng_range(&s->rng, NET_LATENCY_MIN_MS, NET_LATENCY_MAX_MS);
}

static void schedule_delivery(struct sim *s, const struct raft_msg *m)
{
    struct sim_event ev = {0};
    ev.time_ms = s->now_ms + latency_ms(s);
    ev.type = SIM_EV_DELIVER;
    ev.node = (uint8_t)(m->to - 1);
    ev.msg = copy_msg(m);
    sim_queue_push(&s->q, &ev);
}

void sim_net_send(struct sim *s, const struct raft_msg *m)
{
    if (m->to == 0 || m->to > s->n_slots || m->to == m->from || m->from == 0 ||
        m->from > s->n_slots) {
        sim_violation(s, "Message Addressing", "%s from n%llu to n%llu",
                      raft_msg_type_name(m->type), (unsigned long long)m->from,
                      (unsigned long long)m->to);
        return;
    }
    if (link_cut(s, m->from, m->to) ||
        sim_rng_chance(&s->rng, s->net.drop_pm)) {
        trace_msg(s, " -x ", m);
        return;
    }
    schedule_delivery(s, m);
    if (sim_rng_chance(&s->rng, s->net.dup_pm))
        schedule_delivery(s, m);
}

void sim_net_deliver(struct sim *s, struct sim_msg *sm)
{
    const struct raft_msg *m = &sm->m;
    struct sim_node *n = &s->nodes[m->to - 1];
    int rv;
    if (link_cut(s, m->from, m->to) || n->core == NULL) {
        trace_msg(s, " -x ", m);
        free(sm);
        return;
    }
    trace_msg(s, " -> ", m);
    rv = raft_step(n->core, m);
    if (rv != 0)
        sim_violation(s, "Protocol",
                      "n%llu rejected %s from n%llu built by a core: %s",
                      (unsigned long long)m->to, raft_msg_type_name(m->type),
                      (unsigned long long)m->from, rkv_strerror(rv));
    free(sm);
    sim_node_pump(s, (unsigned)(n->id - 1));
}

/* How links are cut. */
enum net_shape {
    NET_ISOLATE = 0, /* the victim alone, both ways */
    NET_SPLIT,       /* two random groups, both ways */
    NET_MUTE,        /* the victim cannot send */
    NET_DEAF,        /* the victim cannot receive */
    NET_ONE_LINK,    /* one link, one way */
    NET_SHAPES       /* count */
};

static const char *const shape_names[NET_SHAPES] = {"isolate", "split", "mute",
                                                    "deaf", "one-link"};

/* Nodes in `mask` form group a, the others group b; cut a->b and/or b->a. */
static void cut_groups(struct sim *s, unsigned mask, bool a_to_b, bool b_to_a)
{
    for (unsigned i = 0; i < s->n_slots; i++)
        for (unsigned j = 0; j < s->n_slots; j++) {
            bool ia = (mask >> i) & 1u, ja = (mask >> j) & 1u;
            s->net.blocked[i][j] =
                (ia && !ja && a_to_b) || (!ia && ja && b_to_a);
        }
}

static void cut(struct sim *s, unsigned shape, unsigned victim)
{
    unsigned n = s->n_slots;
    switch (shape) {
        case NET_SPLIT:
            cut_groups(s, (unsigned)sim_rng_range(&s->rng, 1, (1u << n) - 2),
                       true, true);
            break;
        case NET_MUTE:
            cut_groups(s, 1u << victim, true, false);
            break;
        case NET_DEAF:
            cut_groups(s, 1u << victim, false, true);
            break;
        case NET_ONE_LINK:
            memset(s->net.blocked, 0, sizeof s->net.blocked);
            s->net.blocked[victim][(victim + sim_rng_range(&s->rng, 1, n - 1)) %
                                   n] = true;
            break;
        default:
            cut_groups(s, 1u << victim, true, true);
    }
}

/* Messages already in flight across a cut link are lost too. The victim
 * is mostly the leader, when there is one. */
void sim_net_partition(struct sim *s, int victim_or_any)
{
    unsigned shape = NET_ISOLATE, victim;
    int leader = sim_find_leader(s);
    if (victim_or_any >= 0) {
        victim = (unsigned)victim_or_any;
    } else {
        shape = (unsigned)sim_rng_range(&s->rng, 0, NET_SHAPES - 1);
        victim = leader >= 0 && sim_rng_chance(&s->rng, 6000)
                     ? (unsigned)leader
                     : (unsigned)sim_rng_range(&s->rng, 0, s->n_slots - 1);
    }
    cut(s, shape, victim);
    s->net.partition = ++s->stats.partitions;
    SIM_TRACE(s, "partition #%llu: %s around n%u",
              (unsigned long long)s->net.partition, shape_names[shape],
              victim + 1);
    sim_schedule(
        s, sim_rng_range(&s->rng, NET_PARTITION_MIN_MS, NET_PARTITION_MAX_MS),
        SIM_EV_NET_HEAL, 0, s->net.partition);
}

void sim_net_heal(struct sim *s)
{
    memset(s->net.blocked, 0, sizeof s->net.blocked);
    if (s->net.partition != 0)
        SIM_TRACE(s, "heal partition #%llu",
                  (unsigned long long)s->net.partition);
    s->net.partition = 0;
}
