/* The HTTP/JSON client API of a node (the seed's API, DESIGN.md):
 *   POST /kv {"key","value"}   write (forwarded to the leader by the core)
 *   GET /kv/<key>[?stale=true] linearizable read (ReadIndex), or local
 *   DELETE /kv/<key>           delete
 *   GET /status, /debug        node and replication state
 *   GET /metrics               Prometheus text
 *   GET /health                200 with a known leader, else 503
 * Exactly-once writes: X-Client-Id and X-Request-Seq headers. Errors are
 * JSON {"error": "..."}: 400 malformed, 404 no such key or path, 405, 408
 * request not completed within HTTP_API_REQUEST_TIMEOUT_MS, 413 too
 * large, 503 no leader / no quorum / outcome unknown (with Retry-After),
 * 507 disk full. Keep-alive and pipelining are supported: answers go out
 * in request order. */
#ifndef SERVER_HTTP_API_H
#define SERVER_HTTP_API_H

#include <stdint.h>

#include "util/buf.h"

struct node;

#define HTTP_API_REQUEST_TIMEOUT_MS 10000 /* a request must arrive whole */
#define HTTP_API_IDLE_TIMEOUT_MS 300000   /* idle keep-alive connections */
#define HTTP_API_PIPELINE_MAX 1024        /* answers pending per connection */
#define HTTP_API_CONNS_MAX 4096           /* open connections */

/* Listen on host:port. Returns 0 or RKV_EIO with errmsg. */
int http_api_start(struct node *n,
                   const char *host,
                   uint16_t port,
                   char *errmsg);

/* Close the listener and every connection, cancelling their requests;
 * calls node_subsystem_closed(n) once everything is closed. */
void http_api_stop(struct node *n);

/* Render /metrics (Prometheus text format) into `out`. */
int http_api_metrics(struct node *n, struct rkv_buf *out);

#endif /* SERVER_HTTP_API_H */
