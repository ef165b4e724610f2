/* The simulated host's part of snapshots and log compaction (§7): every
 * `snapshot_every` applied entries a node saves its state machine as a
 * snapshot file and lets its core compact; a leader attaches chunks of that
 * file to the RAFT_MSG_SNAPSHOT messages its core sends; a follower that
 * installs one, or a node that restarts, rebuilds its state machine from
 * the current snapshot file.
 *
 * A snapshot file is the state machine as the sequence it applied, all
 * integers little-endian:
 *   u64 index | u64 term | u64 hash of entry 1 | ... | of entry `index`
 *   | u64 FNV-1a of every byte before it
 * so 24 + 8 * index bytes: a few hundred bytes to a few KiB in a run. */
#include <stdio.h>

#include "sim.h"

#define SNAP_HEAD_BYTES 16 /* index and term */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t fnv(const uint8_t *p, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Encode node `n`'s state machine as it stands (applied, applied_term);
 * with `conf`, the configuration in force at `applied` is recorded beside
 * it (without, none is: the initial one, as without --membership, where
 * runs stay as they were before configurations were recorded). Returns 0,
 * or the error of raft_conf_at (f is then untouched). */
static int encode(const struct sim_node *n, bool conf, struct sim_snap_file *f)
{
    int rv = conf ? raft_conf_at(n->core, n->applied, &f->conf) : 0;
    if (rv != 0)
        return rv;
    f->has_conf = conf;
    size_t len = SNAP_HEAD_BYTES + 8 * ((size_t)n->applied + 1);
    uint8_t *p = sim_xmalloc(len);
    put_u64(p, n->applied);
    put_u64(p + 8, n->applied_term);
    for (raft_index i = 1; i <= n->applied; i++)
        put_u64(p + SNAP_HEAD_BYTES + 8 * (i - 1), n->sm[i]);
    put_u64(p + len - 8, fnv(p, len - 8));
    f->meta = (struct raft_snapshot_meta){.index = n->applied,
                                          .term = n->applied_term};
    f->bytes = p;
    f->len = f->cap = len;
    return 0;
}

/* Rebuild node `n`'s state machine from `f`. Returns 0, or RKV_ECORRUPT
 * with `errmsg` set if the bytes are not a snapshot of f->meta. */
static int decode(struct sim_node *n,
                  const struct sim_snap_file *f,
                  char *errmsg)
{
    raft_index index = f->meta.index;
    const uint8_t *p = f->bytes;
    if (f->len != SNAP_HEAD_BYTES + 8 * ((size_t)index + 1)) {
        snprintf(errmsg, RKV_ERRMSG_LEN, "%zu bytes, expected %zu", f->len,
                 (size_t)(SNAP_HEAD_BYTES + 8 * ((size_t)index + 1)));
        return RKV_ECORRUPT;
    }
    if (get_u64(p + f->len - 8) != fnv(p, f->len - 8)) {
        snprintf(errmsg, RKV_ERRMSG_LEN, "bad checksum");
        return RKV_ECORRUPT;
    }
    if (get_u64(p) != index || get_u64(p + 8) != f->meta.term) {
        snprintf(errmsg, RKV_ERRMSG_LEN, "holds %llu/%llu",
                 (unsigned long long)get_u64(p),
                 (unsigned long long)get_u64(p + 8));
        return RKV_ECORRUPT;
    }
    sim_node_sm_reserve(n, index);
    for (raft_index i = 1; i <= index; i++)
        n->sm[i] = get_u64(p + SNAP_HEAD_BYTES + 8 * (i - 1));
    n->applied = index;
    n->applied_term = f->meta.term;
    return 0;
}

void sim_snap_maybe_take(struct sim *s, unsigned node)
{
    struct sim_node *n = &s->nodes[node];
    struct sim_snap_file f;
    struct raft_snapshot_meta got;
    size_t len;
    int rv;
    if (s->opt.snapshot_every == 0 ||
        n->applied < raft_snapshot_of(n->core).index + s->opt.snapshot_every)
        return;
    rv = encode(n, s->opt.membership, &f);
    if (rv != 0) {
        sim_violation(s, "Snapshot", "n%u raft_conf_at(%llu): %s", node + 1,
                      (unsigned long long)n->applied, rkv_strerror(rv));
        return;
    }
    len = f.len;
    sim_disk_save_snapshot(&n->disk, &f);
    rv = raft_compact(n->core, n->applied);
    got = raft_snapshot_of(n->core);
    if (rv != 0 || got.index != n->applied || got.term != n->applied_term) {
        sim_violation(s, "Snapshot",
                      "n%u raft_compact(%llu) after applying up to %llu/%llu: "
                      "%s, core snapshot %llu/%llu",
                      node + 1, (unsigned long long)n->applied,
                      (unsigned long long)n->applied,
                      (unsigned long long)n->applied_term, rkv_strerror(rv),
                      (unsigned long long)got.index,
                      (unsigned long long)got.term);
        return;
    }
    s->stats.snapshots++;
    SIM_TRACE(s, "n%u snapshot %llu/%llu saved (%zu bytes), log compacted",
              node + 1, (unsigned long long)got.index,
              (unsigned long long)got.term, len);
}

void sim_snap_send(struct sim *s, unsigned node, const struct raft_msg *m)
{
    const struct sim_snap_file *f = &s->nodes[node].disk.snap;
    struct raft_msg out = *m;
    if (s->stats.snapshots == 0) {
        sim_violation(s, "Ready Contract",
                      "n%u sends a snapshot, but no node compacted", node + 1);
        return;
    }
    if (f->meta.index != m->index || f->meta.term != m->log_term) {
        SIM_TRACE(s,
                  "n%u drops snapshot %llu/%llu to n%llu: its current one "
                  "is %llu/%llu",
                  node + 1, (unsigned long long)m->index,
                  (unsigned long long)m->log_term, (unsigned long long)m->to,
                  (unsigned long long)f->meta.index,
                  (unsigned long long)f->meta.term);
        return;
    }
    if (m->offset > f->len) {
        sim_violation(s, "Snapshot Transfer",
                      "n%u asked for offset %llu of snapshot %llu/%llu, "
                      "%zu bytes long",
                      node + 1, (unsigned long long)m->offset,
                      (unsigned long long)m->index,
                      (unsigned long long)m->log_term, f->len);
        return;
    }
    out.data = f->bytes + m->offset;
    out.len = f->len - (size_t)m->offset;
    if (out.len > s->prof.chunk_bytes)
        out.len = s->prof.chunk_bytes;
    out.done = m->offset + out.len == f->len;
    sim_net_send(s, &out);
}

int sim_snap_restore(struct sim *s, unsigned node, const char *how)
{
    struct sim_node *n = &s->nodes[node];
    const struct sim_snap_file *f = &n->disk.snap;
    char errmsg[RKV_ERRMSG_LEN];
    if (decode(n, f, errmsg) != 0) {
        sim_violation(s, "Snapshot Transfer", "n%u %s snapshot %llu/%llu: %s",
                      node + 1, how, (unsigned long long)f->meta.index,
                      (unsigned long long)f->meta.term, errmsg);
        return -1;
    }
    if (s->probe_index != 0 && n->applied >= s->probe_index)
        n->probe_applied = true;
    SIM_TRACE(s, "n%u %s snapshot %llu/%llu (%zu bytes)", node + 1, how,
              (unsigned long long)f->meta.index,
              (unsigned long long)f->meta.term, f->len);
    sim_check_restored(s, node, &f->meta, how);
    return s->violation[0] != '\0' ? -1 : 0;
}
