/* The peer transport: carries raft_msg between the nodes of a cluster over
 * TCP, on a libuv loop, in the frames of peer_codec.h.
 *
 * Each node dials every peer once and uses that connection only to send;
 * it receives only on the connections it accepts. The dialer first sends a
 * handshake (cluster id, its id, the id it expects to reach); the acceptor
 * refuses, with one log line, a foreign cluster, a sender that is not a
 * current peer or a handshake meant for another node. Peers come from the
 * configuration and change at run time with peer_add() and peer_remove()
 * (membership changes). Bytes that are no valid frame close
 * that one connection, with the reason logged.
 *
 * Delivery is best effort, as Raft allows: a message for a peer that is not
 * connected, or whose queue is full, is dropped and counted. A lost
 * connection is redialed with jittered exponential backoff. Messages queued
 * during one loop iteration leave in one write.
 *
 * Everything runs on the loop's thread; no function may be called from
 * another thread. */
#ifndef NET_PEER_H
#define NET_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/peer_codec.h"
#include "raftkv/raft.h"
#include "util/buf.h"

#define PEER_HOST_MAX 256              /* bytes of a host name, NUL included */
#define PEER_INBOUND_MAX 64            /* accepted connections open at once */
#define PEER_QUEUE_DEFAULT (16u << 20) /* queue_max_bytes default */
#define PEER_INFLIGHT_DEFAULT (8u << 20)  /* inflight_max_bytes default */
#define PEER_BACKOFF_MIN_DEFAULT 50       /* backoff_min_ms default */
#define PEER_BACKOFF_MAX_DEFAULT 2000     /* backoff_max_ms default */
#define PEER_CONNECT_TIMEOUT_DEFAULT 2000 /* connect_timeout_ms default */

/* Called on the loop thread for every message received from a peer; `m`
 * and everything it points to are valid for the duration of the call
 * only. The callback may call peer_send(), peer_set_blocked() and
 * peer_transport_close(). */
typedef void (*peer_message_fn)(void *ctx, const struct raft_msg *m);

/* Log sink. `level` uses the core's scale (RAFT_TRACE_DEBUG, _INFO,
 * _WARN), so the server maps one scale; no trailing newline. */
typedef void (*peer_log_fn)(void *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Where a peer listens. */
struct peer_addr
{
    raft_id id;       /* its node id, not 0 */
    const char *host; /* IP address or host name (resolved at each dial) */
    uint16_t port;    /* TCP port */
};

struct peer_config
{
    raft_id id;                    /* this node, not 0 */
    uint64_t cluster_id;           /* shared by every node of the cluster */
    const char *listen_host;       /* numeric IPv4 or IPv6 address */
    uint16_t listen_port;          /* TCP port, not 0 */
    const struct peer_addr *peers; /* the other nodes, this one excluded */
    size_t n_peers;                /* < RAFT_MAX_NODES */
    size_t queue_max_bytes; /* per peer, frames not yet written; 0: default */
    size_t inflight_max_bytes;   /* per peer, bytes in writes not completed;
                                    0: default */
    uint64_t backoff_min_ms;     /* first redial delay; 0: default */
    uint64_t backoff_max_ms;     /* delay cap, doubling up to it; 0: default */
    uint64_t connect_timeout_ms; /* give up a dial after; 0: default */
    peer_message_fn on_message;  /* required */
    peer_log_fn log;             /* NULL: silent */
    void *ctx;                   /* passed to on_message and log */
};

/* Counters of one peer, for /metrics and tests. */
struct peer_stats
{
    uint64_t sent;       /* messages the kernel accepted */
    uint64_t dropped;    /* messages lost: not connected, queue full,
                            blocked, write failed or too big */
    uint64_t received;   /* messages delivered to on_message */
    uint64_t reconnects; /* connections established after the first */
    uint64_t writes;     /* uv_write calls: sent / writes is the batching */
    uint64_t bytes_out;  /* bytes the kernel accepted, handshakes included */
    uint64_t bytes_in;   /* bytes of handshakes and frames decoded */
    bool connected;      /* our outbound connection is up */
};

/* The rest is private to peer.c. */

enum peer_dial_state {
    PEER_IDLE = 0,   /* no connection; timer may be running to redial */
    PEER_RESOLVING,  /* getaddrinfo running */
    PEER_CONNECTING, /* connect running; timer is the connect timeout */
    PEER_CONNECTED,  /* handshake sent; messages are queued */
    PEER_CLOSING,    /* uv_close issued on `tcp` */
};

struct peer_transport;
struct peer_conn;

/* One configured peer and our outbound connection to it. */
struct peer_remote
{
    struct peer_transport *t;   /* owner */
    raft_id id;                 /* the peer's node id */
    char host[PEER_HOST_MAX];   /* where it listens */
    uint16_t port;              /* and on which port */
    enum peer_dial_state state; /* of the outbound connection */
    uv_tcp_t tcp;               /* outbound connection, while not IDLE or
                                   RESOLVING */
    uv_connect_t connect;       /* the dial in flight */
    uv_getaddrinfo_t resolve;   /* the name lookup in flight */
    uv_timer_t timer;           /* redial delay or connect timeout */
    struct rkv_buf pending;     /* encoded frames not yet handed to a write */
    size_t pending_msgs;        /* messages in `pending` */
    size_t inflight_bytes;      /* bytes in writes not yet completed */
    uint64_t backoff_ms;        /* next redial delay, before jitter */
    uint64_t connected_at_ms;   /* loop time the connection came up */
    bool ever_connected;        /* to count reconnects */
    bool dial_failing;          /* the last dial failed: log quieter */
    bool flapping;              /* the last connection went at once */
    unsigned addr_turn;         /* which of the host's addresses to dial */
    bool blocked;               /* peer_set_blocked(): drop all traffic */
    struct peer_conn *in;       /* its accepted connection, if identified */
    uint8_t sink[64];           /* read buffer: peers never answer on it */
    struct peer_stats stats;    /* counters */
    bool timer_open;            /* `timer` initialized, not yet closed */
    bool removing;              /* peer_remove(): handles closing, then the
                                   slot is zeroed and free again */
};

typedef void (*peer_close_fn)(struct peer_transport *t);

struct peer_transport
{
    uv_loop_t *loop;                 /* not owned */
    raft_id id;                      /* this node */
    uint64_t cluster_id;             /* handshakes must carry it */
    char listen_host[PEER_HOST_MAX]; /* numeric address to bind */
    uint16_t listen_port;            /* port to bind */
    size_t queue_max_bytes;          /* per peer bound, default applied */
    size_t inflight_max_bytes;       /* per peer bound, default applied */
    uint64_t backoff_min_ms;         /* first redial delay */
    uint64_t backoff_max_ms;         /* redial delay cap */
    uint64_t connect_timeout_ms;     /* dial time limit */
    peer_message_fn on_message;      /* delivery of received messages */
    peer_log_fn log;                 /* log sink, NULL: silent */
    void *ctx;                       /* for on_message and log */
    struct peer_remote remotes[RAFT_MAX_NODES - 1]; /* the peers; a slot
                                                       with id 0 is free */
    size_t n_remotes;          /* slots ever used (free ones included) */
    uv_tcp_t listener;         /* accepts inbound connections */
    uv_prepare_t flush;        /* writes queued frames once per
                                  loop iteration */
    struct peer_conn *inbound; /* accepted connections, a list */
    size_t n_inbound;          /* its length */
    struct peer_decoded dec;   /* decode scratch, shared by all
                                  connections (one thread) */
    uint64_t rng;              /* jitter state (splitmix64) */
    unsigned open;             /* handles and lookups not yet
                                  finished; close ends at 0 */
    bool started;              /* peer_transport_start() ran */
    bool closing;              /* peer_transport_close() ran */
    peer_close_fn close_cb;    /* called once everything is closed */
};

/* Check and copy `cfg` (the peers' hosts too) into `t`. Touches no loop
 * and allocates nothing, so a transport never started needs no close.
 * Returns 0, or RKV_EINVAL with the reason in `errmsg` (RKV_ERRMSG_LEN
 * bytes, may be NULL): id 0, missing on_message, a peer with id 0, this
 * node's id or a duplicate id, too many peers, a host too long, a listen
 * address that is not numeric, a port 0, or backoff_min > backoff_max. */
int peer_transport_init(struct peer_transport *t,
                        uv_loop_t *loop,
                        const struct peer_config *cfg,
                        char *errmsg);

/* Listen on the configured address and start dialing every peer. Returns
 * 0, or RKV_EIO with the reason in `errmsg` (may be NULL) if the listen
 * address cannot be bound. Whatever it returns, the transport must then be
 * closed with peer_transport_close(). Precondition: init returned 0 and
 * start was not called yet. */
int peer_transport_start(struct peer_transport *t, char *errmsg);

/* Queue `m` for peer m->to. The message is encoded, so everything it
 * points to is copied: the caller's memory may go after the call. The frame
 * leaves in the flush at the end of this loop iteration. Returns 0 once
 * queued; RKV_EBUSY if dropped because the peer is not connected, is
 * blocked or its queue is full (counted in `dropped`: not an error for
 * Raft, which retries); RKV_ENOTFOUND if m->to is not a configured peer;
 * RKV_ETOOBIG or RKV_EINVAL if it cannot be encoded (peer_msg_encode(),
 * counted and logged); RKV_ENOMEM; RKV_ESHUTDOWN after
 * peer_transport_close(). Precondition: started. */
int peer_send(struct peer_transport *t, const struct raft_msg *m);

/* Add peer `id`, listening at host:port (copied), and start dialing it;
 * from now on its inbound handshake is accepted too. If `id` is already a
 * peer, its address is replaced, used from the next dial on. Returns 0,
 * RKV_EINVAL (id 0 or ours, host empty or too long, port 0), RKV_EBUSY (no
 * free slot: RAFT_MAX_NODES - 1 peers, or removed ones still closing) or
 * RKV_EIO. Precondition: started, not closed. */
int peer_add(struct peer_transport *t,
             raft_id id,
             const char *host,
             uint16_t port);

/* Remove peer `id`: its connections close, queued messages are dropped,
 * its handshakes are refused from now on, and its slot is free again once
 * the handles are closed. Returns 0 or RKV_ENOTFOUND. Precondition:
 * started, not closed. */
int peer_remove(struct peer_transport *t, raft_id id);

/* Test fault switch: while `blocked`, drop every message to peer `id`
 * (peer_send() returns RKV_EBUSY) and every message received from it.
 * Connections stay up. Returns 0 or RKV_ENOTFOUND. */
int peer_set_blocked(struct peer_transport *t, raft_id id, bool blocked);

/* Copy the counters of peer `id` into *out. Returns 0 or RKV_ENOTFOUND. */
int peer_stats_of(const struct peer_transport *t,
                  raft_id id,
                  struct peer_stats *out);

/* Close every connection, timer and the listener; queued messages are
 * dropped. `close_cb` (required) is called from the loop, never before
 * this returns, once all of them are closed and all memory is freed: only
 * then may `t` be freed or initialized again. Precondition: started, and
 * not closed yet. */
void peer_transport_close(struct peer_transport *t, peer_close_fn close_cb);

#endif /* NET_PEER_H */
