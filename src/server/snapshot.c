/* Taking snapshots and compacting the log (§7). When the state machine has
 * applied cfg.snapshot_entries entries past the last snapshot, its state is
 * streamed to a file on a worker, under an LMDB read transaction (applying
 * goes on meanwhile: MVCC), with the configuration in force at its index
 * stored beside it (snapf_write_conf); then the core forgets the log up to it
 * and the WAL drops the segments it covers at the next persist. */
#define _DEFAULT_SOURCE
#include <inttypes.h>
#include <string.h>

#include "server/node_int.h"

static void snapshot_work(uv_work_t *w)
{
    struct node *n = w->data;
    uint8_t *buf = malloc(NODE_SNAPSHOT_CHUNK);
    uint64_t off = 0;
    int rv = 0;
    if (buf == NULL) {
        n->snap_rv = RKV_ENOMEM;
        return;
    }
    for (;;) {
        size_t got;
        rv = kv_snapshot_read(n->snap_stream, buf, NODE_SNAPSHOT_CHUNK, &got,
                              n->snap_err);
        if (rv != 0 || got == 0)
            break;
        rv = snapf_write(n->data_dir, "snapshot.tmp", off, buf, got,
                         n->snap_err);
        if (rv != 0)
            break;
        off += got;
    }
    free(buf);
    /* The configuration first: a snapshot is never without it. */
    if (rv == 0)
        rv = snapf_write_conf(n->data_dir, &n->snap_taking, n->snap_conf,
                              n->snap_conf_len, n->snap_err);
    if (rv == 0)
        rv = snapf_commit(n->data_dir, "snapshot.tmp", &n->snap_taking,
                          n->snap_err);
    n->snap_rv = rv;
}

static void after_snapshot(uv_work_t *w, int status)
{
    struct node *n = w->data;
    (void)status;
    kv_snapshot_free(n->snap_stream);
    n->snap_stream = NULL;
    n->snapshotting = false;
    if (n->snap_rv != 0) {
        LOG_WARN(&n->log, "snapshot at %" PRIu64 " failed: %s",
                 n->snap_taking.index, n->snap_err);
        node_maybe_free(n);
        return;
    }
    if (n->snap_taking.index > n->snap.index) {
        n->snap = n->snap_taking;
        snapf_path(n->data_dir, &n->snap, n->snap_path);
    }
    n->metrics.snapshots_taken++;
    if (!n->stopping && raft_compact(n->raft, n->snap_taking.index) == 0)
        n->wal_drop_pending = n->snap_taking.index + 1;
    LOG_INFO(&n->log, "snapshot taken at index %" PRIu64, n->snap_taking.index);
    node_maybe_free(n);
}

void node_maybe_snapshot(struct node *n)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct raft_conf conf;
    raft_index idx;
    int rv;
    if (n->snapshotting || n->stopping || n->cfg.snapshot_entries == 0 ||
        n->applied < n->snap.index + n->cfg.snapshot_entries)
        return;
    /* The stream sees the committed state: commit what is applied first. */
    node_kv_commit(n);
    rv = kv_snapshot_open(n->kv, &n->snap_stream, errmsg);
    if (rv != 0) {
        LOG_WARN(&n->log, "snapshot: %s", errmsg);
        return;
    }
    idx = kv_snapshot_index(n->snap_stream);
    n->snap_taking.index = idx;
    n->snap_taking.term = raft_term_at(n->raft, idx);
    if (n->snap_taking.term == 0 || raft_conf_at(n->raft, idx, &conf) != 0 ||
        raft_conf_encode(&conf, n->snap_conf, sizeof n->snap_conf,
                         &n->snap_conf_len) != 0) {
        /* Compacted meanwhile by an installed snapshot: nothing to do. (A
         * configuration in force is always valid, so encoding fails only
         * on a joining node that has none: it has no log to compact.) */
        kv_snapshot_free(n->snap_stream);
        n->snap_stream = NULL;
        return;
    }
    n->snapshotting = true;
    n->snap_work.data = n;
    rv = uv_queue_work(n->loop, &n->snap_work, snapshot_work, after_snapshot);
    if (rv != 0) {
        kv_snapshot_free(n->snap_stream);
        n->snap_stream = NULL;
        n->snapshotting = false;
    }
}
