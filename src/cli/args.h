/* The command line of raftkv-cli (the seed's ./client):
 *
 *   raftkv-cli [-c HOST:PORT,... | --config nodes.conf] [--timeout MS]
 *              put KEY VALUE | get KEY [--stale] | del KEY | status | leader
 *              | member list | member add ID HOST:PORT[...] [--learner]
 *              | member promote ID | member remove ID | transfer-leader ID
 *   raftkv-cli --help
 *
 * Options may come before or after the command. Before it, any argument
 * starting with '-' must be a known option; after it, one that is not an
 * option is an operand, so "put n -1" works; "--" ends the options, so
 * "put -- -k v" does too.
 *
 * The nodes: -c gives their HTTP addresses; --config reads a nodes.conf
 * (src/server/config.h) and takes each node's HTTP port; without either,
 * ./nodes.conf if it exists, else 127.0.0.1:3001,127.0.0.1:3002,
 * 127.0.0.1:3003 (what `make cluster` runs).
 *
 * Exit codes: CLI_EXIT_*. */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "raftkv/client.h"

#define CLI_EXIT_OK 0          /* done */
#define CLI_EXIT_NOT_FOUND 1   /* get, del: no such key */
#define CLI_EXIT_USAGE 2       /* bad arguments, cluster file or key */
#define CLI_EXIT_UNAVAILABLE 3 /* no answer in time: no leader, down */
#define CLI_EXIT_ERROR 4       /* any other error */

#define CLI_TIMEOUT_MAX_MS 86400000u /* --timeout: at most a day */
#define CLI_DEFAULT_NODES "127.0.0.1:3001,127.0.0.1:3002,127.0.0.1:3003"
#define CLI_DEFAULT_CONFIG "nodes.conf" /* read when it exists */

enum cli_cmd {
    CLI_CMD_HELP,           /* print cli_usage() */
    CLI_CMD_PUT,            /* put KEY VALUE */
    CLI_CMD_GET,            /* get KEY [--stale] */
    CLI_CMD_DEL,            /* del KEY */
    CLI_CMD_STATUS,         /* status: every node's state, as a table */
    CLI_CMD_LEADER,         /* leader: the leader's id and address */
    CLI_CMD_MEMBER_LIST,    /* member list */
    CLI_CMD_MEMBER_ADD,     /* member add ID ADDR [--learner] */
    CLI_CMD_MEMBER_PROMOTE, /* member promote ID */
    CLI_CMD_MEMBER_REMOVE,  /* member remove ID */
    CLI_CMD_TRANSFER,       /* transfer-leader ID */
};

/* A parsed command line. Strings are borrowed from argv. */
struct cli_args
{
    enum cli_cmd cmd;    /* what to do */
    const char *key;     /* put, get, del; member and transfer: the ID */
    const char *value;   /* put; member add: the address */
    bool stale;          /* get --stale: serve from any node's state */
    bool learner;        /* member add --learner: do not promote */
    const char *cluster; /* -c value, or NULL */
    const char *config;  /* --config value, or NULL */
    unsigned timeout_ms; /* --timeout, or 0: RKV_CLIENT_TIMEOUT_MS */
};

/* Parse argv[0..argc) (argv[0] is the program name) into `*out`.
 * `errmsg` is a caller-owned RKV_ERRMSG_LEN buffer. Returns 0, or
 * RKV_EINVAL with one line for an unknown option or command, an option
 * without its value, a bad --timeout, the wrong number of operands,
 * --stale on another command than get, --learner on another than member
 * add, or both -c and --config. */
int cli_args_parse(int argc,
                   char *const argv[],
                   struct cli_args *out,
                   char *errmsg);

/* The HTTP addresses of the nodes `a` names (see the top of this file),
 * into nodes[0..*n), which has room for RKV_CLIENT_NODES_MAX. Reads the
 * cluster file if one is used. Returns 0, RKV_EINVAL for a bad -c list, or
 * what config_load_file() returns, with a message. */
int cli_args_nodes(const struct cli_args *a,
                   struct rkv_client_addr *nodes,
                   size_t *n,
                   char *errmsg);

/* The exit code for the result `rv` of a client operation: 0 for 0,
 * CLI_EXIT_NOT_FOUND for RKV_ENOTFOUND, CLI_EXIT_USAGE for RKV_EINVAL and
 * RKV_ETOOBIG (the cluster refused the key or value), CLI_EXIT_UNAVAILABLE
 * for RKV_ETIMEDOUT, CLI_EXIT_ERROR for anything else. */
int cli_exit_code(int rv);

/* The --help text, several lines ending in '\n'. */
const char *cli_usage(void);

#endif /* CLI_ARGS_H */
