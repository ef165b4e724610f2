/* Robustness of the core against bad input and failing allocation: a
 * malformed peer message is refused with RKV_EPROTO and changes nothing; an
 * allocation failure at any point of a short scenario surfaces as
 * RKV_ENOMEM (or is absorbed), never as a crash, a leak or a broken
 * Ready contract. Each malformed message is stepped in a child process, so
 * that a crash is reported as a failed case instead of ending the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/runner.h"
#include "raft_fixture.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* What a malformed message must leave as it was. */
struct view
{
    raft_term term;      /* current term */
    raft_id vote;        /* vote in it */
    int role;            /* enum raft_role */
    raft_id leader;      /* known leader */
    raft_index commit;   /* commit index */
    raft_index last;     /* last log index */
    raft_term last_term; /* its term */
};

static struct view view_of(const struct raft *r)
{
    return (struct view){raft_term_of(r),
                         raft_vote_of(r),
                         raft_role_of(r),
                         raft_leader_of(r),
                         raft_commit_index(r),
                         raft_last_index(r),
                         raft_term_at(r, raft_last_index(r))};
}

static bool view_equal(const struct view *a, const struct view *b)
{
    return a->term == b->term && a->vote == b->vote && a->role == b->role &&
           a->leader == b->leader && a->commit == b->commit &&
           a->last == b->last && a->last_term == b->last_term;
}

/* Child exit codes of step_isolated(). */
enum { CHILD_OK = 0, CHILD_RV = 10, CHILD_CHANGED = 11, CHILD_READY = 12 };

/* Step `m` into `r` in a child process and check there that it returned
 * RKV_EPROTO and changed nothing. Returns the child's wait status. */
static int step_isolated(struct raft *r, const struct raft_msg *m)
{
    int status = 0;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct view before = view_of(r), after;
        int rv = raft_step(r, m);
        after = view_of(r);
        if (rv != RKV_EPROTO)
            _exit(CHILD_RV);
        if (!view_equal(&before, &after))
            _exit(CHILD_CHANGED);
        if (raft_has_ready(r))
            _exit(CHILD_READY);
        _exit(CHILD_OK);
    }
    ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
    return status;
}

/* A valid APPEND from the leader, node 1, to node 2: the no-op again. */
static struct raft_msg valid_append(struct raft_entry *es)
{
    struct raft_msg m = fx_msg(RAFT_MSG_APPEND, 1, 2, 3);
    es[0] = (struct raft_entry){.term = 3, .index = 3, .type = RAFT_ENTRY_NOOP};
    m.index = 2;
    m.log_term = 2;
    m.entries = es;
    m.n_entries = 1;
    return m;
}

/* Defect number `i` of a message's envelope, made on the valid APPEND `m`
 * for node *target. Returns the defect, or NULL past the last. */
static const char *bad_envelope(size_t i,
                                struct raft_msg *m,
                                struct raft_entry *es,
                                raft_id *target)
{
    (void)es;
    switch (i) {
        case 0:
            m->type = 0;
            return "type 0";
        case 1:
            m->type = RAFT_MSG_TYPE_MAX + 1;
            return "type past the last";
        case 2:
            m->type = 255;
            return "type 255";
        case 3:
            m->from = 9;
            return "from an unknown node";
        case 4:
            m->from = 0;
            return "from node 0";
        case 5:
            m->from = 2;
            return "from the recipient itself";
        case 6:
            m->to = 3;
            return "to another node";
        case 7:
            m->to = 0;
            return "to node 0";
        case 8:
            *m = fx_msg(RAFT_MSG_PROPOSE, 2, 1, 3);
            *target = 1;
            return "proposal without entries";
        case 9:
            *m = fx_msg(RAFT_MSG_SNAPSHOT, 1, 2, 3);
            m->index = 9;
            m->log_term = 3;
            m->len = 5;
            return "snapshot chunk data missing";
        case 10:
            *m = fx_msg(RAFT_MSG_SNAPSHOT, 1, 2, 3);
            m->index = 9;
            m->log_term = 7;
            m->done = true;
            return "snapshot of a term after its sender's";
        case 11:
            *m = fx_msg(RAFT_MSG_APPEND_RESP, 2, 1, 3);
            m->index = 99;
            *target = 1;
            return "acknowledgement past the leader's log";
        default:
            return NULL;
    }
}

/* Defect number `i` of the entries of the valid APPEND `m`. */
static const char *bad_entries(size_t i,
                               struct raft_msg *m,
                               struct raft_entry *es,
                               raft_id *target)
{
    static const uint8_t byte;
    (void)target;
    switch (i) {
        case 0:
            m->entries = NULL;
            return "entries missing";
        case 1:
            es[0].index = 4;
            return "first entry not right after prev";
        case 2:
            es[1] = es[0];
            es[1].index = 5;
            m->n_entries = 2;
            return "gap between entries";
        case 3:
            es[1] = es[0];
            es[1].index = 4;
            es[1].term = 2;
            m->n_entries = 2;
            return "entry terms decreasing";
        case 4:
            es[0].term = 4;
            return "entry of a term after the message's";
        case 5:
            es[0].term = 1;
            return "entry of a term before prev's";
        case 6:
            m->index = UINT64_MAX;
            es[0].index = 0;
            return "entry index wraps around";
        case 7:
            es[0].len = 3;
            return "entry data missing";
        case 8:
            es[0].len = RAFT_ENTRY_MAX + 1;
            es[0].data = &byte;
            return "entry too large";
        case 9:
            es[0].type = 0;
            return "entry type 0";
        case 10:
            es[0].type = RAFT_ENTRY_CONF + 1;
            return "entry type unknown";
        default:
            return NULL;
    }
}

static const char *child_error(int status)
{
    if (!WIFEXITED(status))
        return "crashed";
    switch (WEXITSTATUS(status)) {
        case CHILD_RV:
            return "not refused with RKV_EPROTO";
        case CHILD_CHANGED:
            return "state changed";
        case CHILD_READY:
            return "work queued";
        default:
            return "crashed";
    }
}

/* The cluster: node 1 leads term 3, every log is [1:1, 2:2, 3:3]. */
TEST(raft_robust, malformed_messages_return_eproto_and_change_nothing)
{
    static const char *(*const makers[])(size_t, struct raft_msg *,
                                         struct raft_entry *, raft_id *) = {
        bad_envelope, bad_entries};
    static const raft_term terms[] = {1, 2};
    struct fx *f = fx_alloc(3);
    struct raft_entry es[2];
    struct raft_msg m;
    unsigned failed = 0;
    for (raft_id id = 1; id <= 3; id++)
        fx_store_log(f, id, terms, 2, 2);
    fx_start(f);
    fx_elect(f, 1);
    ASSERT_EQ_U64(raft_term_of(fx_raft(f, 1)), 3);
    ASSERT_EQ_U64(raft_last_index(fx_raft(f, 2)), 3);
    for (size_t k = 0; k < ARRAY_LEN(makers); k++)
        for (size_t i = 0;; i++) {
            raft_id target = 2;
            const char *name;
            int status;
            m = valid_append(es);
            name = makers[k](i, &m, es, &target);
            if (name == NULL)
                break;
            status = step_isolated(fx_raft(f, target), &m);
            if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK)
                continue;
            printf("    %s: %s\n", name, child_error(status));
            failed++;
        }
    ASSERT_EQ_U64(failed, 0);
    m = valid_append(es); /* the cases' base is valid */
    ASSERT_OK(fx_step(f, &m));
    fx_free(f);
}

static bool alive(struct fx *f, raft_id id)
{
    return fx_raft(f, id) != NULL;
}

/* Tick `id` until it leads (or is gone), at most `max` ticks. */
static void tick_to_lead(struct fx *f, raft_id id, unsigned max)
{
    for (unsigned i = 0;
         i < max && alive(f, id) && raft_role_of(fx_raft(f, id)) != RAFT_LEADER;
         i++)
        fx_tick(f, id, 1);
}

/* A core call in the scenario: refusing for want of a leader is fine. */
static void call(struct fx *f, raft_id id, int rv)
{
    if (rv != RKV_ENOLEADER)
        (void)fx_check(f, id, rv);
}

/* Node 1 allocates through `fa`, starts from a stored log, and leads
 * (`leads`) or follows node 2 through an election, proposals on node 1 and
 * on the other of the two, reads on node 1 (local or forwarded), a restart
 * and heartbeats. Every core error must be RKV_ENOMEM (the fixture then
 * frees that core) or, without a leader, RKV_ENOLEADER. */
static void scenario(struct fx_fail_alloc *fa, bool leads)
{
    struct fx *f = fx_alloc(3);
    raft_id leader = leads ? 1 : 2, other = leads ? 2 : 1;
    f->tolerate_enomem = true;
    f->nodes[0].cfg.alloc = &fa->a;
    fx_store_log(f, 1, (const raft_term[]){1, 1}, 2, 1);
    fx_start(f);
    tick_to_lead(f, leader, 200);
    for (int k = 0; k < 3; k++) {
        if (alive(f, 1))
            call(f, 1, raft_propose(fx_raft(f, 1), "one", 3, NULL, NULL));
        if (alive(f, 1))
            call(f, 1, raft_read_index(fx_raft(f, 1), 1));
        if (alive(f, other))
            call(f, other,
                 raft_propose(fx_raft(f, other), "two", 3, NULL, NULL));
        fx_stabilize(f);
    }
    if (alive(f, 1)) {
        fx_crash(f, 1);
        fx_restart(f, 1);
    }
    fx_tick_all(f, 2 * f->nodes[0].cfg.heartbeat_ticks);
    fx_free(f);
}

static void sweep(bool leads)
{
    struct fx_fail_alloc fa = fx_fail_alloc();
    unsigned long total;
    fa.a.ctx = &fa;
    scenario(&fa, leads);
    total = fa.calls;
    ASSERT_EQ_U64(fa.live, 0);
    ASSERT_TRUE(total > 10);
    for (unsigned long n = 1; n <= total; n++) {
        fa.calls = 0;
        fa.fail_at = n;
        fa.live = 0;
        scenario(&fa, leads);
        ASSERT_EQ_U64_MSG(fa.live, 0, "blocks leaked");
    }
}

TEST(raft_robust, allocation_failure_sweep_on_leader)
{
    sweep(true);
}

TEST(raft_robust, allocation_failure_sweep_on_follower)
{
    sweep(false);
}

static void config_3(struct raft_config *cfg)
{
    raft_config_default(cfg);
    cfg->id = 1;
    cfg->n_voters = 3;
    cfg->voters[0] = 1;
    cfg->voters[1] = 2;
    cfg->voters[2] = 3;
}

TEST(raft_robust, raft_new_rejects_bad_config)
{
    static const char *const cases[] = {
        "id 0",
        "id not a voter",
        "no voters",
        "too many voters",
        "voter 0",
        "duplicate voter",
        "election_ticks 1",
        "heartbeat_ticks 0",
        "heartbeat not below election",
        "max_inflight 0",
        "max_msg_bytes 0",
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct raft_config cfg;
        struct raft *r = NULL;
        config_3(&cfg);
        switch (i) {
            case 0:
                cfg.id = 0;
                break;
            case 1:
                cfg.id = 4;
                break;
            case 2:
                cfg.n_voters = 0;
                break;
            case 3:
                cfg.n_voters = RAFT_MAX_NODES + 1;
                break;
            case 4:
                cfg.voters[2] = 0;
                break;
            case 5:
                cfg.voters[2] = 2;
                break;
            case 6:
                cfg.election_ticks = 1;
                break;
            case 7:
                cfg.heartbeat_ticks = 0;
                break;
            case 8:
                cfg.heartbeat_ticks = cfg.election_ticks;
                break;
            case 9:
                cfg.max_inflight = 0;
                break;
            default:
                cfg.max_msg_bytes = 0;
                break;
        }
        ASSERT_EQ_U64_MSG(raft_new(&cfg, &r) == RKV_EINVAL, 1, cases[i]);
        ASSERT_TRUE(r == NULL);
    }
}

/* What a previous incarnation stored is checked before it is believed. */
TEST(raft_robust, raft_load_rejects_inconsistent_state)
{
    static const struct
    {
        const char *name;
        struct raft_hard_state hs;
        raft_index indexes[3];
        raft_term terms[3];
        size_t n;
    } cases[] = {
        {"not starting at 1", {2, 0, 0}, {2, 3}, {1, 1}, 2},
        {"gap", {2, 0, 0}, {1, 3}, {1, 1}, 2},
        {"terms decreasing", {2, 0, 0}, {1, 2}, {2, 1}, 2},
        {"entry term after hard state", {1, 0, 0}, {1, 2}, {1, 2}, 2},
        {"commit past the log", {2, 0, 3}, {1, 2}, {1, 1}, 2},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct raft_config cfg;
        struct raft_entry es[3];
        struct raft *r;
        config_3(&cfg);
        for (size_t j = 0; j < cases[i].n; j++)
            es[j] = (struct raft_entry){.term = cases[i].terms[j],
                                        .index = cases[i].indexes[j],
                                        .type = RAFT_ENTRY_NORMAL};
        ASSERT_OK(raft_new(&cfg, &r));
        ASSERT_EQ_U64_MSG(
            raft_load(r, &cases[i].hs, es, cases[i].n) == RKV_EINVAL, 1,
            cases[i].name);
        ASSERT_EQ_U64_MSG(raft_last_index(r), 0, cases[i].name);
        raft_free(r);
    }
}
