/* The raftkv client library: put, get and delete keys in a cluster through
 * the nodes' HTTP/JSON API (DESIGN.md, "HTTP/JSON API"), finding a node that
 * can serve and retrying through failover. raftkv-cli is built on it, and
 * so can the benchmarks be.
 *
 * Retries. An operation is sent to one node at a time, over one keep-alive
 * connection. When a node cannot be reached, does not answer within
 * RKV_CLIENT_ATTEMPT_MS, or answers 503 (no leader, not leader), the
 * client tries again at once: on the node the 503 names in "leader_http"
 * if that is one of the client's nodes, else on the next node. After as many
 * failed attempts in a row as the client knows nodes, it pauses, first for
 * RKV_CLIENT_BACKOFF_MIN_MS, then twice as long each time up to
 * RKV_CLIENT_BACKOFF_MAX_MS, to give an election or a restart time.
 * (The server's Retry-After is in whole seconds, longer than an election
 * takes, so the client keeps its own pace.) The operation gives up with
 * RKV_ETIMEDOUT once its whole time budget, the timeout given to
 * rkv_client_open(), is spent. The node that answered last is tried first
 * by the next operation.
 *
 * Exactly-once writes. Every client draws a random client id from
 * /dev/urandom; each put or delete takes the next sequence number and every
 * retry of it repeats the pair in the X-Client-Id and X-Request-Seq
 * headers, so the cluster applies a write once however often it is sent,
 * and answers a retry with the first answer.
 *
 * Threads: a client is used by one thread at a time. */
#ifndef RAFTKV_CLIENT_H
#define RAFTKV_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RKV_CLIENT_NODES_MAX 16        /* nodes one client knows */
#define RKV_CLIENT_HOST_MAX 255        /* bytes of a host name */
#define RKV_CLIENT_TIMEOUT_MS 10000    /* default budget of an operation */
#define RKV_CLIENT_ATTEMPT_MS 2000     /* most one request may take */
#define RKV_CLIENT_BACKOFF_MIN_MS 50   /* first pause between retries */
#define RKV_CLIENT_BACKOFF_MAX_MS 1000 /* longest pause between retries */

/* The HTTP address of a node. */
struct rkv_client_addr
{
    char host[RKV_CLIENT_HOST_MAX + 1]; /* NUL-terminated name or address */
    uint16_t port;                      /* HTTP port, 1..65535 */
};

/* What GET /status says about one node. */
struct rkv_node_status
{
    uint64_t id;           /* the node's id */
    char role[16];         /* "leader", "follower", "candidate",
                              "pre-candidate", NUL-terminated */
    uint64_t term;         /* current term */
    uint64_t leader;       /* id of the leader it follows, 0 if none */
    uint64_t commit_index; /* highest index known committed */
    uint64_t last_applied; /* highest index applied to its state */
    uint64_t log_length;   /* entries in its log */
};

struct rkv_client; /* opaque */

/* Parse `list`, "host:port,host:port,..." (NUL-terminated, borrowed), into
 * addrs[0..*n), at most `max` of them. The port follows the last ':' of
 * each item. Returns 0, or RKV_EINVAL with a message for an empty item, a
 * missing or bad port, a host too long, or more than `max` items. */
int rkv_client_parse_addrs(const char *list,
                           struct rkv_client_addr *addrs,
                           size_t max,
                           size_t *n,
                           char *errmsg);

/* Create a client of the cluster whose nodes are nodes[0..n) (copied;
 * 1 <= n <= RKV_CLIENT_NODES_MAX). `timeout_ms` is the time budget of each
 * operation, retries included (0: RKV_CLIENT_TIMEOUT_MS). On success *out
 * is set; free it with rkv_client_free(). `errmsg` is a caller-owned
 * RKV_ERRMSG_LEN buffer, here and below. Returns 0, RKV_EINVAL if n is out
 * of range, RKV_EIO if /dev/urandom cannot be read, or RKV_ENOMEM. */
int rkv_client_open(const struct rkv_client_addr *nodes,
                    size_t n,
                    unsigned timeout_ms,
                    struct rkv_client **out,
                    char *errmsg);

/* Close the client's connection and free it. `c` may be NULL. */
void rkv_client_free(struct rkv_client *c);

/* Errors common to the operations below:
 *  - RKV_EINVAL: the key is empty, or, for a put, the key or value is not
 *    valid UTF-8 (the body is JSON), or the server refused the request as
 *    malformed (400);
 *  - RKV_ETOOBIG: the server refused the key or value as too large (413);
 *  - RKV_ETIMEDOUT: no node gave an answer within the time budget (the
 *    cluster is unreachable or has no leader); the message says what the
 *    last attempt met;
 *  - RKV_EPROTO: a node answered with something that is not the API's
 *    HTTP/JSON;
 *  - RKV_EINTERNAL: a node answered with another error status;
 *  - RKV_ENOMEM. */

/* Set `key` (key_len bytes) to `value` (value_len bytes), both borrowed for
 * the call. On success, *index (if not NULL) is the log index of the
 * write. Returns 0 or an error above. */
int rkv_client_put(struct rkv_client *c,
                   const char *key,
                   size_t key_len,
                   const char *value,
                   size_t value_len,
                   uint64_t *index,
                   char *errmsg);

/* Read `key`: linearizable, or, if `stale`, whatever the answering node
 * has applied. On success *value is a malloc()ed copy of the value with a
 * NUL after its *value_len bytes (it may hold NULs itself); the caller
 * frees it with free(). Returns 0, RKV_ENOTFOUND if the key does not
 * exist, or an error above. */
int rkv_client_get(struct rkv_client *c,
                   const char *key,
                   size_t key_len,
                   bool stale,
                   char **value,
                   size_t *value_len,
                   char *errmsg);

/* Delete `key`. Returns 0, RKV_ENOTFOUND if the key did not exist, or an
 * error above. */
int rkv_client_del(struct rkv_client *c,
                   const char *key,
                   size_t key_len,
                   char *errmsg);

/* Ask node `node` (an index into the client's nodes) for its status, once,
 * within RKV_CLIENT_ATTEMPT_MS or the time budget, whichever is shorter.
 * Returns 0 and fills `*st`, or RKV_ETIMEDOUT / RKV_EIO if the node does
 * not answer in time / cannot be reached, RKV_EPROTO, RKV_EINTERNAL,
 * RKV_ENOMEM. Unlike the other operations' messages, this one does not
 * name the node: the caller chose it. */
int rkv_client_status(struct rkv_client *c,
                      size_t node,
                      struct rkv_node_status *st,
                      char *errmsg);

/* Find the leader: ask every node for its status (each within
 * RKV_CLIENT_ATTEMPT_MS or its share of the time budget, whichever is
 * shorter), and take the one that says it leads in the highest term;
 * repeat, with the pauses above, until one does or the budget is spent.
 * On success *node is its index among the client's nodes, *st (if not
 * NULL) its status, and the next operations go to it first. Returns 0,
 * RKV_ETIMEDOUT, or RKV_ENOMEM. */
int rkv_client_leader(struct rkv_client *c,
                      size_t *node,
                      struct rkv_node_status *st,
                      char *errmsg);

/* Membership and leadership (the nodes' admin API: GET/POST /members,
 * POST /members/<id>/promote, DELETE /members/<id>, POST /transfer-leader).
 * Changes go to the leader (503 answers are retried as above, following
 * the leader's hint; a leader busy with another change, a learner that
 * has not caught up yet or a running transfer answer 503 too, so they are
 * retried within the budget), and return once the change is committed:
 * the client then polls GET /members until its commit_index reaches the
 * change's index. Besides the errors above: RKV_EINVAL if the leader
 * refused the change as invalid for its configuration (adding a member,
 * promoting a voter, removing a non-member or the last voter). */

/* One member of the configuration in force. */
struct rkv_member
{
    uint64_t id;                         /* node id */
    bool voter;                          /* else a learner */
    char addr[RKV_CLIENT_HOST_MAX + 24]; /* "host:peer:http:resp", or "" */
    bool has_match;                      /* answered by the leader */
    uint64_t match_index;                /* replicated there, per the leader */
};

/* The configuration in force, as one node sees it. */
struct rkv_members
{
    uint64_t id;           /* the node that answered */
    uint64_t leader;       /* the leader it knows, 0 if none */
    uint64_t commit_index; /* its commit index */
    size_t n;              /* members */
    struct rkv_member members[RKV_CLIENT_NODES_MAX]; /* ascending id */
};

enum rkv_member_change {
    RKV_MEMBER_ADD_LEARNER = 1, /* add a non-voting member */
    RKV_MEMBER_ADD = 2,         /* add as a learner, then promote it once
                                   it has caught up */
    RKV_MEMBER_PROMOTE = 3,     /* make a learner a voter */
    RKV_MEMBER_REMOVE = 4,      /* remove a voter or a learner */
};

/* The configuration in force, from the node the next operation goes to
 * first (the leader, after rkv_client_leader()). Returns 0 and fills *out,
 * or an error above. */
int rkv_client_members(struct rkv_client *c,
                       struct rkv_members *out,
                       char *errmsg);

/* Change the membership of node `id` (1..65535). `addr`, for the two
 * adds only (NULL otherwise), is "host:peer_port[:http_port[:resp_port]]"
 * (HTTP and RESP ports default to peer_port + 1000 and + 2000). Returns 0
 * once committed, or an error above. */
int rkv_client_member_change(struct rkv_client *c,
                             enum rkv_member_change change,
                             uint64_t id,
                             const char *addr,
                             char *errmsg);

/* Hand the leadership to voter `id` and wait until one of the client's
 * nodes says `id` leads (so `id` should be among them). Returns 0,
 * RKV_EINVAL (not a voter), RKV_ETIMEDOUT, or an error above. */
int rkv_client_transfer_leader(struct rkv_client *c, uint64_t id, char *errmsg);

/* Node `node`'s address, as given to rkv_client_open(). */
const struct rkv_client_addr *rkv_client_node(const struct rkv_client *c,
                                              size_t node);

/* The number of nodes the client knows. */
size_t rkv_client_n_nodes(const struct rkv_client *c);

#endif /* RAFTKV_CLIENT_H */
