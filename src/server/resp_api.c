/* The Redis-protocol front end (resp_api.h): libuv connections, the pure
 * parser of src/net/resp.c, a table of commands, answers in request order.
 * Connections work as in http_api.c, except that a connection's requests
 * are cancelled and freed in its close callback: never from inside an op's
 * done callback, while node.c may be walking its lists of ops. */
#define _DEFAULT_SOURCE
#include "server/resp_api.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "net/resp.h"
#include "server/node_int.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define WRITE_MERGE_MAX (1u << 20) /* answer bytes copied into one write */
#define REASON_LEN 128             /* bytes of a keys_ok() reason */
#define ERROR_LEN 512              /* bytes of an error reply's message */
#define QUOTE_MAX 128              /* bytes of client text an error quotes */

struct resp_conn;
struct resp_slot;

/* Builds the answer of a slot once all its ops succeeded. Returns 0 or
 * RKV_ENOMEM. */
typedef int (*resp_api_finish_fn)(struct resp_slot *s);

/* One command of a connection, from parsing to its answer. */
struct resp_slot
{
    struct resp_conn *conn;    /* owner */
    struct rkv_buf out;        /* the answer */
    bool ready;                /* `out` holds the whole answer */
    bool close_after;          /* close the connection once it is sent */
    bool write;                /* ops are writes: a timeout is ambiguous */
    resp_api_finish_fn finish; /* answers when the last op is done */
    size_t n_pending;          /* ops submitted, done() not yet called */
    size_t n_ops;              /* length of ops[] */
    struct resp_slot *next;    /* in request order */
    struct node_op ops[];      /* op.ctx is this slot while the op is
                                  pending, NULL otherwise */
};

struct resp_conn
{
    uv_tcp_t tcp;                  /* the socket; its data is this conn */
    struct resp_api *api;          /* owner */
    struct rkv_buf in;             /* bytes not yet parsed */
    struct resp_slot *head, *tail; /* commands awaiting their answer */
    size_t n_slots;                /* commands in that list */
    size_t reads_pending;          /* read ops submitted, not yet done */
    size_t writes_pending;         /* uv_writes not yet called back */
    uint64_t id;                   /* CLIENT ID */
    char *name;                    /* CLIENT SETNAME, NULL if none */
    bool closing;                  /* uv_close called */
    bool reading;                  /* uv_read_start active */
    bool held;                     /* whole commands wait in `in` for room */
    bool eof;                      /* the client will send nothing more */
    bool stop_parsing;             /* an answer will close: ignore input */
    struct resp_conn *prev, *next; /* open connections */
};

/* Answers handed to one uv_write, freed in its callback. */
struct resp_write
{
    uv_write_t req;         /* req.data is this write */
    struct resp_conn *conn; /* the connection written to */
    bool close_after;       /* close the connection once written */
    struct rkv_buf buf;     /* the answers, in order */
};

struct resp_api
{
    struct node *node;       /* owner */
    uv_tcp_t listener;       /* the RESP port */
    struct resp_conn *conns; /* open connections */
    size_t n_conns;          /* their number */
    int handles_open;        /* listener + connections not yet closed */
    bool stopping;           /* resp_api_stop() called */
    uint64_t next_client_id; /* CLIENT ID of the last connection */
    uint64_t start_ms;       /* loop time of resp_api_start() */
    uint16_t port;           /* RESP port, for INFO */
    struct resp_command cmd; /* the command being dispatched: one for all
                                connections (large), as nothing a command
                                runs parses another */
    struct kv_slice keys[RESP_ARGS_MAX];   /* a write's keys, into cmd */
    struct kv_slice values[RESP_ARGS_MAX]; /* a write's values, into cmd */
};

enum resp_api_ops {
    OPS_NONE = 0,  /* answered at once */
    OPS_WRITE = 1, /* one write */
    OPS_READS = 2, /* one read per argument after the name */
};

/* A command of the table, with what COMMAND reports about it. */
struct resp_api_cmd
{
    const char *name;  /* lower case, as Redis names it in errors */
    int arity;         /* argc if > 0, at least -arity if < 0 (Redis) */
    const char *flags; /* COMMAND's flags, space-separated */
    int first_key;     /* COMMAND's key positions: first, last, step */
    int last_key;
    int key_step;
    int ops; /* enum resp_api_ops: the node ops it submits */
    /* Answers into s->out or submits s->ops; returns 0 or RKV_ENOMEM. */
    int (*run)(struct resp_slot *s, const struct resp_command *cmd);
};

static void conn_close(struct resp_conn *c);
static void conn_flush(struct resp_conn *c);
static void conn_parse(struct resp_conn *c);

static struct node *node_of(const struct resp_slot *s)
{
    return s->conn->api->node;
}

/* ---- arguments ---------------------------------------------------------- */

/* Whether `a` is `s`, ignoring case. */
static bool arg_is(const struct resp_arg *a, const char *s)
{
    return a->len == strlen(s) &&
           strncasecmp((const char *)a->data, s, a->len) == 0;
}

/* Redis's string2ll() rules: "0", or an optional '-' and digits without a
 * leading zero; nothing else, and the value within int64. */
static bool arg_i64(const struct resp_arg *a, int64_t *out)
{
    const uint8_t *p = a->data;
    bool neg = a->len > 0 && p[0] == '-';
    size_t i = neg ? 1 : 0;
    uint64_t max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    if (a->len == 1 && p[0] == '0') {
        *out = 0;
        return true;
    }
    if (i == a->len || p[i] < '1' || p[i] > '9')
        return false;
    for (; i < a->len; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (p[i] < '0' || p[i] > '9' || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (!neg)
        *out = (int64_t)v;
    else
        *out = v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
    return true;
}

/* Whether args[0], args[step], ... (below args[n]) are valid keys and,
 * when step is 2, each is followed by a valid value. If not, `msg`
 * (REASON_LEN bytes) says why. */
static bool keys_ok(const struct node_config *cfg,
                    const struct resp_arg *args,
                    size_t n,
                    size_t step,
                    char *msg)
{
    for (size_t i = 0; i < n; i += step) {
        size_t klen = args[i].len;
        size_t vlen = step == 2 ? args[i + 1].len : 0;
        if (klen == 0) {
            snprintf(msg, REASON_LEN, "empty keys are not supported");
            return false;
        }
        if (klen > cfg->max_key_bytes) {
            snprintf(msg, REASON_LEN, "key too large: %zu bytes, at most %zu",
                     klen, cfg->max_key_bytes);
            return false;
        }
        if (vlen > cfg->max_value_bytes) {
            snprintf(msg, REASON_LEN, "value too large: %zu bytes, at most %zu",
                     vlen, cfg->max_value_bytes);
            return false;
        }
    }
    return true;
}

/* ---- replies ------------------------------------------------------------ */

static int reply_errf(struct resp_slot *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "-ERR <formatted message>". */
static int reply_errf(struct resp_slot *s, const char *fmt, ...)
{
    char msg[ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap); /* cut if longer: fine */
    va_end(ap);
    return resp_reply_error(&s->out, "ERR", msg);
}

static int reply_arity(struct resp_slot *s, const char *name)
{
    return reply_errf(s, "wrong number of arguments for '%s' command", name);
}

static int reply_not_integer(struct resp_slot *s)
{
    return reply_errf(s, "value is not an integer or out of range");
}

/* Redis's answer to an unknown command: its name and the start of its
 * arguments, QUOTE_MAX bytes of each at most. */
static int reply_unknown(struct resp_slot *s, const struct resp_command *cmd)
{
    char args[QUOTE_MAX + 8]; /* the last quote may run 3 bytes over */
    size_t len = 0;
    const struct resp_arg *name = &cmd->argv[0];
    args[0] = '\0';
    for (size_t i = 1; i < cmd->argc && len < QUOTE_MAX; i++) {
        size_t room = QUOTE_MAX - len;
        int w =
            snprintf(args + len, sizeof args - len, "'%.*s' ",
                     (int)(cmd->argv[i].len < room ? cmd->argv[i].len : room),
                     (const char *)cmd->argv[i].data);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return reply_errf(s, "unknown command '%.*s', with args beginning with: %s",
                      (int)(name->len < QUOTE_MAX ? name->len : QUOTE_MAX),
                      (const char *)name->data, args);
}

/* Answer a node status other than 0. */
static int reply_status(struct resp_slot *s, int status)
{
    unsigned ms = node_config_of(node_of(s))->request_timeout_ms;
    switch (status) {
        case RKV_ENOLEADER:
            return resp_reply_error(&s->out, "CLUSTERDOWN", "no leader, retry");
        case RKV_ENOTLEADER:
            return resp_reply_error(&s->out, "TRYAGAIN",
                                    "leadership changed, retry");
        case RKV_ECANCELED:
            return resp_reply_error(
                &s->out, "TRYAGAIN",
                "leadership changed before the write committed: outcome "
                "unknown");
        case RKV_ESHUTDOWN:
            return resp_reply_error(&s->out, "TRYAGAIN",
                                    "node shutting down, retry elsewhere");
        case RKV_ETIMEDOUT: {
            char msg[128];
            snprintf(msg, sizeof msg,
                     s->write
                         ? "write not committed within %u ms: outcome unknown"
                         : "read not confirmed within %u ms: no quorum?",
                     ms);
            return resp_reply_error(&s->out, "TIMEOUT", msg);
        }
        case RKV_ETOOBIG:
            return reply_errf(s, "command too large");
        case RKV_ENOSPC:
            return reply_errf(s, "disk full on this node: outcome unknown");
        case RKV_EIO:
            return reply_errf(s, s->write ? "disk error on this node: "
                                            "outcome unknown"
                                          : "read failed: I/O error");
        default:
            return reply_errf(s, "%s", rkv_strerror(status));
    }
}

/* Answer a write the state machine did not carry out as asked. */
static int reply_refused(struct resp_slot *s, const struct kv_result *res)
{
    switch (res->status) {
        case KV_RES_NOT_INTEGER:
            return reply_not_integer(s);
        case KV_RES_OVERFLOW:
            return reply_errf(s, "increment or decrement would overflow");
        default:
            return reply_errf(s,
                              "the state machine refused the command "
                              "(result %u)",
                              (unsigned)res->status);
    }
}

static int reply_value(struct rkv_buf *out, const struct node_op *op)
{
    return op->found ? resp_reply_bulk(out, op->value.data, op->value.len)
                     : resp_reply_null(out);
}

/* The slot's answer is complete; `rv` is what building it returned. */
static void slot_answered(struct resp_slot *s, int rv)
{
    if (rv != 0) {
        /* Out of memory: if not even the error fits, close rather than let
         * the client pair answers with the wrong commands. */
        rkv_buf_truncate(&s->out, 0);
        if (resp_reply_error(&s->out, "ERR", "out of memory") != 0)
            s->close_after = true;
    }
    s->ready = true;
}

/* ---- node operations ---------------------------------------------------- */

/* Free the values the slot's reads returned. */
static void free_values(struct resp_slot *s)
{
    for (size_t i = 0; i < s->n_ops; i++)
        kv_buf_free(&s->ops[i].value);
}

/* Cancel the slot's pending ops. */
static void cancel_ops(struct resp_slot *s)
{
    for (size_t i = 0; i < s->n_ops; i++) {
        if (s->ops[i].ctx != NULL) {
            node_op_cancel(node_of(s), &s->ops[i]);
            s->ops[i].ctx = NULL;
            s->conn->reads_pending -= !s->write;
        }
    }
    s->n_pending = 0;
}

static void on_op_done(struct node_op *op)
{
    struct resp_slot *s = op->ctx;
    int status = 0;
    op->ctx = NULL;
    ASSERT(s->n_pending > 0);
    s->conn->reads_pending -= !s->write;
    if (--s->n_pending > 0 || s->conn->closing)
        return; /* a closing connection frees the slot when closed */
    for (size_t i = 0; i < s->n_ops && status == 0; i++)
        status = s->ops[i].status;
    slot_answered(s, status != 0 ? reply_status(s, status) : s->finish(s));
    free_values(s); /* copied into the answer */
    conn_flush(s->conn);
}

/* Submit `cmd` as the slot's one op; `finish` answers when it is done. */
static int submit_write(struct resp_slot *s,
                        const struct kv_cmd *cmd,
                        resp_api_finish_fn finish)
{
    struct node_op *op = &s->ops[0];
    int rv;
    ASSERT(s->n_ops == 1);
    s->write = true;
    s->finish = finish;
    op->done = on_op_done;
    op->ctx = s;
    rv = node_submit_write(node_of(s), op, cmd);
    if (rv != 0) {
        op->ctx = NULL;
        return reply_status(s, rv);
    }
    s->n_pending = 1;
    return 0;
}

/* Submit one linearizable read per key argv[1..argc), into ops[0..). */
static int submit_reads(struct resp_slot *s,
                        const struct resp_command *cmd,
                        resp_api_finish_fn finish)
{
    ASSERT(s->n_ops == cmd->argc - 1);
    s->finish = finish;
    for (size_t i = 0; i < s->n_ops; i++) {
        struct node_op *op = &s->ops[i];
        const struct resp_arg *key = &cmd->argv[i + 1];
        int rv;
        op->done = on_op_done;
        op->ctx = s;
        rv = node_submit_get(node_of(s), op, key->data, key->len, false);
        if (rv != 0) {
            op->ctx = NULL;
            cancel_ops(s);
            return reply_status(s, rv);
        }
        s->n_pending++;
        s->conn->reads_pending++;
    }
    return 0;
}

/* ---- data commands ------------------------------------------------------ */

static int finish_get(struct resp_slot *s)
{
    return reply_value(&s->out, &s->ops[0]);
}

static int finish_mget(struct resp_slot *s)
{
    int rv = resp_reply_array(&s->out, s->n_ops);
    for (size_t i = 0; rv == 0 && i < s->n_ops; i++)
        rv = reply_value(&s->out, &s->ops[i]);
    return rv;
}

static int finish_exists(struct resp_slot *s)
{
    int64_t found = 0;
    for (size_t i = 0; i < s->n_ops; i++)
        found += s->ops[i].found;
    return resp_reply_int(&s->out, found);
}

static int finish_set(struct resp_slot *s)
{
    const struct kv_result *res = &s->ops[0].res;
    if (res->status == KV_RES_COND_FAILED)
        return resp_reply_null(&s->out); /* NX or XX not met */
    if (res->status != KV_RES_OK)
        return reply_refused(s, res);
    return resp_reply_simple(&s->out, "OK");
}

static int finish_count(struct resp_slot *s)
{
    const struct kv_result *res = &s->ops[0].res;
    if (res->status != KV_RES_OK && res->status != KV_RES_NOT_FOUND)
        return reply_refused(s, res);
    return resp_reply_int(&s->out, res->value); /* DEL: keys removed */
}

static int finish_incr(struct resp_slot *s)
{
    const struct kv_result *res = &s->ops[0].res;
    if (res->status != KV_RES_OK)
        return reply_refused(s, res);
    return resp_reply_int(&s->out, res->value);
}

static int finish_mset(struct resp_slot *s)
{
    const struct kv_result *res = &s->ops[0].res;
    if (res->status != KV_RES_OK)
        return reply_refused(s, res);
    return resp_reply_simple(&s->out, "OK");
}

/* GET, MGET and EXISTS: reads of argv[1..argc). */
static int run_reads(struct resp_slot *s,
                     const struct resp_command *cmd,
                     resp_api_finish_fn finish)
{
    char msg[REASON_LEN];
    if (!keys_ok(node_config_of(node_of(s)), cmd->argv + 1, cmd->argc - 1, 1,
                 msg))
        return resp_reply_error(&s->out, "ERR", msg);
    return submit_reads(s, cmd, finish);
}

static int cmd_get(struct resp_slot *s, const struct resp_command *cmd)
{
    return run_reads(s, cmd, finish_get);
}

static int cmd_mget(struct resp_slot *s, const struct resp_command *cmd)
{
    return run_reads(s, cmd, finish_mget);
}

static int cmd_exists(struct resp_slot *s, const struct resp_command *cmd)
{
    return run_reads(s, cmd, finish_exists);
}

/* SET key value [NX|XX]. Options that need expiry, or GET, are refused. */
static int cmd_set(struct resp_slot *s, const struct resp_command *cmd)
{
    static const char *const unsupported[] = {"EX",   "PX",      "EXAT",
                                              "PXAT", "KEEPTTL", "GET"};
    struct resp_api *api = s->conn->api;
    struct kv_cmd kc = {.op = KV_OP_PUT, .n = 1};
    char msg[REASON_LEN];
    for (size_t i = 3; i < cmd->argc; i++) {
        const struct resp_arg *a = &cmd->argv[i];
        for (size_t k = 0; k < ARRAY_LEN(unsupported); k++)
            if (arg_is(a, unsupported[k]))
                return reply_errf(s,
                                  "SET option %s is not supported: "
                                  "raftkv keys do not expire",
                                  unsupported[k]);
        if (arg_is(a, "NX") && kc.cond != KV_COND_XX)
            kc.cond = KV_COND_NX;
        else if (arg_is(a, "XX") && kc.cond != KV_COND_NX)
            kc.cond = KV_COND_XX;
        else
            return reply_errf(s, "syntax error");
    }
    if (!keys_ok(node_config_of(api->node), cmd->argv + 1, 2, 2, msg))
        return resp_reply_error(&s->out, "ERR", msg);
    api->keys[0] = (struct kv_slice){cmd->argv[1].data, cmd->argv[1].len};
    api->values[0] = (struct kv_slice){cmd->argv[2].data, cmd->argv[2].len};
    kc.keys = api->keys;
    kc.values = api->values;
    return submit_write(s, &kc, finish_set);
}

/* DEL key [key ...] (step 1) and MSET key value [...] (step 2): one
 * atomic write of every key. */
static int run_multi_write(struct resp_slot *s,
                           const struct resp_command *cmd,
                           uint8_t op,
                           size_t step,
                           resp_api_finish_fn finish)
{
    struct resp_api *api = s->conn->api;
    struct kv_cmd kc = {.op = op, .keys = api->keys};
    char msg[REASON_LEN];
    if (!keys_ok(node_config_of(api->node), cmd->argv + 1, cmd->argc - 1, step,
                 msg))
        return resp_reply_error(&s->out, "ERR", msg);
    for (size_t i = 1; i < cmd->argc; i += step) {
        api->keys[kc.n] =
            (struct kv_slice){cmd->argv[i].data, cmd->argv[i].len};
        if (step == 2)
            api->values[kc.n] =
                (struct kv_slice){cmd->argv[i + 1].data, cmd->argv[i + 1].len};
        kc.n++;
    }
    if (step == 2)
        kc.values = api->values;
    return submit_write(s, &kc, finish);
}

static int cmd_del(struct resp_slot *s, const struct resp_command *cmd)
{
    return run_multi_write(s, cmd, KV_OP_DEL, 1, finish_count);
}

static int cmd_mset(struct resp_slot *s, const struct resp_command *cmd)
{
    if (cmd->argc % 2 != 1)
        return reply_arity(s, "mset");
    return run_multi_write(s, cmd, KV_OP_MSET, 2, finish_mset);
}

/* INCR, DECR, INCRBY, DECRBY: add `delta` to the integer at argv[1]. */
static int run_incr(struct resp_slot *s,
                    const struct resp_command *cmd,
                    int64_t delta)
{
    struct resp_api *api = s->conn->api;
    struct kv_cmd kc = {.op = KV_OP_INCRBY, .n = 1, .delta = delta};
    char msg[REASON_LEN];
    if (!keys_ok(node_config_of(api->node), cmd->argv + 1, 1, 1, msg))
        return resp_reply_error(&s->out, "ERR", msg);
    api->keys[0] = (struct kv_slice){cmd->argv[1].data, cmd->argv[1].len};
    kc.keys = api->keys;
    return submit_write(s, &kc, finish_incr);
}

static int cmd_incr(struct resp_slot *s, const struct resp_command *cmd)
{
    return run_incr(s, cmd, 1);
}

static int cmd_decr(struct resp_slot *s, const struct resp_command *cmd)
{
    return run_incr(s, cmd, -1);
}

static int cmd_incrby(struct resp_slot *s, const struct resp_command *cmd)
{
    int64_t delta;
    if (!arg_i64(&cmd->argv[2], &delta))
        return reply_not_integer(s);
    return run_incr(s, cmd, delta);
}

static int cmd_decrby(struct resp_slot *s, const struct resp_command *cmd)
{
    int64_t delta;
    if (!arg_i64(&cmd->argv[2], &delta))
        return reply_not_integer(s);
    if (delta == INT64_MIN)
        return reply_errf(s, "decrement would overflow");
    return run_incr(s, cmd, -delta);
}

/* ---- connection and server commands ------------------------------------- */

static int cmd_ping(struct resp_slot *s, const struct resp_command *cmd)
{
    if (cmd->argc > 2)
        return reply_arity(s, "ping");
    if (cmd->argc == 2)
        return resp_reply_bulk(&s->out, cmd->argv[1].data, cmd->argv[1].len);
    return resp_reply_simple(&s->out, "PONG");
}

static int cmd_echo(struct resp_slot *s, const struct resp_command *cmd)
{
    return resp_reply_bulk(&s->out, cmd->argv[1].data, cmd->argv[1].len);
}

/* There is one database: SELECT 0 is all a client may ask for. */
static int cmd_select(struct resp_slot *s, const struct resp_command *cmd)
{
    int64_t db;
    if (!arg_i64(&cmd->argv[1], &db))
        return reply_not_integer(s);
    if (db != 0)
        return reply_errf(s, "DB index is out of range");
    return resp_reply_simple(&s->out, "OK");
}

static int cmd_quit(struct resp_slot *s, const struct resp_command *cmd)
{
    (void)cmd;
    s->close_after = true;
    return resp_reply_simple(&s->out, "OK");
}

/* Clients that try RESP3 fall back to RESP2 on this error. */
static int cmd_hello(struct resp_slot *s, const struct resp_command *cmd)
{
    (void)cmd;
    return resp_reply_error(
        &s->out, "NOPROTO",
        "unsupported protocol version: this server speaks RESP2 only");
}

/* This node's own key count: it may lag the leader's. */
static int cmd_dbsize(struct resp_slot *s, const struct resp_command *cmd)
{
    struct node_status st;
    (void)cmd;
    node_status(node_of(s), &st);
    return resp_reply_int(&s->out, (int64_t)st.keys);
}

static int refuse(struct resp_slot *s, const char *name)
{
    return reply_errf(s, "%s is not supported by raftkv", name);
}

static int cmd_flushall(struct resp_slot *s, const struct resp_command *cmd)
{
    (void)cmd;
    return refuse(s, "FLUSHALL");
}

static int cmd_flushdb(struct resp_slot *s, const struct resp_command *cmd)
{
    (void)cmd;
    return refuse(s, "FLUSHDB");
}

static int cmd_config(struct resp_slot *s, const struct resp_command *cmd)
{
    (void)cmd;
    return refuse(s, "CONFIG");
}

static int client_setname(struct resp_slot *s, const struct resp_arg *a)
{
    struct resp_conn *c = s->conn;
    char *name = NULL;
    for (size_t i = 0; i < a->len; i++)
        if (a->data[i] < '!' || a->data[i] > '~')
            return reply_errf(s,
                              "Client names cannot contain spaces, "
                              "newlines or special characters.");
    if (a->len > 0) {
        name = strndup((const char *)a->data, a->len);
        if (name == NULL)
            return RKV_ENOMEM;
    }
    free(c->name);
    c->name = name; /* "" removes the name, as in Redis */
    return resp_reply_simple(&s->out, "OK");
}

/* CLIENT ID | GETNAME | INFO | SETNAME name | SETINFO attr value. */
static int cmd_client(struct resp_slot *s, const struct resp_command *cmd)
{
    static const struct
    {
        const char *name;
        size_t argc;
    } subs[] = {
        {"id", 2}, {"getname", 2}, {"info", 2}, {"setname", 3}, {"setinfo", 4},
    };
    struct resp_conn *c = s->conn;
    const struct resp_arg *sub = &cmd->argv[1];
    char line[160];
    size_t k = 0;
    while (k < ARRAY_LEN(subs) && !arg_is(sub, subs[k].name))
        k++;
    if (k == ARRAY_LEN(subs))
        return reply_errf(s, "unknown subcommand '%.*s'. Try CLIENT HELP.",
                          (int)(sub->len < QUOTE_MAX ? sub->len : QUOTE_MAX),
                          (const char *)sub->data);
    if (cmd->argc != subs[k].argc)
        return reply_errf(s,
                          "wrong number of arguments for 'client|%s' "
                          "command",
                          subs[k].name);
    switch (k) {
        case 0:
            return resp_reply_int(&s->out, (int64_t)c->id);
        case 1:
            return c->name != NULL
                       ? resp_reply_bulk(&s->out, c->name, strlen(c->name))
                       : resp_reply_null(&s->out);
        case 2:
            snprintf(line, sizeof line, "id=%" PRIu64 " name=%.64s db=0\n",
                     c->id, c->name != NULL ? c->name : "");
            return resp_reply_bulk(&s->out, line, strlen(line));
        case 3:
            return client_setname(s, &cmd->argv[2]);
        default:
            return resp_reply_simple(&s->out, "OK"); /* SETINFO: unused */
    }
}

/* ---- INFO --------------------------------------------------------------- */

enum {
    INFO_SERVER = 1,
    INFO_CLIENTS = 2,
    INFO_RAFT = 4,
    INFO_KEYSPACE = 8,
    INFO_ALL = 15,
};

/* The sections INFO [section ...] asks for; unknown names add nothing. */
static unsigned info_sections(const struct resp_command *cmd)
{
    unsigned want = cmd->argc == 1 ? INFO_ALL : 0;
    for (size_t i = 1; i < cmd->argc; i++) {
        const struct resp_arg *a = &cmd->argv[i];
        if (arg_is(a, "all") || arg_is(a, "default") || arg_is(a, "everything"))
            want |= INFO_ALL;
        else if (arg_is(a, "server"))
            want |= INFO_SERVER;
        else if (arg_is(a, "clients"))
            want |= INFO_CLIENTS;
        else if (arg_is(a, "raft"))
            want |= INFO_RAFT;
        else if (arg_is(a, "keyspace"))
            want |= INFO_KEYSPACE;
    }
    return want;
}

/* "# Name" after a blank line if another section came before. */
static int info_header(struct rkv_buf *b, const char *name)
{
    return rkv_buf_printf(b, "%s# %s\r\n", b->len > 0 ? "\r\n" : "", name);
}

static int info_text(struct resp_api *api, unsigned want, struct rkv_buf *b)
{
    const struct node_config *cfg = node_config_of(api->node);
    struct node_status st;
    int rv = 0;
    node_status(api->node, &st);
    if (want & INFO_SERVER) {
        rv = info_header(b, "Server");
        if (rv == 0)
            rv = rkv_buf_printf(
                b,
                "redis_version:%s\r\nraftkv_version:%s\r\n"
                "redis_mode:standalone\r\nprocess_id:%ld\r\ntcp_port:%u\r\n"
                "uptime_in_seconds:%" PRIu64 "\r\nraftkv_node_id:%" PRIu64
                "\r\n",
                RESP_API_REDIS_VERSION, RAFTKV_VERSION, (long)getpid(),
                (unsigned)api->port,
                (uv_now(api->node->loop) - api->start_ms) / 1000, st.id);
    }
    if (rv == 0 && (want & INFO_CLIENTS)) {
        rv = info_header(b, "Clients");
        if (rv == 0)
            rv = rkv_buf_printf(b, "connected_clients:%zu\r\n", api->n_conns);
    }
    if (rv == 0 && (want & INFO_RAFT)) {
        rv = info_header(b, "Raft");
        if (rv == 0)
            rv = rkv_buf_printf(
                b,
                "role:%s\r\nterm:%" PRIu64 "\r\nleader:%" PRIu64
                "\r\ncommit_index:%" PRIu64 "\r\nlast_applied:%" PRIu64
                "\r\nlast_log_index:%" PRIu64 "\r\nsnapshot_index:%" PRIu64
                "\r\ncluster_size:%zu\r\n",
                st.role, st.term, st.leader, st.commit, st.applied,
                st.last_index, st.snapshot.index, cfg->n_members);
    }
    if (rv == 0 && (want & INFO_KEYSPACE)) {
        rv = info_header(b, "Keyspace");
        if (rv == 0 && st.keys > 0) /* Redis lists only non-empty dbs */
            rv = rkv_buf_printf(
                b, "db0:keys=%" PRIu64 ",expires=0,avg_ttl=0\r\n", st.keys);
    }
    return rv;
}

static int cmd_info(struct resp_slot *s, const struct resp_command *cmd)
{
    struct rkv_buf text;
    int rv;
    rkv_buf_init(&text);
    rv = info_text(s->conn->api, info_sections(cmd), &text);
    if (rv == 0)
        rv =
            resp_reply_bulk(&s->out, text.len > 0 ? text.data : NULL, text.len);
    rkv_buf_close(&text);
    return rv;
}

/* ---- the command table -------------------------------------------------- */

static int cmd_command(struct resp_slot *s, const struct resp_command *cmd);

static const struct resp_api_cmd commands[] = {
    {"get", 2, "readonly fast", 1, 1, 1, OPS_READS, cmd_get},
    {"set", -3, "write denyoom", 1, 1, 1, OPS_WRITE, cmd_set},
    {"del", -2, "write", 1, -1, 1, OPS_WRITE, cmd_del},
    {"exists", -2, "readonly fast", 1, -1, 1, OPS_READS, cmd_exists},
    {"mget", -2, "readonly fast", 1, -1, 1, OPS_READS, cmd_mget},
    {"mset", -3, "write denyoom", 1, -1, 2, OPS_WRITE, cmd_mset},
    {"incr", 2, "write denyoom fast", 1, 1, 1, OPS_WRITE, cmd_incr},
    {"decr", 2, "write denyoom fast", 1, 1, 1, OPS_WRITE, cmd_decr},
    {"incrby", 3, "write denyoom fast", 1, 1, 1, OPS_WRITE, cmd_incrby},
    {"decrby", 3, "write denyoom fast", 1, 1, 1, OPS_WRITE, cmd_decrby},
    {"ping", -1, "fast stale", 0, 0, 0, OPS_NONE, cmd_ping},
    {"echo", 2, "fast", 0, 0, 0, OPS_NONE, cmd_echo},
    {"select", 2, "loading stale fast", 0, 0, 0, OPS_NONE, cmd_select},
    {"quit", -1, "loading stale fast", 0, 0, 0, OPS_NONE, cmd_quit},
    {"hello", -1, "loading stale fast", 0, 0, 0, OPS_NONE, cmd_hello},
    {"dbsize", 1, "readonly fast", 0, 0, 0, OPS_NONE, cmd_dbsize},
    {"info", -1, "loading stale", 0, 0, 0, OPS_NONE, cmd_info},
    {"command", -1, "loading stale", 0, 0, 0, OPS_NONE, cmd_command},
    {"client", -2, "loading stale", 0, 0, 0, OPS_NONE, cmd_client},
    {"flushall", -1, "write", 0, 0, 0, OPS_NONE, cmd_flushall},
    {"flushdb", -1, "write", 0, 0, 0, OPS_NONE, cmd_flushdb},
    {"config", -2, "admin loading stale", 0, 0, 0, OPS_NONE, cmd_config},
};

static const struct resp_api_cmd *lookup(const struct resp_arg *name)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (arg_is(name, commands[i].name))
            return &commands[i];
    return NULL;
}

static bool arity_ok(const struct resp_api_cmd *def, size_t argc)
{
    return def->arity > 0 ? argc == (size_t)def->arity
                          : argc >= (size_t)-def->arity;
}

/* One command as COMMAND describes it: name, arity, flags, first key, last
 * key, key step (the six fields every Redis version reports). */
static int reply_command_info(struct rkv_buf *out,
                              const struct resp_api_cmd *def)
{
    size_t n_flags = 1;
    const char *p = def->flags;
    int rv = 0;
    for (const char *q = p; *q != '\0'; q++)
        n_flags += *q == ' ';
    rv = resp_reply_array(out, 6);
    if (rv == 0)
        rv = resp_reply_bulk(out, def->name, strlen(def->name));
    if (rv == 0)
        rv = resp_reply_int(out, def->arity);
    if (rv == 0)
        rv = resp_reply_array(out, n_flags);
    while (rv == 0 && *p != '\0') {
        char flag[32];
        size_t len = strcspn(p, " ");
        snprintf(flag, sizeof flag, "%.*s", (int)len, p);
        rv = resp_reply_simple(out, flag);
        p += len + (p[len] == ' ');
    }
    if (rv == 0)
        rv = rkv_buf_printf(out, ":%d\r\n:%d\r\n:%d\r\n", def->first_key,
                            def->last_key, def->key_step);
    return rv;
}

/* COMMAND, COMMAND COUNT, COMMAND INFO [name ...], COMMAND DOCS [...]
 * (an empty answer: clients then use their own help texts). */
static int cmd_command(struct resp_slot *s, const struct resp_command *cmd)
{
    const struct resp_arg *sub = &cmd->argv[1];
    int rv;
    if (cmd->argc == 1 || (arg_is(sub, "INFO") && cmd->argc == 2)) {
        rv = resp_reply_array(&s->out, ARRAY_LEN(commands));
        for (size_t i = 0; rv == 0 && i < ARRAY_LEN(commands); i++)
            rv = reply_command_info(&s->out, &commands[i]);
        return rv;
    }
    if (arg_is(sub, "COUNT") && cmd->argc == 2)
        return resp_reply_int(&s->out, (int64_t)ARRAY_LEN(commands));
    if (arg_is(sub, "DOCS"))
        return resp_reply_array(&s->out, 0);
    if (arg_is(sub, "INFO")) {
        rv = resp_reply_array(&s->out, cmd->argc - 2);
        for (size_t i = 2; rv == 0 && i < cmd->argc; i++) {
            const struct resp_api_cmd *def = lookup(&cmd->argv[i]);
            rv = def != NULL ? reply_command_info(&s->out, def)
                             : resp_reply_null(&s->out);
        }
        return rv;
    }
    if (arg_is(sub, "COUNT"))
        return reply_arity(s, "command|count");
    return reply_errf(s, "unknown subcommand '%.*s'. Try COMMAND HELP.",
                      (int)(sub->len < QUOTE_MAX ? sub->len : QUOTE_MAX),
                      (const char *)sub->data);
}

/* ---- connections -------------------------------------------------------- */

static struct resp_slot *slot_new(struct resp_conn *c, size_t n_ops)
{
    struct resp_slot *s = calloc(1, sizeof *s + n_ops * sizeof s->ops[0]);
    if (s == NULL)
        return NULL;
    s->conn = c;
    s->n_ops = n_ops;
    rkv_buf_init(&s->out);
    if (c->tail != NULL)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    c->n_slots++;
    return s;
}

static void slot_free(struct resp_slot *s)
{
    cancel_ops(s);
    free_values(s);
    rkv_buf_close(&s->out);
    free(s);
}

/* Run one parsed command (`def` NULL if unknown): answer it now, or
 * submit its ops. */
static void dispatch(struct resp_conn *c,
                     const struct resp_api_cmd *def,
                     const struct resp_command *cmd)
{
    bool runs = def != NULL && arity_ok(def, cmd->argc);
    size_t n_ops = !runs                   ? 0
                   : def->ops == OPS_READS ? cmd->argc - 1
                   : def->ops == OPS_WRITE ? 1
                                           : 0;
    struct resp_slot *s = slot_new(c, n_ops);
    int rv;
    if (s == NULL) {
        conn_close(c);
        return;
    }
    if (def == NULL)
        rv = reply_unknown(s, cmd);
    else if (!runs)
        rv = reply_arity(s, def->name);
    else
        rv = def->run(s, cmd);
    if (s->close_after)
        c->stop_parsing = true; /* QUIT: run nothing after it */
    if (s->n_pending == 0)
        slot_answered(s, rv);
    else
        ASSERT(rv == 0);
}

/* Whether the connection may take another command: answers pending and
 * unsent answer bytes are both bounded. */
static bool conn_has_room(const struct resp_conn *c)
{
    return c->n_slots < RESP_API_PIPELINE_MAX &&
           c->tcp.write_queue_size < RESP_API_OUTPUT_MAX;
}

/* Whether the reads of `cmd` may start now. Values are unknown until they
 * are read, so the keys read at once are what bounds the memory the
 * answers take; a command of more keys than that runs alone. */
static bool conn_reads_fit(const struct resp_conn *c,
                           const struct resp_api_cmd *def,
                           const struct resp_command *cmd)
{
    return def == NULL || def->ops != OPS_READS || c->reads_pending == 0 ||
           c->reads_pending + cmd->argc - 1 <= RESP_API_READS_MAX;
}

/* Read unless parsing has stopped or waits for room (see conn_parse()). */
static void conn_update_reading(struct resp_conn *c);

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct resp_conn *c = h->data;
    (void)suggested;
    if (rkv_buf_reserve(&c->in, 64 * 1024) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)c->in.data + c->in.len,
                       (unsigned)(c->in.cap - c->in.len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct resp_conn *c = st->data;
    (void)buf;
    if (nread == UV_EOF) {
        c->eof = true; /* half-closed: answer what was asked, then close */
        conn_parse(c);
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->in.len += (size_t)nread;
    conn_parse(c);
}

static void conn_update_reading(struct resp_conn *c)
{
    bool want = !c->stop_parsing && !c->held && !c->eof;
    if (c->closing || want == c->reading)
        return;
    if (want && uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) != 0) {
        conn_close(c);
        return;
    }
    if (!want)
        (void)uv_read_stop((uv_stream_t *)&c->tcp); /* cannot fail */
    c->reading = want;
}

/* Answer a malformed request as Redis does, then close. */
static void protocol_error(struct resp_conn *c, const char *errmsg)
{
    struct resp_slot *s = slot_new(c, 0);
    LOG_DEBUG(node_logger_of(c->api->node), "RESP client %" PRIu64 ": %s",
              c->id, errmsg);
    c->stop_parsing = true;
    if (s == NULL) {
        conn_close(c);
        return;
    }
    s->close_after = true;
    slot_answered(s, resp_reply_error(&s->out, "ERR", errmsg));
}

/* Run the whole commands in c->in while there is room. When room runs
 * out, the rest is held (and reading paused) until answers are written:
 * on_write() calls this again. */
static void conn_parse(struct resp_conn *c)
{
    struct resp_api *api = c->api;
    size_t off = 0;
    c->held = false;
    while (!c->stop_parsing && !c->closing && off < c->in.len) {
        const struct resp_api_cmd *def = NULL;
        char errmsg[RKV_ERRMSG_LEN];
        size_t used = 0;
        int rv;
        if (!conn_has_room(c)) {
            c->held = true;
            break;
        }
        rv = resp_parse(c->in.data + off, c->in.len - off, &api->cmd, &used,
                        errmsg);
        if (rv == RKV_EAGAIN)
            break;
        if (rv != 0) {
            protocol_error(c, errmsg);
            break;
        }
        if (api->cmd.argc > 0) {
            def = lookup(&api->cmd.argv[0]);
            if (!conn_reads_fit(c, def, &api->cmd)) {
                c->held = true; /* parsed again once reads finish */
                break;
            }
            dispatch(c, def, &api->cmd);
        }
        off += used;
    }
    rkv_buf_consume(&c->in, c->stop_parsing ? c->in.len : off);
    conn_flush(c);
    if (c->eof && !c->held && c->head == NULL && c->writes_pending == 0)
        conn_close(c); /* after the client's EOF, everything is answered */
    else
        conn_update_reading(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct resp_write *w = req->data;
    struct resp_conn *c = w->conn;
    bool close_after = w->close_after;
    rkv_buf_close(&w->buf);
    free(w);
    c->writes_pending--;
    if (status != 0 || close_after)
        conn_close(c);
    else if (!c->closing)
        conn_parse(c); /* answers drained: take what was held back */
}

/* Move the ready answers at the head into one write: all of them, or as
 * many as fit in WRITE_MERGE_MAX bytes. Returns NULL if out of memory. */
static struct resp_write *take_answers(struct resp_conn *c)
{
    struct resp_write *w = calloc(1, sizeof *w);
    struct resp_slot *s;
    if (w == NULL)
        return NULL;
    w->conn = c;
    w->req.data = w;
    rkv_buf_init(&w->buf);
    while ((s = c->head) != NULL && s->ready && !w->close_after) {
        if (w->buf.len == 0) {
            w->buf = s->out; /* moved */
            rkv_buf_init(&s->out);
        } else if (w->buf.len + s->out.len > WRITE_MERGE_MAX) {
            break;
        } else if (rkv_buf_append(&w->buf, s->out.data, s->out.len) != 0) {
            rkv_buf_close(&w->buf);
            free(w);
            return NULL;
        }
        w->close_after = s->close_after;
        c->head = s->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->n_slots--;
        slot_free(s);
    }
    return w;
}

/* Send every answer that is ready at the head, in request order. */
static void conn_flush(struct resp_conn *c)
{
    while (!c->closing && c->head != NULL && c->head->ready) {
        struct resp_write *w = take_answers(c);
        uv_buf_t b;
        if (w == NULL) {
            conn_close(c);
            return;
        }
        if (w->close_after)
            c->stop_parsing = true;
        b = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
            rkv_buf_close(&w->buf);
            free(w);
            conn_close(c);
            return;
        }
        c->writes_pending++;
    }
}

static void api_handle_closed(struct resp_api *api)
{
    api->handles_open--;
    if (api->stopping && api->handles_open == 0) {
        struct node *n = api->node;
        free(api);
        node_subsystem_closed(n);
    }
}

/* Requests are cancelled here, not in conn_close(): see the file comment. */
static void on_conn_closed(uv_handle_t *h)
{
    struct resp_conn *c = h->data;
    struct resp_api *api = c->api;
    while (c->head != NULL) {
        struct resp_slot *s = c->head;
        c->head = s->next;
        slot_free(s);
    }
    rkv_buf_close(&c->in);
    free(c->name);
    free(c);
    api_handle_closed(api);
}

static void conn_close(struct resp_conn *c)
{
    struct resp_api *api = c->api;
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        api->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    api->n_conns--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    static const char full[] = "-ERR max number of clients reached\r\n";
    struct resp_api *api = server->data;
    struct resp_conn *c;
    if (status != 0 || (c = calloc(1, sizeof *c)) == NULL)
        return;
    c->api = api;
    c->id = ++api->next_client_id;
    rkv_buf_init(&c->in);
    if (uv_tcp_init(server->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    api->handles_open++;
    c->next = api->conns;
    if (api->conns != NULL)
        api->conns->prev = c;
    api->conns = c;
    api->n_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (api->n_conns > RESP_API_CONNS_MAX) {
        uv_buf_t b = uv_buf_init((char *)full, sizeof full - 1);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* courtesy */
        conn_close(c);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1); /* latency matters, not fatal */
    conn_update_reading(c);
}

static void on_listener_closed(uv_handle_t *h)
{
    api_handle_closed(h->data);
}

/* resp_api_start() failed: nothing else to close, and the node is not told
 * (it may already be gone). */
static void on_failed_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

int resp_api_start(struct node *n,
                   const char *host,
                   uint16_t port,
                   struct resp_api **out,
                   char *errmsg)
{
    struct sockaddr_storage addr;
    struct resp_api *api;
    int rv;
    *out = NULL;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
        rkv_errmsgf(errmsg, "bad RESP listen address %s", host);
        return RKV_ECONFIG;
    }
    api = calloc(1, sizeof *api);
    if (api == NULL)
        return RKV_ENOMEM;
    api->node = n;
    api->port = port;
    api->start_ms = uv_now(n->loop);
    rv = uv_tcp_init(n->loop, &api->listener);
    if (rv != 0) {
        free(api);
        rkv_errmsgf(errmsg, "RESP listener: %s", uv_strerror(rv));
        return RKV_EIO;
    }
    api->listener.data = api;
    api->handles_open = 1;
    rv = uv_tcp_bind(&api->listener, (struct sockaddr *)&addr, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&api->listener, 511, on_connection);
    if (rv != 0) {
        rkv_errmsgf(errmsg, "RESP listen on %s:%u: %s", host, (unsigned)port,
                    uv_strerror(rv));
        uv_close((uv_handle_t *)&api->listener, on_failed_listener_closed);
        return RKV_EIO;
    }
    *out = api;
    return 0;
}

void resp_api_stop(struct resp_api *api)
{
    ASSERT(!api->stopping);
    api->stopping = true;
    while (api->conns != NULL)
        conn_close(api->conns);
    uv_close((uv_handle_t *)&api->listener, on_listener_closed);
}
