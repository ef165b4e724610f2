/* Unit tests of raftkv-cli's command line (src/cli/args.c): commands,
 * options, exit codes, and which nodes a command line names. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "lib/runner.h"
#include "raftkv/err.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ARGS_MAX 8

/* Parse the NULL-terminated words after argv[0]. */
static int parse(const char *const *words, struct cli_args *a, char *errmsg)
{
    char *argv[ARGS_MAX + 1] = {"raftkv-cli"};
    int argc = 1;

    while (words[argc - 1] != NULL)
        argv[argc] = (char *)words[argc - 1], argc++;
    errmsg[0] = '\0';
    return cli_args_parse(argc, argv, a, errmsg);
}

TEST(cli_args, commands_options_and_operands_parse)
{
    static const struct
    {
        const char *words[ARGS_MAX];
        enum cli_cmd cmd;
        const char *key, *value;
        bool stale;
        const char *cluster, *config;
        unsigned timeout_ms;
    } cases[] = {
        {{"put", "a", "1"}, CLI_CMD_PUT, "a", "1", false, NULL, NULL, 0},
        {{"get", "a"}, CLI_CMD_GET, "a", NULL, false, NULL, NULL, 0},
        {{"get", "a", "--stale"}, CLI_CMD_GET, "a", NULL, true, NULL, NULL, 0},
        {{"--stale", "get", "a"}, CLI_CMD_GET, "a", NULL, true, NULL, NULL, 0},
        {{"del", "a"}, CLI_CMD_DEL, "a", NULL, false, NULL, NULL, 0},
        {{"-c", "h:1,h:2", "status"},
         CLI_CMD_STATUS,
         NULL,
         NULL,
         false,
         "h:1,h:2",
         NULL,
         0},
        {{"leader", "--config", "n.conf", "--timeout", "250"},
         CLI_CMD_LEADER,
         NULL,
         NULL,
         false,
         NULL,
         "n.conf",
         250},
        {{"put", "n", "-1"}, CLI_CMD_PUT, "n", "-1", false, NULL, NULL, 0},
        {{"put", "--", "-k", "--stale"},
         CLI_CMD_PUT,
         "-k",
         "--stale",
         false,
         NULL,
         NULL,
         0},
        {{"get", "-"}, CLI_CMD_GET, "-", NULL, false, NULL, NULL, 0},
        {{"status", "--help"}, CLI_CMD_HELP, NULL, NULL, false, NULL, NULL, 0},
        {{"-h"}, CLI_CMD_HELP, NULL, NULL, false, NULL, NULL, 0},
    };
    char errmsg[RKV_ERRMSG_LEN];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct cli_args a;
        ASSERT_OK(parse(cases[i].words, &a, errmsg));
        ASSERT_EQ_INT(a.cmd, cases[i].cmd);
        if (a.cmd == CLI_CMD_HELP)
            continue;
        ASSERT_TRUE(cases[i].key == NULL ? a.key == NULL
                                         : strcmp(a.key, cases[i].key) == 0);
        ASSERT_TRUE(cases[i].value == NULL
                        ? a.value == NULL
                        : strcmp(a.value, cases[i].value) == 0);
        ASSERT_EQ_INT(a.stale, cases[i].stale);
        ASSERT_TRUE(cases[i].cluster == NULL
                        ? a.cluster == NULL
                        : strcmp(a.cluster, cases[i].cluster) == 0);
        ASSERT_TRUE(cases[i].config == NULL
                        ? a.config == NULL
                        : strcmp(a.config, cases[i].config) == 0);
        ASSERT_EQ_U64(a.timeout_ms, cases[i].timeout_ms);
    }
}

TEST(cli_args, each_usage_mistake_gives_one_exact_line)
{
    static const struct
    {
        const char *words[ARGS_MAX];
        const char *want;
    } cases[] = {
        {{NULL},
         "missing command: put, get, del, status or leader (see --help)"},
        {{"fetch", "a"}, "unknown command 'fetch' (see --help)"},
        {{"--verbose", "get", "a"}, "unknown option '--verbose' (see --help)"},
        {{"put", "a"}, "usage: raftkv-cli put KEY VALUE"},
        {{"put", "a", "b", "c"}, "usage: raftkv-cli put KEY VALUE"},
        {{"get"}, "usage: raftkv-cli get KEY [--stale]"},
        {{"del", "a", "b"}, "usage: raftkv-cli del KEY"},
        {{"status", "x"}, "usage: raftkv-cli status"},
        {{"put", "a", "b", "c", "d"}, "unexpected 'd'"},
        {{"del", "a", "--stale"}, "--stale applies to get only"},
        {{"-c", "h:1", "--config", "n.conf", "status"},
         "give -c or --config, not both"},
        {{"status", "-c"}, "-c needs a value"},
        {{"--timeout", "0", "status"},
         "--timeout '0': expected milliseconds 1..86400000"},
        {{"--timeout", "5s", "status"},
         "--timeout '5s': expected milliseconds 1..86400000"},
        {{"--timeout", "99999999999999999999", "status"},
         "--timeout '99999999999999999999': expected milliseconds "
         "1..86400000"},
    };
    char errmsg[RKV_ERRMSG_LEN];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct cli_args a;
        ASSERT_EQ_INT(parse(cases[i].words, &a, errmsg), RKV_EINVAL);
        ASSERT_EQ_STR(errmsg, cases[i].want);
        ASSERT_EQ_INT(cli_exit_code(RKV_EINVAL), CLI_EXIT_USAGE);
    }
}

TEST(cli_args, exit_codes_follow_the_contract)
{
    ASSERT_EQ_INT(cli_exit_code(0), 0);
    ASSERT_EQ_INT(cli_exit_code(RKV_ENOTFOUND), 1);
    ASSERT_EQ_INT(cli_exit_code(RKV_EINVAL), 2);
    ASSERT_EQ_INT(cli_exit_code(RKV_ETOOBIG), 2);
    ASSERT_EQ_INT(cli_exit_code(RKV_ETIMEDOUT), 3);
    ASSERT_EQ_INT(cli_exit_code(RKV_EPROTO), 4);
    ASSERT_EQ_INT(cli_exit_code(RKV_EINTERNAL), 4);
    ASSERT_EQ_INT(cli_exit_code(RKV_ENOMEM), 4);
    ASSERT_EQ_INT(cli_exit_code(RKV_EIO), 4);
}

TEST(cli_args, nodes_come_from_c_or_the_cluster_file_http_ports)
{
    struct cli_args a = {.cmd = CLI_CMD_STATUS, .cluster = "x:1,y:2"};
    struct rkv_client_addr nodes[RKV_CLIENT_NODES_MAX];
    char path[512], errmsg[RKV_ERRMSG_LEN];
    size_t n;
    FILE *f;

    ASSERT_OK(cli_args_nodes(&a, nodes, &n, errmsg));
    ASSERT_EQ_U64(n, 2);
    ASSERT_EQ_STR(nodes[1].host, "y");

    snprintf(path, sizeof path, "%s/nodes.conf", test_tmpdir());
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    ASSERT_TRUE(fputs("2 10.0.0.2 2002\n1 10.0.0.1 2001 8080\n", f) >= 0);
    ASSERT_OK(fclose(f));
    a.cluster = NULL;
    a.config = path;
    ASSERT_OK(cli_args_nodes(&a, nodes, &n, errmsg));
    ASSERT_EQ_U64(n, 2);
    ASSERT_EQ_STR(nodes[0].host, "10.0.0.1");
    ASSERT_EQ_U64(nodes[0].port, 8080);
    ASSERT_EQ_STR(nodes[1].host, "10.0.0.2");
    ASSERT_EQ_U64(nodes[1].port, 3002);

    a.config = NULL;
    a.cluster = "x:1,";
    ASSERT_EQ_INT(cli_args_nodes(&a, nodes, &n, errmsg), RKV_EINVAL);
    ASSERT_EQ_STR(errmsg, "-c: '': expected HOST:PORT");
}
