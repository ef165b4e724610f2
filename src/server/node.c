/* The raftkv node (node.h): start-up and recovery, the Ready pipeline,
 * client operations, snapshots. Everything runs on the loop thread except
 * the persist and snapshot work, which run on libuv workers and touch only
 * what the loop thread leaves alone until their after-callbacks. */
#define _DEFAULT_SOURCE
#include "server/node.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/peer.h"
#include "server/http_api.h"
#include "server/node_int.h"
#include "server/resp_api.h"
#include "storage/disk.h"
#include "storage/hardstate.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"

const uint64_t node_latency_bounds_us[12] = {
    250,   500,   1000,   2000,   5000,    10000,
    25000, 50000, 100000, 250000, 1000000, 5000000,
};

/* Envelope of every client command in the log: who took the request, so
 * that node (and only it) answers when the entry is applied. Forwarding
 * through the core loses the index, so the tag is how a follower recognizes
 * its own command. Layout: u8 version, u16 origin node id, u64 tag (LE). */
#define ENVELOPE_VERSION 1
#define ENVELOPE_LEN 11

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* 64 random bits from the kernel; the time if that fails (uniqueness
 * across restarts is all that is needed). */
static uint64_t random_u64(void)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, &v, sizeof v) != (ssize_t)sizeof v)
        v = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    if (fd >= 0)
        close(fd);
    return v;
}

/* ---- operation lists ---------------------------------------------------- */

static void list_push(struct node_op_list *l, struct node_op *op, int which)
{
    ASSERT(op->list == 0);
    op->list = which;
    op->next = NULL;
    op->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
    l->n++;
}

static void list_remove(struct node_op_list *l, struct node_op *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->prev = op->next = NULL;
    op->list = 0;
    l->n--;
}

static struct node_op_list *list_of(struct node *n, int which)
{
    switch (which) {
        case NODE_LIST_WRITES:
            return &n->writes;
        case NODE_LIST_READS_INDEX:
            return &n->reads_index;
        default:
            return &n->reads_apply;
    }
}

static void record_latency(struct node *n, struct node_op *op, int kind)
{
    uint64_t us = (uv_now(n->loop) - op->start_ms) * 1000;
    struct node_metrics *m = &n->metrics;
    if (kind == 0) {
        m->write_latency_us_sum += us;
        m->write_latency_count++;
    } else {
        m->read_latency_us_sum += us;
        m->read_latency_count++;
    }
    for (int i = 0; i < 12; i++)
        if (us <= node_latency_bounds_us[i])
            m->latency_buckets[kind][i]++;
}

/* Unlink `op` and give it back to its front end with `status`. */
static void op_finish(struct node *n, struct node_op *op, int status)
{
    if (op->list != 0)
        list_remove(list_of(n, op->list), op);
    op->status = status;
    if (status == 0)
        record_latency(n, op, op->kind == NODE_OP_WRITE ? 0 : 1);
    else if (op->kind == NODE_OP_WRITE)
        n->metrics.proposals_failed++;
    free(op->key);
    op->key = NULL;
    op->done(op);
}

void node_op_cancel(struct node *n, struct node_op *op)
{
    if (op->list != 0)
        list_remove(list_of(n, op->list), op);
    free(op->key);
    op->key = NULL;
    kv_buf_free(&op->value);
}

static void fail_list(struct node *n, struct node_op_list *l, int status)
{
    while (l->head != NULL)
        op_finish(n, l->head, status);
}

/* Requests past their deadline: the outcome of a write is unknown (it may
 * still commit); a read simply did not happen. */
static void expire_ops(struct node *n)
{
    uint64_t now = uv_now(n->loop);
    struct node_op_list *lists[] = {&n->writes, &n->reads_index,
                                    &n->reads_apply};
    for (size_t i = 0; i < 3; i++) {
        struct node_op *op = lists[i]->head, *next;
        for (; op != NULL; op = next) {
            next = op->next;
            if (op->deadline_ms <= now)
                op_finish(n, op, RKV_ETIMEDOUT);
        }
    }
}

/* ---- reads -------------------------------------------------------------- */

static void serve_get(struct node *n, struct node_op *op)
{
    char errmsg[RKV_ERRMSG_LEN];
    int rv = kv_get(n->kv, op->key, op->key_len, &op->value, errmsg);
    if (rv == RKV_ENOTFOUND) {
        op->found = false;
        rv = 0;
    } else if (rv == 0) {
        op->found = true;
    } else {
        LOG_WARN(&n->log, "read failed: %s", errmsg);
    }
    op_finish(n, op, rv);
}

/* Serve every read whose index the state machine has reached. */
static void serve_reads(struct node *n)
{
    struct node_op *op = n->reads_apply.head, *next;
    for (; op != NULL; op = next) {
        next = op->next;
        if (op->read_index <= n->applied)
            serve_get(n, op);
    }
}

static void on_read_state(struct node *n, const struct raft_read_state *rs)
{
    struct node_op *op = n->reads_index.head;
    while (op != NULL && op->id != rs->context)
        op = op->next;
    if (op == NULL)
        return; /* timed out or cancelled meanwhile */
    if (rs->status != 0) {
        op_finish(n, op, rs->status);
        return;
    }
    list_remove(&n->reads_index, op);
    op->read_index = rs->index;
    op->index = rs->index;
    list_push(&n->reads_apply, op, NODE_LIST_READS_APPLY);
}

int node_submit_get(struct node *n,
                    struct node_op *op,
                    const void *key,
                    size_t key_len,
                    bool stale)
{
    int rv;
    memset(&op->res, 0, sizeof op->res);
    op->kind = NODE_OP_GET;
    op->list = 0;
    op->value = (struct kv_buf){NULL, 0};
    op->stale = stale;
    op->found = false;
    op->start_ms = uv_now(n->loop);
    op->deadline_ms = op->start_ms + n->cfg.request_timeout_ms;
    op->key = malloc(key_len > 0 ? key_len : 1);
    if (op->key == NULL)
        return RKV_ENOMEM;
    memcpy(op->key, key, key_len);
    op->key_len = key_len;
    n->metrics.reads++;
#ifdef RKV_BUG_LOCAL_READS
    stale = true; /* planted bug (nemesis check): no ReadIndex at all */
#endif
    if (stale) {
        serve_get(n, op);
        return 0;
    }
    op->id = ++n->next_id;
    rv = raft_read_index(n->raft, op->id);
    if (rv != 0) {
        free(op->key);
        op->key = NULL;
        return rv;
    }
    list_push(&n->reads_index, op, NODE_LIST_READS_INDEX);
    node_kick(n);
    return 0;
}

/* ---- writes ------------------------------------------------------------- */

int node_submit_write(struct node *n,
                      struct node_op *op,
                      const struct kv_cmd *cmd)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct kv_buf enc = {NULL, 0};
    uint8_t *data;
    size_t len;
    int rv;
    memset(&op->res, 0, sizeof op->res);
    op->kind = NODE_OP_WRITE;
    op->list = 0;
    op->key = NULL;
    op->value = (struct kv_buf){NULL, 0};
    rv = kv_cmd_encode_alloc(cmd, &enc, errmsg);
    if (rv != 0)
        return rv;
    len = ENVELOPE_LEN + enc.len;
    data = malloc(len);
    if (data == NULL) {
        kv_buf_free(&enc);
        return RKV_ENOMEM;
    }
    op->id = ++n->next_id;
    data[0] = ENVELOPE_VERSION;
    put_le(data + 1, n->cfg.self_id, 2);
    put_le(data + 3, op->id, 8);
    memcpy(data + ENVELOPE_LEN, enc.data, enc.len);
    kv_buf_free(&enc);
    rv = raft_propose(n->raft, data, len, &op->index, NULL);
    free(data);
    if (rv != 0)
        return rv;
    n->metrics.proposals++;
    op->start_ms = uv_now(n->loop);
    op->deadline_ms = op->start_ms + n->cfg.request_timeout_ms;
    list_push(&n->writes, op, NODE_LIST_WRITES);
    node_kick(n);
    return 0;
}

/* ---- applying ----------------------------------------------------------- */

/* The state machine's view of a log entry: the command without the
 * envelope. */
static struct raft_entry unwrap(const struct raft_entry *e)
{
    struct raft_entry inner = *e;
    if (e->type == RAFT_ENTRY_NORMAL && e->len >= ENVELOPE_LEN &&
        e->data[0] == ENVELOPE_VERSION) {
        inner.data = e->data + ENVELOPE_LEN;
        inner.len = e->len - ENVELOPE_LEN;
    }
    return inner;
}

/* Answer this node's own request carried by the applied entry `e`. */
static void complete_write(struct node *n,
                           const struct raft_entry *e,
                           const struct kv_result *res)
{
    struct node_op *op;
    uint64_t tag;
    if (e->type != RAFT_ENTRY_NORMAL || e->len < ENVELOPE_LEN ||
        get_le(e->data + 1, 2) != n->cfg.self_id)
        return;
    tag = get_le(e->data + 3, 8);
    for (op = n->writes.head; op != NULL && op->id != tag; op = op->next)
        ;
    if (op == NULL)
        return;
    op->res = *res;
    op->index = e->index;
    op_finish(n, op, 0);
}

static void on_kv_timer(uv_timer_t *t);
static void sync_peers(struct node *n);
static void check_removed(struct node *n);

/* Make the state machine's applies durable (one fsync for all since the
 * last commit). On failure they are lost from it, and the entries are
 * applied again from the log before anything new. */
void node_kv_commit(struct node *n)
{
    char errmsg[RKV_ERRMSG_LEN];
    int rv = kv_commit(n->kv, errmsg);
    n->kv_uncommitted = 0;
    if (n->handles_open > 0) /* not during start-up recovery */
        uv_timer_stop(&n->kv_timer);
    if (rv != 0) {
        LOG_ERROR(&n->log,
                  "state machine commit failed, re-applying from "
                  "%" PRIu64 ": %s",
                  kv_durable_index(n->kv), errmsg);
        n->applied = kv_applied_index(n->kv);
        n->kv_behind = true;
    }
}

static void on_kv_timer(uv_timer_t *t)
{
    node_kv_commit(t->data);
}

/* Apply entries through `last` that the core already handed out, from the
 * log (after a failed commit). They are still there: compaction never goes
 * past the state machine's durable index. */
static int reapply(struct node *n, raft_index last, char *errmsg)
{
    while (n->applied < last) {
        const struct raft_entry *e = raft_entry_at(n->raft, n->applied + 1);
        struct raft_entry inner;
        struct kv_result res;
        int rv;
        if (e == NULL) {
            rkv_errmsgf(errmsg, "entry %" PRIu64 " is not in the log",
                        n->applied + 1);
            return RKV_EINTERNAL;
        }
        inner = unwrap(e);
        rv = kv_apply(n->kv, &inner, 1, &res, errmsg);
        if (rv != 0)
            return rv;
        n->applied = e->index;
    }
    n->kv_behind = false;
    return 0;
}

/* Apply `rd.committed`: unwrap the envelopes, apply the batch in one
 * state-machine transaction, answer this node's own requests. */
static int apply_committed(struct node *n,
                           const struct raft_ready *rd,
                           char *errmsg)
{
    size_t cnt = rd->n_committed;
    struct raft_entry *inner;
    struct kv_result *res;
    int rv;
    if (cnt == 0)
        return 0;
    if (n->kv_behind) {
        rv = reapply(n, rd->committed[0].index - 1, errmsg);
        if (rv != 0)
            return rv;
    }
    inner = malloc(cnt * sizeof *inner);
    res = malloc(cnt * sizeof *res);
    if (inner == NULL || res == NULL) {
        free(inner);
        free(res);
        return RKV_ENOMEM;
    }
    for (size_t i = 0; i < cnt; i++)
        inner[i] = unwrap(&rd->committed[i]);
    rv = kv_apply(n->kv, inner, cnt, res, errmsg);
    if (rv == 0) {
        for (size_t i = 0; i < cnt; i++)
            complete_write(n, &rd->committed[i], &res[i]);
        n->applied = rd->committed[cnt - 1].index;
        n->metrics.entries_applied += cnt;
        n->kv_uncommitted += cnt;
        if (n->kv_uncommitted >= NODE_KV_COMMIT_ENTRIES)
            node_kv_commit(n);
        else if (!uv_is_active((uv_handle_t *)&n->kv_timer))
            uv_timer_start(&n->kv_timer, on_kv_timer, NODE_KV_COMMIT_MS, 0);
    }
    free(inner);
    free(res);
    return rv;
}

/* ---- the Ready pipeline ------------------------------------------------- */

static bool needs_disk(const struct node *n, const struct raft_ready *rd)
{
    return rd->n_entries > 0 || rd->has_chunk || rd->install ||
           (rd->hs_changed && (rd->hs.term != n->hs_saved.term ||
                               rd->hs.vote != n->hs_saved.vote)) ||
           n->wal_drop_pending > 0;
}

/* Step 1b's configuration, on the worker: stored beside the snapshot
 * before the snapshot itself becomes current. */
static int store_snapshot_conf(struct node *n,
                               const struct raft_ready *rd,
                               char *err)
{
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t len;
    if (rd->snapshot_conf == NULL)
        return 0; /* the initial configuration: nothing to store */
    if (raft_conf_encode(rd->snapshot_conf, buf, sizeof buf, &len) != 0) {
        rkv_errmsgf(err, "snapshot %" PRIu64 ": invalid configuration",
                    rd->snapshot.index);
        return RKV_EINTERNAL;
    }
    return snapf_write_conf(n->data_dir, &rd->snapshot, buf, len, err);
}

/* Step 1 of the Ready contract, on a worker thread: hard state, snapshot
 * chunk, WAL entries, then fsync; one write and one fsync cover everything
 * gathered since the previous Ready (group commit). */
static void persist_work(uv_work_t *w)
{
    struct node *n = w->data;
    const struct raft_ready *rd = &n->rd;
    char *err = n->persist_err;
    int rv = 0;
    if (rd->hs.term != n->hs_saved.term || rd->hs.vote != n->hs_saved.vote) {
        rv = hs_save(n->disk, n->data_dir, &rd->hs, err);
        if (rv != 0)
            goto out;
    }
    if (rd->has_chunk) {
        rv = snapf_write(n->data_dir, "snapshot.incoming", rd->chunk_offset,
                         rd->chunk, rd->chunk_len, err);
        if (rv != 0)
            goto out;
    }
    if (rd->install) {
        rv = store_snapshot_conf(n, rd, err);
        if (rv != 0)
            goto out;
        rv = snapf_commit(n->data_dir, "snapshot.incoming", &rd->snapshot, err);
        if (rv != 0)
            goto out;
        if (wal_last_index(n->wal) > 0) {
            rv = wal_truncate_from(n->wal, wal_first_index(n->wal), err);
            if (rv != 0)
                goto out;
        }
    }
    if (rd->n_entries > 0) {
        raft_index first = rd->entries[0].index;
        if (wal_last_index(n->wal) >= first && wal_last_index(n->wal) > 0) {
            rv = wal_truncate_from(n->wal, first, err);
            if (rv != 0)
                goto out;
        }
        rv = wal_append(n->wal, rd->entries, rd->n_entries, err);
        if (rv != 0)
            goto out;
        rv = wal_sync(n->wal, err);
        if (rv != 0)
            goto out;
        n->persist_fsyncs++;
    }
    if (n->wal_drop_pending > 0)
        rv = wal_drop_before(n->wal, n->wal_drop_pending, err);
out:
    n->persist_rv = rv;
}

static void after_persist(uv_work_t *w, int status);

static void start_persist(struct node *n)
{
    int rv;
    n->persist_err[0] = '\0';
    n->persist_rv = 0;
    n->persist.data = n;
    n->persist_fsyncs = 0;
    if (!needs_disk(n, &n->rd)) {
        after_persist(&n->persist, 0);
        return;
    }
    rv = uv_queue_work(n->loop, &n->persist, persist_work, after_persist);
    if (rv != 0) {
        /* Cannot happen with a live loop; run it here rather than stall. */
        persist_work(&n->persist);
        after_persist(&n->persist, 0);
    }
}

static void on_retry_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    if (!n->stopping)
        start_persist(n);
}

/* The disk failed. Nothing of this Ready may be sent, applied or
 * acknowledged; the same Ready is persisted again later. Writes taken here
 * are answered now with the error, as "outcome unknown": their entries may
 * still commit through the other nodes, and a retry with the same session
 * is deduplicated. */
static void persist_failed(struct node *n)
{
    n->metrics.disk_errors++;
    if (n->metrics.disk_errors == 1 || n->metrics.disk_errors % 50 == 0)
        LOG_ERROR(&n->log, "persist failed (%s), retrying: %s",
                  rkv_strerror(n->persist_rv), n->persist_err);
    fail_list(n, &n->writes, n->persist_rv);
    uv_timer_start(&n->retry_timer, on_retry_timer, 200, 0);
}

/* Attach the chunk the core asks for to a SNAPSHOT message and send it. */
static void send_snapshot_chunk(struct node *n, const struct raft_msg *m)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct raft_msg out = *m;
    uint64_t size;
    size_t got;
    if (n->snap.index != m->index || n->snap.term != m->log_term)
        return; /* not our current snapshot: the core will ask again */
    if (n->chunk_buf == NULL) {
        n->chunk_buf = malloc(NODE_SNAPSHOT_CHUNK);
        if (n->chunk_buf == NULL)
            return;
    }
    if (snapf_size(n->snap_path, &size, errmsg) != 0 ||
        snapf_read(n->snap_path, m->offset, n->chunk_buf, NODE_SNAPSHOT_CHUNK,
                   &got, errmsg) != 0) {
        LOG_WARN(&n->log, "snapshot chunk: %s", errmsg);
        return;
    }
    out.data = n->chunk_buf;
    out.len = got;
    out.done = m->offset + got >= size;
    (void)peer_send(n->peers, &out); /* loss is tolerated */
}

/* Send the messages of `rd` that may go before its persistence (`early`)
 * or those that had to wait for it. */
static void send_messages(struct node *n,
                          const struct raft_ready *rd,
                          bool early)
{
    for (size_t i = 0; i < rd->n_msgs; i++) {
        const struct raft_msg *m = &rd->msgs[i];
        if (raft_msg_may_precede_persist(m->type) != early)
            continue;
        if (m->type == RAFT_MSG_SNAPSHOT)
            send_snapshot_chunk(n, m);
        else
            (void)peer_send(n->peers, m); /* loss is tolerated */
    }
}

/* Step 1b, on the loop thread: the state machine is replaced, and it is
 * read by requests here, so this cannot run on the worker. */
static int install_snapshot(struct node *n,
                            const struct raft_ready *rd,
                            char *errmsg)
{
    struct kv_restore *res;
    uint8_t *buf;
    uint64_t off = 0;
    int rv;
    char path[SNAPF_PATH_MAX];
    snapf_path(n->data_dir, &rd->snapshot, path);
    node_kv_commit(n); /* a restore starts from a committed state */
    buf = malloc(NODE_SNAPSHOT_CHUNK);
    if (buf == NULL)
        return RKV_ENOMEM;
    rv = kv_restore_begin(n->kv, &res, errmsg);
    if (rv != 0) {
        free(buf);
        return rv;
    }
    for (;;) {
        size_t got;
        rv = snapf_read(path, off, buf, NODE_SNAPSHOT_CHUNK, &got, errmsg);
        if (rv == 0 && got > 0)
            rv = kv_restore_write(res, buf, got, errmsg);
        if (rv != 0) {
            kv_restore_abort(res);
            free(buf);
            return rv;
        }
        if (got < NODE_SNAPSHOT_CHUNK)
            break;
        off += got;
    }
    free(buf);
    rv = kv_restore_finish(res, errmsg);
    if (rv != 0)
        return rv;
    n->snap = rd->snapshot;
    snprintf(n->snap_path, sizeof n->snap_path, "%s", path);
    n->applied = rd->snapshot.index;
    n->metrics.snapshots_installed++;
    LOG_INFO(&n->log, "installed snapshot at index %" PRIu64,
             rd->snapshot.index);
    return 0;
}

static void after_persist(uv_work_t *w, int status)
{
    struct node *n = w->data;
    const struct raft_ready *rd = &n->rd;
    char errmsg[RKV_ERRMSG_LEN];
    int rv;
    (void)status; /* UV_ECANCELED cannot happen: we never cancel */
    if (n->stopping) {
        n->persisting = false;
        node_maybe_free(n);
        return;
    }
    if (n->persist_rv != 0) {
        persist_failed(n);
        return;
    }
    n->metrics.fsyncs += n->persist_fsyncs;
    n->metrics.entries_persisted += rd->n_entries;
    if (rd->hs.term != n->hs_saved.term || rd->hs.vote != n->hs_saved.vote)
        n->hs_saved = rd->hs;
    n->wal_drop_pending = 0;
    if (rd->install && !n->installed) {
        rv = install_snapshot(n, rd, errmsg);
        if (rv != 0) {
            rkv_errmsgf(n->persist_err, "install: %s", errmsg);
            n->persist_rv = rv;
            persist_failed(n);
            return;
        }
        n->installed = true; /* a retry of this Ready does not redo it */
    }
    /* Step 2: send what had to wait for step 1. */
    if (!n->sent) {
        send_messages(n, rd, false);
        n->sent = true;
    }
    /* Step 3: apply. */
    rv = apply_committed(n, rd, errmsg);
    if (rv != 0) {
        rkv_errmsgf(n->persist_err, "apply: %s", errmsg);
        n->persist_rv = rv;
        persist_failed(n);
        return;
    }
    /* Step 4: reads. */
    for (size_t i = 0; i < rd->n_reads; i++)
        on_read_state(n, &rd->reads[i]);
    raft_advance(n->raft, rd);
    n->metrics.readies++;
    n->persisting = false;
    n->installed = false;
    n->sent = false;
    serve_reads(n);
    node_observe(n);
    node_maybe_snapshot(n);
    node_kick(n);
}

/* Take the next Ready if the previous one is done. */
static void drive(struct node *n)
{
    if (n->persisting || n->stopping)
        return;
    if (!raft_ready(n->raft, &n->rd))
        return;
    n->persisting = true;
    /* The leader replicates while its own fsync runs. */
    send_messages(n, &n->rd, true);
    start_persist(n);
}

static void on_idle(uv_idle_t *h)
{
    struct node *n = h->data;
    uv_idle_stop(h);
    drive(n);
}

/* Something changed in the core: run the pipeline once the loop has taken
 * every input of this iteration (so they share one Ready). */
void node_kick(struct node *n)
{
    node_observe(n);
    if (!n->persisting && !n->stopping)
        uv_idle_start(&n->idle, on_idle);
}

/* Keep the log prefix and metrics in step with the core. */
void node_observe(struct node *n)
{
    raft_id leader = raft_leader_of(n->raft);
    raft_id old = n->last_leader;
    n->log.term = raft_term_of(n->raft);
    n->log.role = raft_role_name(raft_role_of(n->raft));
    sync_peers(n);
    if (leader == old)
        return;
    n->metrics.leader_changes++;
    n->last_leader = leader; /* first: failing ops below may re-enter */
    if (leader != 0)
        LOG_INFO(&n->log, "leader is now node %" PRIu64, leader);
    else
        LOG_INFO(&n->log, "no leader");
    /* What went through the old leader may never be answered: say so now
     * rather than at the deadline, so clients fail over within an
     * election. Reads retry safely; a write's outcome is unknown (its entry
     * may survive in the new leader's log), and a retry with the same
     * client session is deduplicated. */
    if (old != 0) {
        fail_list(n, &n->reads_index, RKV_ENOTLEADER);
        fail_list(n, &n->writes, RKV_ECANCELED);
    }
}

/* ---- timers and peers --------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct node *n = t->data;
    raft_tick(n->raft);
    if (++n->ticks % 10 == 0)
        expire_ops(n);
    check_removed(n);
    node_kick(n);
}

static void on_peer_message(void *ctx, const struct raft_msg *m)
{
    struct node *n = ctx;
    int rv = raft_step(n->raft, m);
    if (rv != 0 && rv != RKV_EPROTO)
        LOG_WARN(&n->log, "step %s from %" PRIu64 ": %s",
                 raft_msg_type_name(m->type), m->from, rkv_strerror(rv));
    node_kick(n);
}

static void on_peer_log(void *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void on_peer_log(void *ctx, int level, const char *fmt, ...)
{
    struct node *n = ctx;
    va_list ap;
    if (level < n->log.level)
        return;
    va_start(ap, fmt);
    node_log_vwrite(&n->log, level, fmt, ap);
    va_end(ap);
}

static void on_core_trace(void *ctx, int level, const char *line)
{
    struct node *n = ctx;
    if (level >= n->log.level)
        node_log_line(level, line);
}

/* ---- membership --------------------------------------------------------- */

/* A member's address travels in its raft_member.ctx as the text
 * "<host> <peer_port> <http_port> <resp_port>", so every node (and a node
 * that joins later) learns where the others are from the log itself. */
int node_member_ctx(const struct config_member *m,
                    uint8_t *buf,
                    size_t cap,
                    size_t *len)
{
    int k = snprintf((char *)buf, cap, "%s %u %u %u", m->host,
                     (unsigned)m->peer_port, (unsigned)m->http_port,
                     (unsigned)m->resp_port);
    if (k < 0 || (size_t)k >= cap)
        return RKV_EINVAL;
    *len = (size_t)k;
    return 0;
}

/* Parse a member's ctx (bytes from the log: checked, never trusted). */
static bool ctx_parse(const struct raft_member *rm, struct config_member *out)
{
    char text[RAFT_MEMBER_CTX_MAX + 1];
    unsigned peer, http, resp;
    char tail;
    if (rm->ctx_len == 0 || rm->ctx_len > RAFT_MEMBER_CTX_MAX)
        return false;
    memcpy(text, rm->ctx, rm->ctx_len);
    text[rm->ctx_len] = '\0';
    memset(out, 0, sizeof *out);
    if (sscanf(text, "%127s %u %u %u%c", out->host, &peer, &http, &resp,
               &tail) != 4 ||
        peer == 0 || peer > 65535 || http == 0 || http > 65535 || resp == 0 ||
        resp > 65535)
        return false;
    out->id = rm->id;
    out->peer_port = (uint16_t)peer;
    out->http_port = (uint16_t)http;
    out->resp_port = (uint16_t)resp;
    return true;
}

/* Where member `id` is: its ctx in the configuration, else nodes.conf. */
static bool member_addr(const struct node *n,
                        raft_id id,
                        struct config_member *out)
{
    const struct raft_member *rm = raft_conf_find(raft_conf_of(n->raft), id);
    if (rm != NULL && ctx_parse(rm, out))
        return true;
    for (size_t i = 0; i < n->cfg.n_members; i++) {
        if (n->cfg.members[i].id == id) {
            *out = n->cfg.members[i];
            return true;
        }
    }
    return false;
}

/* Make the transport's peers the members of the configuration in force
 * (thesis §4.1: a server uses the latest configuration in its log at
 * once). A joining node without one keeps the peers of nodes.conf, so that
 * it can answer the leader that is adding it. */
static void sync_peers(struct node *n)
{
    const struct raft_conf *conf = raft_conf_of(n->raft);
    struct peer_transport *t = n->peers;
    if (t == NULL || !t->started || t->closing || conf->n == 0 ||
        memcmp(conf, &n->peers_conf, sizeof *conf) == 0)
        return;
    n->peers_conf = *conf;
    for (size_t i = 0; i < conf->n; i++) {
        struct config_member m;
        raft_id id = conf->members[i].id;
        if (id == n->cfg.self_id)
            continue;
        if (!member_addr(n, id, &m)) {
            LOG_WARN(&n->log, "member %" PRIu64 " has no known address", id);
            continue;
        }
        if (peer_add(t, id, m.host, m.peer_port) != 0)
            LOG_WARN(&n->log, "cannot add peer %" PRIu64, id);
    }
    for (size_t i = 0; i < t->n_remotes; i++) {
        raft_id id = t->remotes[i].id;
        if (id != 0 && !t->remotes[i].removing &&
            raft_conf_find(conf, id) == NULL)
            (void)peer_remove(t, id); /* found just above */
    }
}

/* A node removed from the configuration may never learn that its removal
 * committed (the leader stops talking to it): once outside the
 * configuration for NODE_REMOVED_GRACE election timeouts, it stops, as on
 * SIGTERM (main() owns the stop path). */
static void check_removed(struct node *n)
{
    const struct raft_conf *conf = raft_conf_of(n->raft);
    uint64_t grace = (uint64_t)NODE_REMOVED_GRACE * n->cfg.election_ticks;
    if (conf->n == 0 || raft_conf_find(conf, n->cfg.self_id) != NULL) {
        n->removed_ticks = 0;
        return;
    }
    if (n->removed_ticks++ == 0)
        LOG_WARN(&n->log,
                 "this node is no longer a member of the cluster: stopping "
                 "in %" PRIu64 " ms unless added back",
                 grace * n->cfg.tick_ms);
    if (n->removed_ticks == grace) {
        LOG_WARN(&n->log, "removed from the cluster: stopping");
        (void)kill(getpid(), SIGTERM); /* cannot fail for our own pid */
    }
}

int node_change_member(struct node *n,
                       int change,
                       const struct config_member *m,
                       raft_index *index)
{
    uint8_t ctx[RAFT_MEMBER_CTX_MAX];
    size_t len = 0;
    int rv;
    ASSERT(m != NULL);
    ASSERT(m->id != 0);
    if (change == RAFT_CHANGE_ADD_LEARNER) {
        rv = node_member_ctx(m, ctx, sizeof ctx, &len);
        if (rv != 0)
            return rv;
    }
    rv = raft_change_member(n->raft, change, m->id, ctx, len, index);
    if (rv == 0) {
        LOG_INFO(&n->log, "membership change %d of node %" PRIu64 " proposed",
                 change, m->id);
        node_kick(n);
    }
    return rv;
}

int node_transfer_leader(struct node *n, raft_id target)
{
    int rv = raft_transfer_leader(n->raft, target);
    if (rv == 0) {
        LOG_INFO(&n->log, "transferring leadership to node %" PRIu64, target);
        node_kick(n);
    }
    return rv;
}

size_t node_members(const struct node *n, struct node_member *out, size_t cap)
{
    const struct raft_conf *conf = raft_conf_of(n->raft);
    struct raft_progress_info pi[RAFT_MAX_NODES];
    size_t np = raft_progress(n->raft, pi, RAFT_MAX_NODES);
    size_t k = 0;
    for (size_t i = 0; i < conf->n && k < cap; i++, k++) {
        struct node_member *o = &out[k];
        memset(o, 0, sizeof *o);
        o->id = conf->members[i].id;
        o->voter = conf->members[i].voter;
        o->has_addr = member_addr(n, o->id, &o->addr);
        for (size_t j = 0; j < np; j++) {
            if (pi[j].id == o->id) {
                o->has_match = true;
                o->match = pi[j].match;
            }
        }
    }
    return k;
}

/* ---- public views ------------------------------------------------------- */

void node_status(struct node *n, struct node_status *st)
{
    struct kv_stats ks;
    char errmsg[RKV_ERRMSG_LEN];
    memset(st, 0, sizeof *st);
    st->id = n->cfg.self_id;
    st->role = raft_role_name(raft_role_of(n->raft));
    st->term = raft_term_of(n->raft);
    st->leader = raft_leader_of(n->raft);
    st->first_index = raft_first_index(n->raft);
    st->last_index = raft_last_index(n->raft);
    st->commit = raft_commit_index(n->raft);
    st->applied = n->applied;
    st->snapshot = n->snap;
    st->n_progress = raft_progress(n->raft, st->progress, RAFT_MAX_NODES);
    st->transfer_target = raft_transfer_target(n->raft);
    st->cluster_id = n->cfg.cluster_id;
    if (kv_stats(n->kv, &ks, errmsg) == 0)
        st->keys = ks.keys;
}

const struct node_metrics *node_metrics_of(const struct node *n)
{
    return &n->metrics;
}

const struct node_config *node_config_of(const struct node *n)
{
    return &n->cfg;
}

const struct node_logger *node_logger_of(const struct node *n)
{
    return &n->log;
}

bool node_leader_member(const struct node *n, struct config_member *out)
{
    raft_id leader = raft_leader_of(n->raft);
    return leader != 0 && member_addr(n, leader, out);
}

/* ---- start and stop ----------------------------------------------------- */

static int make_dir(const char *path, char *errmsg)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        rkv_errmsgf(errmsg, "mkdir %s: %s", path, strerror(errno));
        return RKV_EIO;
    }
    return 0;
}

/* mkdir -p for the data directory. */
static int make_dirs(const char *path, char *errmsg)
{
    char tmp[CONFIG_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rv = make_dir(tmp, errmsg);
        *p = '/';
        if (rv != 0)
            return rv;
    }
    return make_dir(tmp, errmsg);
}

/* GET /status from the member at --join (blocking: this runs once, at
 * start-up, before the loop) and take its "cluster_id". */
static int fetch_cluster_id(struct node *n, char *errmsg)
{
    struct addrinfo hints, *res = NULL;
    struct timeval tv = {NODE_JOIN_TIMEOUT_S, 0};
    char port[8], req[CONFIG_HOST_MAX + 96], *buf, *body;
    size_t len = 0;
    ssize_t got;
    json_t *root = NULL;
    const char *cid;
    int fd = -1, rv = RKV_EIO;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", (unsigned)n->cfg.join_port);
    buf = malloc(NODE_JOIN_STATUS_MAX + 1);
    if (buf == NULL)
        return RKV_ENOMEM;
    if (getaddrinfo(n->cfg.join_host, port, &hints, &res) != 0 ||
        (fd = socket(res->ai_family, SOCK_STREAM, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, res->ai_addr, res->ai_addrlen) != 0)
        goto out;
    snprintf(req, sizeof req,
             "GET /status HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
             n->cfg.join_host);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        goto out;
    while (len < NODE_JOIN_STATUS_MAX &&
           (got = read(fd, buf + len, NODE_JOIN_STATUS_MAX - len)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    body = strstr(buf, "\r\n\r\n");
    rv = RKV_EPROTO;
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || body == NULL)
        goto out;
    root = json_loads(body + 4, 0, NULL);
    cid = json_string_value(json_object_get(root, "cluster_id"));
    if (cid != NULL && sscanf(cid, "%" SCNx64, &n->cfg.cluster_id) == 1)
        rv = 0;
out:
    if (rv != 0)
        rkv_errmsgf(errmsg,
                    "--join %s:%u: cannot read the cluster id from its "
                    "/status (%s)",
                    n->cfg.join_host, (unsigned)n->cfg.join_port,
                    rv == RKV_EIO ? strerror(errno) : "unexpected answer");
    json_decref(root);
    if (fd >= 0)
        close(fd);
    if (res != NULL)
        freeaddrinfo(res);
    free(buf);
    return rv == 0 ? 0 : RKV_ECONFIG;
}

/* The cluster id of a joining node: the one its data directory recorded
 * at its first start, else the member's. */
static int join_cluster_id(struct node *n, char *errmsg)
{
    char path[CONFIG_PATH_MAX + 32];
    unsigned long long id;
    FILE *f;
    snprintf(path, sizeof path, "%s/cluster-id", n->data_dir);
    f = fopen(path, "r");
    if (f == NULL)
        return fetch_cluster_id(n, errmsg);
    if (fscanf(f, "%llx", &id) == 1)
        n->cfg.cluster_id = id;
    fclose(f);
    return 0; /* check_cluster_id() reports an unreadable file */
}

/* A data directory belongs to one cluster: its id is written at first use
 * and checked at every start, so a node pointed at another cluster's data
 * refuses to start instead of mixing two histories. */
static int check_cluster_id(struct node *n, char *errmsg)
{
    char path[CONFIG_PATH_MAX + 32];
    char buf[64];
    FILE *f;
    snprintf(path, sizeof path, "%s/cluster-id", n->data_dir);
    f = fopen(path, "r");
    if (f != NULL) {
        unsigned long long id = 0, self = 0;
        bool ok = fgets(buf, sizeof buf, f) != NULL &&
                  sscanf(buf, "%llx %llu", &id, &self) == 2;
        fclose(f);
        if (!ok) {
            rkv_errmsgf(errmsg, "%s: unreadable", path);
            return RKV_ECORRUPT;
        }
        if (id != n->cfg.cluster_id || self != n->cfg.self_id) {
            rkv_errmsgf(errmsg,
                        "data dir %s belongs to cluster %016llx node %llu, not "
                        "cluster %016" PRIx64 " node %" PRIu64,
                        n->data_dir, id, self, n->cfg.cluster_id,
                        n->cfg.self_id);
            return RKV_ECONFIG;
        }
        return 0;
    }
    f = fopen(path, "w");
    if (f == NULL ||
        fprintf(f, "%016" PRIx64 " %" PRIu64 "\n", n->cfg.cluster_id,
                n->cfg.self_id) < 0 ||
        fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rkv_errmsgf(errmsg, "write %s: %s", path, strerror(errno));
        if (f != NULL)
            fclose(f);
        return RKV_EIO;
    }
    fclose(f);
    return 0;
}

/* Bring the state machine up to the latest snapshot if it is behind (a
 * crash between saving a received snapshot and restoring it). */
static int recover_state_machine(struct node *n, char *errmsg)
{
    struct kv_stats ks;
    struct raft_ready fake;
    int rv = kv_stats(n->kv, &ks, errmsg);
    if (rv != 0)
        return rv;
    n->applied = ks.applied_index;
    if (n->snap.index == 0 || ks.applied_index >= n->snap.index)
        return 0;
    memset(&fake, 0, sizeof fake);
    fake.snapshot = n->snap;
    LOG_INFO(&n->log,
             "state machine at %" PRIu64 " is behind snapshot %" PRIu64
             ": restoring it",
             ks.applied_index, n->snap.index);
    return install_snapshot(n, &fake, errmsg);
}

static int open_storage(struct node *n, struct wal_replay *rp, char *errmsg)
{
    char sub[CONFIG_PATH_MAX + 16];
    struct kv_options kopt;
    struct wal_config wcfg;
    int rv;
    rv = make_dirs(n->data_dir, errmsg);
    if (rv != 0)
        return rv;
    if (n->cfg.join_port != 0 && !n->cfg.cluster_id_given) {
        rv = join_cluster_id(n, errmsg);
        if (rv != 0)
            return rv;
    }
    rv = check_cluster_id(n, errmsg);
    if (rv != 0)
        return rv;
    snprintf(sub, sizeof sub, "%s/kv", n->data_dir);
    rv = make_dir(sub, errmsg);
    if (rv != 0)
        return rv;
    memset(&kopt, 0, sizeof kopt);
    /* Applies are committed every NODE_KV_COMMIT_MS, off the write path:
     * the WAL holds every entry after the durable state (see kv.h). */
    kopt.deferred_commit = true;
    rv = kv_open(sub, &kopt, &n->kv, errmsg);
    if (rv != 0)
        return rv;
    snprintf(sub, sizeof sub, "%s/wal", n->data_dir);
    rv = make_dir(sub, errmsg);
    if (rv != 0)
        return rv;
    memset(&wcfg, 0, sizeof wcfg);
    wcfg.disk = n->disk;
    wcfg.dir = sub;
    rv = wal_open(&wcfg, &n->wal, rp, errmsg);
    if (rv != 0)
        return rv;
    if (rp->dropped_bytes > 0)
        LOG_WARN(&n->log, "WAL: cut off a torn last record (%" PRIu64 " bytes)",
                 rp->dropped_bytes);
    rv = hs_load(n->disk, n->data_dir, &n->hs_saved, errmsg);
    if (rv != 0)
        return rv;
    rv = snapf_find_latest(n->data_dir, &n->snap, n->snap_path, errmsg);
    if (rv != 0)
        return rv;
    return recover_state_machine(n, errmsg);
}

/* Tell the core about the snapshot and the configuration stored with it
 * (none for a snapshot taken before configurations were stored: the
 * initial one then holds). */
static int load_snapshot(struct node *n, char *errmsg)
{
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    struct raft_conf conf;
    size_t len;
    char why[RKV_ERRMSG_LEN];
    int rv;
    if (n->snap.index == 0)
        return raft_load_snapshot(n->raft, &n->snap);
    rv = snapf_read_conf(n->data_dir, &n->snap, buf, sizeof buf, &len, why);
    if (rv == RKV_ENOTFOUND)
        return raft_load_snapshot(n->raft, &n->snap);
    if (rv == 0)
        rv = raft_conf_decode(buf, len, &conf, why);
    if (rv != 0) {
        rkv_errmsgf(errmsg, "configuration of snapshot %" PRIu64 ": %s",
                    n->snap.index, why);
        return rv == RKV_EIO ? rv : RKV_ECORRUPT;
    }
    return raft_load_snapshot_conf(n->raft, &n->snap, &conf);
}

static int start_core(struct node *n, const struct wal_replay *rp, char *errmsg)
{
    struct raft_config rc;
    struct raft_hard_state hs = n->hs_saved;
    const struct raft_entry *es = rp->entries;
    size_t cnt = rp->n_entries;
    int rv;
    raft_config_default(&rc);
    rc.id = n->cfg.self_id;
    /* A node started with --join has no configuration of its own: it
     * learns the cluster's from the leader that adds it. */
    rc.join = n->cfg.join_port != 0;
    for (size_t i = 0; i < n->cfg.n_members && !rc.join; i++)
        rc.voters[rc.n_voters++] = n->cfg.members[i].id;
    rc.election_ticks = n->cfg.election_ticks;
    rc.heartbeat_ticks = n->cfg.heartbeat_ticks;
    rc.seed = ((uint64_t)n->cfg.self_id << 32) ^ uv_hrtime();
    rc.trace = on_core_trace;
    rc.trace_ctx = n;
    rc.trace_level = n->log.level;
    rv = raft_new(&rc, &n->raft);
    if (rv != 0) {
        rkv_errmsgf(errmsg, "raft: %s", rkv_strerror(rv));
        return rv;
    }
    /* The WAL may still hold entries the snapshot covers (it drops whole
     * segments only): skip them. */
    while (cnt > 0 && es[0].index <= n->snap.index) {
        es++;
        cnt--;
    }
    if (cnt > 0 && es[0].index != n->snap.index + 1) {
        rkv_errmsgf(errmsg,
                    "WAL starts at index %" PRIu64
                    " but the snapshot ends at %" PRIu64 ": entries missing",
                    es[0].index, n->snap.index);
        return RKV_ECORRUPT;
    }
    rv = load_snapshot(n, errmsg);
    if (rv == RKV_ECORRUPT || rv == RKV_EIO)
        return rv; /* errmsg says which file */
    if (rv == 0) {
        /* hs.commit is saved with a new term or vote, before the WAL
         * entries and the snapshot install of the same Ready: a crash in
         * between leaves it pointing past what this disk holds, or at
         * stale entries the lost write was replacing (found by the
         * simulator, tests/sim/seeds.txt). Only what the state machine
         * applied is known both committed and durable here; the leader
         * tells the rest. */
        if (hs.commit > n->applied)
            hs.commit = n->applied;
        rv = raft_load(n->raft, &hs, es, cnt);
    }
    if (rv != 0) {
        rkv_errmsgf(errmsg, "loading the log: %s", rkv_strerror(rv));
        return rv;
    }
    LOG_INFO(&n->log,
             "recovered: snapshot %" PRIu64
             ", %zu log entries, "
             "term %" PRIu64 ", applied %" PRIu64,
             n->snap.index, cnt, hs.term, n->applied);
    return 0;
}

static int start_network(struct node *n, char *errmsg)
{
    struct peer_addr addrs[RAFT_MAX_NODES];
    struct peer_config pc;
    const struct config_member *self = NULL;
    size_t k = 0;
    int rv;
    for (size_t i = 0; i < n->cfg.n_members; i++) {
        const struct config_member *m = &n->cfg.members[i];
        if (m->id == n->cfg.self_id) {
            self = m;
            continue;
        }
        addrs[k++] = (struct peer_addr){m->id, m->host, m->peer_port};
    }
    memset(&pc, 0, sizeof pc);
    pc.id = n->cfg.self_id;
    pc.cluster_id = n->cfg.cluster_id;
    pc.listen_host = n->listen_host;
    pc.listen_port = self->peer_port;
    pc.peers = addrs;
    pc.n_peers = k;
    pc.on_message = on_peer_message;
    pc.log = on_peer_log;
    pc.ctx = n;
    n->peers = malloc(sizeof *n->peers);
    if (n->peers == NULL)
        return RKV_ENOMEM;
    rv = peer_transport_init(n->peers, n->loop, &pc, errmsg);
    if (rv == 0)
        rv = peer_transport_start(n->peers, errmsg);
    if (rv != 0) {
        if (rv == RKV_EINVAL)
            rv = RKV_ECONFIG;
        if (!n->peers->started) {
            free(n->peers);
            n->peers = NULL;
        }
        return rv;
    }
    rv = http_api_start(n, n->listen_host, self->http_port, errmsg);
    if (rv == 0)
        rv = resp_api_start(n, n->listen_host, self->resp_port, &n->resp,
                            errmsg);
    return rv;
}

int node_start(const struct node_config *cfg,
               uv_loop_t *loop,
               struct node **out,
               char *errmsg)
{
    struct wal_replay rp;
    struct node *n = calloc(1, sizeof *n);
    int rv;
    if (n == NULL)
        return RKV_ENOMEM;
    memset(&rp, 0, sizeof rp);
    n->cfg = *cfg;
    n->loop = loop;
    /* Envelope tags and ReadIndex contexts start anywhere in 2^64 so that
     * an answer meant for an earlier incarnation of this node (a late
     * message, an entry applied after a restart) cannot match a request of
     * this one. */
    n->next_id = random_u64();
    n->disk = disk_posix();
    n->log.level = cfg->log_level;
    n->log.id = cfg->self_id;
    n->log.role = "follower";
    snprintf(n->data_dir, sizeof n->data_dir, "%s", cfg->data_dir);
    for (size_t i = 0; i < cfg->n_members; i++)
        if (cfg->members[i].id == cfg->self_id)
            node_resolve_listen_host(cfg->members[i].host, n->listen_host,
                                     sizeof n->listen_host);
    rv = open_storage(n, &rp, errmsg);
    if (rv == 0)
        rv = start_core(n, &rp, errmsg);
    wal_replay_free(&rp);
    if (rv != 0)
        goto err;
    uv_idle_init(loop, &n->idle);
    n->idle.data = n;
    uv_timer_init(loop, &n->tick);
    n->tick.data = n;
    uv_timer_init(loop, &n->retry_timer);
    n->retry_timer.data = n;
    uv_timer_init(loop, &n->kv_timer);
    n->kv_timer.data = n;
    n->handles_open = 4;
    rv = start_network(n, errmsg);
    if (rv != 0) {
        node_stop(n, NULL, NULL);
        return rv;
    }
    uv_timer_start(&n->tick, on_tick, cfg->tick_ms, cfg->tick_ms);
    node_observe(n);
    node_kick(n);
    *out = n;
    return 0;
err:
    if (n->wal != NULL)
        wal_free(n->wal);
    if (n->kv != NULL)
        kv_close(n->kv);
    raft_free(n->raft);
    free(n);
    return rv;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct node *n = h->data;
    n->handles_open--;
    node_maybe_free(n);
}

/* Free the node once nothing refers to it any more: its own handles are
 * closed, the transport and HTTP server are gone and no persist work is in
 * flight (its after-callback would touch the node). */
void node_maybe_free(struct node *n)
{
    char errmsg[RKV_ERRMSG_LEN];
    if (!n->stopping || n->handles_open > 0 || n->persisting ||
        n->snapshotting || n->subsystems_open > 0)
        return;
    if (wal_sync(n->wal, errmsg) != 0)
        LOG_WARN(&n->log, "final WAL sync: %s", errmsg);
    wal_free(n->wal);
    if (kv_sync(n->kv, errmsg) != 0)
        LOG_WARN(&n->log, "final state machine sync: %s", errmsg);
    kv_close(n->kv);
    raft_free(n->raft);
    free(n->chunk_buf);
    LOG_INFO(&n->log, "stopped");
    if (n->stopped_cb != NULL)
        n->stopped_cb(n->stopped_ctx);
    free(n);
}

void node_subsystem_closed(struct node *n)
{
    n->subsystems_open--;
    node_maybe_free(n);
}

static void on_peers_closed(struct peer_transport *t)
{
    struct node *n = t->ctx;
    free(n->peers);
    n->peers = NULL;
    node_subsystem_closed(n);
}

/* Bind to what the configured host names, numerically: libuv's bind takes
 * addresses only. A name we cannot read as one means "every interface". */
void node_resolve_listen_host(const char *host, char *out, size_t cap)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    else if (uv_ip4_addr(host, 0, &a4) != 0 && uv_ip6_addr(host, 0, &a6) != 0)
        host = "0.0.0.0";
    snprintf(out, cap, "%s", host);
}

void node_stop(struct node *n, void (*stopped)(void *ctx), void *ctx)
{
    if (n->stopping)
        return;
    n->stopping = true;
    n->stopped_cb = stopped;
    n->stopped_ctx = ctx;
    fail_list(n, &n->writes, RKV_ESHUTDOWN);
    fail_list(n, &n->reads_index, RKV_ESHUTDOWN);
    fail_list(n, &n->reads_apply, RKV_ESHUTDOWN);
    if (n->peers != NULL) {
        n->subsystems_open++;
        peer_transport_close(n->peers, on_peers_closed);
    }
    if (n->http != NULL) {
        n->subsystems_open++;
        http_api_stop(n);
    }
    if (n->resp != NULL) {
        n->subsystems_open++;
        resp_api_stop(n->resp);
        n->resp = NULL;
    }
    uv_close((uv_handle_t *)&n->idle, on_handle_closed);
    uv_close((uv_handle_t *)&n->tick, on_handle_closed);
    uv_close((uv_handle_t *)&n->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&n->kv_timer, on_handle_closed);
}
