/* Internals of the core shared by its files: struct raft and the functions
 * one file calls in another. Nothing here is visible to the host. */
#ifndef RAFT_INT_H
#define RAFT_INT_H

#include "assert.h"
#include "log.h"
#include "raftkv/raft.h"

/* The leader's view of one member of the configuration in force (itself
 * included if it is one, §5.3). Candidates use the vote fields. */
struct raft__progress
{
    raft_id id;             /* the member */
    bool voter;             /* counts toward quorums; else a learner */
    raft_index match;       /* highest index known stored there */
    raft_index next;        /* next index to send */
    uint8_t state;          /* enum raft_progress_state */
    bool paused;            /* PROBE: an APPEND is out, wait for its answer */
    bool recent_active;     /* heard from within the current election timeout */
    bool vote_responded;    /* campaign: answered our (pre)vote request */
    bool vote_granted;      /* campaign: granted it */
    uint64_t read_ack;      /* highest ReadIndex round it acknowledged */
    raft_index sent_commit; /* highest commit index it was told of */
    raft_index snap_index;  /* SNAPSHOT: index of the snapshot being sent */
    uint64_t snap_offset;   /* SNAPSHOT: next byte to send */
    raft_index *inflight;   /* ring of last indexes of APPENDs in flight, a
                               slice of raft.inflight_pool */
    unsigned in_start;      /* ring: oldest slot */
    unsigned in_count;      /* ring: slots used, <= cfg.max_inflight */
};

/* A ReadIndex request waiting for its heartbeat round (§8). */
struct raft__read
{
    uint64_t context; /* the requester's context */
    raft_id from;     /* node that asked, r->id for a local read */
    uint64_t round;   /* heartbeat round that must be acknowledged */
};

/* Growable arrays handed to the host in a Ready. */
struct raft__outbox
{
    bool has_chunk;                       /* snapshot chunk to store */
    struct raft_snapshot_meta chunk_meta; /* its snapshot */
    uint64_t chunk_offset;                /* its place, bytes */
    uint8_t *chunk;                       /* its bytes, owned */
    size_t chunk_len;
    bool install; /* snapshot to install */
    struct raft_snapshot_meta install_meta;
    struct raft_msg *msgs; /* messages to send, entries referenced */
    size_t n_msgs, cap_msgs;
    struct raft_read_state *reads; /* ReadIndex outcomes */
    size_t n_reads, cap_reads;
};

struct raft
{
    struct raft_config cfg; /* copied from raft_new() */
    struct rkv_alloc alloc; /* cfg.alloc or the libc one */
    uint64_t rng;           /* PRNG state (rng.c) */

    /* Persistent state on all servers (Figure 2). */
    raft_term term;       /* currentTerm */
    raft_id vote;         /* votedFor in `term`, 0 if none */
    struct raft__log log; /* log[] */

    /* Volatile state. */
    enum raft_role role;  /* current role */
    raft_id leader;       /* leader of `term` if known, else 0 */
    raft_index commit;    /* commitIndex */
    raft_index applied;   /* lastApplied: handed out and advanced */
    raft_index applying;  /* handed out in the Ready being processed */
    raft_index persisted; /* highest index durable and matching our log */
    raft_index unstable;  /* first index not yet handed out to persist */
    struct raft_hard_state hs_handed; /* hard state of the last Ready */

    unsigned election_elapsed;   /* ticks since the last reset */
    unsigned heartbeat_elapsed;  /* leader: ticks since the last heartbeat */
    unsigned randomized_timeout; /* in [election_ticks, 2*election_ticks) */

    struct raft__progress prs[RAFT_MAX_NODES]; /* members, ascending id */
    size_t n_prs;
    raft_index *inflight_pool; /* RAFT_MAX_NODES rings of max_inflight */

    /* Membership (membership.c). */
    struct raft_conf conf; /* in force: see raft_conf_of() */
    raft_index conf_index; /* where `conf` comes from: its CONF entry,
                              else the snapshot index, else 0 */

    /* Leadership transfer (transfer.c). */
    raft_id transfer_target;   /* leader: the node taking over, 0 if none */
    unsigned transfer_elapsed; /* leader: ticks since the transfer began */

    /* ReadIndex (readindex.c). */
    struct raft__read *reads; /* pending, in arrival order */
    size_t n_reads, cap_reads;
    uint64_t read_round;    /* last heartbeat round started */
    bool read_round_wanted; /* a pending read needs a new round */

    bool bcast_wanted; /* leader: new entries or commit to send out */

    /* Snapshots (snapshot.c). */
    struct raft_snapshot_meta snap; /* latest: log.offset == snap.index */
    struct raft_conf snap_conf;     /* the configuration `snap` records;
                                       n == 0: none, the initial one */
    struct raft_conf lent_conf;     /* Ready.snapshot_conf of an install */
    struct raft_snapshot_meta recv; /* follower: snapshot being received */
    uint64_t recv_offset; /* follower: bytes of `recv` stored so far */

    struct raft__outbox out;         /* accumulating for the next Ready */
    struct raft__outbox lent;        /* handed out in the current Ready */
    struct raft_entry *lent_entries; /* Ready.entries (referenced) */
    size_t n_lent_entries;
    struct raft_entry *lent_committed; /* Ready.committed (referenced) */
    size_t n_lent_committed;
    bool ready_out; /* a Ready is awaiting raft_advance() */
};

/* Memory (raft.c). */
void *raft__malloc(struct raft *r, size_t size);
void *raft__realloc(struct raft *r, void *p, size_t size);
void raft__free(struct raft *r, void *p);

/* Tracing (raft.c): prefixed with node, term and role. */
void raft__tracef(const struct raft *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Outbox (raft.c). `m->entries` are referenced, not copied. */
int raft__send(struct raft *r, struct raft_msg *m);
int raft__push_read_state(struct raft *r,
                          uint64_t ctx,
                          raft_index index,
                          int status);

/* Release what the current Ready lent to the host (raft.c). */
void raft__release_lent(struct raft *r);

/* Members (raft.c). */
struct raft__progress *raft__progress_of(struct raft *r, raft_id id);

/* Membership (membership.c). */
bool raft__is_voter(const struct raft *r, raft_id id);
/* Voters of the configuration in force, and how many make a majority. */
size_t raft__n_voters(const struct raft *r);
size_t raft__quorum(const struct raft *r);
/* Put the configuration of raft_new() in force: cfg.voters, or none. */
void raft__conf_init(struct raft *r);
/* The log changed from index `from` on (truncated there, entries appended
 * from there, or both): put in force the configuration of the last CONF
 * entry, falling back to the snapshot's or the initial one. */
void raft__conf_log_changed(struct raft *r, raft_index from);
/* The log was replaced by the snapshot r->snap: its configuration is in
 * force. */
void raft__conf_snapshot_installed(struct raft *r);
/* The configuration the snapshot at `index` (offset <= index <= last)
 * records: conf->n == 0 if that is still the initial one. */
void raft__conf_for_snapshot(const struct raft *r,
                             raft_index index,
                             struct raft_conf *conf);
/* Whether `conf` is a valid configuration (n == 0 allowed iff
 * `allow_empty`); if not, why, in `why` (may be NULL). */
bool raft__conf_valid(const struct raft_conf *conf,
                      bool allow_empty,
                      const char **why);

/* Leadership transfer (transfer.c). */
void raft__transfer_tick(struct raft *r);
/* Leader: we heard from `pr`; if it is the transfer target and has our
 * whole log, tell it to campaign. */
int raft__transfer_maybe_send(struct raft *r, const struct raft__progress *pr);
int raft__handle_timeout_now(struct raft *r, const struct raft_msg *m);

/* PRNG (rng.c): splitmix64. */
uint64_t raft__rng_next(uint64_t *state);
/* Uniform in [lo, hi), by rejection sampling. Precondition: lo < hi. */
unsigned raft__rng_range(uint64_t *state, unsigned lo, unsigned hi);

/* Roles and elections (election.c). */
void raft__become_follower(struct raft *r, raft_term term, raft_id leader);
void raft__tick_election(struct raft *r);
/* `transfer`: asked by RAFT_MSG_TIMEOUT_NOW (no PreVote, lease ignored). */
int raft__campaign(struct raft *r, bool pre, bool transfer);
int raft__handle_vote_request(struct raft *r, const struct raft_msg *m);
int raft__handle_vote_response(struct raft *r, const struct raft_msg *m);
void raft__reset_election_timer(struct raft *r);

/* Replication (replication.c). */
int raft__send_append(struct raft *r,
                      struct raft__progress *pr,
                      bool send_if_empty);
int raft__bcast_append(struct raft *r);
int raft__bcast_heartbeat(struct raft *r);
int raft__append_local(struct raft *r,
                       uint8_t type,
                       const uint8_t *data,
                       uint32_t len,
                       raft_index *index);
int raft__handle_append(struct raft *r, const struct raft_msg *m);
int raft__handle_append_response(struct raft *r, const struct raft_msg *m);
int raft__handle_heartbeat(struct raft *r, const struct raft_msg *m);
int raft__handle_heartbeat_response(struct raft *r, const struct raft_msg *m);

/* Progress (progress.c). */
void raft__progress_init(struct raft__progress *pr,
                         raft_id id,
                         bool voter,
                         raft_index next,
                         raft_index *ring);
/* What `pr` is known to store: for ourselves, what is durable here. */
raft_index raft__progress_match(const struct raft *r,
                                const struct raft__progress *pr);
void raft__progress_reset(struct raft__progress *pr, raft_index next);
void raft__progress_become_probe(struct raft__progress *pr);
void raft__progress_become_replicate(struct raft__progress *pr);
bool raft__progress_maybe_update(struct raft__progress *pr, raft_index n);
bool raft__progress_maybe_decr(struct raft__progress *pr,
                               raft_index rejected,
                               raft_index match_hint);
bool raft__progress_is_paused(const struct raft *r,
                              const struct raft__progress *pr);
void raft__progress_sent(const struct raft *r,
                         struct raft__progress *pr,
                         raft_index last);
void raft__inflight_free_to(const struct raft *r,
                            struct raft__progress *pr,
                            raft_index index);
void raft__inflight_free_first(const struct raft *r, struct raft__progress *pr);

/* The commit rule (commit.c). */
bool raft__maybe_commit(struct raft *r);
/* Leader: the commit index moved; tell followers, answer reads, and step
 * down if this leader is not a voter of its now committed configuration. */
void raft__leader_committed(struct raft *r);
void raft__commit_to(struct raft *r, raft_index index);
/* The quorum-th largest of `vals` (sorted in place, descending). */
uint64_t raft__quorum_value(uint64_t *vals, size_t n, size_t quorum);

/* Snapshots (snapshot.c). */
int raft__send_snapshot(struct raft *r, struct raft__progress *pr);
int raft__handle_snapshot(struct raft *r, const struct raft_msg *m);
int raft__handle_snapshot_response(struct raft *r, const struct raft_msg *m);

/* ReadIndex (readindex.c). */
int raft__read_request(struct raft *r, uint64_t ctx, raft_id from);
int raft__read_acked(struct raft *r);
int raft__read_round_start(struct raft *r);
int raft__reads_fail_all(struct raft *r, int status);
int raft__handle_read_index_response(struct raft *r, const struct raft_msg *m);

#endif /* RAFT_INT_H */
