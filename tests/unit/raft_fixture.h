/* A test fixture for the pure Raft core (include/raftkv/raft.h): 1 to 5
 * real cores in one process, wired by a FIFO message queue, each with an
 * in-memory "disk" that honors the Ready contract synchronously (persist,
 * send, apply, resolve reads, advance). Every message and entry leaving a
 * core is deep-copied, since the core's memory is valid only until
 * raft_advance(). Contract checks (entries contiguous, must_sync set when
 * term/vote/entries change, acknowledge and apply only durable entries,
 * apply in order) fail the running test through the unit runner.
 * Snapshots are modeled by their metadata and configuration: fx_compact()
 * saves one, a leader sends it as one 16-byte chunk (index and term) and a
 * follower installs it; the state machine ("applied") then restarts after
 * it, and so does a restart (raft_load_snapshot_conf). */
#ifndef RKV_RAFT_FIXTURE_H
#define RKV_RAFT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftkv/raft.h"

#define FX_MAX_NODES 5                   /* largest cluster a test builds */
#define FX_TYPES (RAFT_MSG_TYPE_MAX + 1) /* message counters per type */
#define FX_IDS (FX_MAX_NODES + 1)        /* counters indexed by id, 0 unused */

/* A summary of the last Ready a node handed out and the fixture processed. */
struct fx_ready_info
{
    bool hs_changed; /* as handed out */
    bool must_sync;  /* as handed out */
    size_t n_reads;  /* read states */
};

struct fx_node
{
    struct raft *r;                 /* the core; NULL while crashed */
    struct raft_config cfg;         /* used by every (re)start */
    struct raft_hard_state hs;      /* stored hard state */
    struct raft_entry *log;         /* stored log, after `snap` */
    size_t n_log, cap_log;          /* entries stored, allocated */
    struct raft_entry *applied;     /* applied since the last start or
                                       snapshot install, in order */
    size_t n_applied, cap_applied;  /* entries applied, allocated */
    struct raft_read_state *reads;  /* read states resolved, in order */
    size_t n_reads, cap_reads;      /* read states kept, allocated */
    struct fx_ready_info last;      /* the last Ready processed */
    struct raft_snapshot_meta snap; /* stored snapshot, index 0 if none;
                                       log[i].index == snap.index + i + 1 */
    raft_index applied_base;        /* the state machine was restored from
                                       the snapshot at this index: applied[i]
                                       has index applied_base + i + 1 */
    uint8_t incoming[16];           /* snapshot being received */
    struct raft_conf snap_conf;     /* stored with `snap`, n == 0: none */
};

struct fx
{
    size_t n;                           /* nodes, ids 1..n */
    struct fx_node nodes[FX_MAX_NODES]; /* nodes[i] has id i + 1 */
    struct raft_msg *queue;             /* in flight, deep copies, FIFO */
    size_t q_len, q_cap;                /* queued, allocated */
    uint32_t drop[FX_IDS][FX_IDS];      /* [from][to]: bit t drops type t */
    uint64_t sent[FX_TYPES][FX_IDS][FX_IDS];    /* handed out by Readies */
    uint64_t rejects[FX_TYPES][FX_IDS][FX_IDS]; /* of those, reject set */
    /* Optional observer: called for each message a Ready hands out
     * (delivered false) and again when it is stepped into its recipient
     * (delivered true). */
    void (*tap)(void *ctx, const struct raft_msg *m, bool delivered);
    void *tap_ctx;        /* passed to tap */
    bool tolerate_enomem; /* RKV_ENOMEM from a core crashes its node
                             instead of failing the test */
    struct fx *next_live; /* list of fixtures not yet freed */
};

/* Create a fixture of `n` nodes (1..FX_MAX_NODES): raft_config_default(),
 * voters 1..n, seed = id, empty storage, and no trace unless RKV_TEST_TRACE
 * is set in the environment (then every core traces to stderr). No core runs
 * yet: a test may adjust nodes[i].cfg or store a log (fx_store_log) before
 * fx_start(). Free with fx_free(). */
struct fx *fx_alloc(size_t n);
/* Start every node from its stored state (raft_new + raft_load). */
void fx_start(struct fx *f);
/* fx_alloc() then fx_start(). */
struct fx *fx_new(size_t n);
/* Free every core, the queue and the storage. A fixture that a failing
 * ASSERT left behind stays on a list of live fixtures, so that the leak
 * checker reports the failure and not its lost memory. */
void fx_free(struct fx *f);

/* The node of id `id` and its core (NULL while crashed). */
struct fx_node *fx_node(struct fx *f, raft_id id);
struct raft *fx_raft(struct fx *f, raft_id id);

/* Before fx_start: store a log of `n` entries with the given terms (index
 * i + 1 gets terms[i], payload "<index>") and a hard state of `term`. */
void fx_store_log(struct fx *f,
                  raft_id id,
                  const raft_term *terms,
                  size_t n,
                  raft_term term);

/* Process one Ready of node `id`, if it has one; returns whether it did. */
bool fx_ready(struct fx *f, raft_id id);
/* Steps 1-4 of the Ready contract for `rd`, without raft_advance(): for a
 * test that holds a Ready while the world goes on. */
void fx_process(struct fx *f, raft_id id, const struct raft_ready *rd);

/* A message header for crafting; other fields are zero. */
struct raft_msg fx_msg(int type, raft_id from, raft_id to, raft_term term);
/* Process Readies of node `id` until it has none (bounded). */
void fx_drain(struct fx *f, raft_id id);
/* Step a crafted message into node m->to. Returns raft_step()'s result. */
int fx_step(struct fx *f, const struct raft_msg *m);
/* Deliver, in queue order, every queued message from `from` to `to` (0 is
 * any) and nothing else; Readies are not processed. Returns how many were
 * taken off the queue (delivered or dropped). */
size_t fx_deliver(struct fx *f, raft_id from, raft_id to);
/* Process Readies and deliver messages until nothing moves (bounded). */
void fx_stabilize(struct fx *f);
/* Tick node `id` (or every live node) `k` times, stabilizing after each. */
void fx_tick(struct fx *f, raft_id id, unsigned k);
void fx_tick_all(struct fx *f, unsigned k);
/* Tick node `id` alone, processing nothing, until it leaves the follower
 * role (a pre-candidate with PreVote on, a candidate otherwise). */
void fx_campaign(struct fx *f, raft_id id);
/* Tick node `id` alone, stabilizing, until it is leader. Other nodes must
 * be willing to vote: outside any leader lease, or check_quorum off. */
void fx_elect(struct fx *f, raft_id id);
/* The leader of the highest term among live nodes, 0 if none. */
raft_id fx_leader(struct fx *f);

/* Propose `s` (copied) on node `id`; fails the test on error. */
void fx_propose(struct fx *f, raft_id id, const char *s);
/* In tolerant mode, crash node `id` if rv is RKV_ENOMEM; otherwise fail the
 * test unless rv is 0. Returns whether rv was 0. */
bool fx_check(struct fx *f, raft_id id, int rv);

/* Links. A dropped message is lost when it would be delivered. */
void fx_cut(struct fx *f, raft_id a, raft_id b); /* both directions */
void fx_isolate(struct fx *f, raft_id id);       /* from every other node */
void fx_drop(struct fx *f, raft_id from, raft_id to, int type);
void fx_heal(struct fx *f); /* every link, every type */

/* Crash: free the core, keep the storage. Restart: a new core from the
 * stored hard state and log, with an empty state machine. */
void fx_crash(struct fx *f, raft_id id);
void fx_restart(struct fx *f, raft_id id);

/* Queued messages of `type` (0: any) from `from` to `to` (0: any). */
size_t fx_count(const struct fx *f, int type, raft_id from, raft_id to);
const struct raft_msg *fx_find(const struct fx *f,
                               int type,
                               raft_id from,
                               raft_id to);
/* Drop every queued message. */
void fx_clear(struct fx *f);
/* Reset the sent and rejects counters. */
void fx_reset_counters(struct fx *f);

/* Node `id` saves a snapshot of its state machine at `index` (at most its
 * applied index) and compacts: raft_compact(), then the stored log drops
 * the entries it covers. Fails the test on error. */
void fx_compact(struct fx *f, raft_id id, raft_index index);

/* Whether the stored logs of `a` and `b` are identical, terms and data,
 * and start after the same snapshot index. */
bool fx_logs_equal(const struct fx *f, raft_id a, raft_id b);

/* An allocator that fails its `fail_at`-th call (malloc or realloc,
 * counting from 1) and counts the blocks still live. Set `a.ctx` to the
 * struct itself before handing `a` to a core. */
struct fx_fail_alloc
{
    struct rkv_alloc a;    /* handed to the cores */
    unsigned long calls;   /* malloc and realloc calls so far */
    unsigned long fail_at; /* the call to fail, 0 for none */
    long live;             /* blocks allocated and not yet freed */
};

/* A fx_fail_alloc that fails nothing yet (a.ctx still to set). */
struct fx_fail_alloc fx_fail_alloc(void);

#endif /* RKV_RAFT_FIXTURE_H */
