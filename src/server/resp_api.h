/* The Redis-protocol (RESP2) client API of a node, on its RESP port, so that
 * redis-cli, redis-benchmark and Redis client libraries work against any
 * node. The wire format is parsed by src/net/resp.c. Commands:
 *
 *   GET key                 linearizable read (ReadIndex), nil if missing
 *   MGET key [key ...]      one linearizable read per key, one array reply
 *   EXISTS key [key ...]    as MGET; the number of keys found (a key named
 *                           twice counts twice, as in Redis)
 *   SET key value [NX|XX]   write; nil if NX/XX was not met. EX, PX, EXAT,
 *                           PXAT, KEEPTTL and GET are refused: keys never
 *                           expire
 *   DEL key [key ...]       one atomic write; the number of keys removed
 *   MSET k v [k v ...]      one atomic write
 *   INCR, DECR key; INCRBY, DECRBY key n      one write; the new value
 *   PING [msg], ECHO msg, SELECT 0, QUIT, DBSIZE, INFO [section ...],
 *   COMMAND [COUNT|INFO|DOCS], CLIENT SETNAME|GETNAME|ID|INFO|SETINFO,
 *   HELLO (always -NOPROTO: clients stay on RESP2),
 *   FLUSHALL, FLUSHDB, CONFIG (refused: not supported).
 *
 * Semantics. Writes go through the Raft log; a follower forwards them to
 * the leader. Every key read is linearizable. DBSIZE is this node's local
 * key count, which may lag the leader's. Keys are 1..max_key_bytes bytes
 * (an empty key is refused), values at most max_value_bytes; both are
 * binary-safe. There is no exactly-once retry through this API (RESP has no
 * client id to build a session on): after a -TIMEOUT or a lost connection a
 * write may or may not have been applied, and retrying it may apply it
 * twice (harmless for SET, DEL and MSET; not for INCR). Use the HTTP API
 * with X-Client-Id / X-Request-Seq for exactly-once writes.
 *
 * Errors beyond Redis's own: "-CLUSTERDOWN no leader, retry" (no known
 * leader), "-TRYAGAIN ..." (leadership changed or node shutting down),
 * "-TIMEOUT ..." (no answer within the node's request timeout; for a
 * write the outcome is unknown).
 *
 * Pipelining: every command read is executed and answered in order. A
 * connection stops taking commands (and reading) while it has
 * RESP_API_PIPELINE_MAX answers pending, more than RESP_API_OUTPUT_MAX
 * bytes of answers unsent, or RESP_API_READS_MAX keys being read (an MGET
 * of more keys runs alone): memory per connection stays bounded even for a
 * client that sends without reading. A protocol error is answered, then
 * the connection is closed, as in Redis. */
#ifndef SERVER_RESP_API_H
#define SERVER_RESP_API_H

#include <stdint.h>

struct node;
struct resp_api;

#define RESP_API_PIPELINE_MAX 1024     /* answers pending per conn. */
#define RESP_API_OUTPUT_MAX (4u << 20) /* unsent answer bytes per conn. */
#define RESP_API_READS_MAX 64          /* keys read at once per conn. */
#define RESP_API_CONNS_MAX 4096        /* open connections */
#define RESP_API_REDIS_VERSION "7.0.0" /* redis_version in INFO */

/* Listen on host:port (numeric, as node->listen_host) for the clients of
 * node `n`. On success *out is the server, owned by the caller, who ends it
 * with resp_api_stop(). Returns 0; RKV_ECONFIG if `host` is not a numeric
 * address; RKV_ENOMEM; RKV_EIO if the port cannot be bound (errmsg says
 * why). On error *out is NULL and there is nothing to stop. */
int resp_api_start(struct node *n,
                   const char *host,
                   uint16_t port,
                   struct resp_api **out,
                   char *errmsg);

/* Close the listener and every connection, cancelling their requests, then
 * free `api` and call node_subsystem_closed() on its node, once every
 * handle is closed (always later, from a close callback): the caller
 * counts the server in n->subsystems_open before calling this. */
void resp_api_stop(struct resp_api *api);

#endif /* SERVER_RESP_API_H */
