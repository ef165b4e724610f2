/* Snapshots and log compaction (§7): the host snapshots its state machine
 * and lets the core forget the log it covers; a follower that needs
 * forgotten entries receives the snapshot instead, in chunks, stop-and-wait,
 * resumable at the offset the follower says it has. The core never sees the
 * leader's snapshot bytes: the host attaches them to RAFT_MSG_SNAPSHOT. The
 * snapshot's configuration (thesis §4: the latest one it covers) travels in
 * each chunk as a RAFT_ENTRY_CONF entry. */
#include <string.h>

#include "raft_int.h"

int raft_load_snapshot(struct raft *r, const struct raft_snapshot_meta *meta)
{
    return raft_load_snapshot_conf(r, meta, NULL);
}

int raft_load_snapshot_conf(struct raft *r,
                            const struct raft_snapshot_meta *meta,
                            const struct raft_conf *conf)
{
    if (raft__log_last_index(&r->log) != 0 || r->ready_out ||
        (meta->index == 0) != (meta->term == 0) ||
        (conf != NULL && !raft__conf_valid(conf, false, NULL)))
        return RKV_EINVAL;
    if (meta->index == 0)
        return 0;
    r->log.offset = meta->index;
    r->log.offset_term = meta->term;
    r->snap = *meta;
    if (conf != NULL)
        r->snap_conf = *conf;
    r->commit = r->applied = r->applying = r->persisted = meta->index;
    r->unstable = meta->index + 1;
    raft__conf_snapshot_installed(r);
    return 0;
}

int raft_compact(struct raft *r, raft_index index)
{
    raft_term term;
    struct raft_conf conf;
    if (index > r->applied || index < r->log.offset)
        return RKV_EINVAL;
    if (index == r->log.offset)
        return 0;
    term = raft__log_term(&r->log, index);
    ASSERT(term != 0);
    raft__conf_for_snapshot(r, index, &conf);
    raft__log_compact(r, &r->log, index, term);
    r->snap = (struct raft_snapshot_meta){index, term};
    r->snap_conf = conf;
    raft__tracef(r, RAFT_TRACE_INFO, "compacted log up to %llu",
                 (unsigned long long)index);
    return 0;
}

struct raft_snapshot_meta raft_snapshot_of(const struct raft *r)
{
    return r->snap;
}

/* The snapshot's configuration as the entry a SNAPSHOT message carries, in
 * *out (NULL if it records none). Release with raft__entry_unref() and
 * raft__free(). */
static int conf_entry(struct raft *r, struct raft_entry **out)
{
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t len;
    struct raft_entry e = {.term = r->snap.term,
                           .index = r->snap.index,
                           .type = RAFT_ENTRY_CONF,
                           .data = buf};
    int rv;
    *out = NULL;
    if (r->snap_conf.n == 0)
        return 0;
    rv = raft_conf_encode(&r->snap_conf, buf, sizeof buf, &len);
    ASSERT(rv == 0);
    e.len = (uint32_t)len;
    return raft__entries_copy(r, &e, 1, out);
}

int raft__send_snapshot(struct raft *r, struct raft__progress *pr)
{
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .to = pr->id};
    struct raft_entry *conf;
    int rv;
    ASSERT(r->role == RAFT_LEADER);
    ASSERT(r->snap.index > 0);
    if (pr->state != RAFT_PROGRESS_SNAPSHOT ||
        pr->snap_index != r->snap.index) {
        raft__tracef(r, RAFT_TRACE_INFO, "sending snapshot %llu to %llu",
                     (unsigned long long)r->snap.index,
                     (unsigned long long)pr->id);
        pr->state = RAFT_PROGRESS_SNAPSHOT;
        pr->snap_index = r->snap.index;
        pr->snap_offset = 0;
        pr->paused = false;
        pr->in_start = pr->in_count = 0;
    }
    if (pr->paused)
        return 0;
    rv = conf_entry(r, &conf);
    if (rv != 0)
        return rv;
    m.index = r->snap.index;
    m.log_term = r->snap.term;
    m.offset = pr->snap_offset;
    m.commit = r->commit;
    m.entries = conf;
    m.n_entries = conf != NULL ? 1 : 0;
    rv = raft__send(r, &m);
    if (rv != 0) {
        if (conf != NULL)
            raft__entry_unref(r, conf);
        raft__free(r, conf);
        return rv;
    }
    pr->paused = true; /* until an answer or a heartbeat answer */
    return 0;
}

/* The follower has the whole snapshot `meta`, which records the
 * configuration of the CONF entry `conf` (NULL: none): its log is replaced
 * by it, as the host's will be in step 1b of the next Ready. (A follower
 * holding the snapshot's last entry never gets here: see
 * raft__handle_snapshot.) */
static void install(struct raft *r,
                    const struct raft_snapshot_meta *meta,
                    const struct raft_entry *conf)
{
    ASSERT(meta->index > r->commit);
    r->snap_conf.n = 0;
    if (conf != NULL) {
        /* raft_step checked that it decodes. */
        int rv = raft_conf_decode(conf->data, conf->len, &r->snap_conf, NULL);
        ASSERT(rv == 0);
    }
    raft__log_truncate(r, &r->log, r->log.offset + 1);
    raft__log_compact(r, &r->log, meta->index, meta->term);
    r->snap = *meta;
    r->commit = r->applied = r->persisted = meta->index;
    r->unstable = meta->index + 1;
    raft__conf_snapshot_installed(r);
    r->out.install = true;
    r->out.install_meta = *meta;
    raft__tracef(r, RAFT_TRACE_INFO, "installed snapshot %llu/%llu",
                 (unsigned long long)meta->index,
                 (unsigned long long)meta->term);
}

int raft__handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg resp = {
        .type = RAFT_MSG_SNAPSHOT_RESP, .to = m->from, .index = m->index};
    struct raft_snapshot_meta meta = {.index = m->index, .term = m->log_term};
    ASSERT(r->role == RAFT_FOLLOWER);
    if (m->index <= r->commit) {
        /* We already have it all: tell the leader where we really are. */
        struct raft_msg ack = {
            .type = RAFT_MSG_APPEND_RESP, .to = m->from, .index = r->commit};
        return raft__send(r, &ack);
    }
    if (raft__log_term(&r->log, m->index) == m->log_term &&
        m->index <= raft__log_last_index(&r->log)) {
        /* §7: we hold the snapshot's last entry, so (Log Matching) our log
         * already has everything it covers: no need for the bytes. */
        raft__commit_to(r, m->index);
        resp.done = true;
        resp.offset = m->offset;
        return raft__send(r, &resp);
    }
    if (m->offset == 0) {
        r->recv = meta;
        r->recv_offset = 0;
    }
    if (r->recv.index != meta.index || r->recv.term != meta.term ||
        m->offset != r->recv_offset || r->out.has_chunk) {
        /* Resume where we are (0 for a snapshot we are not receiving). */
        resp.reject = true;
        resp.offset = r->recv.index == meta.index && r->recv.term == meta.term
                          ? r->recv_offset
                          : 0;
        return raft__send(r, &resp);
    }
    if (m->len > 0) {
        r->out.chunk = raft__malloc(r, m->len);
        if (r->out.chunk == NULL)
            return RKV_ENOMEM;
        memcpy(r->out.chunk, m->data, m->len);
    }
    r->out.has_chunk = true;
    r->out.chunk_meta = meta;
    r->out.chunk_offset = m->offset;
    r->out.chunk_len = m->len;
    r->recv_offset += m->len;
    resp.offset = r->recv_offset;
    if (m->done) {
        resp.done = true;
        install(r, &meta, m->n_entries == 1 ? &m->entries[0] : NULL);
        r->recv.index = r->recv.term = 0;
        r->recv_offset = 0;
    }
    return raft__send(r, &resp);
}

int raft__handle_snapshot_response(struct raft *r, const struct raft_msg *m)
{
    struct raft__progress *pr = raft__progress_of(r, m->from);
    ASSERT(pr != NULL);
    pr->recent_active = true;
    if (pr->state != RAFT_PROGRESS_SNAPSHOT || m->index != pr->snap_index)
        return 0; /* stale answer */
    if (m->done && !m->reject) {
        pr->paused = false;
        (void)raft__progress_maybe_update(pr, m->index);
        raft__progress_become_probe(pr);
        return raft__send_append(r, pr, true);
    }
    /* An answer that does not move the transfer, while a chunk is out, is
     * a duplicate's: that chunk will be answered, or re-sent on the next
     * heartbeat answer if lost. Sending on it would put one more chunk in
     * flight for good, each answer begetting the next. */
    if (m->offset == pr->snap_offset && pr->paused)
        return 0;
    pr->paused = false;
    pr->snap_offset = m->offset;
    return raft__send_snapshot(r, pr);
}
