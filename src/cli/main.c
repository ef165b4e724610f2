/* raftkv-cli: put, get and delete keys, show the cluster's state, change
 * its membership and move its leadership, from the shell (command line in
 * args.h, library in include/raftkv/client.h). Results go to stdout, errors to
 * stderr as "raftkv-cli: <what>". */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "raftkv/client.h"
#include "raftkv/err.h"

/* Report `errmsg` on stderr and return the exit code of `rv`. */
static int fail(int rv, const char *errmsg)
{
    fprintf(stderr, "raftkv-cli: %s\n", errmsg);
    return cli_exit_code(rv);
}

/* Flush stdout: a result that cannot be written is an error. */
static int flush_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "raftkv-cli: stdout: %s\n", strerror(errno));
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

static int cmd_get(struct rkv_client *c, const struct cli_args *a)
{
    char errmsg[RKV_ERRMSG_LEN];
    char *value;
    size_t len;
    int rv;

    rv = rkv_client_get(c, a->key, strlen(a->key), a->stale, &value, &len,
                        errmsg);
    if (rv != 0)
        return fail(rv, errmsg);
    /* The value alone, so that $(raftkv-cli get k) is the value. */
    if (fwrite(value, 1, len, stdout) == len)
        (void)putchar('\n'); /* a failure shows in ferror() below */
    free(value);
    return flush_stdout();
}

/* One status line for node `i` of `c`; returns whether it answered. */
static bool status_line(struct rkv_client *c, size_t i)
{
    const struct rkv_client_addr *a = rkv_client_node(c, i);
    char addr[RKV_CLIENT_HOST_MAX + 8];
    char leader[24];
    char errmsg[RKV_ERRMSG_LEN];
    struct rkv_node_status st;
    int rv = rkv_client_status(c, i, &st, errmsg);

    snprintf(addr, sizeof addr, "%s:%u", a->host, (unsigned)a->port);
    if (rv != 0) {
        printf("%-5s %-21s unreachable (%s)\n", "-", addr, errmsg);
        return false;
    }
    if (st.leader != 0)
        snprintf(leader, sizeof leader, "%llu", (unsigned long long)st.leader);
    else
        strcpy(leader, "-"); /* none known */
    printf("%-5llu %-21s %-13s %8llu %10llu %10llu %6s\n",
           (unsigned long long)st.id, addr, st.role,
           (unsigned long long)st.term, (unsigned long long)st.commit_index,
           (unsigned long long)st.last_applied, leader);
    return true;
}

/* Members the cluster added that the address list does not name: their
 * HTTP addresses come from the configuration ("host:peer:http:resp"). */
static size_t status_added_members(struct rkv_client *c, unsigned timeout_ms)
{
    struct rkv_members ms;
    char errmsg[RKV_ERRMSG_LEN];
    size_t answered = 0;
    if (rkv_client_members(c, &ms, errmsg) != 0)
        return 0;
    for (size_t m = 0; m < ms.n; m++) {
        struct rkv_client_addr a;
        struct rkv_client *one;
        unsigned peer, http;
        bool known = false;
        char *colon = strchr(ms.members[m].addr, ':');
        if (colon == NULL || colon - ms.members[m].addr > RKV_CLIENT_HOST_MAX ||
            sscanf(colon, ":%u:%u", &peer, &http) != 2 || http == 0 ||
            http > 65535)
            continue;
        memcpy(a.host, ms.members[m].addr,
               (size_t)(colon - ms.members[m].addr));
        a.host[colon - ms.members[m].addr] = '\0';
        a.port = (uint16_t)http;
        for (size_t i = 0; i < rkv_client_n_nodes(c); i++) {
            const struct rkv_client_addr *k = rkv_client_node(c, i);
            known |= k->port == a.port && strcmp(k->host, a.host) == 0;
        }
        if (known || rkv_client_open(&a, 1, timeout_ms, &one, errmsg) != 0)
            continue;
        answered += status_line(one, 0);
        rkv_client_free(one);
    }
    return answered;
}

/* status: one line a node, unreachable ones included, then the members
 * the cluster added since (found through GET /members). Fails with
 * CLI_EXIT_UNAVAILABLE only if no node answered. */
static int cmd_status(struct rkv_client *c, unsigned timeout_ms)
{
    size_t answered = 0;

    printf("%-5s %-21s %-13s %8s %10s %10s %6s\n", "ID", "ADDRESS", "ROLE",
           "TERM", "COMMIT", "APPLIED", "LEADER");
    for (size_t i = 0; i < rkv_client_n_nodes(c); i++)
        answered += status_line(c, i);
    if (answered > 0)
        answered += status_added_members(c, timeout_ms);
    if (flush_stdout() != CLI_EXIT_OK)
        return CLI_EXIT_ERROR;
    if (answered == 0) {
        fprintf(stderr, "raftkv-cli: no node answered\n");
        return CLI_EXIT_UNAVAILABLE;
    }
    return CLI_EXIT_OK;
}

static int cmd_leader(struct rkv_client *c)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct rkv_node_status st;
    size_t node;
    int rv = rkv_client_leader(c, &node, &st, errmsg);

    if (rv != 0)
        return fail(rv, errmsg);
    printf("%llu %s:%u\n", (unsigned long long)st.id,
           rkv_client_node(c, node)->host,
           (unsigned)rkv_client_node(c, node)->port);
    return flush_stdout();
}

/* A node id operand: 1..65535. */
static int parse_id(const char *s, uint64_t *id)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || v == 0 || v > 65535) {
        fprintf(stderr, "raftkv-cli: bad node id '%.32s': expected 1..65535\n",
                s);
        return CLI_EXIT_USAGE;
    }
    *id = v;
    return CLI_EXIT_OK;
}

/* member list: the leader's view (match indexes), else any node's. */
static int cmd_member_list(struct rkv_client *c)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct rkv_members ms;
    size_t node;
    int rv;

    (void)rkv_client_leader(c, &node, NULL, errmsg); /* best effort */
    rv = rkv_client_members(c, &ms, errmsg);
    if (rv != 0)
        return fail(rv, errmsg);
    printf("%-5s %-8s %-32s %12s\n", "ID", "ROLE", "ADDRESS", "MATCH");
    for (size_t i = 0; i < ms.n; i++) {
        const struct rkv_member *m = &ms.members[i];
        char match[24] = "-";
        if (m->has_match)
            snprintf(match, sizeof match, "%llu",
                     (unsigned long long)m->match_index);
        printf("%-5llu %-8s %-32s %12s\n", (unsigned long long)m->id,
               m->voter ? "voter" : "learner",
               m->addr[0] != '\0' ? m->addr : "-", match);
    }
    return flush_stdout();
}

static int cmd_member(struct rkv_client *c, const struct cli_args *a)
{
    char errmsg[RKV_ERRMSG_LEN];
    enum rkv_member_change change = RKV_MEMBER_REMOVE;
    uint64_t id;
    int rv = parse_id(a->key, &id);

    if (rv != CLI_EXIT_OK)
        return rv;
    if (a->cmd == CLI_CMD_MEMBER_ADD)
        change = a->learner ? RKV_MEMBER_ADD_LEARNER : RKV_MEMBER_ADD;
    else if (a->cmd == CLI_CMD_MEMBER_PROMOTE)
        change = RKV_MEMBER_PROMOTE;
    if (a->cmd == CLI_CMD_TRANSFER)
        rv = rkv_client_transfer_leader(c, id, errmsg);
    else
        rv = rkv_client_member_change(c, change, id, a->value, errmsg);
    return rv == 0 ? CLI_EXIT_OK : fail(rv, errmsg);
}

/* Run the command of `a` with client `c`; returns the exit code. */
static int run_command(struct rkv_client *c, const struct cli_args *a)
{
    char errmsg[RKV_ERRMSG_LEN];
    int rv;

    switch (a->cmd) {
        case CLI_CMD_PUT:
            rv = rkv_client_put(c, a->key, strlen(a->key), a->value,
                                strlen(a->value), NULL, errmsg);
            return rv == 0 ? CLI_EXIT_OK : fail(rv, errmsg);
        case CLI_CMD_GET:
            return cmd_get(c, a);
        case CLI_CMD_DEL:
            rv = rkv_client_del(c, a->key, strlen(a->key), errmsg);
            return rv == 0 ? CLI_EXIT_OK : fail(rv, errmsg);
        case CLI_CMD_STATUS:
            return cmd_status(c, a->timeout_ms);
        case CLI_CMD_LEADER:
            return cmd_leader(c);
        case CLI_CMD_MEMBER_LIST:
            return cmd_member_list(c);
        case CLI_CMD_MEMBER_ADD:
        case CLI_CMD_MEMBER_PROMOTE:
        case CLI_CMD_MEMBER_REMOVE:
        case CLI_CMD_TRANSFER:
            return cmd_member(c, a);
        case CLI_CMD_HELP:
            break;
    }
    fprintf(stderr, "raftkv-cli: internal error: command %d\n", (int)a->cmd);
    return CLI_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    struct rkv_client_addr nodes[RKV_CLIENT_NODES_MAX];
    char errmsg[RKV_ERRMSG_LEN];
    struct cli_args args;
    struct rkv_client *c;
    size_t n;
    int rv, code;

    rv = cli_args_parse(argc, argv, &args, errmsg);
    if (rv != 0)
        return fail(rv, errmsg);
    if (args.cmd == CLI_CMD_HELP) {
        fputs(cli_usage(), stdout);
        return flush_stdout();
    }
    rv = cli_args_nodes(&args, nodes, &n, errmsg);
    if (rv != 0) {
        fprintf(stderr, "raftkv-cli: %s\n", errmsg);
        return CLI_EXIT_USAGE; /* a bad -c list or cluster file */
    }
    rv = rkv_client_open(nodes, n, args.timeout_ms, &c, errmsg);
    if (rv != 0)
        return fail(rv, errmsg);
    code = run_command(c, &args);
    rkv_client_free(c);
    return code;
}
