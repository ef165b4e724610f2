/* The raftkv consensus core: a pure, deterministic Raft state machine.
 *
 * The core does no I/O, reads no clock and owns no random source of its own:
 * time enters through raft_tick(), peer messages through raft_step(), client
 * commands through raft_propose() and raft_read_index(). Whatever must happen
 * in the world in response is handed out by raft_ready() and acknowledged
 * with raft_advance(), after etcd-io/raft's Ready/Advance. The protocol is
 * the one of "In Search of an Understandable Consensus Algorithm" (Ongaro &
 * Ousterhout, 2014), cited below by section; PreVote and CheckQuorum follow
 * Ongaro's thesis §9.6 and §6.2, membership changes (one server at a time,
 * with learners) §4, and leadership transfer §3.10. */
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
#define RAFT_MEMBER_CTX_MAX 128    /* opaque bytes kept per member */
/* Largest encoded configuration (raft_conf_encode), bytes. */
#define RAFT_CONF_ENCODED_MAX \
    (2 + RAFT_MAX_NODES * (11 + RAFT_MEMBER_CTX_MAX) + 4)
/* VOTE context of a campaign started by RAFT_MSG_TIMEOUT_NOW: voters grant
 * it even within a leader's lease (thesis §3.10). */
#define RAFT_CONTEXT_TRANSFER 1

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
    RAFT_ENTRY_CONF = 3,   /* the whole new configuration, raft_conf_encode */
};

/* One member of a configuration. */
struct raft_member
{
    raft_id id;                       /* nonzero */
    bool voter;                       /* counts toward quorums; else learner */
    uint16_t ctx_len;                 /* bytes used in ctx */
    uint8_t ctx[RAFT_MEMBER_CTX_MAX]; /* opaque to the core (the server keeps
                                         the member's address there) */
};

/* A configuration: who is in the cluster (thesis §4.1). A valid one has
 * members in ascending id order, no id twice, and at least one voter. */
struct raft_conf
{
    size_t n;                                   /* members */
    struct raft_member members[RAFT_MAX_NODES]; /* ascending id */
};

/* Membership changes for raft_change_member(), one server at a time
 * (thesis §4.2): a new server joins as a learner, which receives the log
 * but does not vote, and is promoted to voter once it has caught up. */
enum raft_change {
    RAFT_CHANGE_ADD_LEARNER = 1, /* add a non-voting member */
    RAFT_CHANGE_PROMOTE = 2,     /* make a learner a voter */
    RAFT_CHANGE_REMOVE = 3,      /* remove a voter or a learner */
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
 *   VOTE, PREVOTE   index/log_term: candidate's last entry; VOTE context:
 *                   RAFT_CONTEXT_TRANSFER if sent on RAFT_MSG_TIMEOUT_NOW
 *   *_RESP          reject: vote refused
 *   HEARTBEAT       commit, context (ReadIndex round)
 *   HEARTBEAT_RESP  context echoed
 *   PROPOSE         entries (index and term ignored)
 *   READ_INDEX      context chosen by the follower
 *   READ_INDEX_RESP context echoed, index = read index, reject if refused
 *   SNAPSHOT        index/log_term: last entry covered; offset, data/len:
 *                   one chunk; done on the last chunk; entries: none, or
 *                   one RAFT_ENTRY_CONF entry at (index, log_term) holding
 *                   the snapshot's configuration
 *   SNAPSHOT_RESP   index: snapshot index; offset: bytes received; reject
 *   TIMEOUT_NOW     leader to transfer target: campaign now (thesis §3.10)
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
    const struct raft_entry *entries; /* APPEND, PROPOSE, SNAPSHOT */
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
 * entry had term `term`. A snapshot also records the configuration in force
 * at `index` (raft_conf_at, raft_load_snapshot_conf, and the Ready's
 * snapshot_conf), kept apart from this struct, which is copied by value on
 * every Ready. */
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
    raft_id voters[RAFT_MAX_NODES]; /* initial voting members, any order;
                                       a configuration in the log or in the
                                       snapshot takes precedence */
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
    bool join;       /* joining a running cluster: n_voters is 0, the node
                        starts without a configuration, never campaigns,
                        and learns its configuration from the leader */
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
 *      make it the current snapshot durably, with the configuration
 *      `snapshot_conf` (if not NULL) stored beside it for
 *      raft_load_snapshot_conf(), restore the state machine from it, and
 *      discard every stored log entry: the log now starts right after
 *      snapshot.index.
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
    bool install;                          /* install the snapshot (b.) */
    struct raft_snapshot_meta snapshot;    /* the snapshot to install */
    const struct raft_conf *snapshot_conf; /* install: the configuration it
                                              records, NULL if none (the
                                              initial one); owned by the
                                              core until raft_advance() */
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
    bool voter;         /* a voter; else a learner */
};

struct raft; /* opaque; one per node */

/* Allocate and initialize a core for node cfg->id as a follower in term 0
 * with an empty log. `cfg` is copied. Returns 0 and sets *out, or
 * RKV_EINVAL (id not among voters, duplicate voter, no voters without
 * `join`, voters with `join`, bad timeouts) or RKV_ENOMEM. Free with
 * raft_free(). */
int raft_new(const struct raft_config *cfg, struct raft **out);

/* Release everything the core owns, including memory still lent out by a
 * raft_ready() that was not advanced. */
void raft_free(struct raft *r);

/* Load what a previous incarnation persisted: hard state and log entries
 * (ascending, contiguous, starting right after the snapshot loaded by
 * raft_load_snapshot[_conf](), else at index 1). Data is copied. The
 * configuration in force becomes the one of the last RAFT_ENTRY_CONF entry,
 * if any. Call once, right after raft_new() (and raft_load_snapshot*()).
 * Returns 0, RKV_EINVAL if the entries are not contiguous or hs.commit is
 * past the last entry, RKV_ECORRUPT if a RAFT_ENTRY_CONF entry does not
 * decode, or RKV_ENOMEM (the core is then unusable and must be freed). The
 * vote may name any node: a node knowing no leader votes on the log alone,
 * whatever its configuration says (thesis §4.1). */
int raft_load(struct raft *r,
              const struct raft_hard_state *hs,
              const struct raft_entry *entries,
              size_t n);

/* Tell a fresh core that its state machine was restored from the snapshot
 * `meta`: the log starts after it and everything up to it counts as
 * committed and applied. Call before raft_load(). Returns 0 or RKV_EINVAL
 * (log not empty). Same as raft_load_snapshot_conf(r, meta, NULL). */
int raft_load_snapshot(struct raft *r, const struct raft_snapshot_meta *meta);

/* raft_load_snapshot() for a snapshot that records the configuration
 * `conf` (copied; NULL: none recorded, the initial one of raft_config): it
 * is in force until a later RAFT_ENTRY_CONF entry. Returns 0 or RKV_EINVAL
 * (log not empty, or `conf` not a valid configuration). */
int raft_load_snapshot_conf(struct raft *r,
                            const struct raft_snapshot_meta *meta,
                            const struct raft_conf *conf);

/* The host has durably saved a snapshot of its state machine at `index`
 * (which it has applied), with the configuration raft_conf_at(index) beside
 * it: the core forgets entries up to `index` and will send that snapshot
 * (and its configuration) to followers that need them. The host may then
 * remove those entries from its WAL. Returns 0, or RKV_EINVAL if index is
 * past the applied index or before the current first index - 1. */
int raft_compact(struct raft *r, raft_index index);

/* The latest snapshot the core knows of (index 0 if none). */
struct raft_snapshot_meta raft_snapshot_of(const struct raft *r);

/* Advance logical time by one tick: may start an election (follower,
 * candidate) or send heartbeats and check the quorum (leader). */
void raft_tick(struct raft *r);

/* Handle one message from a peer. Messages from nodes outside the
 * configuration are accepted (a server being added, or one that does not
 * know it was removed, must be able to talk), but their answers to a leader
 * or candidate are ignored and their vote requests refused. Messages for
 * another node, from node 0 or from ourselves, or malformed (bad type,
 * entries not contiguous, a RAFT_ENTRY_CONF entry that does not decode, a
 * leader's message of our term from another node than the leader we know
 * for it) are dropped with RKV_EPROTO and change nothing. Returns 0,
 * RKV_EPROTO or RKV_ENOMEM. */
int raft_step(struct raft *r, const struct raft_msg *m);

/* Propose a client command of `len` bytes (copied). On the leader the entry
 * is appended and *index / *term (both may be NULL) tell where: the command
 * is committed iff the entry applied at *index has term *term. On a
 * follower that knows a leader, the command is forwarded and *index is set
 * to 0: the host recognizes its command when it is applied. Returns 0,
 * RKV_ENOLEADER (no known leader), RKV_EBUSY (this leader is transferring
 * its leadership: retry shortly, probably elsewhere), RKV_ETOOBIG (len >
 * RAFT_ENTRY_MAX) or RKV_ENOMEM; on error nothing is appended or sent. */
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
/* Fill up to `cap` progress records (leader only), one per member of the
 * configuration (voters and learners, the leader itself included if it is
 * a member), in id order; returns the count. */
size_t raft_progress(const struct raft *r,
                     struct raft_progress_info *out,
                     size_t cap);

/* Membership (thesis §4). The configuration in force on a node is the one
 * of the last RAFT_ENTRY_CONF entry in its log, committed or not ("a
 * server always uses the latest configuration in its log", §4.1); if a
 * conflicting leader truncates that entry, the previous one is back in
 * force. Without any, it is the snapshot's, else raft_config.voters. Quorums
 * (commit, elections, ReadIndex, CheckQuorum) count its voters only. */

/* Encode `conf` into `buf` (`cap` bytes; RAFT_CONF_ENCODED_MAX always
 * suffices) and set *len. The format, little-endian, version 1:
 *   u8 version, u8 n, then n times {u64 id, u8 voter (0|1), u16 ctx_len,
 *   ctx_len bytes}, then u32 CRC-32C of every byte before it.
 * Returns 0, or RKV_EINVAL if `conf` is not valid (see struct raft_conf;
 * an empty one is not) or does not fit in `cap`. */
int raft_conf_encode(const struct raft_conf *conf,
                     uint8_t *buf,
                     size_t cap,
                     size_t *len);

/* Decode `len` bytes (untrusted) into *conf. Returns 0, or RKV_ECORRUPT
 * with a reason in `errmsg` (RKV_ERRMSG_LEN bytes; may be NULL) if the
 * bytes are not exactly one valid encoded configuration: truncated,
 * trailing bytes, bad checksum, unknown version, or an invalid
 * configuration. *conf is undefined on error. */
int raft_conf_decode(const uint8_t *buf,
                     size_t len,
                     struct raft_conf *conf,
                     char *errmsg);

/* The member `id` of `conf`, or NULL. Borrowed from `conf`. */
const struct raft_member *raft_conf_find(const struct raft_conf *conf,
                                         raft_id id);

/* The configuration in force (borrowed until the next call that changes
 * the log). It is empty (n == 0) only on a joining node that has not yet
 * heard of one. */
const struct raft_conf *raft_conf_of(const struct raft *r);

/* The configuration in force when the log ended at `index`, into *out (the
 * initial one spelled out if no other was ever recorded): what the host
 * stores with a snapshot taken at `index` (see raft_compact). Returns 0,
 * RKV_ECOMPACTED (index before the latest snapshot) or RKV_EUNAVAIL (index
 * past the last entry). */
int raft_conf_at(const struct raft *r, raft_index index, struct raft_conf *out);

/* Propose a one-server membership change (thesis §4.2): appends a
 * RAFT_ENTRY_CONF entry holding the whole new configuration, in force at
 * once on this leader (and on each follower when appended there); the
 * change is done when that entry, at *index (may be NULL), is committed.
 * `change` is an enum raft_change; `ctx` (ctx_len bytes, copied) is the new
 * member's opaque data for RAFT_CHANGE_ADD_LEARNER and ignored otherwise.
 * A leader that removes itself goes on leading, without counting itself,
 * until the entry commits, then steps down (thesis §4.2.2).
 * Returns 0, or:
 *   RKV_ENOTLEADER  not the leader;
 *   RKV_EBUSY       another change is not yet committed (one at a time,
 *                   §4.1), or this leader has not yet committed an entry of
 *                   its term (until then an earlier leader's change may
 *                   still be in flight, the single-server change bug), or a
 *                   leadership transfer is running, or, for PROMOTE, the
 *                   learner has not caught up: a learner is caught up once
 *                   it stores every entry this leader has committed (match
 *                   >= commit index, §4.2.1);
 *   RKV_EINVAL      bad `change`, id 0 or ctx_len > RAFT_MEMBER_CTX_MAX;
 *                   adding a member, or adding past RAFT_MAX_NODES;
 *                   promoting a non-learner; removing a non-member or the
 *                   last voter;
 *   RKV_ENOMEM      nothing was appended. */
int raft_change_member(struct raft *r,
                       int change,
                       raft_id id,
                       const void *ctx,
                       size_t ctx_len,
                       raft_index *index);

/* Hand leadership to voter `target` (thesis §3.10): this leader stops
 * accepting proposals and membership changes (RKV_EBUSY), brings the target's
 * log up to date, then sends it RAFT_MSG_TIMEOUT_NOW; the target campaigns
 * at once, without PreVote, and voters grant it even within our lease. If
 * the target has not taken over within an election timeout, the transfer is
 * cancelled and proposals are accepted again. Returns 0, RKV_ENOTLEADER,
 * RKV_EINVAL (target is this node or not a voter), RKV_EBUSY (a transfer is
 * already running) or RKV_ENOMEM (no transfer started). */
int raft_transfer_leader(struct raft *r, raft_id target);

/* The target of the running leadership transfer, 0 if none. */
raft_id raft_transfer_target(const struct raft *r);

const char *raft_role_name(enum raft_role role);
const char *raft_msg_type_name(int type);

#endif /* RAFTKV_RAFT_H */
