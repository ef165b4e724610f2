/* The HTTP/JSON front end (http_api.h): libuv connections, the pure parser
 * of src/net/http.c, routing to the node, answers in request order. */
#define _DEFAULT_SOURCE
#include "server/http_api.h"

#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "net/http.h"
#include "net/json.h"
#include "server/node_int.h"

struct http_conn;

/* One request of a connection, from parsing to its answer. */
struct http_slot
{
    struct http_conn *conn; /* owner */
    struct node_op op;      /* the cluster operation, if any */
    bool pending;           /* op submitted, done() not yet called */
    bool ready;             /* `out` holds the whole answer */
    bool keep_alive;        /* the request allows keep-alive */
    bool close_after;       /* close the connection after this answer */
    int route;              /* enum http_route */
    char *key;              /* copy, NUL-terminated */
    size_t key_len;
    char *value; /* PUT: copy, NUL-terminated */
    size_t value_len;
    struct rkv_buf out;     /* the answer */
    struct http_slot *next; /* in request order */
};

struct http_conn
{
    uv_tcp_t tcp;         /* the socket; its data is this conn */
    struct http_api *api; /* owner */
    struct rkv_buf in;    /* bytes not yet parsed */
    struct http_parser_state ps;
    struct http_slot *head, *tail; /* requests awaiting their answer */
    size_t n_slots;
    bool closing;                  /* uv_close called */
    bool reading;                  /* uv_read_start active */
    bool stop_parsing;             /* an answer will close: ignore the rest */
    uint64_t last_ms;              /* last byte received or answer sent */
    uint64_t partial_since_ms;     /* a request started arriving, or 0 */
    struct http_conn *prev, *next; /* all connections */
};

/* Bytes handed to one uv_write, freed in its callback. */
struct http_write
{
    uv_write_t req;
    struct http_conn *conn;
    bool close_after;
    size_t n;
    struct rkv_buf bufs[]; /* n answers */
};

struct http_api
{
    struct node *node; /* owner */
    uv_tcp_t listener;
    uv_timer_t sweep;        /* slow and idle connections */
    struct http_conn *conns; /* open connections */
    size_t n_conns;
    int handles_open; /* listener + sweep + connections */
    bool stopping;
};

static void conn_close(struct http_conn *c);
static void conn_flush(struct http_conn *c);
static void conn_parse(struct http_conn *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* ---- answers ------------------------------------------------------------ */

static void answer_json(struct http_slot *s,
                        int status,
                        json_t *body,
                        unsigned retry_after_s)
{
    struct http_response head = {.status = status,
                                 .keep_alive = s->keep_alive && !s->close_after,
                                 .retry_after_s = retry_after_s};
    if (body == NULL || http_response_json(&s->out, &head, body) != 0) {
        rkv_buf_truncate(&s->out, 0);
        head.status = 500;
        (void)http_response_error(&s->out, &head, "out of memory");
    }
    json_decref(body);
    s->ready = true;
}

static void answer_error(struct http_slot *s,
                         int status,
                         const char *msg,
                         unsigned retry_after_s)
{
    struct http_response head = {.status = status,
                                 .keep_alive = s->keep_alive && !s->close_after,
                                 .retry_after_s = retry_after_s};
    if (http_response_error(&s->out, &head, msg) != 0)
        s->close_after = true;
    s->ready = true;
}

/* 503 naming the leader when one is known, so a client can go there. */
static void answer_unavailable(struct http_slot *s, const char *msg)
{
    struct node *n = s->conn->api->node;
    struct config_member l;
    json_t *body = json_object();
    if (body != NULL) {
        json_object_set_new(body, "error", json_string(msg));
        if (node_leader_member(n, &l)) {
            char addr[CONFIG_HOST_MAX + 8];
            snprintf(addr, sizeof addr, "%s:%u", l.host, l.http_port);
            json_object_set_new(body, "leader", json_integer((json_int_t)l.id));
            json_object_set_new(body, "leader_http", json_string(addr));
        } else {
            json_object_set_new(body, "leader", json_null());
        }
    }
    answer_json(s, 503, body, 1);
}

/* Map a node status (not 0) to an HTTP answer. */
static void answer_status(struct http_slot *s, int status)
{
    switch (status) {
        case RKV_ENOLEADER:
            answer_unavailable(s, "no leader");
            break;
        case RKV_ENOTLEADER:
            answer_unavailable(s, "leadership changed, retry");
            break;
        case RKV_ETIMEDOUT:
            answer_unavailable(s, s->route == HTTP_ROUTE_KV_GET
                                      ? "timed out: no quorum?"
                                      : "timed out waiting for commit: "
                                        "outcome unknown, retry with the "
                                        "same X-Request-Seq");
            break;
        case RKV_ECANCELED:
            answer_unavailable(s,
                               "leadership changed: outcome unknown, "
                               "retry with the same X-Request-Seq");
            break;
        case RKV_ESHUTDOWN:
            answer_unavailable(s, "node shutting down");
            break;
        case RKV_EBUSY: /* raft_propose() while the leader hands over */
            answer_unavailable(s, "leadership transfer in progress, retry");
            break;
        case RKV_ENOSPC:
            answer_error(s, 507,
                         "disk full on this node: outcome unknown, "
                         "retry with the same X-Request-Seq",
                         0);
            break;
        case RKV_ETOOBIG:
            answer_error(s, 413, "command too large", 0);
            break;
        default:
            answer_error(s, 500, rkv_strerror(status), 0);
    }
}

static json_t *key_value_json(const char *key,
                              size_t key_len,
                              const void *value,
                              size_t value_len)
{
    json_t *body = json_object();
    json_t *k = json_stringn(key, key_len);
    json_t *v = value != NULL ? json_stringn(value, value_len) : NULL;
    if (body == NULL || k == NULL || (value != NULL && v == NULL)) {
        json_decref(body);
        json_decref(k);
        json_decref(v);
        return NULL;
    }
    json_object_set_new(body, "key", k);
    if (v != NULL)
        json_object_set_new(body, "value", v);
    return body;
}

static void on_op_done(struct node_op *op)
{
    struct http_slot *s = op->ctx;
    json_t *body;
    s->pending = false;
    if (op->status != 0) {
        answer_status(s, op->status);
    } else if (s->route == HTTP_ROUTE_KV_GET) {
        if (!op->found) {
            body = key_value_json(s->key, s->key_len, NULL, 0);
            if (body != NULL)
                json_object_set_new(body, "error",
                                    json_string("key not found"));
            answer_json(s, 404, body, 0);
        } else {
            body = key_value_json(s->key, s->key_len, op->value.data,
                                  op->value.len);
            if (body == NULL) {
                answer_error(s, 422,
                             "value is not valid UTF-8: read it "
                             "with the Redis protocol",
                             0);
            } else {
                if (op->stale)
                    json_object_set_new(body, "stale", json_true());
                answer_json(s, 200, body, 0);
            }
        }
        kv_buf_free(&op->value);
    } else if (op->res.status == KV_RES_STALE) {
        answer_error(s, 409,
                     "stale X-Request-Seq: a later request of this "
                     "client was already applied",
                     0);
    } else if (op->res.status == KV_RES_NOT_FOUND) {
        body = key_value_json(s->key, s->key_len, NULL, 0);
        if (body != NULL)
            json_object_set_new(body, "error", json_string("key not found"));
        answer_json(s, 404, body, 0);
    } else if (op->res.status != KV_RES_OK) {
        answer_error(s, 500, "the state machine refused the command", 0);
    } else {
        body = key_value_json(s->key, s->key_len, s->value, s->value_len);
        if (body != NULL) {
            json_object_set_new(body, "ok", json_true());
            json_object_set_new(body, "index",
                                json_integer((json_int_t)op->index));
        }
        answer_json(s, 200, body, 0);
    }
    conn_flush(s->conn);
}

/* ---- routes ------------------------------------------------------------- */

static int copy_str(char **dst, size_t *dst_len, const char *src, size_t len)
{
    *dst = malloc(len + 1);
    if (*dst == NULL)
        return RKV_ENOMEM;
    memcpy(*dst, src, len);
    (*dst)[len] = '\0';
    *dst_len = len;
    return 0;
}

static bool key_ok(struct http_slot *s, size_t key_len)
{
    const struct node_config *cfg = node_config_of(s->conn->api->node);
    char msg[128];
    if (key_len == 0) {
        answer_error(s, 400, "empty key", 0);
        return false;
    }
    if (key_len > cfg->max_key_bytes) {
        snprintf(msg, sizeof msg, "key too large: %zu bytes, at most %zu",
                 key_len, cfg->max_key_bytes);
        answer_error(s, 413, msg, 0);
        return false;
    }
    return true;
}

static void submit_write(struct http_slot *s,
                         const struct http_request *req,
                         uint8_t op_code)
{
    struct kv_slice key = {s->key, s->key_len};
    struct kv_slice val = {s->value, s->value_len};
    struct kv_cmd cmd = {.op = op_code, .n = 1, .keys = &key};
    int rv;
    if (op_code == KV_OP_PUT)
        cmd.values = &val;
    if (req->has_session) {
        if (req->client_id == 0 || req->request_seq == 0) {
            answer_error(s, 400,
                         "X-Client-Id and X-Request-Seq must be "
                         "positive integers",
                         0);
            return;
        }
        cmd.client_id = req->client_id;
        cmd.seq = req->request_seq;
    }
    s->op.done = on_op_done;
    s->op.ctx = s;
    rv = node_submit_write(s->conn->api->node, &s->op, &cmd);
    if (rv != 0)
        answer_status(s, rv);
    else
        s->pending = true;
}

static void route_put(struct http_slot *s, const struct http_request *req)
{
    const struct node_config *cfg = node_config_of(s->conn->api->node);
    struct http_kv_put put;
    char errmsg[RKV_ERRMSG_LEN];
    char msg[128];
    int rv = http_kv_put_parse(req->body, req->body_len, &put, errmsg);
    if (rv != 0) {
        answer_error(s, rv == RKV_ETOOBIG ? 413 : 400, errmsg, 0);
        return;
    }
    if (!key_ok(s, put.key_len)) {
        http_kv_put_close(&put);
        return;
    }
    if (put.value_len > cfg->max_value_bytes) {
        snprintf(msg, sizeof msg, "value too large: %zu bytes, at most %zu",
                 put.value_len, cfg->max_value_bytes);
        answer_error(s, 413, msg, 0);
        http_kv_put_close(&put);
        return;
    }
    rv = copy_str(&s->key, &s->key_len, put.key, put.key_len);
    if (rv == 0)
        rv = copy_str(&s->value, &s->value_len, put.value, put.value_len);
    http_kv_put_close(&put);
    if (rv != 0) {
        answer_status(s, rv);
        return;
    }
    submit_write(s, req, KV_OP_PUT);
}

static void route_get(struct http_slot *s, const struct http_request *req)
{
    const struct http_param *p = http_query_get(req, "stale");
    bool stale = p != NULL &&
                 (strcmp(p->value, "true") == 0 || strcmp(p->value, "1") == 0);
    int rv;
    s->op.done = on_op_done;
    s->op.ctx = s;
    s->pending = true;
    rv = node_submit_get(s->conn->api->node, &s->op, s->key, s->key_len, stale);
    if (rv != 0) {
        s->pending = false;
        answer_status(s, rv);
    }
}

/* The configuration in force: voter and learner ids, and whole members
 * (with addresses and, on the leader, match indexes) if `full`. */
static json_t *members_json(struct node *n, bool full, json_t *body)
{
    struct node_member ms[RAFT_MAX_NODES];
    size_t cnt = node_members(n, ms, RAFT_MAX_NODES);
    json_t *voters = json_array(), *learners = json_array();
    json_t *list = full ? json_array() : NULL;
    for (size_t i = 0; i < cnt; i++) {
        const struct node_member *m = &ms[i];
        json_t *o;
        json_array_append_new(m->voter ? voters : learners,
                              json_integer((json_int_t)m->id));
        if (list == NULL || (o = json_object()) == NULL)
            continue;
        json_object_set_new(o, "id", json_integer((json_int_t)m->id));
        json_object_set_new(o, "voter", json_boolean(m->voter));
        if (m->has_addr) {
            char addr[CONFIG_HOST_MAX + 24];
            snprintf(addr, sizeof addr, "%s:%u:%u:%u", m->addr.host,
                     m->addr.peer_port, m->addr.http_port, m->addr.resp_port);
            json_object_set_new(o, "addr", json_string(addr));
        }
        if (m->has_match)
            json_object_set_new(o, "match_index",
                                json_integer((json_int_t)m->match));
        json_array_append_new(list, o);
    }
    json_object_set_new(body, "voters", voters);
    json_object_set_new(body, "learners", learners);
    if (list != NULL)
        json_object_set_new(body, "members", list);
    return body;
}

static void route_members(struct http_slot *s)
{
    struct node *n = s->conn->api->node;
    struct node_status st;
    json_t *body = json_object();
    node_status(n, &st);
    if (body == NULL) {
        answer_error(s, 500, "out of memory", 0);
        return;
    }
    json_object_set_new(body, "id", json_integer((json_int_t)st.id));
    json_object_set_new(
        body, "leader",
        st.leader != 0 ? json_integer((json_int_t)st.leader) : json_null());
    json_object_set_new(body, "commit_index",
                        json_integer((json_int_t)st.commit));
    answer_json(s, 200, members_json(n, true, body), 0);
}

/* The answer to a refused membership change or transfer. */
static void answer_admin_error(struct http_slot *s, int rv, const char *busy)
{
    switch (rv) {
        case RKV_ENOTLEADER:
        case RKV_ENOLEADER:
            answer_unavailable(s, "not the leader");
            break;
        case RKV_EBUSY: {
            char msg[160];
            snprintf(msg, sizeof msg, "busy: %s; retry", busy);
            answer_unavailable(s, msg);
            break;
        }
        case RKV_EINVAL:
            answer_error(s, 400,
                         "refused: not a valid change of this "
                         "configuration",
                         0);
            break;
        default:
            answer_status(s, rv);
    }
}

/* Why a change may be refused with RKV_EBUSY, as far as we can tell. */
static const char *busy_reason(struct node *n, int change, raft_id id)
{
    struct node_status st;
    node_status(n, &st);
    if (st.transfer_target != 0)
        return "leadership transfer in progress";
    if (change == RAFT_CHANGE_PROMOTE) {
        for (size_t i = 0; i < st.n_progress; i++)
            if (st.progress[i].id == id && !st.progress[i].voter &&
                st.progress[i].match < st.commit)
                return "learner not caught up";
    }
    return "membership change in flight";
}

/* Answer an accepted change: `status` 200 once proposed (the CLI waits
 * for GET /members' commit_index to reach `index`), 202 when more is to
 * be done by the caller (promotion after an add with "learner": false). */
static void answer_change(struct http_slot *s,
                          int status,
                          raft_id id,
                          raft_index index)
{
    json_t *body = json_object();
    if (body != NULL) {
        json_object_set_new(body, "ok", json_true());
        json_object_set_new(body, "id", json_integer((json_int_t)id));
        json_object_set_new(body, "index", json_integer((json_int_t)index));
        if (status == 202)
            json_object_set_new(body, "next",
                                json_string("promote once caught up: "
                                            "POST /members/<id>/promote"));
    }
    answer_json(s, status, body, 0);
}

/* "host:peer_port[:http_port[:resp_port]]"; ports omitted as in
 * nodes.conf (PEER + 1000, PEER + 2000). Returns false if malformed. */
static bool parse_member_addr(const char *text, struct config_member *m)
{
    unsigned long p[3] = {0, 0, 0};
    const char *q = strchr(text, ':');
    size_t hlen = q != NULL ? (size_t)(q - text) : 0;
    if (hlen == 0 || hlen > 100)
        return false;
    for (size_t i = 0; i < hlen; i++)
        if (text[i] <= ' ' || text[i] > '~')
            return false;
    for (int k = 0; k < 3 && *q == ':'; k++) {
        char *end;
        if (q[1] < '0' || q[1] > '9')
            return false;
        p[k] = strtoul(q + 1, &end, 10);
        if (p[k] == 0 || p[k] > 65535)
            return false;
        q = end;
    }
    if (*q != '\0')
        return false;
    if (p[1] == 0)
        p[1] = p[0] + CONFIG_FILE_HTTP_OFFSET;
    if (p[2] == 0)
        p[2] = p[0] + CONFIG_FILE_RESP_OFFSET;
    if (p[1] > 65535 || p[2] > 65535)
        return false;
    memcpy(m->host, text, hlen);
    m->host[hlen] = '\0';
    m->peer_port = (uint16_t)p[0];
    m->http_port = (uint16_t)p[1];
    m->resp_port = (uint16_t)p[2];
    return true;
}

/* The "id" of a JSON body: a positive integer no larger than
 * CONFIG_ID_MAX. Returns 0 if missing or bad. */
static raft_id body_id(json_t *root)
{
    json_t *v = json_object_get(root, "id");
    json_int_t id = json_is_integer(v) ? json_integer_value(v) : 0;
    return id > 0 && id <= CONFIG_ID_MAX ? (raft_id)id : 0;
}

static json_t *parse_body(struct http_slot *s, const struct http_request *req)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)req->body, req->body_len,
                              JSON_REJECT_DUPLICATES, &err);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        answer_error(s, 400, "body must be a JSON object", 0);
        return NULL;
    }
    return root;
}

static void route_member_add(struct http_slot *s,
                             const struct http_request *req)
{
    struct node *n = s->conn->api->node;
    struct config_member m;
    json_t *root = parse_body(s, req), *addr, *learner;
    raft_index index = 0;
    int rv;
    if (root == NULL)
        return;
    memset(&m, 0, sizeof m);
    m.id = body_id(root);
    addr = json_object_get(root, "addr");
    learner = json_object_get(root, "learner");
    if (m.id == 0 || !json_is_string(addr) ||
        !parse_member_addr(json_string_value(addr), &m) ||
        (learner != NULL && !json_is_boolean(learner))) {
        json_decref(root);
        answer_error(s, 400,
                     "expected {\"id\": 1..65535, \"addr\": "
                     "\"host:peer_port[:http_port[:resp_port]]\", "
                     "\"learner\": true|false}",
                     0);
        return;
    }
    rv = node_change_member(n, RAFT_CHANGE_ADD_LEARNER, &m, &index);
    if (rv != 0)
        answer_admin_error(s, rv,
                           busy_reason(n, RAFT_CHANGE_ADD_LEARNER, m.id));
    else
        answer_change(s, learner == NULL || json_is_true(learner) ? 200 : 202,
                      m.id, index);
    json_decref(root);
}

/* POST /members/<id>/promote, DELETE /members/<id>. */
static void route_member_change(struct http_slot *s, int change, raft_id id)
{
    struct node *n = s->conn->api->node;
    struct config_member m;
    raft_index index = 0;
    int rv;
    if (id == 0 || id > CONFIG_ID_MAX) {
        answer_error(s, 400, "bad member id: expected 1..65535", 0);
        return;
    }
    memset(&m, 0, sizeof m);
    m.id = id;
    rv = node_change_member(n, change, &m, &index);
    if (rv != 0)
        answer_admin_error(s, rv, busy_reason(n, change, id));
    else
        answer_change(s, 200, id, index);
}

static void route_transfer(struct http_slot *s, const struct http_request *req)
{
    struct node *n = s->conn->api->node;
    json_t *root = parse_body(s, req), *body;
    raft_id id;
    int rv;
    if (root == NULL)
        return;
    id = body_id(root);
    json_decref(root);
    if (id == 0) {
        answer_error(s, 400, "expected {\"id\": 1..65535}", 0);
        return;
    }
    /* Already done: asking again is not an error. */
    rv =
        id == node_config_of(n)->self_id && raft_role_of(n->raft) == RAFT_LEADER
            ? 0
            : node_transfer_leader(n, id);
    if (rv != 0) {
        answer_admin_error(s, rv, "leadership transfer in progress");
        return;
    }
    body = json_object();
    if (body != NULL) {
        json_object_set_new(body, "ok", json_true());
        json_object_set_new(body, "target", json_integer((json_int_t)id));
    }
    answer_json(s, 202, body, 0);
}

static void route_status(struct http_slot *s)
{
    struct node *n = s->conn->api->node;
    struct node_status st;
    char cid[20];
    json_t *body = json_object(), *peers = json_array();
    node_status(n, &st);
    if (body == NULL || peers == NULL) {
        json_decref(peers);
        answer_json(s, 500, body, 0);
        return;
    }
    json_object_set_new(body, "id", json_integer((json_int_t)st.id));
    json_object_set_new(body, "role", json_string(st.role));
    json_object_set_new(body, "term", json_integer((json_int_t)st.term));
    json_object_set_new(
        body, "leader",
        st.leader != 0 ? json_integer((json_int_t)st.leader) : json_null());
    json_object_set_new(body, "log_length",
                        json_integer((json_int_t)st.last_index));
    json_object_set_new(body, "first_index",
                        json_integer((json_int_t)st.first_index));
    json_object_set_new(body, "commit_index",
                        json_integer((json_int_t)st.commit));
    json_object_set_new(body, "last_applied",
                        json_integer((json_int_t)st.applied));
    json_object_set_new(body, "snapshot_index",
                        json_integer((json_int_t)st.snapshot.index));
    json_object_set_new(body, "keys", json_integer((json_int_t)st.keys));
    snprintf(cid, sizeof cid, "%016" PRIx64, st.cluster_id);
    json_object_set_new(body, "cluster_id", json_string(cid));
    json_object_set_new(body, "transfer_target",
                        st.transfer_target != 0
                            ? json_integer((json_int_t)st.transfer_target)
                            : json_null());
    (void)members_json(n, false, body); /* adds to body */
    for (size_t i = 0; i < st.n_progress; i++) {
        static const char *const states[] = {"probe", "replicate", "snapshot"};
        const struct raft_progress_info *pi = &st.progress[i];
        json_t *p = json_object();
        if (p == NULL)
            continue;
        json_object_set_new(p, "id", json_integer((json_int_t)pi->id));
        json_object_set_new(p, "match_index",
                            json_integer((json_int_t)pi->match));
        json_object_set_new(p, "next_index",
                            json_integer((json_int_t)pi->next));
        json_object_set_new(p, "state", json_string(states[pi->state % 3]));
        json_object_set_new(p, "active", json_boolean(pi->recent_active));
        json_object_set_new(p, "voter", json_boolean(pi->voter));
        json_array_append_new(peers, p);
    }
    json_object_set_new(body, "peers", peers);
    answer_json(s, 200, body, 0);
}

static void route_metrics(struct http_slot *s)
{
    struct rkv_buf text;
    struct http_response head = {.status = 200,
                                 .content_type = "text/plain; version=0.0.4",
                                 .keep_alive = s->keep_alive};
    rkv_buf_init(&text);
    if (http_api_metrics(s->conn->api->node, &text) != 0) {
        rkv_buf_close(&text);
        answer_error(s, 500, "out of memory", 0);
        return;
    }
    head.body = text.data;
    head.body_len = text.len;
    if (http_response_write(&s->out, &head) != 0)
        s->close_after = true;
    rkv_buf_close(&text);
    s->ready = true;
}

static void route_health(struct http_slot *s)
{
    struct node *n = s->conn->api->node;
    struct node_status st;
    json_t *body = json_object();
    node_status(n, &st);
    if (body != NULL) {
        json_object_set_new(body, "health",
                            json_string(st.leader != 0 ? "ok" : "no leader"));
        json_object_set_new(body, "role", json_string(st.role));
    }
    answer_json(s, st.leader != 0 ? 200 : 503, body, st.leader != 0 ? 0 : 1);
}

static void route(struct http_slot *s, const struct http_request *req)
{
    struct http_route_info info;
    s->route = (int)http_route(req->method, req->path, req->path_len, &info);
    switch (s->route) {
        case HTTP_ROUTE_KV_PUT:
            route_put(s, req);
            break;
        case HTTP_ROUTE_KV_GET:
        case HTTP_ROUTE_KV_DELETE:
            if (!key_ok(s, info.key_len))
                break;
            if (copy_str(&s->key, &s->key_len, info.key, info.key_len) != 0) {
                answer_status(s, RKV_ENOMEM);
                break;
            }
            if (s->route == HTTP_ROUTE_KV_GET)
                route_get(s, req);
            else
                submit_write(s, req, KV_OP_DEL);
            break;
        case HTTP_ROUTE_STATUS:
            route_status(s);
            break;
        case HTTP_ROUTE_METRICS:
            route_metrics(s);
            break;
        case HTTP_ROUTE_HEALTH:
            route_health(s);
            break;
        case HTTP_ROUTE_MEMBERS:
            route_members(s);
            break;
        case HTTP_ROUTE_MEMBER_ADD:
            route_member_add(s, req);
            break;
        case HTTP_ROUTE_MEMBER_PROMOTE:
            route_member_change(s, RAFT_CHANGE_PROMOTE, info.member_id);
            break;
        case HTTP_ROUTE_MEMBER_REMOVE:
            route_member_change(s, RAFT_CHANGE_REMOVE, info.member_id);
            break;
        case HTTP_ROUTE_TRANSFER:
            route_transfer(s, req);
            break;
        case HTTP_ROUTE_BAD_METHOD: {
            struct http_response head = {.status = 405,
                                         .keep_alive = s->keep_alive,
                                         .allow = info.allow};
            if (http_response_error(&s->out, &head, "method not allowed") != 0)
                s->close_after = true;
            s->ready = true;
            break;
        }
        default:
            answer_error(s, 404, "no such path", 0);
    }
}

/* ---- connections -------------------------------------------------------- */

static struct http_slot *slot_new(struct http_conn *c)
{
    struct http_slot *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->conn = c;
    rkv_buf_init(&s->out);
    if (c->tail != NULL)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    c->n_slots++;
    return s;
}

static void slot_free(struct http_conn *c, struct http_slot *s)
{
    if (s->pending)
        node_op_cancel(c->api->node, &s->op);
    free(s->key);
    free(s->value);
    rkv_buf_close(&s->out);
    free(s);
}

static void on_write(uv_write_t *req, int status)
{
    struct http_write *w = (struct http_write *)req;
    struct http_conn *c = w->conn;
    for (size_t i = 0; i < w->n; i++)
        rkv_buf_close(&w->bufs[i]);
    if (status != 0 || w->close_after)
        conn_close(c);
    free(w);
}

/* Send every answer that is ready at the head, in request order. */
static void conn_flush(struct http_conn *c)
{
    size_t n = 0;
    struct http_slot *s;
    struct http_write *w;
    uv_buf_t bufs[64];
    bool close_after = false;
    if (c->closing)
        return;
    for (s = c->head; s != NULL && s->ready && n < 64 && !close_after;
         s = s->next) {
        close_after = s->close_after || !s->keep_alive;
        n++;
    }
    if (n == 0)
        return;
    w = malloc(sizeof *w + n * sizeof w->bufs[0]);
    if (w == NULL) {
        conn_close(c);
        return;
    }
    w->conn = c;
    w->n = n;
    w->close_after = close_after;
    for (size_t i = 0; i < n; i++) {
        s = c->head;
        c->head = s->next;
        if (c->head == NULL)
            c->tail = NULL;
        c->n_slots--;
        w->bufs[i] = s->out; /* moved */
        rkv_buf_init(&s->out);
        bufs[i] =
            uv_buf_init((char *)w->bufs[i].data, (unsigned)w->bufs[i].len);
        slot_free(c, s);
    }
    c->last_ms = uv_now(c->tcp.loop);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, (unsigned)n,
                 on_write) != 0) {
        for (size_t i = 0; i < n; i++)
            rkv_buf_close(&w->bufs[i]);
        free(w);
        conn_close(c);
        return;
    }
    if (close_after) {
        c->stop_parsing = true;
        return;
    }
    if (c->head != NULL && c->head->ready)
        conn_flush(c); /* more than 64 were ready */
    else if (!c->reading && c->n_slots < HTTP_API_PIPELINE_MAX)
        conn_parse(c); /* resume what backpressure held back */
}

static void on_conn_closed(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    struct http_api *api = c->api;
    rkv_buf_close(&c->in);
    free(c);
    api->handles_open--;
    if (api->stopping && api->handles_open == 0) {
        struct node *n = api->node;
        n->http = NULL;
        free(api);
        node_subsystem_closed(n);
    }
}

static void conn_close(struct http_conn *c)
{
    struct http_api *api = c->api;
    if (c->closing)
        return;
    c->closing = true;
    while (c->head != NULL) {
        struct http_slot *s = c->head;
        c->head = s->next;
        slot_free(c, s);
    }
    c->tail = NULL;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        api->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    api->n_conns--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_conn *c = h->data;
    (void)suggested;
    if (rkv_buf_reserve(&c->in, 64 * 1024) != 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init((char *)c->in.data + c->in.len,
                       (unsigned)(c->in.cap - c->in.len));
}

/* Answer a request that could not be parsed, then close. */
static void answer_bad_request(struct http_conn *c, int rv, const char *msg)
{
    struct http_slot *s = slot_new(c);
    if (s == NULL) {
        conn_close(c);
        return;
    }
    s->close_after = true;
    answer_error(s, rv == RKV_ETOOBIG ? 413 : 400, msg, 0);
    c->stop_parsing = true;
}

/* Parse and route every whole request in c->in. */
static void conn_parse(struct http_conn *c)
{
    struct node *n = c->api->node;
    while (!c->stop_parsing && !c->closing && c->in.len > 0) {
        struct http_request req;
        char errmsg[RKV_ERRMSG_LEN];
        size_t consumed = 0;
        if (c->n_slots >= HTTP_API_PIPELINE_MAX) {
            /* Backpressure: stop reading until answers drain. The 408
             * clock stops too: the wait is ours, not the client's. */
            if (c->reading && uv_read_stop((uv_stream_t *)&c->tcp) == 0)
                c->reading = false;
            c->partial_since_ms = 0;
            return;
        }
        int rv = http_parse_request(&c->ps, c->in.data, c->in.len, &req,
                                    &consumed, errmsg);
        if (http_take_continue(&c->ps)) {
            uv_buf_t b =
                uv_buf_init((char *)HTTP_CONTINUE, sizeof HTTP_CONTINUE - 1);
            (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1); /* advisory */
        }
        if (rv == RKV_EAGAIN) {
            if (c->partial_since_ms == 0)
                c->partial_since_ms = uv_now(c->tcp.loop);
            break;
        }
        if (rv != 0) {
            LOG_DEBUG(node_logger_of(n), "bad HTTP request: %s", errmsg);
            answer_bad_request(c, rv, errmsg);
            break;
        }
        c->partial_since_ms = 0;
        struct http_slot *s = slot_new(c);
        if (s == NULL) {
            conn_close(c);
            return;
        }
        s->keep_alive = req.keep_alive;
        route(s, &req);
        rkv_buf_consume(&c->in, consumed);
        http_parser_state_init(&c->ps);
    }
    if (!c->reading && !c->closing && !c->stop_parsing &&
        c->n_slots < HTTP_API_PIPELINE_MAX)
        c->reading =
            uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) == 0;
    conn_flush(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = st->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->in.len += (size_t)nread;
    c->last_ms = uv_now(st->loop);
    if (c->stop_parsing) {
        rkv_buf_truncate(&c->in, 0); /* the answer will close */
        return;
    }
    conn_parse(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct http_api *api = server->data;
    struct http_conn *c;
    if (status != 0)
        return;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->api = api;
    rkv_buf_init(&c->in);
    http_parser_state_init(&c->ps);
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    api->handles_open++;
    c->next = api->conns;
    if (api->conns != NULL)
        api->conns->prev = c;
    api->conns = c;
    api->n_conns++;
    c->last_ms = uv_now(server->loop);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        api->n_conns > HTTP_API_CONNS_MAX) {
        conn_close(c);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1); /* latency matters, not fatal */
    c->reading = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) == 0;
    if (!c->reading)
        conn_close(c);
}

/* Slow requests get 408, idle connections are closed. */
static void on_sweep(uv_timer_t *t)
{
    struct http_api *api = t->data;
    uint64_t now = uv_now(t->loop);
    struct http_conn *c = api->conns, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        if (c->stop_parsing || c->closing)
            continue;
        if (c->partial_since_ms != 0 &&
            now - c->partial_since_ms > HTTP_API_REQUEST_TIMEOUT_MS) {
            struct http_slot *s = slot_new(c);
            if (s == NULL) {
                conn_close(c);
                continue;
            }
            s->close_after = true;
            answer_error(s, 408, "request not received in time", 0);
            c->stop_parsing = true;
            conn_flush(c);
        } else if (c->head == NULL &&
                   now - c->last_ms > HTTP_API_IDLE_TIMEOUT_MS) {
            conn_close(c);
        } else if (!c->reading && c->n_slots < HTTP_API_PIPELINE_MAX) {
            c->reading =
                uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) == 0;
        }
    }
}

static void on_api_handle_closed(uv_handle_t *h)
{
    struct http_api *api = h->data;
    api->handles_open--;
    if (api->stopping && api->handles_open == 0) {
        struct node *n = api->node;
        n->http = NULL;
        free(api);
        node_subsystem_closed(n);
    }
}

int http_api_start(struct node *n,
                   const char *host,
                   uint16_t port,
                   char *errmsg)
{
    struct sockaddr_storage addr;
    struct http_api *api = calloc(1, sizeof *api);
    int rv;
    if (api == NULL)
        return RKV_ENOMEM;
    api->node = n;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
        rkv_errmsgf(errmsg, "bad HTTP listen address %s", host);
        free(api);
        return RKV_ECONFIG;
    }
    uv_tcp_init(n->loop, &api->listener);
    api->listener.data = api;
    uv_timer_init(n->loop, &api->sweep);
    api->sweep.data = api;
    api->handles_open = 2;
    n->http = api;
    rv = uv_tcp_bind(&api->listener, (struct sockaddr *)&addr, 0);
    if (rv == 0)
        rv = uv_listen((uv_stream_t *)&api->listener, 511, on_connection);
    if (rv != 0) {
        rkv_errmsgf(errmsg, "HTTP listen on %s:%u: %s", host, port,
                    uv_strerror(rv));
        return RKV_EIO; /* node_stop() closes the handles */
    }
    uv_timer_start(&api->sweep, on_sweep, 1000, 1000);
    return 0;
}

void http_api_stop(struct node *n)
{
    struct http_api *api = n->http;
    if (api == NULL || api->stopping)
        return;
    api->stopping = true;
    while (api->conns != NULL)
        conn_close(api->conns);
    uv_close((uv_handle_t *)&api->listener, on_api_handle_closed);
    uv_close((uv_handle_t *)&api->sweep, on_api_handle_closed);
}
