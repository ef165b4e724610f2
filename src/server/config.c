/* Node configuration: the command line, nodes.conf and the seed's
 * environment variables (formats and rules in config.h). */
#include "server/config.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kv/cmd.h"
#include "raftkv/err.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PORT_KINDS 3 /* peer, HTTP, RESP */
#define LINE_TOKENS_MAX                                  \
    5 /* <ID> <HOST> <PEER_PORT> <HTTP_PORT> <RESP_PORT> \
       */
#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull
#define SELF_HOST_NUMERIC "127.0.0.1" /* env mode: host of a numeric name */

static const char *const port_kind_names[PORT_KINDS] = {"peer", "HTTP", "RESP"};

/* Flags that take a value, indexes into the values of scan_args(). */
enum flag {
    FLAG_ID,
    FLAG_CONFIG,
    FLAG_DATA_DIR,
    FLAG_LOG_LEVEL,
    FLAG_HTTP_PORT,
    FLAG_RESP_PORT,
    FLAG_CLUSTER_ID,
    FLAG_JOIN,
    FLAG_SNAPSHOT_ENTRIES,
    FLAG_REQUEST_TIMEOUT,
    FLAG_COUNT,
};

static const char *const flag_names[FLAG_COUNT] = {
    "--id",
    "--config",
    "--data-dir",
    "--log-level",
    "--http-port",
    "--resp-port",
    "--cluster-id",
    "--join",
    "--snapshot-entries",
    "--request-timeout-ms",
};

/* A run of bytes of a line: one whitespace-separated column. */
struct token
{
    const char *p; /* first byte, borrowed */
    size_t len;    /* bytes */
};

static int wrapf(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message in `errmsg` with the formatted context and ": ", as in
 * "nodes.conf:3: duplicate node id 2". Returns `code`. */
static int wrapf(char *errmsg, int code, const char *fmt, ...)
{
    char inner[RKV_ERRMSG_LEN];
    size_t n;
    va_list ap;

    memcpy(inner, errmsg, sizeof inner);
    inner[sizeof inner - 1] = '\0';
    va_start(ap, fmt);
    vsnprintf(errmsg, RKV_ERRMSG_LEN, fmt, ap);
    va_end(ap);
    n = strlen(errmsg);
    snprintf(errmsg + n, RKV_ERRMSG_LEN - n, ": %s", inner);
    return code;
}

/* The value of hex or decimal digit `c`, or 16 if it is none. */
static unsigned digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (unsigned)(c - 'A' + 10);
    return 16;
}

/* Parse s[0..len) as an unsigned number in `base` (10 or 16) no larger
 * than `max`. Only digits are accepted: no sign, no space, not empty. */
static bool parse_number(const char *s,
                         size_t len,
                         unsigned base,
                         uint64_t max,
                         uint64_t *out)
{
    uint64_t v = 0;

    assert(base == 10 || base == 16);
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned d = digit_value(s[i]);
        if (d >= base || v > (max - d) / base)
            return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

static bool is_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return len > 0;
}

/* Parse a node id 1..CONFIG_ID_MAX. */
static int parse_id(const char *s, size_t len, raft_id *id, char *errmsg)
{
    uint64_t v;

    if (!is_digits(s, len))
        return rkv_errf(errmsg, RKV_ECONFIG, "node id '%.*s' is not a number",
                        (int)len, s);
    if (!parse_number(s, len, 10, CONFIG_ID_MAX, &v) || v == 0)
        return rkv_errf(errmsg, RKV_ECONFIG, "node id %.*s out of range 1..%u",
                        (int)len, s, CONFIG_ID_MAX);
    *id = v;
    return 0;
}

/* Parse a TCP port 1..65535; `what` names it in the message. */
static int parse_port(const char *s,
                      size_t len,
                      const char *what,
                      uint16_t *port,
                      char *errmsg)
{
    uint64_t v;

    if (!is_digits(s, len))
        return rkv_errf(errmsg, RKV_ECONFIG, "%s '%.*s' is not a number", what,
                        (int)len, s);
    if (!parse_number(s, len, 10, UINT16_MAX, &v) || v == 0)
        return rkv_errf(errmsg, RKV_ECONFIG, "%s %.*s out of range 1..65535",
                        what, (int)len, s);
    *port = (uint16_t)v;
    return 0;
}

/* The port `base + offset`, where the configuration omitted it: `what`
 * names it, `base_name` names `base`, `how` says how to set it instead. */
static int derive_port(unsigned base,
                       unsigned offset,
                       const char *what,
                       const char *base_name,
                       const char *how,
                       uint16_t *port,
                       char *errmsg)
{
    if (base + offset > UINT16_MAX)
        return rkv_errf(errmsg, RKV_ECONFIG,
                        "%s port %u (%s + %u) out of range 1..65535; %s", what,
                        base + offset, base_name, offset, how);
    *port = (uint16_t)(base + offset);
    return 0;
}

/* Check a host name: 1..CONFIG_HOST_MAX bytes of printable ASCII other
 * than space, and copy it NUL-terminated into `host`. */
static int set_host(const char *s, size_t len, char *host, char *errmsg)
{
    if (len == 0)
        return rkv_errf(errmsg, RKV_ECONFIG, "empty host");
    if (len > CONFIG_HOST_MAX)
        return rkv_errf(errmsg, RKV_ECONFIG, "host longer than %d bytes",
                        CONFIG_HOST_MAX);
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return rkv_errf(errmsg, RKV_ECONFIG,
                            "host '%.*s' has an invalid byte 0x%02x", (int)len,
                            s, (unsigned)(unsigned char)s[i]);
    memcpy(host, s, len);
    host[len] = '\0';
    return 0;
}

static uint16_t member_port(const struct config_member *m, int kind)
{
    assert(kind >= 0 && kind < PORT_KINDS);
    return kind == 0 ? m->peer_port : kind == 1 ? m->http_port : m->resp_port;
}

/* An address of members[i] that members[0..i) or another port of
 * members[i] itself already use. */
struct clash
{
    size_t other;   /* index of the member using it first */
    int other_kind; /* which of its ports (index in port_kind_names) */
    int kind;       /* which port of members[i] */
};

static bool find_clash(const struct config_member *members,
                       size_t i,
                       struct clash *c)
{
    assert(members != NULL && c != NULL);
    for (int k = 0; k < PORT_KINDS; k++) {
        uint16_t port = member_port(&members[i], k);
        for (size_t j = 0; j <= i; j++) {
            for (int kj = 0; kj < (j == i ? k : PORT_KINDS); kj++) {
                if (member_port(&members[j], kj) != port ||
                    strcasecmp(members[j].host, members[i].host) != 0)
                    continue;
                c->other = j;
                c->other_kind = kj;
                c->kind = k;
                return true;
            }
        }
    }
    return false;
}

/* Describe clash `c` of members[i]. Returns RKV_ECONFIG. */
static int clash_error(const struct config_member *members,
                       size_t i,
                       const struct clash *c,
                       char *errmsg)
{
    const struct config_member *m = &members[i];
    const struct config_member *o = &members[c->other];

    return rkv_errf(errmsg, RKV_ECONFIG,
                    "%s:%u is both node %llu's %s port and node %llu's %s port",
                    m->host, (unsigned)member_port(m, c->kind),
                    (unsigned long long)o->id, port_kind_names[c->other_kind],
                    (unsigned long long)m->id, port_kind_names[c->kind]);
}

/* Split line[0..len) (comment already cut) at spaces, tabs and '\r' into
 * t[0..*n), at most `max` tokens; *n is max + 1 if there are more. Returns
 * 0, or RKV_ECONFIG on a byte that is neither blank nor printable. */
static int tokenize(const char *line,
                    size_t len,
                    struct token *t,
                    size_t max,
                    size_t *n,
                    char *errmsg)
{
    size_t count = 0;

    for (size_t i = 0; i < len;) {
        size_t start;
        if (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
            i++;
            continue;
        }
        for (start = i; i < len && line[i] > ' ' && line[i] <= '~'; i++)
            ;
        if (i == start)
            return rkv_errf(errmsg, RKV_ECONFIG, "invalid byte 0x%02x",
                            (unsigned)(unsigned char)line[i]);
        if (count == max) {
            *n = max + 1;
            return 0;
        }
        t[count].p = line + start;
        t[count].len = i - start;
        count++;
    }
    *n = count;
    return 0;
}

/* Parse the columns of one nodes.conf line into `m`. */
static int parse_member(const struct token *t,
                        size_t n,
                        struct config_member *m,
                        char *errmsg)
{
    int rv;

    assert(n > 0 && n <= LINE_TOKENS_MAX + 1);
    assert(t[0].p != NULL);
    if (n < 3)
        return rkv_errf(errmsg, RKV_ECONFIG, "expected '<ID> <HOST> <PORT>'");
    if (n > LINE_TOKENS_MAX)
        return rkv_errf(errmsg, RKV_ECONFIG,
                        "expected at most '<ID> <HOST> <PORT> <HTTP_PORT> "
                        "<RESP_PORT>'");
    rv = parse_id(t[0].p, t[0].len, &m->id, errmsg);
    if (rv == 0)
        rv = set_host(t[1].p, t[1].len, m->host, errmsg);
    if (rv == 0)
        rv = parse_port(t[2].p, t[2].len, "port", &m->peer_port, errmsg);
    if (rv == 0 && n > 3)
        rv = parse_port(t[3].p, t[3].len, "HTTP port", &m->http_port, errmsg);
    else if (rv == 0)
        rv =
            derive_port(m->peer_port, CONFIG_FILE_HTTP_OFFSET, "HTTP",
                        "PEER_PORT", "give <HTTP_PORT>", &m->http_port, errmsg);
    if (rv == 0 && n > 4)
        rv = parse_port(t[4].p, t[4].len, "RESP port", &m->resp_port, errmsg);
    else if (rv == 0)
        rv =
            derive_port(m->peer_port, CONFIG_FILE_RESP_OFFSET, "RESP",
                        "PEER_PORT", "give <RESP_PORT>", &m->resp_port, errmsg);
    return rv;
}

/* Check members[i] against members[0..i): a duplicate id or address.
 * `lines`, if not NULL, gives each member's line for the message. */
static int check_new_member(const struct config_member *members,
                            size_t i,
                            const unsigned *lines,
                            char *errmsg)
{
    struct clash c;

    for (size_t j = 0; j < i; j++) {
        if (members[j].id != members[i].id)
            continue;
        if (lines != NULL)
            return rkv_errf(errmsg, RKV_ECONFIG,
                            "duplicate node id %llu (also on line %u)",
                            (unsigned long long)members[i].id, lines[j]);
        return rkv_errf(errmsg, RKV_ECONFIG, "duplicate node id %llu",
                        (unsigned long long)members[i].id);
    }
    if (find_clash(members, i, &c))
        return clash_error(members, i, &c, errmsg);
    return 0;
}

static int compare_members(const void *a, const void *b)
{
    const struct config_member *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int config_parse_nodes(const char *text,
                       size_t len,
                       const char *name,
                       struct config_member *members,
                       size_t *n_members,
                       char *errmsg)
{
    unsigned lines[CONFIG_MEMBERS_MAX]; /* line of each member */
    unsigned line = 0;
    size_t n = 0;

    assert(text != NULL || len == 0);
    assert(name != NULL && members != NULL && n_members != NULL);
    for (size_t pos = 0; pos < len;) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t line_len = nl != NULL ? (size_t)(nl - start) : len - pos;
        const char *hash = memchr(start, '#', line_len);
        struct token t[LINE_TOKENS_MAX];
        size_t n_tokens = 0;
        int rv;

        pos += line_len + (nl != NULL);
        line++;
        if (hash != NULL)
            line_len = (size_t)(hash - start);
        rv = tokenize(start, line_len, t, LINE_TOKENS_MAX, &n_tokens, errmsg);
        if (rv == 0 && n_tokens == 0)
            continue;
        if (rv == 0 && n == CONFIG_MEMBERS_MAX)
            rv = rkv_errf(errmsg, RKV_ECONFIG, "more than %d nodes",
                          CONFIG_MEMBERS_MAX);
        if (rv == 0)
            rv = parse_member(t, n_tokens, &members[n], errmsg);
        if (rv == 0)
            rv = check_new_member(members, n, lines, errmsg);
        if (rv != 0)
            return wrapf(errmsg, rv, "%s:%u", name, line);
        lines[n++] = line;
    }
    if (n == 0)
        return rkv_errf(errmsg, RKV_ECONFIG, "%s: no nodes", name);
    qsort(members, n, sizeof *members, compare_members);
    *n_members = n;
    return 0;
}

int config_load_file(const char *path,
                     struct config_member *members,
                     size_t *n_members,
                     char *errmsg)
{
    FILE *f;
    char *text;
    size_t len;
    int rv;

    assert(path != NULL);
    f = fopen(path, "rb");
    if (f == NULL)
        return rkv_errf(errmsg, RKV_EIO, "%s: %s", path, strerror(errno));
    text = malloc(CONFIG_FILE_MAX + 1);
    if (text == NULL) {
        rv = rkv_errf(errmsg, RKV_ENOMEM, "%s: out of memory", path);
        goto err_after_open;
    }
    len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        rv = rkv_errf(errmsg, RKV_EIO, "%s: %s", path, strerror(errno));
        goto err_after_alloc;
    }
    if (len > CONFIG_FILE_MAX) {
        rv = rkv_errf(errmsg, RKV_ECONFIG, "%s: larger than %u bytes", path,
                      CONFIG_FILE_MAX);
        goto err_after_alloc;
    }
    rv = config_parse_nodes(text, len, path, members, n_members, errmsg);

err_after_alloc:
    free(text);
err_after_open:
    (void)fclose(f); /* read-only: nothing to lose on a failed close */
    return rv;
}

/* The value of `name` in `envp`, or NULL. */
static const char *env_get(char *const envp[], const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
        if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
            return envp[i] + len + 1;
    return NULL;
}

/* An optional port variable of the environment: 0 if unset. */
static int env_port(char *const envp[],
                    const char *name,
                    uint16_t *port,
                    char *errmsg)
{
    const char *v = env_get(envp, name);

    *port = 0;
    if (v == NULL)
        return 0;
    if (parse_port(v, strlen(v), "port", port, errmsg) != 0)
        return wrapf(errmsg, RKV_ECONFIG, "%s=%.32s", name, v);
    return 0;
}

/* Ports shared by every node in environment mode: 0 where unset. */
struct env_ports
{
    uint16_t raft; /* RAFT_PORT */
    uint16_t resp; /* RESP_PORT */
};

/* Build the member named name[0..len) (NODE_ID, or one name of PEER_IDS)
 * with HTTP port `http`. */
static int env_member(const char *name,
                      size_t len,
                      uint16_t http,
                      const struct env_ports *ports,
                      struct config_member *m,
                      char *errmsg)
{
    size_t digits = len;
    int rv;

    assert(name != NULL);
    assert(http != 0);
    while (digits > 0 && name[digits - 1] >= '0' && name[digits - 1] <= '9')
        digits--;
    if (digits == len)
        return rkv_errf(errmsg, RKV_ECONFIG,
                        "expected a name ending in a node id");
    rv = parse_id(name + digits, len - digits, &m->id, errmsg);
    if (rv == 0 && digits == 0)
        strcpy(m->host, SELF_HOST_NUMERIC);
    else if (rv == 0)
        rv = set_host(name, len, m->host, errmsg);
    m->http_port = http;
    m->peer_port = ports->raft;
    m->resp_port = ports->resp;
    if (rv == 0 && ports->raft == 0)
        rv = derive_port(http, CONFIG_ENV_PEER_OFFSET, "peer", "HTTP port",
                         "set RAFT_PORT", &m->peer_port, errmsg);
    if (rv == 0 && ports->resp == 0)
        rv = derive_port(http, CONFIG_ENV_RESP_OFFSET, "RESP", "HTTP port",
                         "set RESP_PORT", &m->resp_port, errmsg);
    return rv;
}

/* Add the peers of PEER_IDS ("name:port,name:port") after out->members[0]. */
static int env_peers(const char *list,
                     const struct env_ports *ports,
                     struct node_config *out,
                     char *errmsg)
{
    const char *p = list;

    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *colon = p + len;
        uint16_t http;
        int rv;

        while (colon > p && *colon != ':')
            colon--;
        if (colon == p)
            return rkv_errf(errmsg, RKV_ECONFIG, "'%.*s': expected NAME:PORT",
                            (int)len, p);
        if (out->n_members == CONFIG_MEMBERS_MAX)
            return rkv_errf(errmsg, RKV_ECONFIG, "more than %d nodes",
                            CONFIG_MEMBERS_MAX);
        rv = parse_port(colon + 1, len - (size_t)(colon + 1 - p), "port", &http,
                        errmsg);
        if (rv == 0)
            rv = env_member(p, (size_t)(colon - p), http, ports,
                            &out->members[out->n_members], errmsg);
        if (rv != 0)
            return wrapf(errmsg, rv, "'%.*s'", (int)len, p);
        rv = check_new_member(out->members, out->n_members, NULL, errmsg);
        if (rv != 0)
            return rv;
        out->n_members++;
        p += len + (p[len] == ',');
        if (p[-1] == ',' && *p == '\0')
            return rkv_errf(errmsg, RKV_ECONFIG, "trailing ','");
    }
    return 0;
}

/* Environment mode: the members from NODE_ID, PORT, PEER_IDS, RAFT_PORT
 * and RESP_PORT. `id_flag` is the --id value, 0 if absent. */
static int env_members(char *const envp[],
                       raft_id id_flag,
                       struct node_config *out,
                       char *errmsg)
{
    const char *node_id = env_get(envp, "NODE_ID");
    const char *peers = env_get(envp, "PEER_IDS");
    struct env_ports ports;
    uint16_t http;
    int rv;

    assert(node_id != NULL);
    rv = env_port(envp, "PORT", &http, errmsg);
    if (rv == 0 && http == 0)
        http = CONFIG_ENV_PORT_DEFAULT;
    if (rv == 0)
        rv = env_port(envp, "RAFT_PORT", &ports.raft, errmsg);
    if (rv == 0)
        rv = env_port(envp, "RESP_PORT", &ports.resp, errmsg);
    if (rv != 0)
        return rv;
    rv = env_member(node_id, strlen(node_id), http, &ports, &out->members[0],
                    errmsg);
    if (rv != 0)
        return wrapf(errmsg, rv, "NODE_ID=%.64s", node_id);
    if (id_flag != 0)
        out->members[0].id = id_flag;
    out->self_id = out->members[0].id;
    out->n_members = 1;
    rv = env_peers(peers != NULL ? peers : "", &ports, out, errmsg);
    if (rv != 0)
        return wrapf(errmsg, rv, "PEER_IDS");
    qsort(out->members, out->n_members, sizeof out->members[0],
          compare_members);
    return 0;
}

/* The index of the member cfg->self_id in cfg->members, or n_members. */
static size_t self_index(const struct node_config *cfg)
{
    size_t i = 0;

    while (i < cfg->n_members && cfg->members[i].id != cfg->self_id)
        i++;
    return i;
}

/* Read argv into values[] (NULL where a flag is absent) and *action. */
static int scan_args(int argc,
                     char *const argv[],
                     const char *values[FLAG_COUNT],
                     enum config_action *action,
                     char *errmsg)
{
    assert(*action == CONFIG_RUN);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        int f = 0;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *action = CONFIG_HELP;
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            *action = CONFIG_VERSION;
            return 0;
        }
        while (f < FLAG_COUNT && (strncmp(arg, flag_names[f], name_len) != 0 ||
                                  flag_names[f][name_len] != '\0'))
            f++;
        if (f == FLAG_COUNT && arg[0] == '-')
            return rkv_errf(errmsg, RKV_ECONFIG,
                            "unknown flag '%.64s' (see --help)", arg);
        if (f == FLAG_COUNT)
            return rkv_errf(errmsg, RKV_ECONFIG,
                            "unexpected argument '%.64s' (see --help)", arg);
        if (eq == NULL && i + 1 == argc)
            return rkv_errf(errmsg, RKV_ECONFIG, "%s needs a value",
                            flag_names[f]);
        values[f] = eq != NULL ? eq + 1 : argv[++i];
    }
    return 0;
}

/* Parse --join HOST:PORT into out->join_host and out->join_port. */
static int parse_join(const char *v, struct node_config *out, char *errmsg)
{
    const char *colon = strrchr(v, ':');
    int rv;

    if (colon == NULL)
        return rkv_errf(errmsg, RKV_ECONFIG,
                        "--join '%.64s': expected HOST:PORT", v);
    rv = set_host(v, (size_t)(colon - v), out->join_host, errmsg);
    if (rv == 0)
        rv = parse_port(colon + 1, strlen(colon + 1), "port", &out->join_port,
                        errmsg);
    if (rv != 0)
        return wrapf(errmsg, rv, "--join %.64s", v);
    return 0;
}

/* The flags that refine the member list: --http-port, --resp-port, then the
 * check that no address is used twice. */
static int apply_ports(const char *values[FLAG_COUNT],
                       struct node_config *out,
                       char *errmsg)
{
    struct config_member *self = &out->members[self_index(out)];
    const char *v;
    int rv = 0;

    assert(self < out->members + out->n_members);
    if ((v = values[FLAG_HTTP_PORT]) != NULL)
        rv = parse_port(v, strlen(v), "--http-port", &self->http_port, errmsg);
    if (rv == 0 && (v = values[FLAG_RESP_PORT]) != NULL)
        rv = parse_port(v, strlen(v), "--resp-port", &self->resp_port, errmsg);
    for (size_t i = 0; rv == 0 && i < out->n_members; i++) {
        struct clash c;
        if (find_clash(out->members, i, &c))
            rv = clash_error(out->members, i, &c, errmsg);
    }
    return rv;
}

/* The members and self id: from the file of --config, else from the
 * environment. */
static int load_members(const char *values[FLAG_COUNT],
                        char *const envp[],
                        struct node_config *out,
                        char *errmsg)
{
    const char *path = values[FLAG_CONFIG];
    const char *id = values[FLAG_ID];
    int rv = 0;

    if (id != NULL) {
        rv = parse_id(id, strlen(id), &out->self_id, errmsg);
        if (rv != 0)
            return wrapf(errmsg, rv, "--id");
    }
    if (path == NULL && env_get(envp, "NODE_ID") == NULL)
        return rkv_errf(errmsg, RKV_ECONFIG,
                        "missing --config nodes.conf (or NODE_ID in the "
                        "environment)");
    if (path == NULL)
        return env_members(envp, out->self_id, out, errmsg);
    if (id == NULL)
        return rkv_errf(errmsg, RKV_ECONFIG, "missing --id");
    rv = config_load_file(path, out->members, &out->n_members, errmsg);
    if (rv == 0 && self_index(out) == out->n_members)
        rv = rkv_errf(errmsg, RKV_ECONFIG, "--id %llu: no such node in %.128s",
                      (unsigned long long)out->self_id, path);
    return rv;
}

/* The flags that do not touch the member list. */
static int apply_settings(const char *values[FLAG_COUNT],
                          struct node_config *out,
                          char *errmsg)
{
    static const char *const levels[] = {"debug", "info", "warn"};
    static const int level_values[] = {RAFT_TRACE_DEBUG, RAFT_TRACE_INFO,
                                       RAFT_TRACE_WARN};
    const char *v;
    size_t i;

    if ((v = values[FLAG_DATA_DIR]) == NULL)
        snprintf(out->data_dir, sizeof out->data_dir, "./data/node%llu",
                 (unsigned long long)out->self_id);
    else if (*v == '\0' || strlen(v) >= sizeof out->data_dir)
        return rkv_errf(errmsg, RKV_ECONFIG,
                        "--data-dir: expected a path of 1..%zu bytes",
                        sizeof out->data_dir - 1);
    else
        strcpy(out->data_dir, v);
    if ((v = values[FLAG_LOG_LEVEL]) != NULL) {
        for (i = 0; i < ARRAY_LEN(levels) && strcmp(v, levels[i]) != 0; i++)
            ;
        if (i == ARRAY_LEN(levels))
            return rkv_errf(errmsg, RKV_ECONFIG,
                            "--log-level '%.32s': expected debug, info or warn",
                            v);
        out->log_level = level_values[i];
    }
    out->cluster_id = config_cluster_id(out->members, out->n_members);
    out->cluster_id_given = values[FLAG_CLUSTER_ID] != NULL;
    if ((v = values[FLAG_CLUSTER_ID]) != NULL &&
        !(strncmp(v, "0x", 2) == 0
              ? parse_number(v + 2, strlen(v + 2), 16, UINT64_MAX,
                             &out->cluster_id)
              : parse_number(v, strlen(v), 10, UINT64_MAX, &out->cluster_id)))
        return rkv_errf(
            errmsg, RKV_ECONFIG,
            "--cluster-id '%.32s': expected a u64, decimal or 0x hex", v);
    if ((v = values[FLAG_SNAPSHOT_ENTRIES]) != NULL &&
        !parse_number(v, strlen(v), 10, UINT64_MAX, &out->snapshot_entries))
        return rkv_errf(
            errmsg, RKV_ECONFIG,
            "--snapshot-entries '%.32s': expected a count (0: never)", v);
    if ((v = values[FLAG_REQUEST_TIMEOUT]) != NULL) {
        uint64_t ms;
        if (!parse_number(v, strlen(v), 10, 3600000, &ms) || ms < 100)
            return rkv_errf(errmsg, RKV_ECONFIG,
                            "--request-timeout-ms '%.32s': "
                            "expected 100..3600000",
                            v);
        out->request_timeout_ms = (unsigned)ms;
    }
    if ((v = values[FLAG_JOIN]) != NULL)
        return parse_join(v, out, errmsg);
    return 0;
}

int config_parse_args(int argc,
                      char *const argv[],
                      char *const envp[],
                      struct node_config *out,
                      char *errmsg)
{
    const char *values[FLAG_COUNT] = {NULL};
    int rv;

    assert(argc >= 1 && argv != NULL);
    assert(out != NULL && errmsg != NULL);
    memset(out, 0, sizeof *out);
    out->action = CONFIG_RUN;
    out->log_level = RAFT_TRACE_INFO;
    out->tick_ms = CONFIG_TICK_MS;
    out->election_ticks = CONFIG_ELECTION_TICKS;
    out->heartbeat_ticks = CONFIG_HEARTBEAT_TICKS;
    out->snapshot_entries = CONFIG_SNAPSHOT_ENTRIES;
    out->request_timeout_ms = CONFIG_REQUEST_TIMEOUT_MS;
    out->max_key_bytes = KV_KEY_MAX;
    out->max_value_bytes = KV_VALUE_MAX;
    rv = scan_args(argc, argv, values, &out->action, errmsg);
    if (rv != 0 || out->action != CONFIG_RUN)
        return rv;
    rv = load_members(values, envp, out, errmsg);
    if (rv == 0)
        rv = apply_ports(values, out, errmsg);
    if (rv == 0)
        rv = apply_settings(values, out, errmsg);
    return rv;
}

const struct config_member *config_self(const struct node_config *cfg)
{
    size_t i = self_index(cfg);

    assert(i < cfg->n_members);
    return &cfg->members[i];
}

uint64_t config_cluster_id(const struct config_member *members, size_t n)
{
    uint64_t h = FNV64_OFFSET;

    for (size_t i = 0; i < n; i++) {
        char line[CONFIG_HOST_MAX + 32];
        int len = snprintf(line, sizeof line, "%llu %s %u\n",
                           (unsigned long long)members[i].id, members[i].host,
                           (unsigned)members[i].peer_port);
        assert(len > 0 && (size_t)len < sizeof line);
        assert(i == 0 || members[i - 1].id < members[i].id);
        for (int j = 0; j < len; j++) {
            h ^= (unsigned char)line[j];
            h *= FNV64_PRIME;
        }
    }
    return h;
}

const char *config_usage(void)
{
    return "usage: raftkv --id N --config nodes.conf [options]\n"
           "       raftkv [options]   (cluster from NODE_ID, PEER_IDS, PORT)\n"
           "\n"
           "  --id N               this node's id (1..65535)\n"
           "  --config FILE        cluster file: one line a node,\n"
           "                       <ID> <HOST> <PEER_PORT> [<HTTP_PORT> "
           "[<RESP_PORT>]]\n"
           "                       (defaults: PEER_PORT+1000, "
           "PEER_PORT+2000)\n"
           "  --data-dir DIR       default ./data/node<ID>\n"
           "  --log-level LEVEL    debug, info (default) or warn\n"
           "  --http-port P        override this node's HTTP port\n"
           "  --resp-port P        override this node's RESP port\n"
           "  --cluster-id X       override the cluster id (u64, decimal or "
           "0x hex)\n"
           "  --join HOST:PORT     join a running cluster through the member "
           "whose HTTP API\n"
           "                       is at HOST:PORT: start without a "
           "configuration, take the\n"
           "                       cluster id from its /status (unless "
           "--cluster-id), and wait\n"
           "                       to be added (raftkv-cli member add)\n"
           "  --snapshot-entries N snapshot and compact the log every N "
           "applied entries\n"
           "                       (default 10000; 0: never)\n"
           "  --request-timeout-ms MS  client request deadline (default "
           "5000)\n"
           "  --help, --version\n"
           "\n"
           "Without --config: NODE_ID=node1 PEER_IDS=node2:3000,node3:3000 "
           "PORT=3000\n"
           "(RAFT_PORT, RESP_PORT default to PORT+1000, PORT+3379).\n";
}
