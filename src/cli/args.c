/* raftkv-cli's command line and the nodes it names (see args.h). */
#include "cli/args.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "raftkv/err.h"
#include "server/config.h"

#define WORDS_MAX 4     /* command and operands: member add ID HOST:PORT */
#define NOT_AN_OPTION 1 /* parse_option(): argv[i] is no known option */

_Static_assert(CONFIG_MEMBERS_MAX <= RKV_CLIENT_NODES_MAX,
               "a client can hold every node of a nodes.conf");
_Static_assert(CONFIG_HOST_MAX == RKV_CLIENT_HOST_MAX,
               "hosts of nodes.conf fit a client address");

/* A command: its name and operand count. */
static const struct
{
    const char *name;
    const char *sub; /* second word ("member add"), or NULL */
    enum cli_cmd cmd;
    int operands;      /* after the name (and sub) */
    const char *usage; /* for the wrong number of operands */
} commands[] = {
    {"put", NULL, CLI_CMD_PUT, 2, "put KEY VALUE"},
    {"get", NULL, CLI_CMD_GET, 1, "get KEY [--stale]"},
    {"del", NULL, CLI_CMD_DEL, 1, "del KEY"},
    {"status", NULL, CLI_CMD_STATUS, 0, "status"},
    {"leader", NULL, CLI_CMD_LEADER, 0, "leader"},
    {"member", "list", CLI_CMD_MEMBER_LIST, 0, "member list"},
    {"member", "add", CLI_CMD_MEMBER_ADD, 2,
     "member add ID HOST:PEER_PORT[:HTTP_PORT[:RESP_PORT]] [--learner]"},
    {"member", "promote", CLI_CMD_MEMBER_PROMOTE, 1, "member promote ID"},
    {"member", "remove", CLI_CMD_MEMBER_REMOVE, 1, "member remove ID"},
    {"transfer-leader", NULL, CLI_CMD_TRANSFER, 1, "transfer-leader ID"},
};

#define STR_(x) #x
#define STR(x) STR_(x)
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Parse --timeout's value: milliseconds, 1..CLI_TIMEOUT_MAX_MS. */
static int parse_timeout(const char *s, unsigned *out, char *errmsg)
{
    unsigned long v = 0;
    const char *p = s;

    while (*p >= '0' && *p <= '9' && v <= CLI_TIMEOUT_MAX_MS)
        v = v * 10 + (unsigned long)(*p++ - '0');
    if (p == s || *p != '\0' || v == 0 || v > CLI_TIMEOUT_MAX_MS)
        return rkv_errf(errmsg, RKV_EINVAL,
                        "--timeout '%.32s': expected milliseconds 1..%u", s,
                        CLI_TIMEOUT_MAX_MS);
    *out = (unsigned)v;
    return 0;
}

/* Parse the option argv[*i], and its value, which moves *i past it.
 * Returns 0, NOT_AN_OPTION, or RKV_EINVAL. */
static int parse_option(int argc,
                        char *const argv[],
                        int *i,
                        struct cli_args *out,
                        char *errmsg)
{
    const char *a = argv[*i];
    bool takes_value = strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
                       strcmp(a, "--timeout") == 0;
    const char *v;

    if (strcmp(a, "--stale") == 0) {
        out->stale = true;
        return 0;
    }
    if (strcmp(a, "--learner") == 0) {
        out->learner = true;
        return 0;
    }
    if (!takes_value)
        return NOT_AN_OPTION;
    if (*i + 1 == argc)
        return rkv_errf(errmsg, RKV_EINVAL, "%s needs a value", a);
    v = argv[++*i];
    if (strcmp(a, "-c") == 0)
        out->cluster = v;
    else if (strcmp(a, "--config") == 0)
        out->config = v;
    else
        return parse_timeout(v, &out->timeout_ms, errmsg);
    return 0;
}

/* Set the command from its name and operands ops[0..n). */
static int set_command(const char *const *ops,
                       size_t n,
                       struct cli_args *out,
                       char *errmsg)
{
    size_t c = 0, words;

    if (n == 0)
        return rkv_errf(errmsg, RKV_EINVAL,
                        "missing command: put, get, del, status or leader "
                        "(see --help)");
    while (c < N_COMMANDS &&
           (strcmp(ops[0], commands[c].name) != 0 ||
            (commands[c].sub != NULL &&
             (n < 2 || strcmp(ops[1], commands[c].sub) != 0))))
        c++;
    if (c == N_COMMANDS && strcmp(ops[0], "member") == 0)
        return rkv_errf(errmsg, RKV_EINVAL,
                        "usage: raftkv-cli member list | add | promote | "
                        "remove (see --help)");
    if (c == N_COMMANDS)
        return rkv_errf(errmsg, RKV_EINVAL,
                        "unknown command '%.32s' (see --help)", ops[0]);
    words = commands[c].sub != NULL ? 2 : 1;
    if (n - words != (size_t)commands[c].operands)
        return rkv_errf(errmsg, RKV_EINVAL, "usage: raftkv-cli %s",
                        commands[c].usage);
    out->cmd = commands[c].cmd;
    out->key = n > words ? ops[words] : NULL;
    out->value = n > words + 1 ? ops[words + 1] : NULL;
    if (out->stale && out->cmd != CLI_CMD_GET)
        return rkv_errf(errmsg, RKV_EINVAL, "--stale applies to get only");
    if (out->learner && out->cmd != CLI_CMD_MEMBER_ADD)
        return rkv_errf(errmsg, RKV_EINVAL,
                        "--learner applies to member add only");
    if (out->cluster != NULL && out->config != NULL)
        return rkv_errf(errmsg, RKV_EINVAL, "give -c or --config, not both");
    return 0;
}

/* How many words the command ops[0..n) may have: only "member add ID
 * ADDR" takes WORDS_MAX. */
static size_t words_max(const char *const *ops, size_t n)
{
    return n > 0 && strcmp(ops[0], "member") == 0 ? WORDS_MAX : WORDS_MAX - 1;
}

int cli_args_parse(int argc,
                   char *const argv[],
                   struct cli_args *out,
                   char *errmsg)
{
    const char *ops[WORDS_MAX + 1]; /* one extra to report the count */
    size_t n = 0;
    bool options_done = false;

    assert(argc >= 1 && argv != NULL);
    memset(out, 0, sizeof *out);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done &&
            (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            out->cmd = CLI_CMD_HELP;
            return 0;
        }
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            int rv = parse_option(argc, argv, &i, out, errmsg);
            if (rv == RKV_EINVAL)
                return rv;
            if (rv == 0)
                continue;
            if (n == 0)
                return rkv_errf(errmsg, RKV_EINVAL,
                                "unknown option '%.32s' (see --help)", a);
        }
        if (n == words_max(ops, n) + 1)
            return rkv_errf(errmsg, RKV_EINVAL, "unexpected '%.32s'", a);
        ops[n++] = a;
    }
    return set_command(ops, n, out, errmsg);
}

int cli_args_nodes(const struct cli_args *a,
                   struct rkv_client_addr *nodes,
                   size_t *n,
                   char *errmsg)
{
    struct config_member members[CONFIG_MEMBERS_MAX];
    const char *path = a->config;
    int rv;

    if (a->cluster != NULL) {
        rv = rkv_client_parse_addrs(a->cluster, nodes, RKV_CLIENT_NODES_MAX, n,
                                    errmsg);
        if (rv != 0) {
            char inner[RKV_ERRMSG_LEN];
            memcpy(inner, errmsg, sizeof inner);
            rkv_errf(errmsg, rv, "-c: %.200s", inner);
        }
        return rv;
    }
    if (path == NULL && access(CLI_DEFAULT_CONFIG, F_OK) == 0)
        path = CLI_DEFAULT_CONFIG;
    if (path == NULL)
        return rkv_client_parse_addrs(CLI_DEFAULT_NODES, nodes,
                                      RKV_CLIENT_NODES_MAX, n, errmsg);
    rv = config_load_file(path, members, n, errmsg);
    for (size_t i = 0; rv == 0 && i < *n; i++) {
        memcpy(nodes[i].host, members[i].host, sizeof nodes[i].host);
        nodes[i].port = members[i].http_port;
    }
    return rv;
}

int cli_exit_code(int rv)
{
    switch (rv) {
        case 0:
            return CLI_EXIT_OK;
        case RKV_ENOTFOUND:
            return CLI_EXIT_NOT_FOUND;
        case RKV_EINVAL:
        case RKV_ETOOBIG:
            return CLI_EXIT_USAGE;
        case RKV_ETIMEDOUT:
            return CLI_EXIT_UNAVAILABLE;
        default:
            return CLI_EXIT_ERROR;
    }
}

const char *cli_usage(void)
{
    return "usage: raftkv-cli [-c HOST:PORT,... | --config nodes.conf] "
           "[--timeout MS] COMMAND\n"
           "\n"
           "commands:\n"
           "  put KEY VALUE      set KEY (exactly once, retried through "
           "failover)\n"
           "  get KEY [--stale]  print KEY's value; --stale: any node's, "
           "not linearizable\n"
           "  del KEY            delete KEY\n"
           "  status             every node's id, role, term, commit and "
           "applied index\n"
           "  leader             the leader's id and address\n"
           "  member list        the members: id, voter or learner, "
           "address, match index\n"
           "  member add ID HOST:PEER_PORT[:HTTP_PORT[:RESP_PORT]] "
           "[--learner]\n"
           "                     add node ID (started with raftkv --join) "
           "as a learner,\n"
           "                     then promote it to voter once caught up "
           "(not with --learner)\n"
           "  member promote ID  make learner ID a voter\n"
           "  member remove ID   remove node ID (it stops by itself)\n"
           "  transfer-leader ID hand the leadership to voter ID and wait "
           "until it leads\n"
           "\n"
           "options:\n"
           "  -c LIST            the nodes' HTTP addresses, comma-separated\n"
           "  --config FILE      read the nodes from a nodes.conf (default: "
           "./nodes.conf\n"
           "                     if it exists, else " CLI_DEFAULT_NODES ")\n"
           "  --timeout MS       give up after MS milliseconds (default "
           STR(RKV_CLIENT_TIMEOUT_MS) ")\n"
           "  --                 end of options (for keys starting with "
           "'-')\n"
           "\n"
           "exit codes: 0 ok, 1 key not found, 2 usage error, 3 cluster "
           "unavailable or\n"
           "timeout, 4 other error\n";
}
