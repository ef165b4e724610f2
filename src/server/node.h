/* A raftkv node: the pure Raft core driven by a libuv loop, with the WAL and
 * hard state (src/storage), the key-value state machine (src/kv), the peer
 * transport and the client front ends (src/net, http_api.c) around it.
 *
 * The loop thread owns everything. The Ready pipeline (node.c) hands each
 * raft_ready() to a libuv worker that writes and fsyncs it (group commit:
 * everything that arrives meanwhile goes into the next Ready), then, back on
 * the loop, sends the messages, applies committed entries, answers the
 * client requests they complete, and calls raft_advance(). */
#ifndef SERVER_NODE_H
#define SERVER_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kv/cmd.h"
#include "kv/kv.h"
#include "raftkv/raft.h"
#include "server/config.h"
#include "server/log.h"

struct node;
struct node_op;
typedef void (*node_op_done_fn)(struct node_op *op);

enum node_op_kind {
    NODE_OP_WRITE = 1, /* a kv_cmd through the log */
    NODE_OP_GET = 2,   /* a linearizable (or stale) read of one key */
};

/* A client request waiting for the cluster. The front end owns the memory
 * (usually inside its per-request slot); the node links it into its lists
 * from node_submit_*() until it calls `done` or the front end calls
 * node_op_cancel(). */
struct node_op
{
    /* Set by the front end. */
    node_op_done_fn done; /* called once, on the loop thread */
    void *ctx;            /* for the front end */

    /* The outcome, valid inside done(). */
    int status;           /* 0; RKV_ENOLEADER, RKV_ENOTLEADER (retry);
                             RKV_ETIMEDOUT, RKV_ECANCELED (leader changed)
                             (outcome unknown); RKV_ENOSPC,
                             RKV_EIO (outcome unknown: the disk failed) */
    struct kv_result res; /* writes: what the state machine said */
    struct kv_buf value;  /* GET: the value; caller frees (kv_buf_free) */
    bool found;           /* GET: the key exists */
    bool stale;           /* GET: served from local state */
    raft_index index;     /* writes: log index; reads: read index */

    /* Private to the node. */
    uint8_t kind;          /* enum node_op_kind */
    uint64_t id;           /* write: envelope tag; read: ReadIndex ctx */
    uint64_t start_ms;     /* loop time it was submitted */
    uint64_t deadline_ms;  /* loop time after which it times out */
    raft_index read_index; /* GET: 0 until the read index is known */
    uint8_t *key;          /* GET: copy of the key */
    size_t key_len;
    struct node_op *prev, *next; /* in one of the node's lists */
    int list;                    /* which list, 0 if none */
};

/* Create a node from `cfg` (copied) on `loop`: open and recover the data
 * directory, start the core, listen on the peer, HTTP and RESP ports.
 * Returns 0, or an error with a one-line reason in errmsg: RKV_ECONFIG
 * (data dir of another cluster, bad address), RKV_ECORRUPT (WAL, hard
 * state or snapshot damaged: names the file and offset), RKV_EIO. */
int node_start(const struct node_config *cfg,
               uv_loop_t *loop,
               struct node **out,
               char *errmsg);

/* Stop serving, fail pending requests, sync and close storage, close every
 * handle; `n` is freed once the loop has run the close callbacks, and then
 * `stopped` (may be NULL) is called with `ctx`. Repeated calls do nothing. */
void node_stop(struct node *n, void (*stopped)(void *ctx), void *ctx);

/* Submit a write. `cmd` is encoded (copied) into the log entry. Returns 0
 * (op->done will be called), or RKV_ENOLEADER / RKV_ETOOBIG / RKV_EINVAL
 * (nothing submitted, done will not be called). */
int node_submit_write(struct node *n,
                      struct node_op *op,
                      const struct kv_cmd *cmd);

/* Submit a read of `key` (copied). Linearizable through ReadIndex unless
 * `stale`, then answered from local state before this returns. Returns 0
 * or RKV_ENOLEADER / RKV_ENOMEM as node_submit_write(). */
int node_submit_get(struct node *n,
                    struct node_op *op,
                    const void *key,
                    size_t key_len,
                    bool stale);

/* The front end no longer wants the answer (connection closed). */
void node_op_cancel(struct node *n, struct node_op *op);

/* Status for /status, /metrics, INFO. */
struct node_status
{
    raft_id id;
    const char *role;
    raft_term term;
    raft_id leader;
    raft_index first_index, last_index, commit, applied;
    struct raft_snapshot_meta snapshot;
    struct raft_progress_info progress[RAFT_MAX_NODES]; /* leader only */
    size_t n_progress;
    raft_id transfer_target; /* leadership transfer running to, or 0 */
    uint64_t cluster_id;     /* handshakes carry it */
    uint64_t keys;
};
void node_status(struct node *n, struct node_status *st);

/* Counters for /metrics (monotonic unless said). */
struct node_metrics
{
    uint64_t leader_changes;    /* times the known leader changed */
    uint64_t proposals;         /* writes submitted on this node */
    uint64_t proposals_failed;  /* answered with an error */
    uint64_t reads;             /* reads submitted on this node */
    uint64_t readies;           /* Readies processed */
    uint64_t fsyncs;            /* WAL syncs */
    uint64_t entries_persisted; /* entries written to the WAL */
    uint64_t entries_applied;   /* entries applied to the state machine */
    uint64_t snapshots_taken;
    uint64_t snapshots_installed;
    uint64_t disk_errors;          /* failed persist attempts */
    uint64_t write_latency_us_sum; /* over completed writes */
    uint64_t write_latency_count;
    uint64_t read_latency_us_sum; /* over completed linearizable reads */
    uint64_t read_latency_count;
    uint64_t latency_buckets[2][12]; /* [write, read] cumulative le buckets */
};
const struct node_metrics *node_metrics_of(const struct node *n);
/* Latency bucket bounds, microseconds, for node_metrics.latency_buckets. */
extern const uint64_t node_latency_bounds_us[12];

const struct node_config *node_config_of(const struct node *n);
const struct node_logger *node_logger_of(const struct node *n);
/* Where the leader is, if it is known and its address too: fills *out and
 * returns true; false otherwise. */
bool node_leader_member(const struct node *n, struct config_member *out);

/* Membership (thesis §4, one server at a time). A member's addresses are
 * kept in its raft_member.ctx (see node_member_ctx()); the transport's
 * peers follow the configuration in force, and a node outside it stops
 * after NODE_REMOVED_GRACE election timeouts. */

/* One member of the configuration in force, for GET /members. */
struct node_member
{
    raft_id id;
    bool voter;                /* else a learner */
    bool has_addr;             /* `addr` is known */
    struct config_member addr; /* from its ctx, else from nodes.conf */
    bool has_match;            /* this node leads: `match` is known */
    raft_index match;          /* highest index replicated there */
};

/* The members of the configuration in force into out[0..cap), in id
 * order; returns the count (0 on a joining node that has none yet). */
size_t node_members(const struct node *n, struct node_member *out, size_t cap);

/* Encode the addresses of `m` as a member ctx, the text
 * "<host> <peer_port> <http_port> <resp_port>", into buf (`cap` bytes, not
 * NUL-terminated) and set *len. Returns 0 or RKV_EINVAL if it does not
 * fit (RAFT_MEMBER_CTX_MAX bytes: a host of up to about 100 bytes). */
int node_member_ctx(const struct config_member *m,
                    uint8_t *buf,
                    size_t cap,
                    size_t *len);

/* Propose the change `change` (enum raft_change) of member m->id; for
 * RAFT_CHANGE_ADD_LEARNER `m` also gives its addresses. The change is in
 * force once proposed and done when the entry at *index (may be NULL)
 * commits. Returns 0 or what raft_change_member() returns (RKV_ENOTLEADER,
 * RKV_EBUSY, RKV_EINVAL, RKV_ENOMEM), or RKV_EINVAL if the addresses do not
 * fit in a ctx. */
int node_change_member(struct node *n,
                       int change,
                       const struct config_member *m,
                       raft_index *index);

/* Start handing leadership to voter `target` (raft_transfer_leader()).
 * Returns 0, RKV_ENOTLEADER, RKV_EINVAL, RKV_EBUSY or RKV_ENOMEM. */
int node_transfer_leader(struct node *n, raft_id target);

#endif /* SERVER_NODE_H */
