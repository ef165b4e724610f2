/* Internals of the node shared by node.c, snapshot.c and http_api.c. */
#ifndef SERVER_NODE_INT_H
#define SERVER_NODE_INT_H

#include <stdio.h>
#include <stdlib.h>

#include "server/node.h"
#include "storage/snapshot_file.h"

struct peer_transport;
struct http_api;
struct resp_api;
struct wal;
struct disk;

/* Assertions of the server: on in every build. */
#define ASSERT(x)                                                      \
    do {                                                               \
        if (!(x)) {                                                    \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, \
                    __LINE__, #x);                                     \
            abort();                                                   \
        }                                                              \
    } while (0)

#define NODE_SNAPSHOT_CHUNK (1u << 20)   /* InstallSnapshot chunk, bytes */
#define NODE_KV_COMMIT_MS 20             /* state machine commit interval */
#define NODE_KV_COMMIT_ENTRIES 4096      /* ... or after this many applies */
#define NODE_JOIN_TIMEOUT_S 5            /* --join: /status fetch limit */
#define NODE_JOIN_STATUS_MAX (64u << 10) /* --join: /status answer, bytes */
#define NODE_REMOVED_GRACE 2 /* election timeouts a removed node lingers */

enum {
    NODE_LIST_WRITES = 1,      /* writes proposed, waiting to be applied */
    NODE_LIST_READS_INDEX = 2, /* reads waiting for their read index */
    NODE_LIST_READS_APPLY = 3, /* reads waiting for the apply to reach it */
};

struct node_op_list
{
    struct node_op *head, *tail; /* in submission order */
    size_t n;                    /* ops linked */
};

struct node
{
    struct node_config cfg; /* copied from node_start() */
    struct node_logger log; /* prefix of every log line */
    uv_loop_t *loop;        /* borrowed */
    char data_dir[CONFIG_PATH_MAX];
    char listen_host[64]; /* numeric address to bind */

    struct raft *raft;       /* the core */
    const struct disk *disk; /* POSIX disk seam for WAL and hard state */
    struct wal *wal;         /* touched by the persist worker only while
                                `persisting` */
    struct kv *kv;           /* the state machine */
    struct raft_hard_state hs_saved; /* term and vote on disk */
    raft_index applied;              /* state machine's last applied index */
    raft_index wal_drop_pending;     /* drop WAL segments below, next persist */
    struct raft_snapshot_meta snap;  /* newest complete snapshot file */
    char snap_path[SNAPF_PATH_MAX];  /* its path, "" if none */
    uint8_t *chunk_buf;              /* NODE_SNAPSHOT_CHUNK bytes, lazily */

    struct peer_transport *peers;
    struct raft_conf peers_conf; /* configuration `peers` was last synced to */
    uint64_t removed_ticks;      /* ticks spent outside the configuration */
    struct http_api *http;
    struct resp_api *resp; /* the Redis-protocol front end */

    uv_idle_t idle;          /* runs the pipeline after this iteration */
    uv_timer_t tick;         /* raft_tick() every cfg.tick_ms */
    uv_timer_t retry_timer;  /* persist retry after a disk error */
    uv_timer_t kv_timer;     /* commits the state machine's applies */
    uint64_t kv_uncommitted; /* entries applied since the last commit */
    bool kv_behind;          /* a commit failed: re-apply from the log */
    uint64_t ticks;          /* ticks so far */

    /* The Ready in progress. */
    struct raft_ready rd;    /* valid while `persisting` */
    bool persisting;         /* rd taken, not yet advanced */
    bool installed;          /* rd's snapshot installed (retry-safe) */
    bool sent;               /* rd's messages sent (retry-safe) */
    uv_work_t persist;       /* the worker job */
    int persist_rv;          /* its outcome */
    uint64_t persist_fsyncs; /* fsyncs it did */
    char persist_err[RKV_ERRMSG_LEN];

    /* Taking a snapshot (snapshot.c). */
    bool snapshotting; /* work in flight */
    uv_work_t snap_work;
    struct kv_snapshot *snap_stream;       /* read transaction being streamed */
    struct raft_snapshot_meta snap_taking; /* what it will be */
    uint8_t snap_conf[RAFT_CONF_ENCODED_MAX]; /* its configuration, encoded */
    size_t snap_conf_len;                     /* bytes in snap_conf */
    int snap_rv;
    char snap_err[RKV_ERRMSG_LEN];

    struct node_op_list writes;
    struct node_op_list reads_index;
    struct node_op_list reads_apply;
    uint64_t next_id;    /* envelope tags and ReadIndex contexts */
    raft_id last_leader; /* for leader-change logging and metrics */
    struct node_metrics metrics;

    void (*stopped_cb)(void *ctx); /* node_stop()'s callback, or NULL */
    void *stopped_ctx;
    bool stopping;       /* node_stop() called */
    int handles_open;    /* our uv handles not yet closed */
    int subsystems_open; /* transport / HTTP still closing */
};

void node_kick(struct node *n);
void node_observe(struct node *n);
void node_maybe_snapshot(struct node *n);
/* Commit the state machine's applies now (one fsync). */
void node_kv_commit(struct node *n);
void node_maybe_free(struct node *n);
/* The transport or the HTTP server finished closing. */
void node_subsystem_closed(struct node *n);
/* Numeric address to listen on for the configured host of this node
 * ("localhost" → "127.0.0.1", a name that is not numeric → "0.0.0.0"). */
void node_resolve_listen_host(const char *host, char *out, size_t cap);

#endif /* SERVER_NODE_INT_H */
