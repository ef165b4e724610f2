/* The client library (include/raftkv/client.h): requests to the nodes'
 * HTTP API, retried through failover within a time budget, with the
 * exactly-once session headers on writes. */
#include "raftkv/client.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/conn.h"
#include "cli/http_client.h"
#include "cli/reply.h"
#include "raftkv/err.h"

struct rkv_client
{
    struct rkv_client_addr nodes[RKV_CLIENT_NODES_MAX]; /* HTTP addresses */
    size_t n_nodes;       /* 1..RKV_CLIENT_NODES_MAX */
    unsigned timeout_ms;  /* budget of one operation, retries included */
    uint64_t client_id;   /* X-Client-Id of every write; random, not 0 */
    uint64_t seq;         /* X-Request-Seq of the last write, 0 before */
    size_t target;        /* node the next operation tries first */
    struct cli_conn conn; /* kept-alive connection, to conn.node */
    struct rkv_buf req;   /* the request being sent */
};

/* One request of an operation, the same on every attempt. */
struct op
{
    const char *method;                     /* "GET", "POST", "DELETE" */
    const char *target;                     /* request-target, encoded */
    const void *body;                       /* JSON body or NULL */
    size_t body_len;                        /* bytes */
    const struct cli_http_session *session; /* writes only, else NULL */
};

/* Prefix the message in `errmsg` with "<host>:<port>: ". Returns `code`. */
static int wrap_node(const struct rkv_client_addr *a, char *errmsg, int code)
{
    char inner[RKV_ERRMSG_LEN];

    memcpy(inner, errmsg, sizeof inner);
    inner[sizeof inner - 1] = '\0';
    return rkv_errf(errmsg, code, "%.128s:%u: %.100s", a->host,
                    (unsigned)a->port, inner);
}

int rkv_client_parse_addrs(const char *list,
                           struct rkv_client_addr *addrs,
                           size_t max,
                           size_t *n,
                           char *errmsg)
{
    size_t count = 0;
    const char *p = list;

    assert(list != NULL && addrs != NULL);
    for (;;) {
        size_t len = strcspn(p, ",");
        int rv;
        if (count == max)
            return rkv_errf(errmsg, RKV_EINVAL, "more than %zu addresses", max);
        rv = cli_addr_parse(p, len, &addrs[count], errmsg);
        if (rv != 0)
            return rv;
        count++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *n = count;
    return 0;
}

int rkv_client_open(const struct rkv_client_addr *nodes,
                    size_t n,
                    unsigned timeout_ms,
                    struct rkv_client **out,
                    char *errmsg)
{
    struct rkv_client *c;
    FILE *f;
    size_t got;

    if (n == 0 || n > RKV_CLIENT_NODES_MAX)
        return rkv_errf(errmsg, RKV_EINVAL, "%zu nodes: expected 1..%d", n,
                        RKV_CLIENT_NODES_MAX);
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return rkv_errf(errmsg, RKV_ENOMEM, "out of memory");
    memcpy(c->nodes, nodes, n * sizeof *nodes);
    c->n_nodes = n;
    c->timeout_ms = timeout_ms != 0 ? timeout_ms : RKV_CLIENT_TIMEOUT_MS;
    cli_conn_init(&c->conn);
    rkv_buf_init(&c->req);
    f = fopen("/dev/urandom", "rb");
    got = f != NULL ? fread(&c->client_id, 1, sizeof c->client_id, f) : 0;
    if (f != NULL)
        (void)fclose(f); /* read-only */
    if (got != sizeof c->client_id) {
        free(c);
        return rkv_errf(errmsg, RKV_EIO, "/dev/urandom: cannot read");
    }
    c->client_id += c->client_id == 0; /* 0 means "no session" */
    *out = c;
    return 0;
}

void rkv_client_free(struct rkv_client *c)
{
    if (c == NULL)
        return;
    cli_conn_close(&c->conn);
    rkv_buf_close(&c->req);
    free(c);
}

const struct rkv_client_addr *rkv_client_node(const struct rkv_client *c,
                                              size_t node)
{
    assert(node < c->n_nodes);
    return &c->nodes[node];
}

size_t rkv_client_n_nodes(const struct rkv_client *c)
{
    return c->n_nodes;
}

/* Send `op` to `node` once and read the answer into `resp` (empty), by
 * `deadline_ms`. A kept-alive connection the node closed while idle is
 * replaced once, at no cost to the retry budget. */
static int send_once(struct rkv_client *c,
                     size_t node,
                     const struct op *op,
                     struct cli_http_response *resp,
                     int64_t deadline_ms,
                     char *errmsg)
{
    const struct rkv_client_addr *a = &c->nodes[node];
    bool reused;
    size_t received;
    int rv;

    assert(node < c->n_nodes);
    if (c->conn.fd >= 0 && c->conn.node != node)
        cli_conn_close(&c->conn);
    reused = c->conn.fd >= 0;
    rkv_buf_truncate(&c->req, 0);
    rv = cli_http_request(&c->req, op->method, op->target, a->host, a->port,
                          op->session, op->body, op->body_len);
    if (rv != 0)
        return rkv_errf(errmsg, rv, "out of memory");
    for (;;) {
        if (c->conn.fd < 0) {
            rv = cli_conn_open(&c->conn, a->host, a->port, deadline_ms, errmsg);
            if (rv != 0)
                return rv;
            c->conn.node = node;
        }
        rv = cli_conn_exchange(&c->conn, &c->req, resp, deadline_ms, &received,
                               errmsg);
        if (rv == 0 && resp->keep_alive)
            return 0;
        cli_conn_close(&c->conn);
        if (!(rv == RKV_EIO && reused && received == 0))
            return rv;
        reused = false;
        cli_http_response_close(resp);
    }
}

/* The index of the node at address `a`, or n_nodes if it is none. */
static size_t find_node(const struct rkv_client *c,
                        const struct rkv_client_addr *a)
{
    size_t i = 0;

    while (i < c->n_nodes && !(c->nodes[i].port == a->port &&
                               strcasecmp(c->nodes[i].host, a->host) == 0))
        i++;
    return i;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Send `op` until a node gives an answer other than 503, or the budget is
 * spent. On success `resp` holds that answer and c->target is the node
 * that gave it. Returns 0, RKV_ETIMEDOUT, RKV_EPROTO, RKV_ETOOBIG or
 * RKV_ENOMEM. */
static int run(struct rkv_client *c,
               const struct op *op,
               struct cli_http_response *resp,
               char *errmsg)
{
    int64_t deadline = cli_now_ms() + c->timeout_ms;
    int64_t backoff = RKV_CLIENT_BACKOFF_MIN_MS;
    char last[RKV_ERRMSG_LEN] = "no attempt";
    size_t node = c->target;
    size_t failed = 0; /* failed attempts since the last pause */

    assert(node < c->n_nodes);
    assert(op->method != NULL && op->target != NULL);
    for (;;) {
        int64_t now = cli_now_ms();
        size_t next = c->n_nodes;
        int rv;

        if (now >= deadline)
            return rkv_errf(errmsg, RKV_ETIMEDOUT,
                            "no answer within %u ms (%.200s)", c->timeout_ms,
                            last);
        cli_http_response_close(resp);
        rv = send_once(c, node, op, resp,
                       min64(deadline, now + RKV_CLIENT_ATTEMPT_MS), last);
        if (rv == 0 && resp->status != 503) {
            c->target = node;
            return 0;
        }
        if (rv == 0) {
            struct cli_reply_error e;
            cli_reply_error(resp->body.data, resp->body.len, &e);
            rkv_errf(last, RKV_EUNAVAIL, "%s",
                     e.message[0] != '\0' ? e.message : "unavailable (503)");
            if (e.has_leader)
                next = find_node(c, &e.leader);
        } else if (rv != RKV_ETIMEDOUT && rv != RKV_EIO) {
            memcpy(errmsg, last, RKV_ERRMSG_LEN);
            return wrap_node(&c->nodes[node], errmsg, rv);
        }
        wrap_node(&c->nodes[node], last, rv);
        node = next < c->n_nodes ? next : (node + 1) % c->n_nodes;
        if (++failed == c->n_nodes) {
            /* A round without an answer: give an election or a restart
             * time before the next. */
            int64_t left = deadline - cli_now_ms();
            if (left > 0)
                cli_sleep_ms(min64(backoff, left));
            backoff = min64(2 * backoff, RKV_CLIENT_BACKOFF_MAX_MS);
            failed = 0;
        }
    }
}

/* An answer `run()` returned that is not the operation's success: map the
 * status to a code and a message naming the node. */
static int answer_error(const struct rkv_client *c,
                        const struct cli_http_response *resp,
                        char *errmsg)
{
    struct cli_reply_error e;
    int code;

    cli_reply_error(resp->body.data, resp->body.len, &e);
    switch (resp->status) {
        case 400:
            code = RKV_EINVAL;
            break;
        case 404:
            code = RKV_ENOTFOUND;
            break;
        case 413:
            code = RKV_ETOOBIG;
            break;
        default:
            code = RKV_EINTERNAL;
            break;
    }
    rkv_errf(errmsg, code, "HTTP %d: %s", resp->status,
             e.message[0] != '\0' ? e.message : "(no message)");
    return wrap_node(&c->nodes[c->target], errmsg, code);
}

/* Run a write: the next sequence number, the same on every retry. */
static int run_write(struct rkv_client *c,
                     struct op *op,
                     struct cli_http_response *resp,
                     char *errmsg)
{
    struct cli_http_session session;
    int rv;

    assert(op->session == NULL);
    assert(c->client_id != 0);
    c->seq++;
    session.client_id = c->client_id;
    session.seq = c->seq;
    op->session = &session;
    rv = run(c, op, resp, errmsg);
    op->session = NULL; /* it pointed into this frame */
    return rv;
}

int rkv_client_put(struct rkv_client *c,
                   const char *key,
                   size_t key_len,
                   const char *value,
                   size_t value_len,
                   uint64_t *index,
                   char *errmsg)
{
    struct rkv_buf body;
    struct cli_http_response resp;
    struct op op = {.method = "POST", .target = "/kv"};
    uint64_t got;
    int rv;

    assert(c != NULL);
    rkv_buf_init(&body);
    cli_http_response_init(&resp);
    rv = cli_reply_put_body(&body, key, key_len, value, value_len, errmsg);
    if (rv != 0)
        goto out;
    op.body = body.data;
    op.body_len = body.len;
    rv = run_write(c, &op, &resp, errmsg);
    if (rv == 0 && resp.status != 200)
        rv = answer_error(c, &resp, errmsg);
    else if (rv == 0 && (rv = cli_reply_put(resp.body.data, resp.body.len, &got,
                                            errmsg)) != 0)
        wrap_node(&c->nodes[c->target], errmsg, rv);
    if (rv == 0 && index != NULL)
        *index = got;
out:
    cli_http_response_close(&resp);
    rkv_buf_close(&body);
    return rv;
}

int rkv_client_get(struct rkv_client *c,
                   const char *key,
                   size_t key_len,
                   bool stale,
                   char **value,
                   size_t *value_len,
                   char *errmsg)
{
    struct rkv_buf target;
    struct cli_http_response resp;
    struct op op = {.method = "GET"};
    int rv;

    assert(c != NULL && value != NULL && value_len != NULL);
    if (key_len == 0)
        return rkv_errf(errmsg, RKV_EINVAL, "empty key");
    rkv_buf_init(&target);
    cli_http_response_init(&resp);
    rv = cli_http_kv_target(&target, key, key_len, stale);
    if (rv != 0) {
        rv = rkv_errf(errmsg, rv, "out of memory");
        goto out;
    }
    op.target = (const char *)target.data;
    rv = run(c, &op, &resp, errmsg);
    if (rv == 0 && resp.status != 200)
        rv = answer_error(c, &resp, errmsg);
    else if (rv == 0 && (rv = cli_reply_get(resp.body.data, resp.body.len,
                                            value, value_len, errmsg)) != 0)
        wrap_node(&c->nodes[c->target], errmsg, rv);
out:
    cli_http_response_close(&resp);
    rkv_buf_close(&target);
    return rv;
}

int rkv_client_del(struct rkv_client *c,
                   const char *key,
                   size_t key_len,
                   char *errmsg)
{
    struct rkv_buf target;
    struct cli_http_response resp;
    struct op op = {.method = "DELETE"};
    int rv;

    assert(c != NULL);
    if (key_len == 0)
        return rkv_errf(errmsg, RKV_EINVAL, "empty key");
    rkv_buf_init(&target);
    cli_http_response_init(&resp);
    rv = cli_http_kv_target(&target, key, key_len, false);
    if (rv != 0) {
        rv = rkv_errf(errmsg, rv, "out of memory");
        goto out;
    }
    op.target = (const char *)target.data;
    rv = run_write(c, &op, &resp, errmsg);
    if (rv == 0 && resp.status != 200)
        rv = answer_error(c, &resp, errmsg);
out:
    cli_http_response_close(&resp);
    rkv_buf_close(&target);
    return rv;
}

/* One GET /status to `node`, by `deadline_ms`. */
static int status_once(struct rkv_client *c,
                       size_t node,
                       int64_t deadline_ms,
                       struct rkv_node_status *st,
                       char *errmsg)
{
    static const struct op op = {.method = "GET", .target = "/status"};
    struct cli_http_response resp;
    int rv;

    assert(node < c->n_nodes);
    cli_http_response_init(&resp);
    rv = send_once(c, node, &op, &resp, deadline_ms, errmsg);
    if (rv == 0 && resp.status != 200) {
        struct cli_reply_error e;
        cli_reply_error(resp.body.data, resp.body.len, &e);
        rv = rkv_errf(errmsg, RKV_EINTERNAL, "HTTP %d: %s", resp.status,
                      e.message[0] != '\0' ? e.message : "(no message)");
    } else if (rv == 0) {
        rv = cli_reply_status(resp.body.data, resp.body.len, st, errmsg);
    }
    cli_http_response_close(&resp);
    return rv;
}

int rkv_client_status(struct rkv_client *c,
                      size_t node,
                      struct rkv_node_status *st,
                      char *errmsg)
{
    unsigned ms = c->timeout_ms < RKV_CLIENT_ATTEMPT_MS ? c->timeout_ms
                                                        : RKV_CLIENT_ATTEMPT_MS;

    assert(c != NULL && st != NULL);
    return status_once(c, node, cli_now_ms() + ms, st, errmsg);
}

int rkv_client_leader(struct rkv_client *c,
                      size_t *node,
                      struct rkv_node_status *st,
                      char *errmsg)
{
    int64_t deadline = cli_now_ms() + c->timeout_ms;
    int64_t backoff = RKV_CLIENT_BACKOFF_MIN_MS;
    /* One round must fit the budget, however many nodes hang. */
    int64_t attempt_ms =
        min64(RKV_CLIENT_ATTEMPT_MS, (int64_t)(c->timeout_ms / c->n_nodes) + 1);
    char last[RKV_ERRMSG_LEN] = "";

    assert(c != NULL && node != NULL);
    for (;;) {
        struct rkv_node_status best = {0}, s;
        size_t found = c->n_nodes, answered = 0;
        int64_t left;
        for (size_t i = 0; i < c->n_nodes; i++) {
            int64_t now = cli_now_ms();
            int rv;
            if (now >= deadline)
                break;
            rv = status_once(c, i, min64(deadline, now + attempt_ms), &s, last);
            if (rv == RKV_ENOMEM)
                return rkv_errf(errmsg, rv, "out of memory");
            if (rv != 0)
                wrap_node(&c->nodes[i], last, rv);
            answered += rv == 0;
            if (rv == 0 && strcmp(s.role, "leader") == 0 &&
                (found == c->n_nodes || s.term > best.term)) {
                found = i;
                best = s;
            }
        }
        if (found < c->n_nodes) {
            c->target = found;
            *node = found;
            if (st != NULL)
                *st = best;
            return 0;
        }
        if (answered > 0)
            rkv_errf(last, 0, "%zu of %zu nodes answered, none leads", answered,
                     c->n_nodes);
        left = deadline - cli_now_ms();
        if (left <= 0)
            return rkv_errf(errmsg, RKV_ETIMEDOUT,
                            "no leader found within %u ms (%.200s)",
                            c->timeout_ms, last);
        cli_sleep_ms(min64(backoff, left));
        backoff = min64(2 * backoff, RKV_CLIENT_BACKOFF_MAX_MS);
    }
}

/* ---- membership and leadership ------------------------------------------ */

/* Run `op` (retried as any operation) and parse its JSON answer into
 * *doc, mapping an error status as answer_error() does. */
static int run_admin(struct rkv_client *c,
                     const struct op *op,
                     int *status,
                     json_t **doc,
                     char *errmsg)
{
    struct cli_http_response resp;
    int rv;

    cli_http_response_init(&resp);
    *doc = NULL;
    rv = run(c, op, &resp, errmsg);
    if (rv == 0 && resp.status != 200 && resp.status != 202)
        rv = answer_error(c, &resp, errmsg);
    if (rv == 0) {
        *status = resp.status;
        *doc = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
        if (!json_is_object(*doc)) {
            json_decref(*doc);
            *doc = NULL;
            rv = wrap_node(&c->nodes[c->target], errmsg,
                           rkv_errf(errmsg, RKV_EPROTO, "answer is not JSON"));
        }
    }
    cli_http_response_close(&resp);
    return rv;
}

static uint64_t json_u64(json_t *doc, const char *name)
{
    json_t *v = json_object_get(doc, name);
    return json_is_integer(v) && json_integer_value(v) > 0
               ? (uint64_t)json_integer_value(v)
               : 0;
}

static void member_from_json(json_t *o, struct rkv_member *m)
{
    const char *addr = json_string_value(json_object_get(o, "addr"));

    memset(m, 0, sizeof *m);
    m->id = json_u64(o, "id");
    m->voter = json_is_true(json_object_get(o, "voter"));
    snprintf(m->addr, sizeof m->addr, "%s", addr != NULL ? addr : "");
    m->has_match = json_object_get(o, "match_index") != NULL;
    m->match_index = json_u64(o, "match_index");
}

int rkv_client_members(struct rkv_client *c,
                       struct rkv_members *out,
                       char *errmsg)
{
    static const struct op op = {.method = "GET", .target = "/members"};
    json_t *doc, *list;
    int status, rv;

    assert(c != NULL && out != NULL);
    rv = run_admin(c, &op, &status, &doc, errmsg);
    if (rv != 0)
        return rv;
    memset(out, 0, sizeof *out);
    out->id = json_u64(doc, "id");
    out->leader = json_u64(doc, "leader");
    out->commit_index = json_u64(doc, "commit_index");
    list = json_object_get(doc, "members");
    for (size_t i = 0; i < json_array_size(list) && i < RKV_CLIENT_NODES_MAX;
         i++)
        member_from_json(json_array_get(list, i), &out->members[out->n++]);
    json_decref(doc);
    return 0;
}

/* Poll the node that accepted a change until it has committed `index`. */
static int wait_commit(struct rkv_client *c, uint64_t index, char *errmsg)
{
    int64_t deadline = cli_now_ms() + c->timeout_ms;
    struct rkv_members ms;

    for (;;) {
        int rv = rkv_client_members(c, &ms, errmsg);
        if (rv != 0)
            return rv;
        if (ms.commit_index >= index)
            return 0;
        if (cli_now_ms() >= deadline)
            return rkv_errf(errmsg, RKV_ETIMEDOUT,
                            "the change at index %llu did not commit within "
                            "%u ms",
                            (unsigned long long)index, c->timeout_ms);
        cli_sleep_ms(RKV_CLIENT_BACKOFF_MIN_MS);
    }
}

/* One change request, then wait for its commit. */
static int change_once(struct rkv_client *c,
                       const char *method,
                       const char *target,
                       json_t *body,
                       char *errmsg)
{
    struct op op = {.method = method, .target = target};
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *doc;
    uint64_t index;
    int status, rv;

    if (body != NULL && text == NULL)
        return rkv_errf(errmsg, RKV_ENOMEM, "out of memory");
    op.body = text;
    op.body_len = text != NULL ? strlen(text) : 0;
    rv = run_admin(c, &op, &status, &doc, errmsg);
    free(text);
    if (rv != 0)
        return rv;
    index = json_u64(doc, "index");
    json_decref(doc);
    return wait_commit(c, index, errmsg);
}

int rkv_client_member_change(struct rkv_client *c,
                             enum rkv_member_change change,
                             uint64_t id,
                             const char *addr,
                             char *errmsg)
{
    char target[48];
    json_t *body;
    int rv;

    assert(c != NULL);
    if (id == 0 || id > 65535)
        return rkv_errf(errmsg, RKV_EINVAL, "bad node id: expected 1..65535");
    if (change == RKV_MEMBER_PROMOTE || change == RKV_MEMBER_REMOVE) {
        bool promote = change == RKV_MEMBER_PROMOTE;
        snprintf(target, sizeof target, "/members/%llu%s",
                 (unsigned long long)id, promote ? "/promote" : "");
        return change_once(c, promote ? "POST" : "DELETE", target, NULL,
                           errmsg);
    }
    if (addr == NULL)
        return rkv_errf(errmsg, RKV_EINVAL, "no address for node %llu",
                        (unsigned long long)id);
    body = json_pack("{s:I,s:s,s:b}", "id", (json_int_t)id, "addr", addr,
                     "learner", change == RKV_MEMBER_ADD_LEARNER);
    if (body == NULL)
        return rkv_errf(errmsg, RKV_ENOMEM, "out of memory");
    rv = change_once(c, "POST", "/members", body, errmsg);
    json_decref(body);
    if (rv != 0 || change == RKV_MEMBER_ADD_LEARNER)
        return rv;
    return rkv_client_member_change(c, RKV_MEMBER_PROMOTE, id, NULL, errmsg);
}

int rkv_client_transfer_leader(struct rkv_client *c, uint64_t id, char *errmsg)
{
    static const struct op base = {.method = "POST",
                                   .target = "/transfer-leader"};
    int64_t deadline = cli_now_ms() + c->timeout_ms;
    struct op op = base;
    char body[48];
    json_t *doc;
    int status, rv;

    assert(c != NULL);
    snprintf(body, sizeof body, "{\"id\":%llu}", (unsigned long long)id);
    op.body = body;
    op.body_len = strlen(body);
    rv = run_admin(c, &op, &status, &doc, errmsg);
    if (rv != 0)
        return rv;
    json_decref(doc);
    for (;;) {
        struct rkv_node_status st;
        size_t node;
        rv = rkv_client_leader(c, &node, &st, errmsg);
        if (rv == 0 && st.id == id)
            return 0;
        if (rv == RKV_ENOMEM)
            return rv;
        if (cli_now_ms() >= deadline)
            return rkv_errf(errmsg, RKV_ETIMEDOUT,
                            "node %llu did not take over within %u ms",
                            (unsigned long long)id, c->timeout_ms);
        cli_sleep_ms(RKV_CLIENT_BACKOFF_MIN_MS);
    }
}
