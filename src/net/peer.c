/* The libuv peer transport described in peer.h: outbound connections with
 * backoff, inbound connections checked by handshake, per-iteration write
 * batching and per-peer counters. The frames are peer_codec.h's.
 *
 * Memory: the transport lives in the caller's struct; an accepted
 * connection (struct peer_conn) and a write (struct peer_write) are heap
 * objects freed in their close or write callback, as libuv requires.
 * `t->open` counts handles and name lookups not yet finished, so the close
 * callback runs once the last of them has. */
#include "net/peer.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define READ_CHUNK (64u << 10) /* room offered to each read, bytes */
#define READ_KEEP (1u << 20)   /* idle read buffers above are freed */
#define LISTEN_BACKLOG 128     /* pending connections in the kernel */
#define KEEPALIVE_DELAY_S 10   /* idle seconds before TCP keepalive */
/* Data unacknowledged this long aborts a connection we dialed. */
#define USER_TIMEOUT_MS 5000
/* Upper bound of both queue limits: a write's length is an unsigned. */
#define QUEUE_LIMIT (1u << 30)

/* An accepted connection: we only read from it. */
struct peer_conn
{
    uv_tcp_t tcp;             /* the connection; data points here */
    struct peer_transport *t; /* owner */
    struct peer_conn *prev;   /* t->inbound list */
    struct peer_conn *next;
    struct peer_remote *remote; /* the sender, once its handshake passed */
    struct rkv_buf in;          /* bytes read and not yet decoded */
    bool closing;               /* uv_close issued */
    char addr[64];              /* "ip:port" of the other end, for logs */
};

/* One uv_write of the frames a peer's queue held. */
struct peer_write
{
    uv_write_t req;        /* req.data points here */
    struct peer_remote *r; /* destination */
    struct rkv_buf buf;    /* the frames, owned */
    size_t n_msgs;         /* messages in buf (the handshake is none) */
};

#define LOGF(t, level, ...)                           \
    do {                                              \
        if ((t)->log != NULL)                         \
            (t)->log((t)->ctx, (level), __VA_ARGS__); \
    } while (0)

static int fail(char *errmsg, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write a message into `errmsg` (may be NULL) and return `rv`. */
static int fail(char *errmsg, int rv, const char *fmt, ...)
{
    va_list ap;

    if (errmsg != NULL) {
        va_start(ap, fmt);
        vsnprintf(errmsg, RKV_ERRMSG_LEN, fmt, ap);
        va_end(ap);
    }
    return rv;
}

/* splitmix64: the redial jitter. Seeded from the node id, so nodes that
 * lost the same peer at the same moment redial at different times. */
static uint64_t next_random(struct peer_transport *t)
{
    uint64_t z = (t->rng += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int parse_ip(const char *host,
                    uint16_t port,
                    struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss);
}

static struct peer_remote *find_remote(struct peer_transport *t, raft_id id)
{
    for (size_t i = 0; i < t->n_remotes; i++)
        if (t->remotes[i].id == id && !t->remotes[i].removing)
            return &t->remotes[i];
    return NULL;
}

/* A removed peer's slot is free again once its timer and connection are
 * closed and no lookup runs: then every handle in it is gone from the
 * loop, and the slot is zeroed (id 0, handles of type UV_UNKNOWN_HANDLE). */
static void maybe_release(struct peer_remote *r)
{
    if (!r->removing || r->timer_open || r->state != PEER_IDLE)
        return;
    rkv_buf_close(&r->pending);
    memset(r, 0, sizeof *r);
}

static void finish_close(struct peer_transport *t)
{
    for (size_t i = 0; i < t->n_remotes; i++)
        rkv_buf_close(&t->remotes[i].pending);
    peer_decoded_close(&t->dec);
    t->close_cb(t); /* last: `t` may be freed in there */
}

/* A handle closed or a lookup finished. Must be the caller's last use of
 * the transport. */
static void open_done(struct peer_transport *t)
{
    assert(t->open > 0);
    t->open--;
    if (t->closing && t->open == 0)
        finish_close(t);
}

/* ---- outbound connections ------------------------------------------- */

static void dial(struct peer_remote *r);

static void start_timer(struct peer_remote *r, uint64_t ms);

static void dial_failed(struct peer_remote *r, const char *what, int status)
{
    /* The first failure of a streak at info, the retries at debug. */
    LOGF(r->t, r->dial_failing ? RAFT_TRACE_DEBUG : RAFT_TRACE_INFO,
         "peer %" PRIu64 " (%s:%u): %s: %s", r->id, r->host, r->port, what,
         uv_strerror(status));
    r->dial_failing = true;
    r->addr_turn++; /* a name with several addresses: try the next */
}

static void drop_pending(struct peer_remote *r)
{
    r->stats.dropped += r->pending_msgs;
    r->pending_msgs = 0;
    rkv_buf_close(&r->pending);
}

static void schedule_redial(struct peer_remote *r)
{
    uint64_t half = r->backoff_ms / 2;
    uint64_t delay = half + next_random(r->t) % (r->backoff_ms - half + 1);

    assert(r->state == PEER_IDLE);
    r->backoff_ms *= 2;
    if (r->backoff_ms > r->t->backoff_max_ms)
        r->backoff_ms = r->t->backoff_max_ms;
    start_timer(r, delay);
}

static void on_outbound_closed(uv_handle_t *h)
{
    struct peer_remote *r = h->data;
    struct peer_transport *t = r->t;

    assert(r->state == PEER_CLOSING);
    r->state = PEER_IDLE;
    drop_pending(r);
    if (!t->closing && !r->removing)
        schedule_redial(r);
    maybe_release(r);
    open_done(t);
}

/* Close the outbound connection, if there is one; its close callback
 * drops what was queued and schedules the redial. */
static void close_outbound(struct peer_remote *r)
{
    if (r->state != PEER_CONNECTING && r->state != PEER_CONNECTED)
        return;
    (void)uv_timer_stop(&r->timer); /* always 0 */
    r->state = PEER_CLOSING;
    uv_close((uv_handle_t *)&r->tcp, on_outbound_closed);
}

/* An established connection goes. One that stayed up for a while redials
 * fast and is reported at info; one that went at once (the peer refusing
 * our handshake, say) backs off, and its repeats are logged at debug. */
static void connection_lost(struct peer_remote *r,
                            const char *what,
                            const char *why)
{
    struct peer_transport *t = r->t;
    bool stable = uv_now(t->loop) - r->connected_at_ms >= t->backoff_max_ms;

    assert(r->state == PEER_CONNECTED);
    if (stable) {
        r->backoff_ms = t->backoff_min_ms;
        r->flapping = false;
    }
    LOGF(t, r->flapping ? RAFT_TRACE_DEBUG : RAFT_TRACE_INFO,
         "peer %" PRIu64 " (%s:%u): %s%s%s", r->id, r->host, r->port, what,
         why != NULL ? ": " : "", why != NULL ? why : "");
    if (!stable)
        r->flapping = true;
    close_outbound(r);
}

static void free_write(struct peer_write *w)
{
    rkv_buf_close(&w->buf);
    free(w);
}

static void start_flush(struct peer_transport *t);

static void on_write(uv_write_t *req, int status)
{
    struct peer_write *w = req->data;
    struct peer_remote *r = w->r;
    struct peer_transport *t = r->t;

    assert(r->inflight_bytes >= w->buf.len);
    r->inflight_bytes -= w->buf.len;
    if (status == 0) {
        r->stats.sent += w->n_msgs;
        r->stats.bytes_out += w->buf.len;
    } else {
        r->stats.dropped += w->n_msgs;
        if (status != UV_ECANCELED && r->state == PEER_CONNECTED)
            connection_lost(r, "connection lost: write", uv_strerror(status));
    }
    free_write(w);
    /* Frames held back by the in-flight bound may go now. */
    if (r->pending.len > 0 && r->state == PEER_CONNECTED && !t->closing)
        start_flush(t);
}

/* Hand everything queued for `r` to one uv_write, unless the writes
 * already in flight reach the bound. */
static void flush_remote(struct peer_remote *r)
{
    struct peer_transport *t = r->t;
    struct peer_write *w;
    uv_buf_t b;
    int rv;

    if (r->state != PEER_CONNECTED || r->pending.len == 0 ||
        r->inflight_bytes >= t->inflight_max_bytes)
        return;
    w = malloc(sizeof *w);
    if (w == NULL) {
        LOGF(t, RAFT_TRACE_WARN,
             "peer %" PRIu64 ": out of memory, dropping %zu messages", r->id,
             r->pending_msgs);
        drop_pending(r);
        return;
    }
    w->req.data = w;
    w->r = r;
    w->buf = r->pending;
    w->n_msgs = r->pending_msgs;
    rkv_buf_init(&r->pending);
    r->pending_msgs = 0;
    b = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
    rv = uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, on_write);
    if (rv != 0) {
        r->stats.dropped += w->n_msgs;
        free_write(w);
        connection_lost(r, "connection lost: write", uv_strerror(rv));
        return;
    }
    r->inflight_bytes += w->buf.len;
    r->stats.writes++;
}

static void on_flush(uv_prepare_t *h)
{
    struct peer_transport *t = h->data;

    for (size_t i = 0; i < t->n_remotes; i++)
        flush_remote(&t->remotes[i]);
    (void)uv_prepare_stop(&t->flush); /* always 0 */
}

static void start_flush(struct peer_transport *t)
{
    (void)uv_prepare_start(&t->flush, on_flush); /* fails for NULL cb only */
}

static void alloc_sink(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct peer_remote *r = h->data;

    (void)suggested;
    buf->base = (char *)r->sink;
    buf->len = sizeof r->sink;
}

/* Peers never write on the connections we dial: reading only notices the
 * other end going away (or misbehaving). */
static void on_read_outbound(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct peer_remote *r = s->data;

    (void)b;
    if (nread == 0)
        return;
    if (nread > 0) {
        LOGF(r->t, RAFT_TRACE_WARN,
             "peer %" PRIu64 " (%s:%u) wrote to our outbound connection", r->id,
             r->host, r->port);
        close_outbound(r);
    } else if (nread == UV_EOF) {
        connection_lost(r, "connection closed by the peer", NULL);
    } else {
        connection_lost(r, "connection lost", uv_strerror((int)nread));
    }
}

/* TCP_NODELAY: Raft messages are latency-bound and we batch ourselves.
 * Keepalive finds a dead peer on an idle connection; TCP_USER_TIMEOUT one
 * that stops acknowledging (a partition), instead of after minutes of
 * retransmissions. */
static int tune_socket(uv_tcp_t *tcp, bool dialed)
{
    int rv = uv_tcp_nodelay(tcp, 1);

    if (rv == 0)
        rv = uv_tcp_keepalive(tcp, 1, KEEPALIVE_DELAY_S);
#ifdef TCP_USER_TIMEOUT
    if (rv == 0 && dialed) {
        unsigned ms = USER_TIMEOUT_MS;
        uv_os_fd_t fd;
        rv = uv_fileno((uv_handle_t *)tcp, &fd);
        if (rv == 0 &&
            setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms) != 0)
            rv = uv_translate_sys_error(errno);
    }
#else
    (void)dialed;
#endif
    return rv;
}

static void on_connected(struct peer_remote *r)
{
    struct peer_transport *t = r->t;
    struct peer_handshake hs = {t->cluster_id, t->id, r->id};
    uint8_t frame[PEER_HANDSHAKE_LEN];
    int rv;

    assert(r->pending.len == 0); /* nothing is queued while disconnected */
    peer_handshake_encode(&hs, frame);
    rv = tune_socket(&r->tcp, true);
    if (rv == 0)
        rv =
            uv_read_start((uv_stream_t *)&r->tcp, alloc_sink, on_read_outbound);
    if (rv == 0 && rkv_buf_append(&r->pending, frame, sizeof frame) != 0)
        rv = UV_ENOMEM;
    if (rv != 0) {
        dial_failed(r, "set up connection", rv);
        close_outbound(r);
        return;
    }
    (void)uv_timer_stop(&r->timer); /* the connect timeout; always 0 */
    r->state = PEER_CONNECTED;
    r->connected_at_ms = uv_now(t->loop);
    if (r->ever_connected)
        r->stats.reconnects++;
    r->ever_connected = true;
    r->dial_failing = false;
    LOGF(t, r->flapping ? RAFT_TRACE_DEBUG : RAFT_TRACE_INFO,
         "peer %" PRIu64 " (%s:%u): connected", r->id, r->host, r->port);
    flush_remote(r); /* the handshake goes before any message */
}

static void on_connect(uv_connect_t *req, int status)
{
    struct peer_remote *r = req->data;

    if (status == UV_ECANCELED)
        return; /* closed meanwhile: the close callback does the rest */
    if (status != 0) {
        dial_failed(r, "connect", status);
        close_outbound(r);
        return;
    }
    on_connected(r);
}

static void connect_to(struct peer_remote *r, const struct sockaddr *sa)
{
    struct peer_transport *t = r->t;
    int rv = uv_tcp_init(t->loop, &r->tcp);

    if (rv != 0) {
        dial_failed(r, "connect", rv);
        schedule_redial(r);
        return;
    }
    t->open++;
    r->tcp.data = r;
    r->connect.data = r;
    r->state = PEER_CONNECTING;
    rv = uv_tcp_connect(&r->connect, &r->tcp, sa, on_connect);
    if (rv != 0) {
        dial_failed(r, "connect", rv);
        close_outbound(r);
        return;
    }
    start_timer(r, t->connect_timeout_ms);
}

/* The address of `res` (not empty) whose turn it is. */
static const struct sockaddr *pick_addr(const struct peer_remote *r,
                                        const struct addrinfo *res)
{
    size_t n = 0, k;

    for (const struct addrinfo *p = res; p != NULL; p = p->ai_next)
        n++;
    for (k = r->addr_turn % n; k > 0; k--)
        res = res->ai_next;
    return res->ai_addr;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct peer_remote *r = req->data;
    struct peer_transport *t = r->t;

    assert(r->state == PEER_RESOLVING);
    r->state = PEER_IDLE;
    if (status == 0 && res == NULL)
        status = UV_EAI_NONAME; /* getaddrinfo promises one at least */
    if (r->removing) {
        maybe_release(r);
    } else if (!t->closing) {
        if (status != 0) {
            dial_failed(r, "resolve", status);
            schedule_redial(r);
        } else {
            connect_to(r, pick_addr(r, res));
        }
    }
    uv_freeaddrinfo(res); /* NULL on failure, which it accepts */
    open_done(t);
}

/* Start one attempt: a numeric address is dialed at once, a name is
 * looked up first (again at each attempt: a container's address changes
 * when it restarts). */
static void dial(struct peer_remote *r)
{
    struct peer_transport *t = r->t;
    struct addrinfo hints;
    struct sockaddr_storage ss;
    char port[8];
    int rv;

    assert(r->state == PEER_IDLE);
    if (parse_ip(r->host, r->port, &ss) == 0) {
        connect_to(r, (const struct sockaddr *)&ss);
        return;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", r->port);
    r->resolve.data = r;
    rv = uv_getaddrinfo(t->loop, &r->resolve, on_resolved, r->host, port,
                        &hints);
    if (rv != 0) {
        dial_failed(r, "resolve", rv);
        schedule_redial(r);
        return;
    }
    r->state = PEER_RESOLVING;
    t->open++;
}

/* The timer of a peer: the redial delay when idle, the connect timeout
 * while connecting. */
static void on_timer(uv_timer_t *h)
{
    struct peer_remote *r = h->data;

    if (r->state == PEER_IDLE) {
        dial(r);
    } else if (r->state == PEER_CONNECTING) {
        dial_failed(r, "connect", UV_ETIMEDOUT);
        close_outbound(r);
    }
}

static void start_timer(struct peer_remote *r, uint64_t ms)
{
    /* Fails only for a NULL callback or a closing handle, and timers are
     * started only before peer_transport_close(). */
    (void)uv_timer_start(&r->timer, on_timer, ms, 0);
}

/* ---- inbound connections -------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
    struct peer_conn *c = h->data;
    struct peer_transport *t = c->t;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->inbound = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    t->n_inbound--;
    rkv_buf_close(&c->in);
    free(c);
    open_done(t);
}

static void close_conn(struct peer_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->remote != NULL && c->remote->in == c)
        c->remote->in = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* The dialer's handshake passed the codec: check that it is meant for
 * this cluster and this node, and comes from a configured peer. */
static int check_handshake(struct peer_conn *c,
                           const struct peer_handshake *hs,
                           char *errmsg)
{
    struct peer_transport *t = c->t;
    struct peer_remote *r;

    if (hs->cluster_id != t->cluster_id)
        return fail(errmsg, RKV_EPROTO,
                    "cluster id 0x%016" PRIx64 " != ours 0x%016" PRIx64,
                    hs->cluster_id, t->cluster_id);
    r = find_remote(t, hs->from);
    if (r == NULL)
        return fail(errmsg, RKV_EPROTO,
                    "node id %" PRIu64 " is not a configured peer", hs->from);
    if (hs->to != t->id)
        return fail(errmsg, RKV_EPROTO,
                    "it expects node %" PRIu64 ", we are node %" PRIu64, hs->to,
                    t->id);
    /* A redial makes the older connection stale (its dialer is gone or
     * gave up on it): keep one inbound connection per peer. */
    if (r->in != NULL)
        close_conn(r->in);
    r->in = c;
    c->remote = r;
    r->stats.bytes_in += PEER_HANDSHAKE_LEN;
    LOGF(t, RAFT_TRACE_DEBUG, "peer %" PRIu64 " (%s): accepted", r->id,
         c->addr);
    return 0;
}

/* Decode one message at `buf` and deliver it. */
static int take_message(struct peer_conn *c,
                        const uint8_t *buf,
                        size_t len,
                        size_t *consumed,
                        char *errmsg)
{
    struct peer_transport *t = c->t;
    struct peer_remote *r = c->remote;
    const struct raft_msg *m = &t->dec.msg;
    int rv = peer_msg_decode(buf, len, &t->dec, consumed, errmsg);

    if (rv != 0)
        return rv;
    if (m->from != r->id || m->to != t->id)
        return fail(errmsg, RKV_EPROTO,
                    "message from %" PRIu64 " to %" PRIu64
                    " on the connection of peer %" PRIu64,
                    m->from, m->to, r->id);
    r->stats.bytes_in += *consumed;
    if (r->blocked)
        return 0;
    r->stats.received++;
    t->on_message(t->ctx, m);
    return 0;
}

/* Decode and deliver every complete frame read so far; bytes that are no
 * valid frame close the connection. */
static void process_input(struct peer_conn *c)
{
    struct peer_transport *t = c->t;
    char errmsg[RKV_ERRMSG_LEN];
    size_t off = 0, n = 0;
    int rv = 0;

    /* on_message may close the transport, and with it this connection. */
    while (!c->closing) {
        const uint8_t *p = c->in.data + off;
        size_t left = c->in.len - off;
        if (c->remote == NULL) {
            struct peer_handshake hs;
            rv = peer_handshake_decode(p, left, &hs, &n, errmsg);
            if (rv == 0)
                rv = check_handshake(c, &hs, errmsg);
        } else {
            rv = take_message(c, p, left, &n, errmsg);
        }
        if (rv != 0)
            break;
        off += n;
    }
    if (rv != 0 && rv != RKV_EAGAIN) {
        if (c->remote == NULL)
            LOGF(t, RAFT_TRACE_WARN, "peer %s refused: %s", c->addr, errmsg);
        else
            LOGF(t, RAFT_TRACE_WARN,
                 "peer %" PRIu64 " (%s): %s; closing the connection",
                 c->remote->id, c->addr,
                 rv == RKV_EPROTO ? errmsg : rkv_strerror(rv));
        close_conn(c);
    }
    if (c->closing)
        return; /* its buffer goes in the close callback */
    rkv_buf_consume(&c->in, off);
    if (c->in.len == 0 && c->in.cap > READ_KEEP)
        rkv_buf_close(&c->in); /* after a large frame */
}

static void alloc_in(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct peer_conn *c = h->data;

    (void)suggested;
    if (rkv_buf_reserve(&c->in, READ_CHUNK) != 0) {
        *buf = uv_buf_init(NULL, 0); /* the read reports UV_ENOBUFS */
        return;
    }
    buf->base = (char *)c->in.data + c->in.len;
    buf->len = c->in.cap - c->in.len;
}

static void on_read_in(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct peer_conn *c = s->data;
    struct peer_transport *t = c->t;

    (void)buf;
    if (nread == 0)
        return;
    if (nread < 0) {
        LOGF(t, nread == UV_EOF ? RAFT_TRACE_DEBUG : RAFT_TRACE_INFO,
             "peer %s: inbound connection closed: %s", c->addr,
             uv_strerror((int)nread));
        close_conn(c);
        return;
    }
    c->in.len += (size_t)nread;
    process_input(c);
}

static void name_conn(struct peer_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[48];
    unsigned port = 0;

    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0 ||
        uv_ip_name((const struct sockaddr *)&ss, ip, sizeof ip) != 0)
        return; /* the address only decorates log lines */
    if (ss.ss_family == AF_INET)
        port = ntohs(((const struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        port = ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
    snprintf(c->addr, sizeof c->addr, "%s:%u", ip, port);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct peer_transport *t = server->data;
    struct peer_conn *c;
    int rv;

    if (status != 0) {
        LOGF(t, RAFT_TRACE_WARN, "peer listener: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (rv = uv_tcp_init(t->loop, &c->tcp)) != 0) {
        LOGF(t, RAFT_TRACE_WARN, "peer listener: cannot accept: %s",
             c == NULL ? "out of memory" : uv_strerror(rv));
        free(c);
        return;
    }
    t->open++;
    c->tcp.data = c;
    c->t = t;
    rkv_buf_init(&c->in);
    snprintf(c->addr, sizeof c->addr, "?");
    c->next = t->inbound;
    if (c->next != NULL)
        c->next->prev = c;
    t->inbound = c;
    t->n_inbound++;
    rv = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rv == 0) {
        name_conn(c);
        if (t->n_inbound > PEER_INBOUND_MAX)
            rv = UV_EMFILE;
    }
    if (rv == 0)
        rv = tune_socket(&c->tcp, false);
    if (rv == 0)
        rv = uv_read_start((uv_stream_t *)&c->tcp, alloc_in, on_read_in);
    if (rv != 0) {
        const char *why =
            rv == UV_EMFILE ? "too many inbound connections" : uv_strerror(rv);
        LOGF(t, RAFT_TRACE_WARN, "peer %s refused: %s", c->addr, why);
        close_conn(c);
    }
}

/* ---- the public interface ------------------------------------------- */

static int check_peer(const struct peer_config *cfg, size_t i, char *errmsg)
{
    const struct peer_addr *p = &cfg->peers[i];

    if (p->id == 0 || p->id == cfg->id)
        return fail(errmsg, RKV_EINVAL, "peer %zu: bad id %" PRIu64, i, p->id);
    for (size_t j = 0; j < i; j++)
        if (cfg->peers[j].id == p->id)
            return fail(errmsg, RKV_EINVAL, "peer id %" PRIu64 " twice", p->id);
    if (p->host == NULL || p->host[0] == '\0' ||
        strlen(p->host) >= PEER_HOST_MAX)
        return fail(errmsg, RKV_EINVAL, "peer %" PRIu64 ": bad host", p->id);
    if (p->port == 0)
        return fail(errmsg, RKV_EINVAL, "peer %" PRIu64 ": port 0", p->id);
    return 0;
}

static int check_config(const struct peer_config *cfg, char *errmsg)
{
    struct sockaddr_storage ss;
    int rv;

    if (cfg->id == 0 || cfg->on_message == NULL)
        return fail(errmsg, RKV_EINVAL, "node id 0 or no on_message");
    if (cfg->listen_host == NULL ||
        parse_ip(cfg->listen_host, cfg->listen_port, &ss) != 0)
        return fail(errmsg, RKV_EINVAL,
                    "listen address %s is not a numeric IP address",
                    cfg->listen_host != NULL ? cfg->listen_host : "(null)");
    if (cfg->listen_port == 0)
        return fail(errmsg, RKV_EINVAL, "listen port 0");
    if (cfg->n_peers >= RAFT_MAX_NODES || (cfg->n_peers > 0 && !cfg->peers))
        return fail(errmsg, RKV_EINVAL, "%zu peers, at most %d", cfg->n_peers,
                    RAFT_MAX_NODES - 1);
    if (cfg->queue_max_bytes > QUEUE_LIMIT ||
        cfg->inflight_max_bytes > QUEUE_LIMIT)
        return fail(errmsg, RKV_EINVAL, "queue bounds over %u bytes",
                    QUEUE_LIMIT);
    for (size_t i = 0; i < cfg->n_peers; i++) {
        rv = check_peer(cfg, i, errmsg);
        if (rv != 0)
            return rv;
    }
    return 0;
}

static uint64_t or_default(uint64_t v, uint64_t def)
{
    return v != 0 ? v : def;
}

int peer_transport_init(struct peer_transport *t,
                        uv_loop_t *loop,
                        const struct peer_config *cfg,
                        char *errmsg)
{
    int rv = check_config(cfg, errmsg);

    if (rv != 0)
        return rv;
    memset(t, 0, sizeof *t);
    t->loop = loop;
    t->id = cfg->id;
    t->cluster_id = cfg->cluster_id;
    snprintf(t->listen_host, sizeof t->listen_host, "%s", cfg->listen_host);
    t->listen_port = cfg->listen_port;
    t->queue_max_bytes = or_default(cfg->queue_max_bytes, PEER_QUEUE_DEFAULT);
    t->inflight_max_bytes =
        or_default(cfg->inflight_max_bytes, PEER_INFLIGHT_DEFAULT);
    t->backoff_min_ms =
        or_default(cfg->backoff_min_ms, PEER_BACKOFF_MIN_DEFAULT);
    t->backoff_max_ms =
        or_default(cfg->backoff_max_ms, PEER_BACKOFF_MAX_DEFAULT);
    t->connect_timeout_ms =
        or_default(cfg->connect_timeout_ms, PEER_CONNECT_TIMEOUT_DEFAULT);
    if (t->backoff_min_ms > t->backoff_max_ms)
        return fail(errmsg, RKV_EINVAL, "backoff_min_ms > backoff_max_ms");
    t->on_message = cfg->on_message;
    t->log = cfg->log;
    t->ctx = cfg->ctx;
    t->n_remotes = cfg->n_peers;
    for (size_t i = 0; i < cfg->n_peers; i++) {
        struct peer_remote *r = &t->remotes[i];
        r->t = t;
        r->id = cfg->peers[i].id;
        snprintf(r->host, sizeof r->host, "%s", cfg->peers[i].host);
        r->port = cfg->peers[i].port;
        r->backoff_ms = t->backoff_min_ms;
        rkv_buf_init(&r->pending);
    }
    peer_decoded_init(&t->dec);
    t->rng = cfg->id;
    return 0;
}

/* libuv's init of these handles cannot fail (it only links the handle
 * into the loop); each counts in t->open until its close callback. */
static int init_handles(struct peer_transport *t)
{
    int rv = uv_prepare_init(t->loop, &t->flush);

    if (rv != 0)
        return rv;
    t->open++;
    t->flush.data = t;
    rv = uv_tcp_init(t->loop, &t->listener);
    if (rv != 0)
        return rv;
    t->open++;
    t->listener.data = t;
    for (size_t i = 0; i < t->n_remotes; i++) {
        rv = uv_timer_init(t->loop, &t->remotes[i].timer);
        if (rv != 0)
            return rv;
        t->open++;
        t->remotes[i].timer.data = &t->remotes[i];
        t->remotes[i].timer_open = true;
    }
    return 0;
}

int peer_transport_start(struct peer_transport *t, char *errmsg)
{
    struct sockaddr_storage ss;
    int rv;

    assert(!t->started);
    t->started = true;
    rv = init_handles(t);
    if (rv == 0)
        rv = parse_ip(t->listen_host, t->listen_port, &ss);
    if (rv == 0)
        rv = uv_tcp_bind(&t->listener, (const struct sockaddr *)&ss, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&t->listener, LISTEN_BACKLOG,
                       on_connection);
    if (rv != 0)
        return fail(errmsg, RKV_EIO, "listen on %s:%u: %s", t->listen_host,
                    t->listen_port, uv_strerror(rv));
    for (size_t i = 0; i < t->n_remotes; i++)
        dial(&t->remotes[i]);
    return 0;
}

int peer_send(struct peer_transport *t, const struct raft_msg *m)
{
    struct peer_remote *r;
    size_t size, len;
    int rv;

    assert(t->started);
    if (t->closing)
        return RKV_ESHUTDOWN;
    r = find_remote(t, m->to);
    if (r == NULL)
        return RKV_ENOTFOUND;
    size = peer_msg_encoded_size(m);
    if (size > PEER_FRAME_MAX) {
        rv = RKV_ETOOBIG;
        goto err_logged;
    }
    /* The queue takes one frame of any size when empty, so a large entry
     * is never refused for the bound alone. */
    if (r->blocked || r->state != PEER_CONNECTED ||
        (r->pending.len > 0 && r->pending.len + size > t->queue_max_bytes)) {
        r->stats.dropped++;
        return RKV_EBUSY;
    }
    rv = rkv_buf_reserve(&r->pending, size);
    if (rv == 0)
        rv = peer_msg_encode(m, r->pending.data + r->pending.len, size, &len);
    if (rv != 0)
        goto err_logged;
    r->pending.len += len;
    r->pending_msgs++;
    start_flush(t);
    return 0;

err_logged:
    LOGF(t, RAFT_TRACE_WARN,
         "peer %" PRIu64 ": cannot send a type %u message: %s", r->id, m->type,
         rkv_strerror(rv));
    r->stats.dropped++;
    return rv;
}

static void on_timer_closed(uv_handle_t *h);

/* Fill the free slot `r` for peer `id` and start dialing it. */
static int add_remote(struct peer_remote *r,
                      struct peer_transport *t,
                      raft_id id,
                      const char *host,
                      uint16_t port)
{
    int rv = uv_timer_init(t->loop, &r->timer);

    if (rv != 0)
        return RKV_EIO;
    memset(&r->stats, 0, sizeof r->stats);
    r->t = t;
    r->id = id;
    snprintf(r->host, sizeof r->host, "%s", host);
    r->port = port;
    r->backoff_ms = t->backoff_min_ms;
    rkv_buf_init(&r->pending);
    r->timer.data = r;
    r->timer_open = true;
    t->open++;
    dial(r);
    return 0;
}

int peer_add(struct peer_transport *t,
             raft_id id,
             const char *host,
             uint16_t port)
{
    struct peer_remote *r;

    assert(t->started && !t->closing);
    if (id == 0 || id == t->id || host == NULL || host[0] == '\0' ||
        strlen(host) >= PEER_HOST_MAX || port == 0)
        return RKV_EINVAL;
    r = find_remote(t, id);
    if (r != NULL) {
        /* Known: a new address is used from the next dial on. */
        snprintf(r->host, sizeof r->host, "%s", host);
        r->port = port;
        return 0;
    }
    for (size_t i = 0; i < RAFT_MAX_NODES - 1; i++) {
        r = &t->remotes[i];
        if (r->id != 0)
            continue;
        if (i >= t->n_remotes)
            t->n_remotes = i + 1;
        LOGF(t, RAFT_TRACE_INFO, "peer %" PRIu64 " (%s:%u): added", id, host,
             port);
        return add_remote(r, t, id, host, port);
    }
    return RKV_EBUSY;
}

int peer_remove(struct peer_transport *t, raft_id id)
{
    struct peer_remote *r;

    assert(t->started && !t->closing);
    r = find_remote(t, id);
    if (r == NULL)
        return RKV_ENOTFOUND;
    LOGF(t, RAFT_TRACE_INFO, "peer %" PRIu64 " (%s:%u): removed", id, r->host,
         r->port);
    r->removing = true;
    if (r->in != NULL)
        close_conn(r->in);
    /* A lookup already running cannot be canceled: its callback then sees
     * r->removing and releases the slot. */
    if (r->state == PEER_RESOLVING)
        (void)uv_cancel((uv_req_t *)&r->resolve);
    close_outbound(r);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
    return 0;
}

int peer_set_blocked(struct peer_transport *t, raft_id id, bool blocked)
{
    struct peer_remote *r = find_remote(t, id);

    if (r == NULL)
        return RKV_ENOTFOUND;
    r->blocked = blocked;
    return 0;
}

int peer_stats_of(const struct peer_transport *t,
                  raft_id id,
                  struct peer_stats *out)
{
    for (size_t i = 0; i < t->n_remotes; i++) {
        const struct peer_remote *r = &t->remotes[i];
        if (r->id == id && !r->removing) {
            *out = r->stats;
            out->connected = r->state == PEER_CONNECTED;
            return 0;
        }
    }
    return RKV_ENOTFOUND;
}

static void on_transport_handle_closed(uv_handle_t *h)
{
    open_done(h->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct peer_remote *r = h->data;
    struct peer_transport *t = r->t;

    r->timer_open = false;
    maybe_release(r);
    open_done(t);
}

/* Close `h` if it was ever initialized (start may have stopped early). */
static void close_if_open(uv_handle_t *h, uv_close_cb cb)
{
    if (uv_handle_get_type(h) != UV_UNKNOWN_HANDLE)
        uv_close(h, cb);
}

void peer_transport_close(struct peer_transport *t, peer_close_fn close_cb)
{
    assert(t->started && !t->closing && close_cb != NULL);
    t->closing = true;
    t->close_cb = close_cb;
    close_if_open((uv_handle_t *)&t->flush, on_transport_handle_closed);
    close_if_open((uv_handle_t *)&t->listener, on_transport_handle_closed);
    for (size_t i = 0; i < t->n_remotes; i++) {
        struct peer_remote *r = &t->remotes[i];
        if (r->id == 0 || r->removing)
            continue; /* free, or its handles are closing already */
        close_if_open((uv_handle_t *)&r->timer, on_timer_closed);
        /* A lookup already running cannot be canceled: its callback
         * then sees t->closing. */
        if (r->state == PEER_RESOLVING)
            (void)uv_cancel((uv_req_t *)&r->resolve);
        close_outbound(r);
    }
    for (struct peer_conn *c = t->inbound; c != NULL; c = c->next)
        close_conn(c);
}
