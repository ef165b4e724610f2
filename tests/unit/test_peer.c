/* Unit tests of the peer transport (src/net/peer.h): real transports on
 * 127.0.0.1 sharing one libuv loop, and raw TCP clients that misbehave.
 * Every wait is bounded by a loop timer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/runner.h"
#include "net/peer.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CLUSTER_ID 0x5eed5eed5eed5eedu
#define WAIT_MS 5000 /* bound of every wait */
#define MAX_NODES 3
#define MAX_RECEIVED 256

/* What a node kept of one received message. */
struct received
{
    struct raft_msg msg; /* scalars; pointers cleared */
    uint8_t entry0[32];  /* first entry's bytes */
    size_t entry0_len;
    uint8_t data[64]; /* snapshot chunk */
};

struct cluster;

struct node
{
    struct peer_transport t;
    struct cluster *cl;
    raft_id id;
    uint16_t port;
    bool running; /* started and not closed */
    struct received rx[MAX_RECEIVED];
    size_t n_rx;
};

struct cluster
{
    uv_loop_t loop;
    struct node nodes[MAX_NODES];
    size_t n_nodes;
    const char *peer_host;  /* how nodes name each other */
    size_t queue_max_bytes; /* per node config, 0: default */
    char log[16384];        /* every log line, '\n'-separated */
    size_t log_len;
};

static void on_message(void *ctx, const struct raft_msg *m)
{
    struct node *n = ctx;
    struct received *r;

    ASSERT_TRUE(n->n_rx < MAX_RECEIVED);
    r = &n->rx[n->n_rx++];
    memset(r, 0, sizeof *r);
    r->msg = *m;
    r->msg.entries = NULL;
    r->msg.data = NULL;
    if (m->n_entries > 0) {
        r->entry0_len = m->entries[0].len;
        ASSERT_TRUE(r->entry0_len <= sizeof r->entry0);
        if (r->entry0_len > 0)
            memcpy(r->entry0, m->entries[0].data, r->entry0_len);
    }
    ASSERT_TRUE(m->len <= sizeof r->data);
    if (m->len > 0)
        memcpy(r->data, m->data, m->len);
}

static void on_log(void *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void on_log(void *ctx, int level, const char *fmt, ...)
{
    struct node *n = ctx;
    struct cluster *cl = n->cl;
    size_t room = sizeof cl->log - cl->log_len;
    va_list ap;
    int k;

    if (level < RAFT_TRACE_INFO || room < 2)
        return;
    k = snprintf(cl->log + cl->log_len, room, "node %u: ", (unsigned)n->id);
    if (k > 0 && (size_t)k < room)
        cl->log_len += (size_t)k;
    room = sizeof cl->log - cl->log_len;
    va_start(ap, fmt);
    k = vsnprintf(cl->log + cl->log_len, room - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        cl->log_len += (size_t)k < room - 1 ? (size_t)k : room - 2;
    cl->log[cl->log_len++] = '\n';
    cl->log[cl->log_len] = '\0';
}

#define ASSERT_LOGGED(cl, text)                                               \
    do {                                                                      \
        if (strstr((cl)->log, (text)) == NULL)                                \
            test__fail(__FILE__, __LINE__, "no log line with \"%s\" in:\n%s", \
                       (text), (cl)->log);                                    \
    } while (0)

/* Ports free on 127.0.0.1 now: bind each to port 0 and keep them all open
 * until every one is chosen, so they differ. */
static void pick_ports(uint16_t *ports, size_t n)
{
    int fds[MAX_NODES + 1];

    ASSERT_TRUE(n <= ARRAY_LEN(fds));
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof sa;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_TRUE(fds[i] >= 0);
        ASSERT_OK(bind(fds[i], (struct sockaddr *)&sa, sizeof sa));
        ASSERT_OK(getsockname(fds[i], (struct sockaddr *)&sa, &len));
        ports[i] = ntohs(sa.sin_port);
    }
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(close(fds[i]));
}

/* A cluster of `n` nodes with ids 1..n, all configured, none started. */
static void cluster_init(struct cluster *cl, size_t n)
{
    uint16_t ports[MAX_NODES];

    memset(cl, 0, sizeof *cl);
    ASSERT_OK(uv_loop_init(&cl->loop));
    pick_ports(ports, n);
    cl->n_nodes = n;
    cl->peer_host = "127.0.0.1";
    for (size_t i = 0; i < n; i++) {
        cl->nodes[i].cl = cl;
        cl->nodes[i].id = i + 1;
        cl->nodes[i].port = ports[i];
    }
}

/* Configure and start node `id` of `cl`, in cluster `cluster_id`. */
static void node_start(struct cluster *cl, raft_id id, uint64_t cluster_id)
{
    struct node *n = &cl->nodes[id - 1];
    struct peer_addr peers[MAX_NODES];
    struct peer_config cfg = {
        .id = id,
        .cluster_id = cluster_id,
        .listen_host = "127.0.0.1",
        .listen_port = n->port,
        .peers = peers,
        .backoff_min_ms = 10,
        .backoff_max_ms = 100,
        .queue_max_bytes = cl->queue_max_bytes,
        .on_message = on_message,
        .log = on_log,
        .ctx = n,
    };
    char errmsg[RKV_ERRMSG_LEN] = "";

    for (size_t i = 0; i < cl->n_nodes; i++) {
        if (cl->nodes[i].id == id)
            continue;
        peers[cfg.n_peers++] = (struct peer_addr){
            cl->nodes[i].id, cl->peer_host, cl->nodes[i].port};
    }
    ASSERT_OK(peer_transport_init(&n->t, &cl->loop, &cfg, errmsg));
    ASSERT_OK(peer_transport_start(&n->t, errmsg));
    n->running = true;
}

static void on_closed(struct peer_transport *t)
{
    struct node *n = (struct node *)t; /* t is the first member */
    n->running = false;
}

/* Step the loop until pred(arg) holds or WAIT_MS pass. */
struct waiter
{
    uv_timer_t timer;
    bool (*pred)(void *);
    void *arg;
    bool met;
};

static void on_poll(uv_timer_t *h)
{
    struct waiter *w = h->data;

    if (w->pred(w->arg)) {
        w->met = true;
        uv_stop(h->loop);
    }
}

static void on_deadline(uv_timer_t *h)
{
    uv_stop(h->loop);
}

static bool run_until(struct cluster *cl, bool (*pred)(void *), void *arg)
{
    struct waiter w = {.pred = pred, .arg = arg};
    uv_timer_t deadline;

    ASSERT_OK(uv_timer_init(&cl->loop, &w.timer));
    ASSERT_OK(uv_timer_init(&cl->loop, &deadline));
    w.timer.data = &w;
    ASSERT_OK(uv_timer_start(&w.timer, on_poll, 0, 1));
    ASSERT_OK(uv_timer_start(&deadline, on_deadline, WAIT_MS, 0));
    (void)uv_run(&cl->loop, UV_RUN_DEFAULT); /* returns at uv_stop */
    uv_close((uv_handle_t *)&w.timer, NULL);
    uv_close((uv_handle_t *)&deadline, NULL);
    (void)uv_run(&cl->loop, UV_RUN_NOWAIT); /* runs the closes */
    return w.met || pred(arg);
}

/* Keep the loop running for `ms` (to show that something does not
 * happen). */
static void run_for(struct cluster *cl, uint64_t ms)
{
    uv_timer_t stop;
    ASSERT_OK(uv_timer_init(&cl->loop, &stop));
    ASSERT_OK(uv_timer_start(&stop, on_deadline, ms, 0));
    (void)uv_run(&cl->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&stop, NULL);
    (void)uv_run(&cl->loop, UV_RUN_NOWAIT);
}

static bool not_running(void *arg)
{
    return !((struct node *)arg)->running;
}

static void node_close(struct node *n)
{
    peer_transport_close(&n->t, on_closed);
    ASSERT_TRUE(run_until(n->cl, not_running, n));
}

/* Close every running node and check that the loop is left empty. */
static void cluster_close(struct cluster *cl)
{
    for (size_t i = 0; i < cl->n_nodes; i++)
        if (cl->nodes[i].running)
            node_close(&cl->nodes[i]);
    ASSERT_OK(uv_loop_close(&cl->loop));
}

struct link
{
    struct node *from; /* dialer */
    raft_id to;
};

static bool link_up(void *arg)
{
    struct link *l = arg;
    struct peer_stats s;
    return peer_stats_of(&l->from->t, l->to, &s) == 0 && s.connected;
}

static void wait_link(struct cluster *cl, raft_id from, raft_id to)
{
    struct link l = {&cl->nodes[from - 1], to};
    ASSERT_TRUE(run_until(cl, link_up, &l));
}

struct count
{
    struct node *n;
    size_t want;
};

static bool has_received(void *arg)
{
    struct count *c = arg;
    return c->n->n_rx >= c->want;
}

static void wait_received(struct cluster *cl, raft_id id, size_t want)
{
    struct count c = {&cl->nodes[id - 1], want};
    ASSERT_TRUE(run_until(cl, has_received, &c));
    ASSERT_EQ_U64(c.n->n_rx, want);
}

static struct peer_stats stats(struct cluster *cl, raft_id from, raft_id to)
{
    struct peer_stats s;
    ASSERT_OK(peer_stats_of(&cl->nodes[from - 1].t, to, &s));
    return s;
}

static struct raft_msg heartbeat(raft_id from, raft_id to, uint64_t context)
{
    return (struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
                             .from = from,
                             .to = to,
                             .term = 2,
                             .context = context};
}

struct sent
{
    struct cluster *cl;
    raft_id from, to;
    uint64_t want;
};

static bool has_sent(void *arg)
{
    struct sent *s = arg;
    return stats(s->cl, s->from, s->to).sent >= s->want;
}

TEST(peer, messages_flow_both_ways_and_are_copied_at_send)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    uint8_t cmd[] = "put k v";
    uint8_t snap[] = "chunk";
    struct raft_entry e = {2, 8, RAFT_ENTRY_NORMAL, sizeof cmd, cmd};
    struct raft_msg app = {.type = RAFT_MSG_APPEND,
                           .from = 1,
                           .to = 2,
                           .term = 2,
                           .index = 7,
                           .log_term = 2,
                           .commit = 6,
                           .entries = &e,
                           .n_entries = 1};
    struct raft_msg sn = {.type = RAFT_MSG_SNAPSHOT,
                          .from = 1,
                          .to = 2,
                          .term = 2,
                          .offset = 4096,
                          .done = true,
                          .data = snap,
                          .len = sizeof snap};
    struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP,
                            .from = 2,
                            .to = 1,
                            .term = 2,
                            .index = 8,
                            .reject = true,
                            .hint_index = 5,
                            .hint_term = 1};
    struct node *a, *b;

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    a = &cl->nodes[0];
    b = &cl->nodes[1];
    node_start(cl, 1, CLUSTER_ID);
    node_start(cl, 2, CLUSTER_ID);
    wait_link(cl, 1, 2);
    wait_link(cl, 2, 1);
    ASSERT_OK(peer_send(&a->t, &app));
    ASSERT_OK(peer_send(&a->t, &sn));
    ASSERT_OK(peer_send(&b->t, &resp));
    memset(cmd, 'X', sizeof cmd); /* the transport kept its own copy */
    memset(snap, 'X', sizeof snap);
    wait_received(cl, 2, 2);
    wait_received(cl, 1, 1);
    ASSERT_TRUE(run_until(cl, has_sent, &(struct sent){cl, 1, 2, 2}));
    ASSERT_EQ_U64(b->rx[0].msg.type, RAFT_MSG_APPEND);
    ASSERT_EQ_U64(b->rx[0].msg.commit, 6);
    ASSERT_EQ_U64(b->rx[0].msg.n_entries, 1);
    ASSERT_EQ_U64(b->rx[0].entry0_len, sizeof cmd);
    ASSERT_EQ_MEM(b->rx[0].entry0, "put k v", sizeof cmd);
    ASSERT_EQ_U64(b->rx[1].msg.type, RAFT_MSG_SNAPSHOT);
    ASSERT_EQ_U64(b->rx[1].msg.offset, 4096);
    ASSERT_TRUE(b->rx[1].msg.done);
    ASSERT_EQ_MEM(b->rx[1].data, "chunk", sizeof snap);
    ASSERT_EQ_U64(a->rx[0].msg.type, RAFT_MSG_APPEND_RESP);
    ASSERT_TRUE(a->rx[0].msg.reject);
    ASSERT_EQ_U64(a->rx[0].msg.hint_index, 5);
    ASSERT_EQ_U64(stats(cl, 1, 2).sent, 2);
    ASSERT_EQ_U64(stats(cl, 2, 1).received, 2);
    ASSERT_EQ_U64(stats(cl, 2, 1).bytes_in, stats(cl, 1, 2).bytes_out);
    ASSERT_EQ_U64(stats(cl, 1, 2).dropped, 0);
    cluster_close(cl);
    free(cl);
}

TEST(peer, peers_named_by_host_name_are_resolved_and_dialed)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    struct raft_msg m = heartbeat(2, 1, 5);

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    cl->peer_host = "localhost";
    node_start(cl, 1, CLUSTER_ID);
    node_start(cl, 2, CLUSTER_ID);
    wait_link(cl, 2, 1);
    ASSERT_OK(peer_send(&cl->nodes[1].t, &m));
    wait_received(cl, 1, 1);
    ASSERT_EQ_U64(cl->nodes[0].rx[0].msg.context, 5);
    cluster_close(cl);
    free(cl);
}

TEST(peer, closing_during_a_name_lookup_completes)
{
    struct cluster *cl = calloc(1, sizeof *cl);

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    cl->peer_host = "localhost";
    node_start(cl, 1, CLUSTER_ID); /* looks up node 2's name at once */
    ASSERT_EQ_U64(cl->nodes[0].t.remotes[0].state, PEER_RESOLVING);
    cluster_close(cl);
    free(cl);
}

TEST(peer, full_queue_drops_and_counts_what_does_not_fit)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    size_t queued = 0;

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    cl->queue_max_bytes = 1000;
    node_start(cl, 1, CLUSTER_ID);
    node_start(cl, 2, CLUSTER_ID);
    wait_link(cl, 1, 2);
    for (uint64_t k = 0; k < 100; k++) {
        struct raft_msg m = heartbeat(1, 2, k);
        int rv = peer_send(&cl->nodes[0].t, &m);
        ASSERT_TRUE(rv == 0 || rv == RKV_EBUSY);
        queued += rv == 0;
    }
    ASSERT_EQ_U64(queued, 1000 / PEER_FRAME_HEADER_LEN);
    ASSERT_EQ_U64(stats(cl, 1, 2).dropped, 100 - queued);
    wait_received(cl, 2, queued);
    cluster_close(cl);
    free(cl);
}

TEST(peer, three_nodes_exchange_and_one_iteration_is_one_write)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    uint64_t writes_before;

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 3);
    for (raft_id i = 1; i <= 3; i++)
        node_start(cl, i, CLUSTER_ID);
    for (raft_id i = 1; i <= 3; i++)
        for (raft_id j = 1; j <= 3; j++)
            if (i != j)
                wait_link(cl, i, j);
    for (raft_id i = 1; i <= 3; i++) {
        for (raft_id j = 1; j <= 3; j++) {
            struct raft_msg m = heartbeat(i, j, i * 10 + j);
            if (i != j)
                ASSERT_OK(peer_send(&cl->nodes[i - 1].t, &m));
        }
    }
    for (raft_id i = 1; i <= 3; i++)
        wait_received(cl, i, 2);
    ASSERT_EQ_U64(cl->nodes[0].rx[0].msg.context % 10, 1);
    /* 100 messages queued in one iteration leave in one write. */
    writes_before = stats(cl, 1, 3).writes;
    for (uint64_t k = 0; k < 100; k++) {
        struct raft_msg m = heartbeat(1, 3, 1000 + k);
        ASSERT_OK(peer_send(&cl->nodes[0].t, &m));
    }
    wait_received(cl, 3, 102);
    ASSERT_EQ_U64(stats(cl, 1, 3).writes, writes_before + 1);
    for (size_t k = 0; k < 100; k++) /* in order */
        ASSERT_EQ_U64(cl->nodes[2].rx[2 + k].msg.context, 1000 + k);
    cluster_close(cl);
    free(cl);
}

TEST(peer, foreign_cluster_id_is_refused_with_one_clear_line)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    struct raft_msg m = heartbeat(1, 2, 1);

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    node_start(cl, 1, 0xabcdu);
    node_start(cl, 2, CLUSTER_ID);
    run_for(cl, 300); /* TCP connects, the handshakes are refused */
    (void)peer_send(&cl->nodes[0].t, &m); /* dropped or refused */
    run_for(cl, 100);
    ASSERT_LOGGED(cl,
                  "refused: cluster id 0x000000000000abcd != ours "
                  "0x5eed5eed5eed5eed");
    ASSERT_EQ_U64(cl->nodes[1].n_rx, 0);
    ASSERT_EQ_U64(cl->nodes[0].n_rx, 0);
    cluster_close(cl);
    free(cl);
}

/* A raw TCP client that writes some bytes and waits for the server to
 * close the connection. */
struct raw_client
{
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uint8_t bytes[128];
    size_t len;
    char sink[256];
    bool eof;    /* the server closed the connection */
    bool closed; /* our handle is closed */
};

static void on_raw_closed(uv_handle_t *h)
{
    ((struct raw_client *)h->data)->closed = true;
}

static void raw_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct raw_client *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->sink, sizeof c->sink);
}

static void raw_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct raw_client *c = s->data;
    (void)buf;
    if (nread < 0) {
        c->eof = true;
        uv_close((uv_handle_t *)&c->tcp, on_raw_closed);
    }
}

static void raw_written(uv_write_t *req, int status)
{
    (void)req;
    (void)status; /* the server may have closed already */
}

static void raw_connected(uv_connect_t *req, int status)
{
    struct raw_client *c = req->data;
    uv_buf_t b = uv_buf_init((char *)c->bytes, (unsigned)c->len);

    ASSERT_EQ_INT(status, 0);
    ASSERT_OK(uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, raw_written));
    ASSERT_OK(uv_read_start((uv_stream_t *)&c->tcp, raw_alloc, raw_read));
}

static bool raw_done(void *arg)
{
    return ((struct raw_client *)arg)->closed;
}

/* Send `bytes` to node `id` from a raw client; true once the node has
 * closed the connection. */
static bool raw_send(struct cluster *cl,
                     raft_id id,
                     const uint8_t *bytes,
                     size_t len)
{
    struct raw_client c;
    struct sockaddr_in sa;

    memset(&c, 0, sizeof c);
    ASSERT_TRUE(len <= sizeof c.bytes);
    memcpy(c.bytes, bytes, len);
    c.len = len;
    c.tcp.data = &c;
    c.connect.data = &c;
    ASSERT_OK(uv_ip4_addr("127.0.0.1", cl->nodes[id - 1].port, &sa));
    ASSERT_OK(uv_tcp_init(&cl->loop, &c.tcp));
    ASSERT_OK(uv_tcp_connect(&c.connect, &c.tcp, (struct sockaddr *)&sa,
                             raw_connected));
    if (!run_until(cl, raw_done, &c)) {
        uv_close((uv_handle_t *)&c.tcp, on_raw_closed);
        ASSERT_TRUE(run_until(cl, raw_done, &c));
        return false;
    }
    return c.eof;
}

TEST(peer, bad_bytes_close_only_their_connection_with_a_reason)
{
    static const struct
    {
        const char *name;
        uint64_t cluster_id; /* of the handshake */
        raft_id from, to;
        bool oversized;   /* a frame length over the limit follows */
        const char *want; /* logged */
    } cases[] = {
        {"HTTP request", 0, 0, 0, false, "refused: bad magic"},
        {"unknown sender", CLUSTER_ID, 9, 2, false,
         "refused: node id 9 is not a configured peer"},
        {"meant for another node", CLUSTER_ID, 1, 3, false,
         "refused: it expects node 3, we are node 2"},
        {"oversized frame", CLUSTER_ID, 1, 2, true, "limit"},
    };
    struct cluster *cl = calloc(1, sizeof *cl);
    struct raft_msg m = heartbeat(1, 2, 77);

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    node_start(cl, 2, CLUSTER_ID);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint8_t bytes[PEER_HANDSHAKE_LEN + 4];
        size_t len = PEER_HANDSHAKE_LEN;
        if (cases[i].from == 0) {
            static const char http[] = "GET /kv/x HTTP/1.1\r\n\r\n";
            memcpy(bytes, http, sizeof http - 1);
            len = sizeof http - 1;
        } else {
            struct peer_handshake hs = {cases[i].cluster_id, cases[i].from,
                                        cases[i].to};
            peer_handshake_encode(&hs, bytes);
        }
        if (cases[i].oversized) {
            memset(bytes + len, 0xff, 4);
            len += 4;
        }
        ASSERT_TRUE(raw_send(cl, 2, bytes, len));
        ASSERT_LOGGED(cl, cases[i].want);
    }
    /* The node is unharmed: a real peer still gets through. */
    node_start(cl, 1, CLUSTER_ID);
    wait_link(cl, 1, 2);
    ASSERT_OK(peer_send(&cl->nodes[0].t, &m));
    wait_received(cl, 2, 1);
    ASSERT_EQ_U64(cl->nodes[1].rx[0].msg.context, 77);
    cluster_close(cl);
    free(cl);
}

static bool link_down(void *arg)
{
    return !link_up(arg);
}

TEST(peer, dialer_reconnects_after_the_listener_restarts)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    struct raft_msg m = heartbeat(1, 2, 1);
    struct link l;

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    l = (struct link){&cl->nodes[0], 2};
    node_start(cl, 1, CLUSTER_ID);
    node_start(cl, 2, CLUSTER_ID);
    wait_link(cl, 1, 2);
    ASSERT_OK(peer_send(&cl->nodes[0].t, &m));
    wait_received(cl, 2, 1);
    node_close(&cl->nodes[1]);
    ASSERT_TRUE(run_until(cl, link_down, &l));
    ASSERT_EQ_INT(peer_send(&cl->nodes[0].t, &m), RKV_EBUSY);
    run_for(cl, 150); /* a few refused redials */
    cl->nodes[1].n_rx = 0;
    node_start(cl, 2, CLUSTER_ID);
    wait_link(cl, 1, 2);
    m.context = 2;
    ASSERT_OK(peer_send(&cl->nodes[0].t, &m));
    wait_received(cl, 2, 1);
    ASSERT_EQ_U64(cl->nodes[1].rx[0].msg.context, 2);
    ASSERT_EQ_U64(stats(cl, 1, 2).reconnects, 1);
    ASSERT_EQ_U64(stats(cl, 1, 2).dropped, 1);
    cluster_close(cl);
    free(cl);
}

TEST(peer, blocked_peer_loses_traffic_both_ways_until_unblocked)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    struct raft_msg to_b = heartbeat(1, 2, 1), to_a = heartbeat(2, 1, 2);
    struct sent s;

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    s = (struct sent){cl, 2, 1, 1};
    node_start(cl, 1, CLUSTER_ID);
    node_start(cl, 2, CLUSTER_ID);
    wait_link(cl, 1, 2);
    wait_link(cl, 2, 1);
    ASSERT_OK(peer_set_blocked(&cl->nodes[0].t, 2, true));
    ASSERT_EQ_INT(peer_send(&cl->nodes[0].t, &to_b), RKV_EBUSY);
    ASSERT_OK(peer_send(&cl->nodes[1].t, &to_a));
    ASSERT_TRUE(run_until(cl, has_sent, &s));
    run_for(cl, 50);
    ASSERT_EQ_U64(cl->nodes[0].n_rx, 0);
    ASSERT_EQ_U64(cl->nodes[1].n_rx, 0);
    ASSERT_EQ_U64(stats(cl, 1, 2).dropped, 1);
    ASSERT_OK(peer_set_blocked(&cl->nodes[0].t, 2, false));
    ASSERT_OK(peer_send(&cl->nodes[0].t, &to_b));
    ASSERT_OK(peer_send(&cl->nodes[1].t, &to_a));
    wait_received(cl, 1, 1);
    wait_received(cl, 2, 1);
    ASSERT_EQ_INT(peer_set_blocked(&cl->nodes[0].t, 7, true), RKV_ENOTFOUND);
    cluster_close(cl);
    free(cl);
}

TEST(peer, peers_added_and_removed_at_run_time_are_dialed_and_then_refused)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    struct raft_msg to_3 = heartbeat(1, 3, 1), to_1 = heartbeat(3, 1, 2);
    struct peer_transport *t;

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 3);
    cl->n_nodes = 2; /* nodes 1 and 2 start without node 3 */
    node_start(cl, 1, CLUSTER_ID);
    node_start(cl, 2, CLUSTER_ID);
    cl->n_nodes = 3;
    node_start(cl, 3, CLUSTER_ID);
    t = &cl->nodes[0].t;
    ASSERT_EQ_INT(peer_send(t, &to_3), RKV_ENOTFOUND);
    ASSERT_EQ_INT(peer_add(t, 0, "127.0.0.1", 1), RKV_EINVAL);
    ASSERT_EQ_INT(peer_add(t, 1, "127.0.0.1", 1), RKV_EINVAL);
    ASSERT_EQ_INT(peer_add(t, 3, "", 1), RKV_EINVAL);
    ASSERT_OK(peer_add(t, 3, "127.0.0.1", cl->nodes[2].port));
    wait_link(cl, 1, 3);
    wait_link(cl, 3, 1); /* node 1 now accepts node 3's handshake */
    ASSERT_OK(peer_send(t, &to_3));
    ASSERT_OK(peer_send(&cl->nodes[2].t, &to_1));
    wait_received(cl, 3, 1);
    wait_received(cl, 1, 1);
    ASSERT_OK(peer_remove(t, 3));
    ASSERT_EQ_INT(peer_remove(t, 3), RKV_ENOTFOUND);
    ASSERT_EQ_INT(peer_send(t, &to_3), RKV_ENOTFOUND);
    run_for(cl, 100); /* node 3 redials and is refused */
    ASSERT_LOGGED(cl, "node id 3 is not a configured peer");
    ASSERT_EQ_U64(cl->nodes[0].n_rx, 1);
    /* The slot is free again once closed: adding the peer back works. */
    ASSERT_OK(peer_add(t, 3, "127.0.0.1", cl->nodes[2].port));
    wait_link(cl, 1, 3);
    ASSERT_OK(peer_send(t, &to_3));
    wait_received(cl, 3, 2);
    cluster_close(cl);
    free(cl);
}

TEST(peer, send_refuses_unknown_and_unencodable_messages)
{
    struct cluster *cl = calloc(1, sizeof *cl);
    struct raft_msg m = heartbeat(1, 9, 1);
    struct raft_entry e = {1, 1, RAFT_ENTRY_NORMAL, 1, (const uint8_t *)"x"};

    ASSERT_TRUE(cl != NULL);
    cluster_init(cl, 2);
    node_start(cl, 1, CLUSTER_ID);
    node_start(cl, 2, CLUSTER_ID);
    ASSERT_EQ_INT(peer_send(&cl->nodes[0].t, &m), RKV_ENOTFOUND);
    wait_link(cl, 1, 2);
    m = heartbeat(1, 2, 1);
    m.entries = &e; /* entries on a heartbeat */
    m.n_entries = 1;
    ASSERT_EQ_INT(peer_send(&cl->nodes[0].t, &m), RKV_EINVAL);
    ASSERT_EQ_U64(stats(cl, 1, 2).dropped, 1);
    cluster_close(cl);
    free(cl);
}

TEST(peer, init_rejects_bad_configuration)
{
    static const struct peer_addr dup[] = {{2, "127.0.0.1", 7002},
                                           {2, "127.0.0.1", 7003}};
    static const struct peer_addr self[] = {{1, "127.0.0.1", 7002}};
    static const struct peer_addr nohost[] = {{2, "", 7002}};
    static const struct
    {
        const char *name;
        const char *listen_host;
        const struct peer_addr *peers;
        size_t n_peers;
    } cases[] = {
        {"duplicate peer", "127.0.0.1", dup, 2},
        {"self as peer", "127.0.0.1", self, 1},
        {"empty host", "127.0.0.1", nohost, 1},
        {"listen on a name", "localhost", NULL, 0},
    };
    uv_loop_t loop;
    struct peer_transport *t = malloc(sizeof *t);

    ASSERT_TRUE(t != NULL);
    ASSERT_OK(uv_loop_init(&loop));
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct peer_config cfg = {.id = 1,
                                  .listen_host = cases[i].listen_host,
                                  .listen_port = 7001,
                                  .peers = cases[i].peers,
                                  .n_peers = cases[i].n_peers,
                                  .on_message = on_message};
        char errmsg[RKV_ERRMSG_LEN] = "";
        ASSERT_EQ_U64_MSG(peer_transport_init(t, &loop, &cfg, errmsg),
                          (uint64_t)RKV_EINVAL, cases[i].name);
        ASSERT_TRUE(errmsg[0] != '\0');
    }
    ASSERT_OK(uv_loop_close(&loop)); /* init touched no loop */
    free(t);
}
