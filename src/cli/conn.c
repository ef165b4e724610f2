/* Client connections with deadlines (see conn.h). */
#include "cli/conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "raftkv/err.h"

#define RECV_CHUNK 65536 /* bytes read per recv() */

int64_t cli_now_ms(void)
{
    struct timespec ts;
    int rv = clock_gettime(CLOCK_MONOTONIC, &ts);

    /* POSIX: fails only for an unsupported clock, and Linux has this one. */
    assert(rv == 0);
    (void)rv;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_sleep_ms(int64_t ms)
{
    struct timespec ts;

    assert(ms >= 0);
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void cli_conn_init(struct cli_conn *c)
{
    c->fd = -1;
    c->node = 0;
}

void cli_conn_close(struct cli_conn *c)
{
    if (c->fd >= 0)
        (void)close(c->fd); /* nothing unsent matters once we give up */
    cli_conn_init(c);
}

/* Wait until `fd` is ready for `events` or `deadline_ms` passes; `what`
 * names the wait in the message. */
static int wait_fd(int fd,
                   short events,
                   int64_t deadline_ms,
                   const char *what,
                   char *errmsg)
{
    for (;;) {
        int64_t left = deadline_ms - cli_now_ms();
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int n;

        if (left <= 0)
            return rkv_errf(errmsg, RKV_ETIMEDOUT, "%s timed out", what);
        n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0)
            return 0; /* ready, or an error the next call reports */
        if (n < 0 && errno != EINTR)
            return rkv_errf(errmsg, RKV_EIO, "poll: %s", strerror(errno));
    }
}

/* Open a non-blocking socket to `ai` and connect it by `deadline_ms`. */
static int connect_one(const struct addrinfo *ai,
                       int64_t deadline_ms,
                       int *fd_out,
                       char *errmsg)
{
    int fd, flags, err = 0, one = 1;
    socklen_t len = sizeof err;
    int rv;

    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        return rkv_errf(errmsg, RKV_EIO, "socket: %s", strerror(errno));
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        rv = rkv_errf(errmsg, RKV_EIO, "socket options: %s", strerror(errno));
        goto err_after_socket;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            rv = rkv_errf(errmsg, RKV_EIO, "connect: %s", strerror(errno));
            goto err_after_socket;
        }
        rv = wait_fd(fd, POLLOUT, deadline_ms, "connect", errmsg);
        if (rv == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (rv == 0 && err != 0)
            rv = rkv_errf(errmsg, RKV_EIO, "connect: %s", strerror(err));
        if (rv != 0)
            goto err_after_socket;
    }
    *fd_out = fd;
    return 0;

err_after_socket:
    (void)close(fd); /* never connected: nothing to flush */
    assert(rv != 0);
    return rv;
}

int cli_conn_open(struct cli_conn *c,
                  const char *host,
                  uint16_t port,
                  int64_t deadline_ms,
                  char *errmsg)
{
    struct addrinfo hints, *res;
    char service[8];
    int rv;

    assert(c->fd < 0);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof service, "%u", (unsigned)port);
    rv = getaddrinfo(host, service, &hints, &res);
    if (rv != 0)
        return rkv_errf(errmsg, RKV_EIO, "resolve: %s", gai_strerror(rv));
    rv = RKV_EIO;
    for (const struct addrinfo *ai = res; ai != NULL && rv != 0;
         ai = ai->ai_next) {
        rv = connect_one(ai, deadline_ms, &c->fd, errmsg);
        if (rv == RKV_ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    assert(rv != 0 || c->fd >= 0);
    return rv;
}

/* Write all of `req` by `deadline_ms`. */
static int send_all(int fd,
                    const struct rkv_buf *req,
                    int64_t deadline_ms,
                    char *errmsg)
{
    size_t sent = 0;

    while (sent < req->len) {
        ssize_t n;
        int rv = wait_fd(fd, POLLOUT, deadline_ms, "send", errmsg);
        if (rv != 0)
            return rv;
        n = send(fd, req->data + sent, req->len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return rkv_errf(errmsg, RKV_EIO, "send: %s", strerror(errno));
        if (n > 0)
            sent += (size_t)n;
    }
    return 0;
}

int cli_conn_exchange(struct cli_conn *c,
                      const struct rkv_buf *req,
                      struct cli_http_response *resp,
                      int64_t deadline_ms,
                      size_t *received,
                      char *errmsg)
{
    uint8_t chunk[RECV_CHUNK];
    int rv;

    assert(c->fd >= 0);
    assert(!resp->done);
    *received = 0;
    rv = send_all(c->fd, req, deadline_ms, errmsg);
    while (rv == 0) {
        ssize_t n;
        rv = wait_fd(c->fd, POLLIN, deadline_ms, "waiting for the answer",
                     errmsg);
        if (rv != 0)
            break;
        n = recv(c->fd, chunk, sizeof chunk, 0);
        if (n < 0 &&
            (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (n < 0)
            return rkv_errf(errmsg, RKV_EIO, "recv: %s", strerror(errno));
        *received += (size_t)n;
        rv = cli_http_response_feed(resp, chunk, (size_t)n, errmsg);
        if (rv == RKV_EAGAIN)
            rv = 0;
        else if (rv == 0)
            return 0;
        else if (n == 0)
            rv = RKV_EIO; /* the peer went away: worth a retry */
    }
    assert(rv != 0);
    return rv;
}
