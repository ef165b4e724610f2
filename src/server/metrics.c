/* /metrics in the Prometheus text format: the core's state (term, commit,
 * applied, log size, role), leader changes, proposals, request latencies
 * as histograms. Names are prefixed raftkv_. */
#include <inttypes.h>

#include "net/peer.h"
#include "server/http_api.h"
#include "server/node_int.h"

static int gauge(struct rkv_buf *out,
                 const char *name,
                 const char *help,
                 uint64_t v)
{
    return rkv_buf_printf(out,
                          "# HELP raftkv_%s %s\n# TYPE raftkv_%s gauge\n"
                          "raftkv_%s %" PRIu64 "\n",
                          name, help, name, name, v);
}

static int counter(struct rkv_buf *out,
                   const char *name,
                   const char *help,
                   uint64_t v)
{
    return rkv_buf_printf(out,
                          "# HELP raftkv_%s %s\n# TYPE raftkv_%s "
                          "counter\nraftkv_%s %" PRIu64 "\n",
                          name, help, name, name, v);
}

static int histogram(struct rkv_buf *out,
                     const char *name,
                     const char *help,
                     const uint64_t *buckets,
                     uint64_t sum_us,
                     uint64_t count)
{
    int rv = rkv_buf_printf(out,
                            "# HELP raftkv_%s %s\n# TYPE raftkv_%s "
                            "histogram\n",
                            name, help, name);
    for (int i = 0; rv == 0 && i < 12; i++)
        rv = rkv_buf_printf(out, "raftkv_%s_bucket{le=\"%g\"} %" PRIu64 "\n",
                            name, (double)node_latency_bounds_us[i] / 1e6,
                            buckets[i]);
    if (rv == 0)
        rv = rkv_buf_printf(
            out,
            "raftkv_%s_bucket{le=\"+Inf\"} %" PRIu64
            "\nraftkv_%s_sum %.6f\nraftkv_%s_count %" PRIu64 "\n",
            name, count, name, (double)sum_us / 1e6, name, count);
    return rv;
}

int http_api_metrics(struct node *n, struct rkv_buf *out)
{
    const struct node_metrics *m = node_metrics_of(n);
    struct node_status st;
    int rv = 0;
    node_status(n, &st);
    rv |= gauge(out, "term", "Current Raft term.", st.term);
    rv |= gauge(out, "is_leader", "1 if this node is the leader.",
                raft_role_of(n->raft) == RAFT_LEADER);
    rv |= rkv_buf_printf(out,
                         "# HELP raftkv_role Current role (label).\n"
                         "# TYPE raftkv_role gauge\nraftkv_role{role=\"%s\"}"
                         " 1\n",
                         st.role);
    rv |= gauge(out, "leader_id", "Known leader, 0 if none.", st.leader);
    rv |=
        gauge(out, "commit_index", "Highest index known committed.", st.commit);
    rv |= gauge(out, "last_applied", "Highest index applied.", st.applied);
    rv |= gauge(out, "log_first_index", "First index held in the log.",
                st.first_index);
    rv |= gauge(out, "log_last_index", "Last index of the log.", st.last_index);
    rv |= gauge(out, "log_entries", "Entries held in the log (log size).",
                st.last_index + 1 - st.first_index);
    rv |= gauge(out, "snapshot_index", "Index of the latest snapshot.",
                st.snapshot.index);
    rv |= gauge(out, "keys", "Keys in the state machine.", st.keys);
    rv |= counter(out, "leader_changes_total", "Known-leader changes.",
                  m->leader_changes);
    rv |=
        counter(out, "proposals_total", "Writes submitted here.", m->proposals);
    rv |= counter(out, "proposals_failed_total",
                  "Writes answered with an "
                  "error.",
                  m->proposals_failed);
    rv |= counter(out, "reads_total", "Reads submitted here.", m->reads);
    rv |= counter(out, "readies_total", "Raft Readies processed.", m->readies);
    rv |= counter(out, "wal_fsyncs_total", "WAL fsyncs.", m->fsyncs);
    rv |= counter(out, "wal_entries_total", "Entries written to the WAL.",
                  m->entries_persisted);
    rv |= counter(out, "applied_entries_total", "Entries applied.",
                  m->entries_applied);
    rv |= counter(out, "snapshots_taken_total", "Snapshots taken.",
                  m->snapshots_taken);
    rv |= counter(out, "snapshots_installed_total", "Snapshots installed.",
                  m->snapshots_installed);
    rv |= counter(out, "disk_errors_total", "Failed persist attempts.",
                  m->disk_errors);
    rv |= histogram(out, "write_latency_seconds",
                    "Write latency, submit to "
                    "applied.",
                    m->latency_buckets[0], m->write_latency_us_sum,
                    m->write_latency_count);
    rv |= histogram(out, "read_latency_seconds", "Read latency.",
                    m->latency_buckets[1], m->read_latency_us_sum,
                    m->read_latency_count);
    for (size_t i = 0; rv == 0 && i < n->cfg.n_members; i++) {
        struct peer_stats ps;
        raft_id id = n->cfg.members[i].id;
        if (id == n->cfg.self_id || n->peers == NULL ||
            peer_stats_of(n->peers, id, &ps) != 0)
            continue;
        rv |= rkv_buf_printf(
            out,
            "raftkv_peer_messages_sent_total{peer=\"%" PRIu64 "\"} %" PRIu64
            "\nraftkv_peer_messages_"
            "dropped_total{peer=\"%" PRIu64 "\"} %" PRIu64
            "\nraftkv_peer_connected{peer=\"%" PRIu64
            "\"} %d"
            "\n",
            id, ps.sent, id, ps.dropped, id, ps.connected ? 1 : 0);
    }
    return rv != 0 ? RKV_ENOMEM : 0;
}
