/* The raftkv consensus core: a pure, deterministic Raft state machine.
 *
 * The core does no I/O, reads no clock and owns no random source of its own:
 * time enters through raft_tick(), peer messages through raft_step(), client
 * commands through raft_propose() and raft_read_index(). Whatever must happen
 * in the world in response is handed out by raft_ready() and acknowledged
 * with raft_advance(), after etcd-io/raft's Ready/Advance. The protocol is
 * the one of "In Search of an Understandable Consensus Algorithm" (Ongaro &
 * Ousterhout, 2014), cited below by section; PreVote and CheckQuorum follow
 * Ongaro's thesis §9.6 and §6.2. */
#ifndef RAFTKV_RAFT_H
#define RAFTKV_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftkv/err.h"

typedef uint64_t raft_term;  /* election term, 0 before the first */
typedef uint64_t raft_index; /* log position, first entry is 1 */
typedef uint64_t raft_id;    /* node id, 0 means "none" */

#define RAFT_MAX_NODES 16          /* voters + learners in one cluster */
#define RAFT_ENTRY_MAX (64u << 20) /* largest entry payload, bytes */

/* Allocation hook: every allocation of the core goes through it. A NULL
 * `alloc` in raft_config means the C library's malloc/realloc/free. */
struct rkv_alloc
{
    void *ctx;                               /* passed to every call */
    void *(*malloc)(void *ctx, size_t size); /* NULL on failure */
    void *(*realloc)(void *ctx, void *p, size_t size); /* NULL, p intact */
    void (*free)(void *ctx, void *p);                  /* p may be NULL */
};

enum raft_role {
    RAFT_FOLLOWER = 0,
    RAFT_PRE_CANDIDATE = 1, /* PreVote round: term not yet incremented */
    RAFT_CANDIDATE = 2,
    RAFT_LEADER = 3,
};

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 1, /* a client command for the state machine */
    RAFT_ENTRY_NOOP = 2,   /* appended by each new leader (§8) */
    RAFT_ENTRY_CONF = 3,   /* membership change (encoded configuration) */
};

/* One log entry. When the core hands entries out (raft_ready), `data` is
 * owned by the core and valid until the matching raft_advance(). When the
 * host hands entries in (raft_step, raft_load), `data` is borrowed for the
 * duration of the call only: the core copies what it keeps. */
struct raft_entry
{
    raft_term term;      /* term of the leader that created it */
    raft_index index;    /* position in the log */
    uint8_t type;        /* enum raft_entry_type */
    uint32_t len;        /* payload length, bytes, <= RAFT_ENTRY_MAX */
    const uint8_t *data; /* payload; NULL when len == 0 */
};

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,      /* AppendEntries (§5.3) */
    RAFT_MSG_APPEND_RESP = 2, /* its answer, with a conflict hint on reject */
    RAFT_MSG_VOTE = 3,        /* RequestVote (§5.2) */
    RAFT_MSG_VOTE_RESP = 4,
    RAFT_MSG_PREVOTE = 5, /* PreVote: "would you vote for me in term+1?" */
    RAFT_MSG_PREVOTE_RESP = 6,
    RAFT_MSG_HEARTBEAT = 7, /* empty AppendEntries: commit + read context */
    RAFT_MSG_HEARTBEAT_RESP = 8, /* echoes the read context */
    RAFT_MSG_PROPOSE = 9,     /* follower forwards client entries to leader */
    RAFT_MSG_READ_INDEX = 10, /* follower asks leader for a read index */
    RAFT_MSG_READ_INDEX_RESP = 11,
    RAFT_MSG_SNAPSHOT = 12, /* InstallSnapshot chunk (§7) */
    RAFT_MSG_SNAPSHOT_RESP = 13,
    RAFT_MSG_TIMEOUT_NOW = 14, /* leadership transfer: campaign at once */
};
#define RAFT_MSG_TYPE_MAX 14

/* A peer message. Fields not listed for a type are zero.
 *
 *   APPEND          index/log_term: entry preceding `entries`; commit
 *   APPEND_RESP     accept: index = last index known to match the leader;
 *                   reject: index = the rejected prev index, hint_index and
 *                   hint_term = where the follower's log may match (§5.3,
 *                   "fast backtracking")
 *   VOTE, PREVOTE   index/log_term: candidate's last entry
 *   *_RESP          reject: vote refused
 *   HEARTBEAT       commit, context (ReadIndex round)
 *   HEARTBEAT_RESP  context echoed
 *   PROPOSE         entries (index and term ignored)
 *   READ_INDEX      context chosen by the follower
 *   READ_INDEX_RESP context echoed, index = read index, reject if refused
 *   SNAPSHOT        index/log_term: last entry covered; offset, data/len:
 *                   one chunk; done on the last chunk
 *   SNAPSHOT_RESP   index: snapshot index; offset: bytes received; reject
 *
 * Ownership as for raft_entry: out of raft_ready() valid until
 * raft_advance(); into raft_step() borrowed for the call. */
struct raft_msg
{
    uint8_t type;          /* enum raft_msg_type */
    raft_id from;          /* sender */
    raft_id to;            /* recipient */
    raft_term term;        /* sender's current term (or term+1 for PreVote) */
    raft_index index;      /* see table above */
    raft_term log_term;    /* see table above */
    raft_index commit;     /* leader's commit index, capped for the receiver */
    uint64_t context;      /* opaque round number for ReadIndex */
    bool reject;           /* negative answer */
    bool done;             /* last snapshot chunk */
    raft_index hint_index; /* reject hint: follower's candidate match index */
    raft_term hint_term;   /* reject hint: follower's term at hint_index */
    uint64_t offset;       /* snapshot chunk offset, bytes */
    const struct raft_entry *entries; /* APPEND, PROPOSE */
    size_t n_entries;
    const uint8_t *data; /* SNAPSHOT chunk */
    size_t len;          /* SNAPSHOT chunk length, bytes */
};

/* What must reach stable storage before the node answers anyone. */
struct raft_hard_state
{
    raft_term term;    /* current term */
    raft_id vote;      /* candidate voted for in `term`, 0 if none */
    raft_index commit; /* highest index known committed (need not fsync) */
};

/* Which state a snapshot holds: everything applied up to `index`, whose
 * entry had term `term`. */
struct raft_snapshot_meta
{
    raft_index index; /* last entry covered */
    raft_term term;   /* its term */
};

/* Outcome of one raft_read_index() call. */
struct raft_read_state
{
    uint64_t context; /* the caller's context, as given */
    raft_index index; /* serve the read once applied >= index */
    int status;       /* 0, or RKV_ENOTLEADER / RKV_ENOLEADER: retry */
};

typedef void (*raft_trace_fn)(void *ctx, int level, const char *line);
#define RAFT_TRACE_DEBUG 1 /* per message */
#define RAFT_TRACE_INFO 2  /* state changes: elections, leader changes */
#define RAFT_TRACE_WARN 3  /* something is off */

struct raft_config
{
    raft_id id;                     /* this node, one of voters[] */
    raft_id voters[RAFT_MAX_NODES]; /* voting members, in any order */
    size_t n_voters;
    unsigned election_ticks;       /* base election timeout: the randomized
                                      timeout is drawn from [e, 2e) */
    unsigned heartbeat_ticks;      /* leader heartbeat interval, < election */
    uint64_t seed;                 /* seeds the core's PRNG */
    bool pre_vote;                 /* run a PreVote round before campaigning */
    bool check_quorum;             /* leader steps down without a quorum */
    size_t max_msg_bytes;          /* payload bound of one APPEND, bytes */
    unsigned max_inflight;         /* APPENDs in flight per follower */
    const struct rkv_alloc *alloc; /* NULL: libc */
    raft_trace_fn trace;           /* NULL: silent */
    void *trace_ctx;
    int trace_level; /* lowest level passed to `trace` */
};

/* Fill `cfg` with defaults: a tick is meant as 10 ms, so election timeouts
 * of 150-300 ms are 15-30 ticks and heartbeats go every 5 ticks; PreVote and
 * CheckQuorum on; 1 MiB per message; 256 messages in flight. The caller
 * still sets id and voters. */
void raft_config_default(struct raft_config *cfg);

/* Everything the host must do, handed out by raft_ready(). The host does,
 * in this order:
 *   1. persist `hs` (if hs_changed) and append `entries` to its log: if
 *      entries[0].index is at or before its last stored index, it first
 *      discards its stored entries from entries[0].index on. This MUST be
 *      flushed to disk (fsync) when `must_sync` is set, before step 2;
 *   2. send `msgs` (best effort: loss is tolerated). Messages of type
 *      APPEND, HEARTBEAT and SNAPSHOT may go out before step 1 is done:
 *      only a leader sends them, and a leader counts its own entries
 *      toward commit only once raft_advance() says they are durable, so
 *      it may write its log in parallel with replicating it (thesis
 *      §10.2.1). Every other message waits for step 1;
 *   3. apply `committed` to the state machine, in order;
 *   4. resolve `reads`: each may be served once the state machine has
 *      applied up to its index;
 *   5. call raft_advance(r, rd).
 * Snapshots (§7) add to step 1, before the entries, on a follower:
 *   a. if `has_chunk`, write the chunk at chunk_offset into the incoming
 *      snapshot file for `chunk_meta` (offset 0 starts a new file);
 *   b. if `install` is set, the incoming file for `snapshot` is complete:
 *      make it the current snapshot durably, restore the state machine from
 *      it, and discard every stored log entry: the log now starts right
 *      after snapshot.index.
 * And on a leader, step 2 has one more duty: a message of type
 * RAFT_MSG_SNAPSHOT comes without data; the host attaches a chunk of its
 * choice of size (1 MiB, say) of its current snapshot file from `offset`, and
 * sets `done` on the last chunk. If its current snapshot is not the one named
 * by (index, log_term), it drops the message: the core retries.
 * Between raft_ready() and raft_advance() the host may go on calling
 * raft_tick/step/propose/read_index (for example while a fsync runs off
 * the event loop); what they produce waits for the next raft_ready(). */
struct raft_ready
{
    bool hs_changed;                  /* hs differs from the last one handed */
    bool must_sync;                   /* step 1 needs a fsync */
    struct raft_hard_state hs;        /* current hard state */
    const struct raft_entry *entries; /* to append to stable storage */
    size_t n_entries;
    const struct raft_msg *msgs; /* to send after step 1 */
    size_t n_msgs;
    const struct raft_entry *committed; /* to apply, ascending index */
    size_t n_committed;
    const struct raft_read_state *reads; /* ReadIndex outcomes */
    size_t n_reads;
    bool has_chunk;                       /* a snapshot chunk to store (a.) */
    struct raft_snapshot_meta chunk_meta; /* snapshot the chunk belongs to */
    uint64_t chunk_offset;                /* where the chunk goes, bytes */
    const uint8_t *chunk;                 /* its bytes */
    size_t chunk_len;
    bool install;                       /* install the snapshot (b.) */
    struct raft_snapshot_meta snapshot; /* the snapshot to install */
};

/* Whether a message of this type may be sent before step 1 of its Ready
 * is done (see struct raft_ready). */
bool raft_msg_may_precede_persist(int type);

/* Per-follower replication state, as the leader sees it (for status). */
enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 0,     /* one APPEND at a time, finding the match */
    RAFT_PROGRESS_REPLICATE = 1, /* pipelining up to max_inflight APPENDs */
    RAFT_PROGRESS_SNAPSHOT = 2,  /* waiting for a snapshot to install */
};

struct raft_progress_info
{
    raft_id id;         /* the peer */
    raft_index match;   /* highest index known replicated there */
    raft_index next;    /* next index to send */
    uint8_t state;      /* enum raft_progress_state */
    bool recent_active; /* heard from within the election timeout */
};

struct raft; /* opaque; one per node */

/* Allocate and initialize a core for node cfg->id as a follower in term 0
 * with an empty log. `cfg` is copied. Returns 0 and sets *out, or
 * RKV_EINVAL (id not among voters, duplicate voter, bad timeouts) or
 * RKV_ENOMEM. Free with raft_free(). */
int raft_new(const struct raft_config *cfg, struct raft **out);

/* Release everything the core owns, including memory still lent out by a
 * raft_ready() that was not advanced. */
void raft_free(struct raft *r);

/* Load what a previous incarnation persisted: hard state and log entries
 * (ascending, contiguous, starting right after the snapshot loaded by
 * raft_load_snapshot(), else at index 1). Data is copied. Call once, right
 * after raft_new() (and raft_load_snapshot()). Returns 0, RKV_EINVAL if the
 * entries are not contiguous or hs.commit is past the last entry, or
 * RKV_ENOMEM (the core is then unusable and must be freed). */
int raft_load(struct raft *r,
              const struct raft_hard_state *hs,
              const struct raft_entry *entries,
              size_t n);

/* Tell a fresh core that its state machine was restored from the snapshot
 * `meta`: the log starts after it and everything up to it counts as
 * committed and applied. Call before raft_load(). Returns 0 or RKV_EINVAL
 * (log not empty). */
int raft_load_snapshot(struct raft *r, const struct raft_snapshot_meta *meta);

/* The host has durably saved a snapshot of its state machine at `index`
 * (which it has applied): the core forgets entries up to `index` and will
 * send that snapshot to followers that need them. The host may then remove
 * those entries from its WAL. Returns 0, or RKV_EINVAL if index is past the
 * applied index or before the current first index - 1. */
int raft_compact(struct raft *r, raft_index index);

/* The latest snapshot the core knows of (index 0 if none). */
struct raft_snapshot_meta raft_snapshot_of(const struct raft *r);

/* Advance logical time by one tick: may start an election (follower,
 * candidate) or send heartbeats and check the quorum (leader). */
void raft_tick(struct raft *r);

/* Handle one message from a peer. Messages from unknown nodes, for another
 * node, or malformed (bad type, entries not contiguous) are dropped with
 * RKV_EPROTO and change nothing. Returns 0, RKV_EPROTO or RKV_ENOMEM. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Propose a client command of `len` bytes (copied). On the leader the entry
 * is appended and *index / *term (both may be NULL) tell where: the command
 * is committed iff the entry applied at *index has term *term. On a
 * follower that knows a leader, the command is forwarded and *index is set
 * to 0: the host recognizes its command when it is applied. Returns 0,
 * RKV_ENOLEADER (no known leader), RKV_ETOOBIG (len > RAFT_ENTRY_MAX) or
 * RKV_ENOMEM; on error nothing is appended or sent. */
int raft_propose(struct raft *r,
                 const void *data,
                 size_t len,
                 raft_index *index,
                 raft_term *term);

/* Ask for a linearizable read index (§8, "ReadIndex"). The outcome appears
 * in a later raft_ready()'s `reads` with the same `context`: either an
 * index to wait for, or a status telling the host to retry elsewhere. Reads
 * issued close together share one heartbeat round. Returns 0, RKV_ENOLEADER
 * (no known leader: nothing is queued) or RKV_ENOMEM. */
int raft_read_index(struct raft *r, uint64_t context);

/* Whether raft_ready() would hand out anything. */
bool raft_has_ready(const struct raft *r);

/* Hand out pending work (see struct raft_ready). Returns false, leaving *rd
 * zeroed, when there is none, or when memory ran short (raft_has_ready()
 * stays true: try again later). Precondition: every earlier raft_ready() that
 * returned true has been advanced. */
bool raft_ready(struct raft *r, struct raft_ready *rd);

/* The host has done steps 1-4 for `rd`: the core releases the memory lent
 * in `rd`, counts the entries as persisted (so a leader counts itself
 * toward commit only now) and the committed ones as applied. */
void raft_advance(struct raft *r, const struct raft_ready *rd);

/* Read-only views, for status pages, the simulator and tests. */
raft_id raft_id_of(const struct raft *r);
enum raft_role raft_role_of(const struct raft *r);
raft_term raft_term_of(const struct raft *r);
raft_id raft_vote_of(const struct raft *r);
raft_id raft_leader_of(const struct raft *r); /* 0 if unknown */
raft_index raft_commit_index(const struct raft *r);
raft_index raft_applied_index(const struct raft *r);
raft_index raft_last_index(const struct raft *r);
raft_index raft_first_index(const struct raft *r);
/* Term of the entry at `index`, 0 if out of the log (0 for index 0). */
raft_term raft_term_at(const struct raft *r, raft_index index);
/* Entry at `index` (borrowed until the next call that changes the log), or
 * NULL if out of the log. */
const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index);
/* Fill up to `cap` progress records (leader only); returns the count. */
size_t raft_progress(const struct raft *r,
                     struct raft_progress_info *out,
                     size_t cap);

const char *raft_role_name(enum raft_role role);
const char *raft_msg_type_name(int type);

#endif /* RAFTKV_RAFT_H */
