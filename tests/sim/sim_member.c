/* Membership changes and leadership transfers in the simulator
 * (--membership; thesis §4 and §3.10). The cluster has n_nodes initial
 * voters and SIM_SPARE_SLOTS spare node slots. Among the other faults the
 * injector asks the leader to add a learner (a spare or removed node,
 * started as a joining core, or restarted from its own disk if it ran
 * before), to promote a learner (the core refuses until it caught up: the
 * injector simply tries again at a later fault), to remove a voter or a
 * learner (the leader itself included), or to hand its leadership to a
 * random voter. A removed node keeps running for a while, talking to the
 * others with what it believes, then is stopped once the leader's
 * committed configuration leaves it out.
 *
 * Liveness after healing is judged on the final configuration: a leader
 * whose configuration is committed, every member of which applied a
 * probe; nodes outside it are not waited for. */
#include <string.h>

#include "sim.h"

#define MEMBER_MIN_VOTERS 3 /* add rather than remove below this */
#define MEMBER_MAX_VOTERS 5 /* remove rather than add at this */
#define STOP_MIN_MS 100     /* a removed node runs this long at least */
#define STOP_MAX_MS 2000
#define STOP_RETRY_MS 200 /* removal not committed yet: look again */

static size_t count_voters(const struct raft_conf *conf)
{
    size_t v = 0;
    for (size_t i = 0; i < conf->n; i++)
        v += conf->members[i].voter;
    return v;
}

/* A random node slot (0-based) that is (`in`) or is not a member of
 * `conf`, and, for members, a voter (`voter` 1), a learner (0), or
 * either (-1). -1 if there is none. */
static int pick_slot(struct sim *s,
                     const struct raft_conf *conf,
                     bool in,
                     int voter)
{
    unsigned cand[SIM_MAX_NODES], n = 0;
    for (unsigned i = 0; i < s->n_slots; i++) {
        const struct raft_member *m = raft_conf_find(conf, i + 1);
        if ((m != NULL) == in && (m == NULL || voter < 0 || m->voter == voter))
            cand[n++] = i;
    }
    if (n == 0)
        return -1;
    return (int)cand[sim_rng_range(&s->rng, 0, n - 1)];
}

/* Propose `change` of node slot `node` on `leader`; returns its status. */
static int propose(struct sim *s, unsigned leader, int change, unsigned node)
{
    static const char *const names[] = {"", "add learner", "promote", "remove"};
    raft_index index = 0;
    int rv = raft_change_member(s->nodes[leader].core, change, node + 1, NULL,
                                0, &index);
    SIM_TRACE(s, "membership: n%u proposes %s n%u at index %llu: %s",
              leader + 1, names[change], node + 1, (unsigned long long)index,
              rkv_strerror(rv));
    if (rv != 0 && rv != RKV_EBUSY && rv != RKV_EINVAL)
        sim_violation(s, "Membership", "n%u raft_change_member: %s", leader + 1,
                      rkv_strerror(rv));
    sim_node_pump(s, leader);
    return rv;
}

static void add_learner(struct sim *s, unsigned leader, unsigned node)
{
    struct sim_node *n = &s->nodes[node];
    if (propose(s, leader, RAFT_CHANGE_ADD_LEARNER, node) != 0)
        return;
    n->member_gen++; /* a pending stop is off */
    if (n->out) {
        n->out = false;
        sim_node_start(s, node);
    }
}

static void remove_member(struct sim *s, unsigned leader, unsigned node)
{
    if (propose(s, leader, RAFT_CHANGE_REMOVE, node) != 0)
        return;
    sim_schedule(s, sim_rng_range(&s->rng, STOP_MIN_MS, STOP_MAX_MS),
                 SIM_EV_STOP, node, s->nodes[node].member_gen);
}

/* Keep the voters mostly within [MIN, MAX]: promote a learner if there is
 * one, else add below MIN, remove at MAX, and either way in between. */
static void change(struct sim *s, unsigned leader)
{
    struct raft_conf conf = *raft_conf_of(s->nodes[leader].core);
    size_t voters = count_voters(&conf);
    int learner = pick_slot(s, &conf, true, 0);
    int outsider = pick_slot(s, &conf, false, -1);
    int member;
    if (learner >= 0 && sim_rng_chance(&s->rng, 7000)) {
        (void)propose(s, leader, RAFT_CHANGE_PROMOTE, (unsigned)learner);
        return;
    }
    if (outsider >= 0 && voters < MEMBER_MAX_VOTERS &&
        (voters < MEMBER_MIN_VOTERS || sim_rng_chance(&s->rng, 5000))) {
        add_learner(s, leader, (unsigned)outsider);
        return;
    }
    /* Down to 2 voters at least; a learner may always go. */
    member = pick_slot(s, &conf, true, voters > 2 ? -1 : 0);
    if (member >= 0)
        remove_member(s, leader, (unsigned)member);
}

static void transfer(struct sim *s, unsigned leader)
{
    struct raft *r = s->nodes[leader].core;
    struct raft_conf conf = *raft_conf_of(r);
    int target = pick_slot(s, &conf, true, 1);
    int rv;
    if (target < 0 || (unsigned)target == leader)
        return;
    rv = raft_transfer_leader(r, (raft_id)target + 1);
    SIM_TRACE(s, "membership: n%u transfers leadership to n%d: %s", leader + 1,
              target + 1, rkv_strerror(rv));
    if (rv == 0)
        s->stats.transfers++;
    else if (rv != RKV_EBUSY && rv != RKV_EINVAL)
        sim_violation(s, "Transfer", "n%u raft_transfer_leader: %s", leader + 1,
                      rkv_strerror(rv));
    sim_node_pump(s, leader);
}

void sim_member_fault(struct sim *s, bool transfer_leader)
{
    int leader = sim_find_leader(s);
    if (leader < 0)
        return;
    if (transfer_leader)
        transfer(s, (unsigned)leader);
    else
        change(s, (unsigned)leader);
}

static bool conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->members[i].id != b->members[i].id ||
            a->members[i].voter != b->members[i].voter)
            return false;
    return true;
}

/* The configuration committed on `r`, the latest in force at its commit
 * index. Returns 0 or the error of raft_conf_at. */
static int committed_conf(const struct raft *r, struct raft_conf *out)
{
    return raft_conf_at(r, raft_commit_index(r), out);
}

void sim_member_stop_event(struct sim *s, unsigned node, uint64_t gen)
{
    struct sim_node *n = &s->nodes[node];
    struct raft_conf committed;
    int leader = sim_find_leader(s);
    struct raft *r;
    if (gen != n->member_gen || n->out)
        return; /* added again since, or already stopped */
    if (leader < 0) {
        sim_schedule(s, STOP_RETRY_MS, SIM_EV_STOP, node, gen);
        return;
    }
    r = s->nodes[leader].core;
    if (raft_conf_find(raft_conf_of(r), node + 1) != NULL)
        return; /* the removal was lost with a deposed leader's log */
    if (committed_conf(r, &committed) != 0 ||
        raft_conf_find(&committed, node + 1) != NULL) {
        sim_schedule(s, STOP_RETRY_MS, SIM_EV_STOP, node, gen);
        return;
    }
    sim_node_stop(s, node);
}

bool sim_member_probe_done(const struct sim *s)
{
    struct raft_conf committed;
    const struct raft_conf *conf;
    int leader = sim_find_leader(s);
    if (leader < 0)
        return false;
    conf = raft_conf_of(s->nodes[leader].core);
    if (committed_conf(s->nodes[leader].core, &committed) != 0 ||
        !conf_equal(conf, &committed))
        return false;
    for (size_t i = 0; i < conf->n; i++) {
        raft_id id = conf->members[i].id;
        if (id == 0 || id > s->n_slots || !s->nodes[id - 1].probe_applied)
            return false;
    }
    return true;
}
