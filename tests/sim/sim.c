/* The simulator's run driver: starts the nodes, pops events in (time, seq)
 * order and dispatches them, checks the invariants after each, injects
 * faults during the chaos phase, then heals everything and checks liveness.
 * Every choice comes from the one PRNG here, seeded with the run's seed, so
 * a run replays exactly. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define SIM_FAULTS_FROM_MS 200 /* let a first leader emerge */

/* Message loss and duplication rates, per 10000, that a run switches
 * between. */
static const unsigned drop_rates[] = {0, 100, 500, 2000};
static const unsigned dup_rates[] = {0, 100, 500};
/* Snapshot chunk sizes, bytes, that a run picks from: mostly small, so
 * that a snapshot of a few KiB travels in dozens of chunks. */
static const size_t chunk_sizes[] = {64, 64, 128, 256, 1024};
#define RATES(a) (sizeof(a) / sizeof(a)[0])

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *g)
{
    uint64_t *s = g->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t sim_rng_range(struct sim_rng *g, uint64_t lo, uint64_t hi)
{
    uint64_t span = hi - lo + 1, limit, x;
    if (span == 0) /* the whole 64-bit range */
        return sim_rng_next(g);
    limit = UINT64_MAX - UINT64_MAX % span;
    do
        x = sim_rng_next(g);
    while (x >= limit);
    return lo + x % span;
}

bool sim_rng_chance(struct sim_rng *g, unsigned pm)
{
    return pm > 0 && sim_rng_range(g, 0, 9999) < pm;
}

void *sim_xmalloc(size_t size)
{
    void *p = malloc(size == 0 ? 1 : size);
    if (p == NULL) {
        fprintf(stderr, "raftkv-sim: out of memory\n");
        abort();
    }
    return p;
}

void *sim_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size == 0 ? 1 : size);
    if (q == NULL) {
        fprintf(stderr, "raftkv-sim: out of memory\n");
        abort();
    }
    return q;
}

/* ---- Trace and violations ---- */

void sim__tracef(struct sim *s, const char *fmt, ...)
{
    char line[SIM_LINE_MAX];
    int n =
        snprintf(line, sizeof line, "t=%06llu ", (unsigned long long)s->now_ms);
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap); /* cut */
    va_end(ap);
    if (s->opt.trace)
        puts(line);
    if (s->ring != NULL) {
        memcpy(s->ring->lines[s->ring->n % SIM_RING_LINES], line, sizeof line);
        s->ring->n++;
    }
}

void sim_violation(struct sim *s, const char *invariant, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (s->violation[0] != '\0')
        return; /* keep the first */
    n = snprintf(s->violation, sizeof s->violation, "%s: ", invariant);
    va_start(ap, fmt);
    (void)vsnprintf(s->violation + n, sizeof s->violation - (size_t)n, fmt,
                    ap); /* cut */
    va_end(ap);
    SIM_TRACE(s, "VIOLATION %s", s->violation);
    s->phase = SIM_DONE;
}

void sim_schedule(struct sim *s,
                  uint64_t delay_ms,
                  uint8_t type,
                  unsigned node,
                  uint64_t arg)
{
    struct sim_event ev = {0};
    ev.time_ms = s->now_ms + delay_ms;
    ev.type = type;
    ev.node = (uint8_t)node;
    ev.arg = arg;
    sim_queue_push(&s->q, &ev);
}

void sim_schedule_crash(struct sim *s,
                        unsigned node,
                        uint64_t max_delay_ms,
                        uint64_t max_down_ms)
{
    /* Two statements: the order of the draws must not depend on the
     * compiler's order of evaluating arguments. */
    uint64_t delay = sim_rng_range(&s->rng, 0, max_delay_ms);
    uint64_t down = sim_rng_range(&s->rng, 1, max_down_ms);
    sim_schedule(s, delay, SIM_EV_CRASH, node, down);
}

int sim_find_leader(const struct sim *s)
{
    int best = -1;
    for (unsigned i = 0; i < s->n_slots; i++) {
        struct raft *r = s->nodes[i].core;
        if (r == NULL || raft_role_of(r) != RAFT_LEADER)
            continue;
        if (best < 0 || raft_term_of(r) > raft_term_of(s->nodes[best].core))
            best = (int)i;
    }
    return best;
}

/* ---- Faults ---- */

/* A random node that is up (want_up) or down, or -1 if there is none.
 * Nodes out of the cluster (stopped, never added) are not down. */
static int pick_node(struct sim *s, bool want_up)
{
    unsigned cand[SIM_MAX_NODES], n = 0;
    for (unsigned i = 0; i < s->n_slots; i++)
        if ((s->nodes[i].core != NULL) == want_up && !s->nodes[i].out)
            cand[n++] = i;
    if (n == 0)
        return -1;
    return (int)cand[sim_rng_range(&s->rng, 0, n - 1)];
}

/* Mostly short outages, some long ones. */
static uint64_t draw_downtime(struct sim *s)
{
    uint64_t roll = sim_rng_range(&s->rng, 0, 9);
    if (roll < 3)
        return sim_rng_range(&s->rng, 1, 30);
    if (roll < 8)
        return sim_rng_range(&s->rng, 30, 500);
    return sim_rng_range(&s->rng, 500, 2000);
}

static void fault_crash(struct sim *s)
{
    int node = sim_find_leader(s);
    if (node < 0 || sim_rng_chance(&s->rng, 5000))
        node = pick_node(s, true);
    if (node >= 0)
        sim_node_crash(s, (unsigned)node, draw_downtime(s));
}

/* A node whose clock runs slow: its timeouts fire late. */
static void fault_slow_clock(struct sim *s)
{
    int node = pick_node(s, true);
    struct sim_node *n;
    if (node < 0)
        return;
    n = &s->nodes[node];
    n->tick_ms = (unsigned)sim_rng_range(&s->rng, 15, 40);
    SIM_TRACE(s, "n%d clock slow: a tick every %u ms", node + 1, n->tick_ms);
    sim_schedule(s, sim_rng_range(&s->rng, 200, 2000), SIM_EV_CLOCK_RESTORE,
                 (unsigned)node, n->inc);
}

static void fault_lossy(struct sim *s)
{
    s->net.drop_pm =
        drop_rates[sim_rng_range(&s->rng, 0, RATES(drop_rates) - 1)];
    s->net.dup_pm = dup_rates[sim_rng_range(&s->rng, 0, RATES(dup_rates) - 1)];
    SIM_TRACE(s, "network: drop %u/10000 dup %u/10000", s->net.drop_pm,
              s->net.dup_pm);
}

/* A node whose disk turns slow: its fsyncs stall, so more of its writes
 * are in flight when it crashes. */
static void fault_slow_disk(struct sim *s)
{
    int node = pick_node(s, true);
    if (node < 0)
        return;
    s->nodes[node].disk_slow_until_ms =
        s->now_ms + sim_rng_range(&s->rng, 200, 2000);
    SIM_TRACE(s, "n%d disk slow until t=%llu", node + 1,
              (unsigned long long)s->nodes[node].disk_slow_until_ms);
}

/* Membership faults take rolls past the others': without --membership a
 * seed draws as before the flag existed. */
static void fault_event(struct sim *s)
{
    uint64_t base = s->opt.crash_disk ? 11 : 10;
    uint64_t roll =
        sim_rng_range(&s->rng, 0, base - 1 + (s->opt.membership ? 3 : 0));
    unsigned every = s->prof.fault_every_ms;
    int node;
    if (s->phase != SIM_CHAOS)
        return;
    if (roll >= base) {
        sim_member_fault(s, roll == base + 2);
    } else if (roll < 4) {
        fault_crash(s);
    } else if (roll < 7) {
        sim_net_partition(s, -1);
    } else if (roll == 7) {
        fault_slow_clock(s);
    } else if (roll == 8) {
        fault_lossy(s);
    } else if (roll == 10) {
        fault_slow_disk(s);
    } else if ((node = pick_node(s, false)) >= 0) {
        sim_node_start(s, (unsigned)node);
    }
    sim_schedule(s, sim_rng_range(&s->rng, every / 2, every * 3 / 2),
                 SIM_EV_FAULT, 0, 0);
}

/* Crash some leaders soon after their election, before they could
 * replicate much, and isolate some right after their first commit, before
 * the followers hear of it (the no-op already on its way is lost with the
 * links): the Figure 8 situations, where a deposed leader's entries and a
 * newer one's compete for the same indexes. */
static void strike_at_moments(struct sim *s, const struct sim_moments *mo)
{
    for (unsigned i = 0; i < s->n_slots; i++) {
        if ((mo->elected >> i) & 1u &&
            sim_rng_chance(&s->rng, s->prof.crash_leader_pm))
            sim_schedule_crash(s, i, 50, 300);
        if ((mo->first_commit >> i) & 1u &&
            sim_rng_chance(&s->rng, s->prof.isolate_commit_pm))
            sim_net_partition(s, (int)i);
    }
}

/* End of chaos: every node up, every link whole, no loss; liveness now. */
static void chaos_end(struct sim *s)
{
    SIM_TRACE(s, "chaos over: healing everything");
    s->phase = SIM_HEALED;
    sim_net_heal(s);
    s->net.drop_pm = s->net.dup_pm = 0;
    for (unsigned i = 0; i < s->n_slots; i++) {
        if (!s->nodes[i].out)
            sim_node_start(s, i);
        s->nodes[i].tick_ms = SIM_TICK_MS;
    }
    sim_schedule(s, 0, SIM_EV_PROBE, 0, 0);
    sim_schedule(s, SIM_LIVENESS_MS, SIM_EV_DEADLINE, 0, 0);
}

/* ---- The run ---- */

static void handle_event(struct sim *s, const struct sim_event *ev)
{
    struct sim_node *n = &s->nodes[ev->node];
    switch (ev->type) {
        case SIM_EV_TICK:
            sim_node_tick(s, ev->node, ev->arg);
            break;
        case SIM_EV_DELIVER:
            sim_net_deliver(s, ev->msg);
            break;
        case SIM_EV_PERSISTED:
            sim_node_persisted(s, ev->node, ev->arg);
            break;
        case SIM_EV_CRASH:
            if (s->phase == SIM_CHAOS)
                sim_node_crash(s, ev->node, ev->arg);
            break;
        case SIM_EV_RESTART:
            if (!n->out)
                sim_node_start(s, ev->node);
            break;
        case SIM_EV_FAULT:
            fault_event(s);
            break;
        case SIM_EV_NET_HEAL:
            if (ev->arg == s->net.partition)
                sim_net_heal(s);
            break;
        case SIM_EV_CLOCK_RESTORE:
            if (ev->arg == n->inc)
                n->tick_ms = SIM_TICK_MS;
            break;
        case SIM_EV_CHAOS_END:
            chaos_end(s);
            break;
        case SIM_EV_CLIENT:
            sim_client_event(s, ev->node, ev->arg);
            break;
        case SIM_EV_PROBE:
            sim_probe_event(s);
            break;
        case SIM_EV_STOP:
            sim_member_stop_event(s, ev->node, ev->arg);
            break;
        case SIM_EV_DEADLINE:
            if (s->phase == SIM_HEALED)
                sim_violation(s, "Liveness",
                              "no write committed on every node within %d ms "
                              "of healing",
                              SIM_LIVENESS_MS);
            break;
        default:
            sim_violation(s, "Simulator", "unknown event type %u", ev->type);
    }
}

static bool probe_done(const struct sim *s)
{
    if (s->opt.membership)
        return sim_member_probe_done(s);
    for (unsigned i = 0; i < s->n_slots; i++)
        if (!s->nodes[i].probe_applied)
            return false;
    return true;
}

/* The seed decides the kind of run as well as its timing. */
static void draw_profile(struct sim *s)
{
    struct sim_profile *p = &s->prof;
    struct sim_rng *g = &s->rng;
    uint64_t roll;
    p->pre_vote = sim_rng_chance(g, 7500);
    p->check_quorum = sim_rng_chance(g, 7500);
    /* One byte means one entry per APPEND: a new leader's no-op then
     * travels apart from the older entries before it (Figure 8). */
    roll = sim_rng_range(g, 0, 2);
    p->max_msg_bytes = roll == 0 ? 0 : roll == 1 ? 1 : sim_rng_range(g, 8, 128);
    p->max_inflight =
        sim_rng_chance(g, 5000) ? (unsigned)sim_rng_range(g, 1, 8) : 0;
    p->n_clients = (unsigned)sim_rng_range(g, 2, SIM_MAX_CLIENTS);
    p->fault_every_ms = (unsigned)sim_rng_range(g, 50, 1000);
    p->crash_leader_pm = (unsigned)sim_rng_range(g, 0, 3000);
    p->isolate_commit_pm = (unsigned)sim_rng_range(g, 0, 5000);
    p->crash_voter_pm = (unsigned)sim_rng_range(g, 0, 2000);
    s->net.drop_pm = drop_rates[sim_rng_range(g, 0, RATES(drop_rates) - 1)];
    s->net.dup_pm = dup_rates[sim_rng_range(g, 0, RATES(dup_rates) - 1)];
    s->net.slow_pm = (unsigned)sim_rng_range(g, 100, 1000);
    SIM_TRACE(s,
              "profile: pre_vote=%d check_quorum=%d max_msg_bytes=%zu "
              "max_inflight=%u clients=%u fault_every=%u crash_leader=%u "
              "isolate_commit=%u crash_voter=%u drop=%u dup=%u slow=%u",
              p->pre_vote, p->check_quorum, p->max_msg_bytes, p->max_inflight,
              p->n_clients, p->fault_every_ms, p->crash_leader_pm,
              p->isolate_commit_pm, p->crash_voter_pm, s->net.drop_pm,
              s->net.dup_pm, s->net.slow_pm);
    /* Drawn last, and only when asked for: without the flags a seed runs
     * as it did before they existed. */
    if (s->opt.snapshot_every > 0)
        p->chunk_bytes =
            chunk_sizes[sim_rng_range(g, 0, RATES(chunk_sizes) - 1)];
    if (s->opt.crash_disk)
        p->tear_pm = (unsigned)sim_rng_range(g, 2000, 8000);
    if (s->opt.snapshot_every > 0 || s->opt.crash_disk)
        SIM_TRACE(s, "profile: snapshot_every=%u chunk_bytes=%zu tear=%u",
                  s->opt.snapshot_every, p->chunk_bytes, p->tear_pm);
}

static void run_start(struct sim *s, const struct sim_opts *opt)
{
    memset(s, 0, sizeof *s);
    s->opt = *opt;
    s->tracing = opt->trace || opt->capture;
    if (opt->capture) {
        s->ring = sim_xmalloc(sizeof *s->ring);
        s->ring->n = 0;
    }
    sim_rng_seed(&s->rng, opt->seed);
    sim_queue_init(&s->q);
    sim_check_init(&s->chk);
    s->n_slots = opt->n_nodes + (opt->membership ? SIM_SPARE_SLOTS : 0);
    for (unsigned i = 0; i < s->n_slots; i++) {
        s->nodes[i].id = i + 1;
        s->nodes[i].sim = s;
        s->nodes[i].out = i >= opt->n_nodes; /* spares wait to be added */
        sim_disk_init(&s->nodes[i].disk);
    }
    draw_profile(s);
    for (unsigned i = 0; i < opt->n_nodes; i++)
        sim_node_start(s, i);
    sim_clients_start(s);
    sim_schedule(s, SIM_FAULTS_FROM_MS, SIM_EV_FAULT, 0, 0);
    sim_schedule(s, opt->chaos_ms, SIM_EV_CHAOS_END, 0, 0);
}

int sim_run(struct sim *s, const struct sim_opts *opt)
{
    struct sim_event ev;
    run_start(s, opt);
    while (s->phase != SIM_DONE && sim_queue_pop(&s->q, &ev)) {
        struct sim_moments mo;
        s->now_ms = ev.time_ms;
        s->stats.steps++;
        handle_event(s, &ev);
        if (s->phase == SIM_DONE)
            break;
        sim_check_step(s, &mo);
        if (s->phase == SIM_CHAOS)
            strike_at_moments(s, &mo);
        if (s->phase == SIM_HEALED && probe_done(s))
            s->phase = SIM_DONE;
    }
    for (unsigned i = 0; i < s->n_slots && s->violation[0] == '\0'; i++)
        if (s->nodes[i].core != NULL)
            sim_check_log(s, i);
    return s->violation[0] != '\0';
}

void sim_close(struct sim *s)
{
    for (unsigned i = 0; i < s->n_slots; i++)
        sim_node_close(&s->nodes[i]);
    sim_queue_close(&s->q);
    sim_check_close(&s->chk);
    free(s->ring);
    s->ring = NULL;
}
