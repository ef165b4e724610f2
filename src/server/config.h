/* Configuration of a raftkv node: the command line, the cluster file
 * nodes.conf, and the seed's docker-compose environment variables, turned
 * into one struct node_config. Pure parsing: the only I/O is reading the
 * cluster file in config_load_file().
 *
 * Command line (DESIGN.md, "Interfaces the product keeps stable"):
 *
 *   raftkv --id N --config nodes.conf [--data-dir DIR]
 *          [--log-level debug|info|warn] [--http-port P] [--resp-port P]
 *          [--cluster-id X] [--join HOST:PORT]
 *   raftkv --help | --version
 *
 * Every flag also accepts the form --flag=VALUE.
 *
 * nodes.conf holds one node a line:
 *
 *   <ID> <HOST> <PEER_PORT> [<HTTP_PORT> [<RESP_PORT>]]
 *
 * The first three columns are the seed C project's form. IDs are 1..65535,
 * ports 1..65535, HOST is the name or address the other nodes and clients
 * use to reach the node (at most CONFIG_HOST_MAX bytes of printable ASCII).
 * An omitted HTTP_PORT is PEER_PORT + 1000 and an omitted RESP_PORT is
 * PEER_PORT + 2000, so "1 127.0.0.1 2001" serves peers on 2001, HTTP on 3001
 * and RESP on 4001. '#' starts a comment that runs to the end of the line;
 * blank lines are ignored; a '\r' before the newline is tolerated. No id
 * may appear twice, and no HOST:PORT may be used twice, whether by two
 * nodes or by two ports of one node.
 *
 * Environment (the seed's docker compose), used when --config is absent and
 * NODE_ID is set:
 *
 *   NODE_ID=node1                  this node's name; its trailing digits are
 *                                  its id ("node1" -> 1); a plain number
 *                                  ("1") is the id itself
 *   PEER_IDS=node2:3000,node3:3000 the other nodes, NAME:HTTP_PORT each
 *                                  (empty or unset: a one-node cluster)
 *   PORT=3000                      this node's HTTP port (default 3000)
 *   RAFT_PORT, RESP_PORT           optional: every node's peer and RESP
 *                                  port (each container has its own
 *                                  address, so one value serves all)
 *
 * A node's HOST is its name (the container's name resolves to it), or
 * 127.0.0.1 when the name is a plain number. Without RAFT_PORT a node's
 * peer port is its HTTP port + 1000; without RESP_PORT its RESP port is its
 * HTTP port + 3379 (6379 for 3000). --id, when given, overrides the id
 * NODE_ID names.
 *
 * --http-port and --resp-port override this node's ports in either mode.
 * The data directory defaults to ./data/node<ID>. The cluster id defaults
 * to config_cluster_id() of the member list, so that two clusters with
 * different membership refuse each other's messages; --cluster-id X (a
 * u64, decimal or 0x-prefixed hex) overrides it.
 *
 * --join HOST:PORT (the HTTP API of a running member) starts the node as a
 * joining one: it has no configuration until a leader adds it (POST
 * /members, `raftkv-cli member add`), and its cluster id is the one the
 * member's GET /status reports (fetched at the first start, then kept in
 * the data directory), unless --cluster-id gives it. Its nodes.conf lists
 * at least the members it can reach, itself included.
 *
 * Errors: every mistake gives RKV_ECONFIG (or RKV_EIO for an unreadable
 * file) and ONE line in errmsg, such as
 * "nodes.conf:3: expected '<ID> <HOST> <PORT>'"; main() prints it and
 * exits with code 2. */
#ifndef SERVER_CONFIG_H
#define SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raftkv/raft.h"

#define RAFTKV_VERSION "0.1.0" /* printed by --version */

#define CONFIG_MEMBERS_MAX RAFT_MAX_NODES /* nodes in one cluster */
#define CONFIG_ID_MAX 65535u              /* largest node id */
#define CONFIG_HOST_MAX 255               /* bytes of a host (DNS limit) */
#define CONFIG_PATH_MAX 1024              /* bytes of the data dir path */
#define CONFIG_FILE_MAX (1u << 20)        /* bytes of nodes.conf */

#define CONFIG_FILE_HTTP_OFFSET 1000 /* file: HTTP_PORT = PEER_PORT + this */
#define CONFIG_FILE_RESP_OFFSET 2000 /* file: RESP_PORT = PEER_PORT + this */
#define CONFIG_ENV_PEER_OFFSET 1000  /* env: peer port = HTTP port + this */
#define CONFIG_ENV_RESP_OFFSET 3379  /* env: RESP port = HTTP port + this */
#define CONFIG_ENV_PORT_DEFAULT 3000 /* env: HTTP port when PORT is unset */

/* Server tunables. Not settable yet: one place for the defaults. */
#define CONFIG_TICK_MS 10              /* ms of one raft_tick() */
#define CONFIG_ELECTION_TICKS 15       /* 150 ms base election timeout */
#define CONFIG_HEARTBEAT_TICKS 5       /* 50 ms between heartbeats */
#define CONFIG_SNAPSHOT_ENTRIES 10000  /* applied entries per snapshot */
#define CONFIG_REQUEST_TIMEOUT_MS 5000 /* client request deadline */

/* What main() should do. */
enum config_action {
    CONFIG_RUN,     /* start the node */
    CONFIG_HELP,    /* print config_usage() on stdout, exit 0 */
    CONFIG_VERSION, /* print RAFTKV_VERSION on stdout, exit 0 */
};

/* One node of the cluster. */
struct config_member
{
    raft_id id;                     /* 1..CONFIG_ID_MAX */
    char host[CONFIG_HOST_MAX + 1]; /* NUL-terminated name or address */
    uint16_t peer_port;             /* Raft peer transport, TCP */
    uint16_t http_port;             /* HTTP/JSON client API */
    uint16_t resp_port;             /* Redis protocol client API */
};

/* Everything a node needs to start. Self-contained: no pointers. */
struct node_config
{
    enum config_action action; /* the rest is set only for CONFIG_RUN */
    raft_id self_id;           /* this node, one of members[] */
    struct config_member members[CONFIG_MEMBERS_MAX]; /* ascending id */
    size_t n_members;                    /* 1..CONFIG_MEMBERS_MAX */
    char data_dir[CONFIG_PATH_MAX];      /* NUL-terminated */
    int log_level;                       /* RAFT_TRACE_DEBUG, _INFO or _WARN */
    uint64_t cluster_id;                 /* see config_cluster_id() */
    bool cluster_id_given;               /* set by --cluster-id */
    char join_host[CONFIG_HOST_MAX + 1]; /* --join host; "" if absent */
    uint16_t join_port;                  /* --join port; 0 if absent */
    unsigned tick_ms;                    /* CONFIG_TICK_MS */
    unsigned election_ticks;             /* CONFIG_ELECTION_TICKS */
    unsigned heartbeat_ticks;            /* CONFIG_HEARTBEAT_TICKS */
    uint64_t snapshot_entries;           /* CONFIG_SNAPSHOT_ENTRIES */
    unsigned request_timeout_ms;         /* CONFIG_REQUEST_TIMEOUT_MS */
    size_t max_key_bytes;                /* KV_KEY_MAX */
    size_t max_value_bytes;              /* KV_VALUE_MAX */
};

/* Parse the text of a nodes.conf file: `len` bytes at `text` (borrowed,
 * need not be NUL-terminated, may hold any bytes). `name` is the file name
 * used in messages ("nodes.conf:3: ..."). Fills members[0..*n_members),
 * where `members` has room for CONFIG_MEMBERS_MAX, sorted by id.
 * `errmsg` is a caller-owned RKV_ERRMSG_LEN buffer.
 * Returns 0, or RKV_ECONFIG with "<name>:<line>: <problem>" for a malformed
 * line, an id or port out of range, a derived port past 65535, a duplicate
 * id or HOST:PORT, a host too long or with bad characters, or more than
 * CONFIG_MEMBERS_MAX nodes; or "<name>: no nodes" for a file without any.
 * On error *n_members and members are unspecified. */
int config_parse_nodes(const char *text,
                       size_t len,
                       const char *name,
                       struct config_member *members,
                       size_t *n_members,
                       char *errmsg);

/* Read the file at `path` and parse it with config_parse_nodes(), naming
 * it `path` in messages. Returns what config_parse_nodes() does, or
 * RKV_EIO ("<path>: <strerror>") if it cannot be read, RKV_ECONFIG if it
 * is larger than CONFIG_FILE_MAX, RKV_ENOMEM. */
int config_load_file(const char *path,
                     struct config_member *members,
                     size_t *n_members,
                     char *errmsg);

/* Parse the command line argv[0..argc) (argv[0] is the program name) and,
 * when --config is absent, the environment `envp` ("NAME=value" strings,
 * NULL-terminated, as `environ`; NULL is an empty environment), reading
 * nodes.conf if --config names it. Fills `*out` (see struct node_config).
 * Returns 0 (check out->action), or RKV_ECONFIG / RKV_EIO / RKV_ENOMEM with
 * one line in `errmsg`: unknown flag, flag without its value, missing --id,
 * missing --config (or NODE_ID), --id not in the member list, bad number,
 * port or log level, duplicate address after --http-port/--resp-port, bad
 * environment variable, and every error of config_load_file(). */
int config_parse_args(int argc,
                      char *const argv[],
                      char *const envp[],
                      struct node_config *out,
                      char *errmsg);

/* This node's entry in cfg->members. Precondition: `cfg` came from a
 * successful config_parse_args() with action CONFIG_RUN. */
const struct config_member *config_self(const struct node_config *cfg);

/* The default cluster id of members[0..n) (sorted by id): the FNV-1a 64
 * hash of the text made of one line "<id> <host> <peer_port>\n" a member,
 * in id order. Client ports are left out: they do not change who the peers
 * are. */
uint64_t config_cluster_id(const struct config_member *members, size_t n);

/* The --help text, several lines ending in '\n'. */
const char *config_usage(void);

#endif /* SERVER_CONFIG_H */
