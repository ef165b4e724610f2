/* Unit tests of the node configuration (src/server/config.c): nodes.conf
 * parsing, the command line, the environment mode and the cluster id. */
#include <stdio.h>
#include <string.h>

#include "lib/runner.h"
#include "raftkv/err.h"
#include "server/config.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Parse `text` as nodes.conf; return the code, message in errmsg. */
static int parse(const char *text,
                 struct config_member *m,
                 size_t *n,
                 char *errmsg)
{
    errmsg[0] = '\0';
    return config_parse_nodes(text, strlen(text), "nodes.conf", m, n, errmsg);
}

/* Write `text` to <tmpdir>/nodes.conf and put its path in `path`. */
static void write_conf(const char *text, char *path, size_t size)
{
    FILE *f;

    snprintf(path, size, "%s/nodes.conf", test_tmpdir());
    f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    ASSERT_TRUE(fputs(text, f) >= 0);
    ASSERT_OK(fclose(f));
}

static int parse_args(int argc,
                      char *const argv[],
                      char *const envp[],
                      struct node_config *cfg,
                      char *errmsg)
{
    errmsg[0] = '\0';
    return config_parse_args(argc, argv, envp, cfg, errmsg);
}

TEST(config, seed_form_derives_http_and_resp_ports)
{
    struct config_member m[CONFIG_MEMBERS_MAX];
    size_t n;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_OK(parse("1 127.0.0.1 2001\n2 127.0.0.1 2002\n3 127.0.0.1 2003\n", m,
                    &n, errmsg));
    ASSERT_EQ_U64(n, 3);
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ_U64(m[i].id, i + 1);
        ASSERT_EQ_STR(m[i].host, "127.0.0.1");
        ASSERT_EQ_U64(m[i].peer_port, 2001 + i);
        ASSERT_EQ_U64(m[i].http_port, 3001 + i);
        ASSERT_EQ_U64(m[i].resp_port, 4001 + i);
    }
}

TEST(config, explicit_ports_comments_blank_lines_crlf_and_order)
{
    struct config_member m[CONFIG_MEMBERS_MAX];
    size_t n;
    char errmsg[RKV_ERRMSG_LEN];
    const char *text =
        "# cluster\n"
        "\n"
        "  3\tc.example 7000 8000 9000   # third\r\n"
        "1 a.example 7000 8080\n"
        "   \t\n"
        "2 b.example 7000";

    ASSERT_OK(parse(text, m, &n, errmsg));
    ASSERT_EQ_U64(n, 3);
    ASSERT_EQ_U64(m[0].id, 1);
    ASSERT_EQ_STR(m[0].host, "a.example");
    ASSERT_EQ_U64(m[0].http_port, 8080);
    ASSERT_EQ_U64(m[0].resp_port, 9000);
    ASSERT_EQ_U64(m[1].id, 2);
    ASSERT_EQ_U64(m[1].http_port, 8000);
    ASSERT_EQ_U64(m[2].id, 3);
    ASSERT_EQ_STR(m[2].host, "c.example");
    ASSERT_EQ_U64(m[2].peer_port, 7000);
    ASSERT_EQ_U64(m[2].http_port, 8000);
    ASSERT_EQ_U64(m[2].resp_port, 9000);
}

TEST(config, each_mistake_in_nodes_conf_gives_one_exact_line)
{
    static const struct
    {
        const char *text;
        const char *want;
    } cases[] = {
        {"1 127.0.0.1\n", "nodes.conf:1: expected '<ID> <HOST> <PORT>'"},
        {"# c\n\n1\n", "nodes.conf:3: expected '<ID> <HOST> <PORT>'"},
        {"1 h 1 2 3 4\n",
         "nodes.conf:1: expected at most '<ID> <HOST> <PORT> <HTTP_PORT> "
         "<RESP_PORT>'"},
        {"x h 2001\n", "nodes.conf:1: node id 'x' is not a number"},
        {"-1 h 2001\n", "nodes.conf:1: node id '-1' is not a number"},
        {"0 h 2001\n", "nodes.conf:1: node id 0 out of range 1..65535"},
        {"65536 h 2001\n", "nodes.conf:1: node id 65536 out of range 1..65535"},
        {"99999999999999999999999 h 1\n",
         "nodes.conf:1: node id 99999999999999999999999 out of range "
         "1..65535"},
        {"1 h 0\n", "nodes.conf:1: port 0 out of range 1..65535"},
        {"1 h 70000\n", "nodes.conf:1: port 70000 out of range 1..65535"},
        {"1 h 2001 abc\n", "nodes.conf:1: HTTP port 'abc' is not a number"},
        {"1 h 2001 3001 +4\n", "nodes.conf:1: RESP port '+4' is not a number"},
        {"1 h 65000\n",
         "nodes.conf:1: HTTP port 66000 (PEER_PORT + 1000) out of range "
         "1..65535; give <HTTP_PORT>"},
        {"1 h 64000 100\n",
         "nodes.conf:1: RESP port 66000 (PEER_PORT + 2000) out of range "
         "1..65535; give <RESP_PORT>"},
        {"1 h 2001\n2 h 2002\n1 i 2003\n",
         "nodes.conf:3: duplicate node id 1 (also on line 1)"},
        {"1 h 2001\n2 H 1001\n",
         "nodes.conf:2: H:2001 is both node 1's peer port and node 2's HTTP "
         "port"},
        {"1 h 2001 2001\n",
         "nodes.conf:1: h:2001 is both node 1's peer port and node 1's HTTP "
         "port"},
        {"1 h 2001 3001 3001\n",
         "nodes.conf:1: h:3001 is both node 1's HTTP port and node 1's RESP "
         "port"},
        {"1 h\xc3\xa9 2001\n", "nodes.conf:1: invalid byte 0xc3"},
        {"", "nodes.conf: no nodes"},
        {"# only a comment\n\n", "nodes.conf: no nodes"},
    };
    struct config_member m[CONFIG_MEMBERS_MAX];
    size_t n;
    char errmsg[RKV_ERRMSG_LEN];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        ASSERT_EQ_INT(parse(cases[i].text, m, &n, errmsg), RKV_ECONFIG);
        ASSERT_EQ_STR(errmsg, cases[i].want);
    }
}

TEST(config, nul_byte_and_long_host_are_refused)
{
    static const char text[] = "1 h\0x 2001\n";
    struct config_member m[CONFIG_MEMBERS_MAX];
    char line[CONFIG_HOST_MAX + 32];
    size_t n;
    char errmsg[RKV_ERRMSG_LEN];

    ASSERT_EQ_INT(
        config_parse_nodes(text, sizeof text - 1, "nodes.conf", m, &n, errmsg),
        RKV_ECONFIG);
    ASSERT_EQ_STR(errmsg, "nodes.conf:1: invalid byte 0x00");
    memset(line, 'a', sizeof line);
    memcpy(line, "1 ", 2);
    strcpy(line + 2 + CONFIG_HOST_MAX + 1, " 2001");
    ASSERT_EQ_INT(parse(line, m, &n, errmsg), RKV_ECONFIG);
    ASSERT_EQ_STR(errmsg, "nodes.conf:1: host longer than 255 bytes");
    line[2 + CONFIG_HOST_MAX] = ' ';
    line[2 + CONFIG_HOST_MAX + 1] = '\0';
    strcat(line, "2001");
    ASSERT_OK(parse(line, m, &n, errmsg));
    ASSERT_EQ_U64(strlen(m[0].host), CONFIG_HOST_MAX);
}

TEST(config, more_than_max_members_is_refused_at_the_extra_line)
{
    char text[CONFIG_MEMBERS_MAX * 32 + 32];
    size_t len = 0;
    struct config_member m[CONFIG_MEMBERS_MAX];
    size_t n;
    char errmsg[RKV_ERRMSG_LEN];

    for (int i = 1; i <= CONFIG_MEMBERS_MAX; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "%d 10.0.0.%d 2001\n", i, i);
    ASSERT_OK(parse(text, m, &n, errmsg));
    ASSERT_EQ_U64(n, CONFIG_MEMBERS_MAX);
    snprintf(text + len, sizeof text - len, "99 10.0.1.1 2001\n");
    ASSERT_EQ_INT(parse(text, m, &n, errmsg), RKV_ECONFIG);
    ASSERT_EQ_STR(errmsg, "nodes.conf:17: more than 16 nodes");
}

TEST(config, args_with_config_file_fill_defaults)
{
    char path[512];
    char errmsg[RKV_ERRMSG_LEN];
    struct node_config cfg;

    write_conf("1 127.0.0.1 2001\n2 127.0.0.1 2002\n3 127.0.0.1 2003\n", path,
               sizeof path);
    char *argv[] = {"raftkv", "--id", "2", "--config", path, NULL};
    ASSERT_OK(parse_args(5, argv, NULL, &cfg, errmsg));
    ASSERT_EQ_INT(cfg.action, CONFIG_RUN);
    ASSERT_EQ_U64(cfg.self_id, 2);
    ASSERT_EQ_U64(cfg.n_members, 3);
    ASSERT_EQ_U64(config_self(&cfg)->http_port, 3002);
    ASSERT_EQ_STR(cfg.data_dir, "./data/node2");
    ASSERT_EQ_INT(cfg.log_level, RAFT_TRACE_INFO);
    ASSERT_EQ_U64(cfg.cluster_id, config_cluster_id(cfg.members, 3));
    ASSERT_EQ_STR(cfg.join_host, "");
    ASSERT_EQ_U64(cfg.join_port, 0);
    ASSERT_EQ_U64(cfg.tick_ms, 10);
    ASSERT_EQ_U64(cfg.election_ticks, 15);
    ASSERT_EQ_U64(cfg.heartbeat_ticks, 5);
    ASSERT_EQ_U64(cfg.snapshot_entries, 10000);
    ASSERT_EQ_U64(cfg.request_timeout_ms, 5000);
    ASSERT_TRUE(cfg.max_key_bytes > 0);
    ASSERT_EQ_U64(cfg.max_value_bytes, 1u << 20);
}

TEST(config, every_flag_is_applied_in_both_spellings)
{
    char path[512], conf_flag[600];
    char errmsg[RKV_ERRMSG_LEN];
    struct node_config cfg;

    write_conf("1 127.0.0.1 2001\n2 127.0.0.1 2002\n", path, sizeof path);
    snprintf(conf_flag, sizeof conf_flag, "--config=%s", path);
    char *argv[] = {"raftkv",           "--id=1",
                    conf_flag,          "--data-dir",
                    "/var/lib/raftkv",  "--log-level=debug",
                    "--http-port",      "8080",
                    "--resp-port=6379", "--cluster-id",
                    "0xDEADbeef",       "--join",
                    "10.0.0.9:2001",    NULL};
    ASSERT_OK(parse_args(13, argv, NULL, &cfg, errmsg));
    ASSERT_EQ_U64(cfg.self_id, 1);
    ASSERT_EQ_STR(cfg.data_dir, "/var/lib/raftkv");
    ASSERT_EQ_INT(cfg.log_level, RAFT_TRACE_DEBUG);
    ASSERT_EQ_U64(config_self(&cfg)->http_port, 8080);
    ASSERT_EQ_U64(config_self(&cfg)->resp_port, 6379);
    ASSERT_EQ_U64(cfg.members[1].http_port, 3002);
    ASSERT_EQ_U64(cfg.cluster_id, 0xdeadbeefu);
    ASSERT_EQ_STR(cfg.join_host, "10.0.0.9");
    ASSERT_EQ_U64(cfg.join_port, 2001);

    char *argv2[] = {"raftkv",          "--id",        "1",    conf_flag,
                     "--cluster-id=42", "--log-level", "warn", NULL};
    ASSERT_OK(parse_args(7, argv2, NULL, &cfg, errmsg));
    ASSERT_EQ_U64(cfg.cluster_id, 42);
    ASSERT_EQ_INT(cfg.log_level, RAFT_TRACE_WARN);
}

TEST(config, help_and_version_stop_parsing)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct node_config cfg;
    char *help[] = {"raftkv", "--help", "--bogus", NULL};
    char *version[] = {"raftkv", "--version", NULL};

    ASSERT_OK(parse_args(3, help, NULL, &cfg, errmsg));
    ASSERT_EQ_INT(cfg.action, CONFIG_HELP);
    ASSERT_TRUE(strstr(config_usage(), "--config") != NULL);
    ASSERT_OK(parse_args(2, version, NULL, &cfg, errmsg));
    ASSERT_EQ_INT(cfg.action, CONFIG_VERSION);
}

TEST(config, each_mistake_on_the_command_line_gives_one_exact_line)
{
    static const struct
    {
        const char *args[7]; /* after argv[0], NULL-terminated; "@" is the
                              * conf path */
        int want_rv;
        const char *want;
    } cases[] = {
        {{"--config", "@"}, RKV_ECONFIG, "missing --id"},
        {{"--id", "7", "--config", "@"},
         RKV_ECONFIG,
         "--id 7: no such node in @"},
        {{"--id", "x", "--config", "@"},
         RKV_ECONFIG,
         "--id: node id 'x' is not a number"},
        {{"--id", "1"},
         RKV_ECONFIG,
         "missing --config nodes.conf (or NODE_ID in the environment)"},
        {{"--id", "1", "--config", "@", "--bogus"},
         RKV_ECONFIG,
         "unknown flag '--bogus' (see --help)"},
        {{"1", "nodes.conf"},
         RKV_ECONFIG,
         "unexpected argument '1' (see --help)"},
        {{"--id", "1", "--config"}, RKV_ECONFIG, "--config needs a value"},
        {{"--id", "1", "--config", "/nonexistent/nodes.conf"},
         RKV_EIO,
         "/nonexistent/nodes.conf: No such file or directory"},
        {{"--id", "1", "--config", "@", "--log-level", "loud"},
         RKV_ECONFIG,
         "--log-level 'loud': expected debug, info or warn"},
        {{"--id", "1", "--config", "@", "--http-port", "3002"},
         RKV_ECONFIG,
         "127.0.0.1:3002 is both node 1's HTTP port and node 2's HTTP port"},
        {{"--id", "1", "--config", "@", "--resp-port", "0"},
         RKV_ECONFIG,
         "--resp-port 0 out of range 1..65535"},
        {{"--id", "1", "--config", "@", "--cluster-id", "0x"},
         RKV_ECONFIG,
         "--cluster-id '0x': expected a u64, decimal or 0x hex"},
        {{"--id", "1", "--config", "@", "--join", "host"},
         RKV_ECONFIG,
         "--join 'host': expected HOST:PORT"},
        {{"--id", "1", "--config", "@", "--join", "h:99999"},
         RKV_ECONFIG,
         "--join h:99999: port 99999 out of range 1..65535"},
        {{"--id", "1", "--config", "@", "--data-dir", ""},
         RKV_ECONFIG,
         "--data-dir: expected a path of 1..1023 bytes"},
    };
    char path[512];
    char errmsg[RKV_ERRMSG_LEN];
    struct node_config cfg;

    write_conf("1 127.0.0.1 2001\n2 127.0.0.1 2002\n", path, sizeof path);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *argv[8] = {"raftkv"};
        char want[2 * RKV_ERRMSG_LEN + 512];
        const char *at;
        int argc = 1;
        for (size_t j = 0; cases[i].args[j] != NULL; j++) {
            const char *a = cases[i].args[j];
            argv[argc++] = strcmp(a, "@") == 0 ? path : (char *)a;
        }
        at = strchr(cases[i].want, '@');
        if (at != NULL)
            snprintf(want, sizeof want, "%.*s%s%s", (int)(at - cases[i].want),
                     cases[i].want, path, at + 1);
        else
            snprintf(want, sizeof want, "%s", cases[i].want);
        ASSERT_EQ_INT(parse_args(argc, argv, NULL, &cfg, errmsg),
                      cases[i].want_rv);
        ASSERT_EQ_STR(errmsg, want);
    }
}

TEST(config, file_errors_name_the_file_and_line)
{
    char path[512], want[2 * RKV_ERRMSG_LEN + 512];
    char errmsg[RKV_ERRMSG_LEN];
    struct node_config cfg;

    write_conf("1 127.0.0.1 2001\n\n2 127.0.0.1\n", path, sizeof path);
    char *argv[] = {"raftkv", "--id", "1", "--config", path, NULL};
    ASSERT_EQ_INT(parse_args(5, argv, NULL, &cfg, errmsg), RKV_ECONFIG);
    snprintf(want, sizeof want, "%s:3: expected '<ID> <HOST> <PORT>'", path);
    ASSERT_EQ_STR(errmsg, want);
}

TEST(config, env_mode_follows_the_seed_docker_compose)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct node_config cfg;
    char *argv[] = {"raftkv", NULL};
    char *envp[] = {"HOME=/root", "NODE_ID=node2",
                    "PEER_IDS=node1:3000,node3:3000", "PORT=3000", NULL};

    ASSERT_OK(parse_args(1, argv, envp, &cfg, errmsg));
    ASSERT_EQ_U64(cfg.self_id, 2);
    ASSERT_EQ_U64(cfg.n_members, 3);
    for (size_t i = 0; i < 3; i++) {
        char host[16];
        snprintf(host, sizeof host, "node%zu", i + 1);
        ASSERT_EQ_U64(cfg.members[i].id, i + 1);
        ASSERT_EQ_STR(cfg.members[i].host, host);
        ASSERT_EQ_U64(cfg.members[i].http_port, 3000);
        ASSERT_EQ_U64(cfg.members[i].peer_port, 4000);
        ASSERT_EQ_U64(cfg.members[i].resp_port, 6379);
    }
    ASSERT_EQ_STR(cfg.data_dir, "./data/node2");
}

TEST(config, env_mode_numeric_names_ports_and_id_flag)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct node_config cfg;
    char *argv[] = {"raftkv", NULL};
    char *envp[] = {"NODE_ID=1", "PORT=3001", "PEER_IDS=2:3002", NULL};
    char *envp2[] = {"NODE_ID=node1", "RAFT_PORT=7000", "RESP_PORT=7001", NULL};
    char *argv3[] = {"raftkv", "--id", "9", NULL};

    ASSERT_OK(parse_args(1, argv, envp, &cfg, errmsg));
    ASSERT_EQ_U64(cfg.n_members, 2);
    ASSERT_EQ_STR(cfg.members[0].host, "127.0.0.1");
    ASSERT_EQ_U64(cfg.members[0].peer_port, 4001);
    ASSERT_EQ_U64(cfg.members[0].resp_port, 6380);
    ASSERT_EQ_STR(cfg.members[1].host, "127.0.0.1");
    ASSERT_EQ_U64(cfg.members[1].http_port, 3002);

    ASSERT_OK(parse_args(1, argv, envp2, &cfg, errmsg));
    ASSERT_EQ_U64(cfg.n_members, 1);
    ASSERT_EQ_U64(cfg.members[0].http_port, 3000);
    ASSERT_EQ_U64(cfg.members[0].peer_port, 7000);
    ASSERT_EQ_U64(cfg.members[0].resp_port, 7001);

    ASSERT_OK(parse_args(3, argv3, envp2, &cfg, errmsg));
    ASSERT_EQ_U64(cfg.self_id, 9);
    ASSERT_EQ_U64(cfg.members[0].id, 9);
}

TEST(config, each_mistake_in_the_environment_gives_one_exact_line)
{
    static const struct
    {
        const char *env[4];
        const char *want;
    } cases[] = {
        {{"NODE_ID=nodeX"},
         "NODE_ID=nodeX: expected a name ending in a node id"},
        {{"NODE_ID=node0"}, "NODE_ID=node0: node id 0 out of range 1..65535"},
        {{"NODE_ID=node1", "PORT=abc"}, "PORT=abc: port 'abc' is not a number"},
        {{"NODE_ID=node1", "PORT=65000"},
         "NODE_ID=node1: peer port 66000 (HTTP port + 1000) out of range "
         "1..65535; set RAFT_PORT"},
        {{"NODE_ID=node1", "PEER_IDS=node2"},
         "PEER_IDS: 'node2': expected NAME:PORT"},
        {{"NODE_ID=node1", "PEER_IDS=node2:x"},
         "PEER_IDS: 'node2:x': port 'x' is not a number"},
        {{"NODE_ID=node1", "PEER_IDS=node2:3000,"}, "PEER_IDS: trailing ','"},
        {{"NODE_ID=node1", "PEER_IDS=node2:3000,,node3:3000"},
         "PEER_IDS: '': expected NAME:PORT"},
        {{"NODE_ID=node1", "PEER_IDS=node2:3000,server1:3000"},
         "PEER_IDS: duplicate node id 1"},
        {{"NODE_ID=1", "PORT=3001", "PEER_IDS=2:3001"},
         "PEER_IDS: 127.0.0.1:4001 is both node 1's peer port and node 2's "
         "peer port"},
    };
    char errmsg[RKV_ERRMSG_LEN];
    struct node_config cfg;
    char *argv[] = {"raftkv", NULL};

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        ASSERT_EQ_INT(
            parse_args(1, argv, (char *const *)cases[i].env, &cfg, errmsg),
            RKV_ECONFIG);
        ASSERT_EQ_STR(errmsg, cases[i].want);
    }
}

TEST(config, cluster_id_depends_on_membership_not_client_ports)
{
    struct config_member a[CONFIG_MEMBERS_MAX], b[CONFIG_MEMBERS_MAX];
    size_t na, nb;
    char errmsg[RKV_ERRMSG_LEN];
    uint64_t id;

    ASSERT_OK(parse("1 h 2001\n2 h 2002\n3 h 2003\n", a, &na, errmsg));
    id = config_cluster_id(a, na);
    ASSERT_OK(
        parse("3 h 2003\n1 h 2001 5000 5001\n2 h 2002\n", b, &nb, errmsg));
    ASSERT_EQ_U64(config_cluster_id(b, nb), id);
    ASSERT_OK(parse("1 h 2001\n2 h 2002\n", b, &nb, errmsg));
    ASSERT_TRUE(config_cluster_id(b, nb) != id);
    ASSERT_OK(parse("1 h 2001\n2 h 2002\n3 h 2004\n", b, &nb, errmsg));
    ASSERT_TRUE(config_cluster_id(b, nb) != id);
    ASSERT_OK(parse("1 h 2001\n2 h 2002\n3 g 2003\n", b, &nb, errmsg));
    ASSERT_TRUE(config_cluster_id(b, nb) != id);
    /* FNV-1a 64 of "1 h 2001\n": pins the documented format. */
    ASSERT_OK(parse("1 h 2001\n", b, &nb, errmsg));
    ASSERT_EQ_U64(config_cluster_id(b, nb), 0x81a82a7b0fc726e1ull);
}
