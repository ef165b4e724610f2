/* Internals of raftkv-sim, the deterministic simulator: 3 or 5 real cores
 * in one process (up to 7 with --membership, which adds and removes
 * nodes), virtual time in milliseconds, one seed driving every choice. The
 * event queue (sim_queue.c), network (sim_net.c), disk (sim_disk.c), nodes
 * (sim_node.c), clients (sim_client.c), invariant checks (sim_check.c),
 * membership changes (sim_member.c) and the run driver with its fault
 * injector (sim.c) share the declarations below; main.c is the command
 * line. */
#ifndef RKV_SIM_H
#define RKV_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftkv/raft.h"

#define SIM_MAX_NODES 7 /* node slots: 5 voters + 2 to add */
#define SIM_SPARE_SLOTS                                              \
    2                        /* slots beyond the initial voters with \
                                --membership */
#define SIM_MAX_CLIENTS 4    /* simulated clients per run */
#define SIM_TICK_MS 10       /* one raft_tick() is 10 ms of virtual time */
#define SIM_LIVENESS_MS 5000 /* after healing, a write commits within, ms */
#define SIM_RING_LINES 64    /* trace lines kept for a violation report */
#define SIM_LINE_MAX 320     /* longest trace line kept, bytes */

/* ---- PRNG: xoshiro256**, seeded through splitmix64 (sim.c). ---- */

struct sim_rng
{
    uint64_t s[4]; /* generator state, never all zero */
};

void sim_rng_seed(struct sim_rng *g, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *g);
/* Uniform in [lo, hi] (inclusive), by rejection sampling. lo <= hi. */
uint64_t sim_rng_range(struct sim_rng *g, uint64_t lo, uint64_t hi);
/* True with probability pm / 10000. */
bool sim_rng_chance(struct sim_rng *g, unsigned pm);

/* Abort the simulator on allocation failure: it is a test tool, and an
 * out-of-memory run says nothing about the core. */
void *sim_xmalloc(size_t size);
void *sim_xrealloc(void *p, size_t size);

/* ---- Event queue: a binary heap ordered by (time, sequence) ---- */

enum sim_event_type {
    SIM_EV_TICK = 1,      /* node: one raft_tick; arg: incarnation */
    SIM_EV_DELIVER,       /* msg reaches msg->m.to */
    SIM_EV_PERSISTED,     /* node: write+fsync of its Ready done; arg: inc */
    SIM_EV_CRASH,         /* node: crash; arg: downtime, ms */
    SIM_EV_RESTART,       /* node: restart if down */
    SIM_EV_FAULT,         /* chaos: inject the next random fault */
    SIM_EV_NET_HEAL,      /* remove partition number arg */
    SIM_EV_CLOCK_RESTORE, /* node: tick at the normal rate again; arg: inc */
    SIM_EV_CHAOS_END,     /* heal everything, start the liveness check */
    SIM_EV_CLIENT,        /* client `node`: next step; arg: its epoch */
    SIM_EV_PROBE,         /* liveness probe: propose if due */
    SIM_EV_DEADLINE,      /* liveness deadline */
    SIM_EV_STOP,          /* node: stop it if removed; arg: member_gen */
};

struct sim_msg; /* a deep-copied message in flight (sim_net.c) */

struct sim_event
{
    uint64_t time_ms;    /* virtual time it fires */
    uint64_t seq;        /* tie-breaker: insertion order */
    uint8_t type;        /* enum sim_event_type */
    uint8_t node;        /* node or client slot, 0-based */
    uint64_t arg;        /* per type, see enum sim_event_type */
    struct sim_msg *msg; /* SIM_EV_DELIVER only; owned by the event */
};

struct sim_queue
{
    struct sim_event *heap; /* min-heap on (time_ms, seq) */
    size_t n, cap;          /* events held, slots allocated */
    uint64_t next_seq;      /* sequence number of the next push */
};

void sim_queue_init(struct sim_queue *q);
/* Frees the queue and every message still in it. */
void sim_queue_close(struct sim_queue *q);
void sim_queue_push(struct sim_queue *q, const struct sim_event *ev);
/* Pop the earliest event into *ev; false when empty. */
bool sim_queue_pop(struct sim_queue *q, struct sim_event *ev);

/* ---- Disk: what a node has persisted (sim_disk.c) ---- */

/* A snapshot file on the simulated disk (format: sim_snap.c). */
struct sim_snap_file
{
    struct raft_snapshot_meta meta; /* snapshot it holds, index 0 if none */
    bool has_conf;                  /* a configuration is recorded with it */
    struct raft_conf conf;          /* that configuration */
    uint8_t *bytes;                 /* its content, owned */
    size_t len, cap;                /* bytes held, allocated */
};

/* One write handed to the disk and not yet fsynced: step 1 of one Ready,
 * its parts in the order the host writes them, or the drop of the log
 * prefix a new snapshot covers. */
struct sim_disk_write
{
    bool has_hs;                            /* the write carries a hard state */
    struct raft_hard_state hs;              /* that hard state */
    bool has_chunk;                         /* a chunk of the incoming file */
    struct raft_snapshot_meta chunk_meta;   /* snapshot the chunk belongs to */
    uint64_t chunk_offset;                  /* where it goes, bytes */
    uint8_t *chunk;                         /* its bytes, owned */
    size_t chunk_len;                       /* bytes */
    bool install;                           /* incoming becomes current */
    struct raft_snapshot_meta install_meta; /* the snapshot installed */
    bool has_install_conf;                  /* install records a conf */
    struct raft_conf install_conf;          /* rd.snapshot_conf, copied */
    struct raft_entry *entries;             /* copied entries, data owned */
    size_t n;                               /* number of entries */
    raft_index drop_to; /* drop log entries up to here, 0 if none */
};

struct sim_disk
{
    struct raft_hard_state hs;      /* durable hard state */
    struct sim_snap_file snap;      /* durable current snapshot */
    struct sim_snap_file incoming;  /* durable part of a snapshot received */
    struct raft_entry *log;         /* durable WAL records, ascending and
                                       contiguous, data owned */
    uint64_t *sums;                 /* checksum stored with each record */
    size_t n_log, cap_log;          /* records held, slots allocated */
    struct sim_disk_write *pending; /* written, not synced, oldest first */
    size_t n_pending, cap_pending;  /* writes held, slots allocated */
    raft_index last_written;        /* last index once pending is applied */
    raft_index snap_written;        /* snapshot index, pending applied */
    struct raft_snapshot_meta incoming_written; /* incoming snapshot and */
    uint64_t incoming_len_written; /* its length, bytes, pending applied */
};

void sim_disk_init(struct sim_disk *d);
void sim_disk_close(struct sim_disk *d);
/* Step 1 of the Ready contract, before the fsync: queue `rd`'s hard state
 * (if changed), snapshot chunk, install and entries (all copied). Returns
 * 0, or RKV_EINVAL with `errmsg` (RKV_ERRMSG_LEN bytes) set if the write
 * cannot follow what was written before: a chunk out of place, an install
 * of a snapshot not received, entries leaving a gap or overwriting what a
 * snapshot covers. */
int sim_disk_write(struct sim_disk *d,
                   const struct raft_ready *rd,
                   char *errmsg);
/* fsync: every pending write becomes durable, in order. */
void sim_disk_sync(struct sim_disk *d);
/* The host saved snapshot `f` (its bytes now owned by the disk; *f is
 * emptied): it is durable at once (written aside, fsynced, renamed), and
 * the WAL prefix it covers is queued for dropping. */
void sim_disk_save_snapshot(struct sim_disk *d, struct sim_snap_file *f);
/* Power loss: writes not yet synced are lost. With `tear` non-NULL (it
 * draws where), the last one is torn instead if it has entries or chunk
 * bytes, and the ones before it survive (see sim_disk.c). Returns true if
 * a write was torn. */
bool sim_disk_crash(struct sim_disk *d, struct sim_rng *tear);
/* Restart: cut the WAL at its first record whose checksum fails (a torn
 * tail). Returns the number of records cut. */
size_t sim_disk_recover(struct sim_disk *d);

/* ---- Network (sim_net.c) ---- */

struct sim_msg
{
    struct raft_msg m; /* entries and data point into this allocation */
};

struct sim_net
{
    bool blocked[SIM_MAX_NODES][SIM_MAX_NODES]; /* [from][to]: link cut */
    uint64_t partition; /* number of the current partition, 0 if none */
    unsigned drop_pm;   /* chance a message is lost, per 10000 */
    unsigned dup_pm;    /* chance a message is delivered twice */
    unsigned slow_pm;   /* chance of a long delay (reordering) */
};

struct sim;
/* Copy `m` (deep) and schedule its delivery, or lose it. */
void sim_net_send(struct sim *s, const struct raft_msg *m);
/* Deliver a message that arrived: drop it if the link is now cut or the
 * node down, else raft_step it. Frees the message. */
void sim_net_deliver(struct sim *s, struct sim_msg *sm);
/* Cut links and schedule the heal: around `victim` (0-based) if it is not
 * negative, else at random (several shapes). */
void sim_net_partition(struct sim *s, int victim);
/* Restore every link. */
void sim_net_heal(struct sim *s);

/* ---- Invariant checker (sim_check.c) ---- */

/* What the registries remember of one entry. */
struct sim_reg_entry
{
    raft_term term;      /* the entry's term */
    raft_term prev_term; /* term of the entry before it */
    uint64_t hash;       /* of type and data */
};

/* All entries ever seen at one index: one per distinct term. */
struct sim_reg_slot
{
    struct sim_reg_entry *v; /* entries, one per term */
    uint32_t n, cap;         /* held, allocated */
};

/* What the registry remembers of one committed entry. */
struct sim_commit
{
    raft_term term;    /* the entry's term */
    uint64_t hash;     /* of type and data */
    raft_term in_term; /* term in which it was committed: the lowest term
                          of a node whose commit index was seen covering it */
};

struct sim_check
{
    struct sim_reg_slot *logs;    /* by index: Log Matching registry */
    struct sim_commit *committed; /* by index: committed entries */
    size_t cap;                   /* slots allocated in both arrays */
    raft_index committed_max;     /* committed[1..committed_max] are set */
    raft_id *term_leader;         /* by term: the leader, 0 if none */
    size_t cap_terms;             /* slots allocated in term_leader */
};

void sim_check_init(struct sim_check *c);
void sim_check_close(struct sim_check *c);
uint64_t sim_entry_hash(const struct raft_entry *e);
/* Protocol moments seen by a check, as bit masks of nodes (bit i: node i,
 * 0-based); the fault injector strikes at some of them. */
struct sim_moments
{
    unsigned elected;      /* became leader since the last check */
    unsigned first_commit; /* leader whose commit index first moved in its
                              term */
};

/* Check every invariant that the last event may have broken, on every
 * live node. Records the first violation in `s`. */
void sim_check_step(struct sim *s, struct sim_moments *mo);
/* Check entries a node hands out to persist (called on raft_ready). */
void sim_check_ready(struct sim *s, unsigned node, const struct raft_ready *rd);
/* Check one entry a node applies (State Machine Safety). */
void sim_check_apply(struct sim *s, unsigned node, const struct raft_entry *e);
/* Check a node's whole log against the registries. */
void sim_check_log(struct sim *s, unsigned node);
/* Check the state machine a node restored from a snapshot, sm[1..index]
 * and the term at index, against the committed registry (State Machine
 * Safety). `how` names the occasion for the report. */
void sim_check_restored(struct sim *s,
                        unsigned node,
                        const struct raft_snapshot_meta *meta,
                        const char *how);

/* ---- Nodes ---- */

/* The checker's memory of one node between two steps. */
struct sim_node_chk
{
    raft_index commit_seen;   /* commit index already checked */
    bool was_leader;          /* was leader at the last check */
    raft_term lead_term;      /* its term then */
    raft_index lead_last;     /* its last index then */
    raft_term lead_last_term; /* term at lead_last then */
    bool lead_committed;      /* its commit index moved since it was elected */
};

struct sim_node
{
    raft_id id;        /* 1-based */
    struct sim *sim;   /* back pointer, for the trace callback */
    struct raft *core; /* NULL while crashed */
    uint64_t inc;      /* incarnation: events of older ones are stale */
    unsigned tick_ms;  /* current tick period (slow clock: longer) */
    uint64_t disk_slow_until_ms; /* its fsyncs stall until then (virtual) */
    struct sim_disk disk;        /* survives crashes */
    bool ready_out;              /* rd taken, its write+fsync in progress */
    struct raft_ready rd;        /* the Ready being processed */
    bool out;                    /* stopped for good, or never started: no
                                    restart until added (--membership) */
    uint64_t member_gen;         /* bumped when added: older SIM_EV_STOP
                                    events are stale */
    uint64_t *sm;                /* state machine: hash applied at each index */
    raft_index applied;          /* last index applied to sm */
    raft_term applied_term;      /* term of the entry at `applied` */
    size_t cap_sm;               /* slots allocated in sm */
    bool probe_applied;          /* applied a liveness probe entry */
    struct sim_node_chk chk;     /* checker state */
};

/* ---- Clients (sim_client.c) ---- */

enum sim_op_state {
    SIM_OP_IDLE = 0,   /* nothing outstanding */
    SIM_OP_WRITE,      /* proposed, waiting to see it applied on `node` */
    SIM_OP_READ,       /* read index requested, waiting for the read state */
    SIM_OP_READ_APPLY, /* read index known, waiting for apply >= index */
};

struct sim_client
{
    unsigned id;           /* 0-based */
    uint64_t epoch;        /* bumped per op: stale client events are ignored */
    uint8_t state;         /* enum sim_op_state */
    unsigned node;         /* node the op was sent to, 0-based */
    uint64_t node_inc;     /* that node's incarnation then */
    uint64_t seq;          /* write: value number; read: context */
    raft_index read_index; /* SIM_OP_READ_APPLY: index to wait for */
    raft_index min_index;  /* read: highest acked write index at start */
    uint64_t min_hash;     /* read: that write's entry hash */
    raft_id leader_hint;   /* last leader a node told us about */
    uint64_t next_value;   /* next write value number */
};

void sim_clients_start(struct sim *s);
void sim_client_event(struct sim *s, unsigned client, uint64_t epoch);
/* Hooks from the driver: an entry applied, a read state handed out, a
 * node's state machine moved forward, a node crashed. */
void sim_client_applied(struct sim *s,
                        unsigned node,
                        const struct raft_entry *e);
void sim_client_read_state(struct sim *s,
                           unsigned node,
                           const struct raft_read_state *rs);
void sim_client_apply_done(struct sim *s, unsigned node);
void sim_client_node_crashed(struct sim *s, unsigned node);
void sim_probe_event(struct sim *s);

/* ---- The run ---- */

/* Command-line options of one run. */
struct sim_opts
{
    uint64_t seed;           /* drives everything */
    unsigned n_nodes;        /* 3 or 5 */
    uint64_t chaos_ms;       /* length of the fault phase, virtual ms */
    unsigned snapshot_every; /* snapshot after this many applied entries,
                                0: never */
    bool crash_disk;         /* crashes tear writes; fsyncs may be slow */
    bool membership;         /* add, promote, remove nodes; transfer
                                leadership */
    bool trace;              /* print every event and core trace line */
    bool capture;            /* keep the last lines for a violation report */
};

/* Fault knobs drawn from the seed, so seeds differ in kind, not only in
 * timing. */
struct sim_profile
{
    bool pre_vote, check_quorum; /* core options */
    size_t max_msg_bytes;        /* small values split APPENDs */
    unsigned max_inflight;       /* APPENDs in flight per follower */
    unsigned n_clients;          /* 2..SIM_MAX_CLIENTS */
    unsigned fault_every_ms;     /* mean gap between faults */
    unsigned crash_leader_pm;    /* crash a new leader soon after election */
    unsigned isolate_commit_pm;  /* isolate a leader right after its first
                                    commit in its term */
    unsigned crash_voter_pm;     /* crash a node right after it votes */
    size_t chunk_bytes;          /* snapshot chunk size (--snapshot-every) */
    unsigned tear_pm;            /* a crash tears the last unsynced write
                                    (--crash-disk) */
};

struct sim_stats
{
    uint64_t steps;      /* events processed */
    uint64_t elections;  /* terms that had a leader */
    uint64_t commits;    /* highest committed index */
    uint64_t writes;     /* client writes acknowledged */
    uint64_t reads;      /* client reads completed */
    uint64_t crashes;    /* node crashes */
    uint64_t partitions; /* partitions applied */
    uint64_t snapshots;  /* snapshots taken by hosts */
    uint64_t installs;   /* snapshots installed through InstallSnapshot */
    uint64_t torn;       /* torn writes injected at crashes */
    uint64_t changes;    /* configuration entries committed */
    uint64_t transfers;  /* leadership transfers started */
};

enum sim_phase {
    SIM_CHAOS = 0, /* faults injected */
    SIM_HEALED,    /* faults over: waiting for the probe to commit */
    SIM_DONE,      /* probe applied everywhere, or a violation */
};

/* The trace ring: the last lines, for a violation report. */
struct sim_ring
{
    char lines[SIM_RING_LINES][SIM_LINE_MAX]; /* circular */
    uint64_t n;                               /* lines ever pushed */
};

struct sim
{
    struct sim_opts opt;                        /* as given */
    struct sim_profile prof;                    /* drawn from the seed */
    struct sim_rng rng;                         /* the one random source */
    uint64_t now_ms;                            /* virtual time */
    uint8_t phase;                              /* enum sim_phase */
    bool tracing;                               /* opt.trace || opt.capture */
    struct sim_queue q;                         /* pending events */
    struct sim_net net;                         /* link state */
    struct sim_check chk;                       /* registries */
    unsigned n_slots;                           /* nodes[] used: n_nodes,
                                                   plus spares with
                                                   --membership */
    struct sim_node nodes[SIM_MAX_NODES];       /* n_slots used */
    struct sim_client clients[SIM_MAX_CLIENTS]; /* prof.n_clients used */
    raft_index acked_index;       /* highest index of an acknowledged write */
    uint64_t acked_hash;          /* its entry hash */
    uint64_t next_read_ctx;       /* ReadIndex contexts, unique in the run */
    uint64_t probe_seq;           /* liveness probe values proposed */
    uint64_t probe_last_ms;       /* when the last probe was proposed */
    raft_index probe_index;       /* index of the first probe applied */
    char violation[SIM_LINE_MAX]; /* first violation, "" if none */
    struct sim_ring *ring;        /* opt.capture only */
    struct sim_stats stats;       /* counters for the summary */
};

/* Run one seed. Returns 0, or 1 if an invariant was violated (then
 * s->violation says which, and the ring holds the trace when captured).
 * `s` is filled for the caller; release it with sim_close(). */
int sim_run(struct sim *s, const struct sim_opts *opt);
void sim_close(struct sim *s);

/* Record the first violation: "<invariant>: <detail>". Ends the run. */
void sim_violation(struct sim *s, const char *invariant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim__tracef(struct sim *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define SIM_TRACE(s, ...)                  \
    do {                                   \
        if ((s)->tracing)                  \
            sim__tracef((s), __VA_ARGS__); \
    } while (0)

void sim_schedule(struct sim *s,
                  uint64_t delay_ms,
                  uint8_t type,
                  unsigned node,
                  uint64_t arg);
/* Crash `node` in [0, max_delay_ms] ms, for [1, max_down_ms] ms. */
void sim_schedule_crash(struct sim *s,
                        unsigned node,
                        uint64_t max_delay_ms,
                        uint64_t max_down_ms);

/* Nodes (sim_node.c). Start (or restart from its disk) a node that is down. */
void sim_node_start(struct sim *s, unsigned node);
/* Crash: free the core, lose unsynced writes, restart after `downtime_ms`. */
void sim_node_crash(struct sim *s, unsigned node, uint64_t downtime_ms);
/* Stop a removed node for good (marks it out): free the core, lose
 * unsynced writes, keep the disk in case it is added again. */
void sim_node_stop(struct sim *s, unsigned node);
/* Release everything the node holds, at the end of a run. */
void sim_node_close(struct sim_node *n);
/* Event handlers; `inc` is the incarnation the event was scheduled for. */
void sim_node_tick(struct sim *s, unsigned node, uint64_t inc);
void sim_node_persisted(struct sim *s, unsigned node, uint64_t inc);
/* Take a Ready if the node has one and none is out; start its write. */
void sim_node_pump(struct sim *s, unsigned node);
/* Make room in the state machine for `index`. */
void sim_node_sm_reserve(struct sim_node *n, raft_index index);
/* The live node that believes it leads in the highest term, or -1 (sim.c). */
int sim_find_leader(const struct sim *s);

/* Snapshots (sim_snap.c), the host's part of §7. After an advance: save a
 * snapshot and compact if `snapshot_every` entries were applied since the
 * last one. */
void sim_snap_maybe_take(struct sim *s, unsigned node);
/* Step 2 for a RAFT_MSG_SNAPSHOT: attach the chunk at m->offset of the
 * current snapshot and send it, or drop it if that snapshot is another. */
void sim_snap_send(struct sim *s, unsigned node, const struct raft_msg *m);
/* Replace the state machine by the durable current snapshot (install, or
 * restart). Returns 0, or -1 after recording a violation. */
int sim_snap_restore(struct sim *s, unsigned node, const char *how);

/* Membership (sim_member.c, --membership only). A fault: add a learner,
 * promote one, remove a member (`change`), or transfer leadership. */
void sim_member_fault(struct sim *s, bool transfer);
/* SIM_EV_STOP: stop `node` if the leader's committed configuration no
 * longer has it; retry later while its removal is pending. */
void sim_member_stop_event(struct sim *s, unsigned node, uint64_t gen);
/* Liveness is reached: a leader whose configuration is committed, and
 * every member of it applied a probe. */
bool sim_member_probe_done(const struct sim *s);

#endif /* RKV_SIM_H */
