/* One blocking HTTP connection of the client, with deadlines: POSIX
 * sockets, non-blocking underneath so that poll() bounds every connect,
 * write and read by a point in time on the monotonic clock. */
#ifndef CLI_CONN_H
#define CLI_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "cli/http_client.h"
#include "util/buf.h"

/* A connection, or none. */
struct cli_conn
{
    int fd;      /* connected TCP socket; -1 when closed */
    size_t node; /* which of the client's nodes it goes to, if fd >= 0 */
};

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t cli_now_ms(void);

/* Sleep `ms` milliseconds (restarting after signals). */
void cli_sleep_ms(int64_t ms);

/* Mark `c` closed. Cannot fail. */
void cli_conn_init(struct cli_conn *c);

/* Close the socket, if any. */
void cli_conn_close(struct cli_conn *c);

/* Connect `c` (closed) to host:port, trying each address the name resolves
 * to, before `deadline_ms` (cli_now_ms() time). Returns 0, RKV_ETIMEDOUT,
 * or RKV_EIO with a message ("connect: Connection refused", "resolve:
 * ..."). Name resolution itself is not bounded by the deadline. */
int cli_conn_open(struct cli_conn *c,
                  const char *host,
                  uint16_t port,
                  int64_t deadline_ms,
                  char *errmsg);

/* Send the request `req` (borrowed) on `c` (open) and read one response
 * into `resp` (initialized, empty), both before `deadline_ms`. Sets
 * *received to the number of bytes received, which tells a caller whether
 * a kept-alive connection died before answering. Returns 0 (resp->done),
 * RKV_ETIMEDOUT, RKV_EIO (send or receive failed, or the peer closed the
 * connection before the end of the response), or what
 * cli_http_response_feed() returns for a bad response: RKV_EPROTO,
 * RKV_ETOOBIG, RKV_ENOMEM. After an error, or a response without
 * keep_alive, the caller closes `c`. */
int cli_conn_exchange(struct cli_conn *c,
                      const struct rkv_buf *req,
                      struct cli_http_response *resp,
                      int64_t deadline_ms,
                      size_t *received,
                      char *errmsg);

#endif /* CLI_CONN_H */
