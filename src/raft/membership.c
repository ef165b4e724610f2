/* Cluster membership (Ongaro's thesis §4): configurations and their
 * encoding in RAFT_ENTRY_CONF entries (the format is in
 * include/raftkv/raft.h, raft_conf_encode), which configuration is in force
 * on a node, the progress records that follow it, and one-server-at-a-time
 * changes with learners (thesis §4.1, §4.2). */
#include <stdio.h>
#include <string.h>

#include "raft_int.h"

#define CONF_VERSION 1       /* of the encoding */
#define CONF_HEAD_BYTES 2    /* u8 version, u8 member count */
#define CONF_MEMBER_BYTES 11 /* u64 id, u8 voter, u16 ctx_len */
#define CONF_CRC_BYTES 4     /* u32 CRC-32C of the bytes before it */

_Static_assert(RAFT_CONF_ENCODED_MAX ==
                   CONF_HEAD_BYTES +
                       RAFT_MAX_NODES *
                           (CONF_MEMBER_BYTES + RAFT_MEMBER_CTX_MAX) +
                       CONF_CRC_BYTES,
               "RAFT_CONF_ENCODED_MAX matches the encoding");
_Static_assert(RAFT_MAX_NODES <= UINT8_MAX, "member count fits a u8");
_Static_assert(RAFT_MEMBER_CTX_MAX <= UINT16_MAX, "ctx_len fits a u16");

/* CRC-32C (Castagnoli), bit by bit: configurations are small and rare. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= (uint32_t)p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint8_t *put_le(uint8_t *p, uint64_t v, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + bytes;
}

static uint64_t get_le(const uint8_t *p, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

bool raft__conf_valid(const struct raft_conf *conf,
                      bool allow_empty,
                      const char **why)
{
    const char *bad = NULL;
    size_t voters = 0;
    if (conf->n > RAFT_MAX_NODES)
        bad = "too many members";
    else if (conf->n == 0 && !allow_empty)
        bad = "no members";
    for (size_t i = 0; bad == NULL && i < conf->n; i++) {
        const struct raft_member *m = &conf->members[i];
        if (m->id == 0)
            bad = "member id 0";
        else if (i > 0 && m->id <= conf->members[i - 1].id)
            bad = "member ids not ascending";
        else if (m->ctx_len > RAFT_MEMBER_CTX_MAX)
            bad = "member context too long";
        if (m->voter)
            voters++;
    }
    if (bad == NULL && conf->n > 0 && voters == 0)
        bad = "no voter";
    if (why != NULL)
        *why = bad;
    return bad == NULL;
}

int raft_conf_encode(const struct raft_conf *conf,
                     uint8_t *buf,
                     size_t cap,
                     size_t *len)
{
    const struct raft *r = NULL; /* for ASSERT */
    size_t need = CONF_HEAD_BYTES + CONF_CRC_BYTES;
    uint8_t *p = buf;
    if (!raft__conf_valid(conf, false, NULL))
        return RKV_EINVAL;
    for (size_t i = 0; i < conf->n; i++)
        need += CONF_MEMBER_BYTES + conf->members[i].ctx_len;
    if (cap < need)
        return RKV_EINVAL;
    *p++ = CONF_VERSION;
    *p++ = (uint8_t)conf->n;
    for (size_t i = 0; i < conf->n; i++) {
        const struct raft_member *m = &conf->members[i];
        p = put_le(p, m->id, 8);
        *p++ = m->voter ? 1 : 0;
        p = put_le(p, m->ctx_len, 2);
        memcpy(p, m->ctx, m->ctx_len);
        p += m->ctx_len;
    }
    p = put_le(p, crc32c(buf, (size_t)(p - buf)), CONF_CRC_BYTES);
    ASSERT((size_t)(p - buf) == need);
    *len = need;
    return 0;
}

static int corrupt(char *errmsg, const char *why)
{
    if (errmsg != NULL)
        (void)snprintf(errmsg, RKV_ERRMSG_LEN, "configuration: %s", why);
    return RKV_ECORRUPT;
}

/* The members of a decoded configuration, from `p` up to `end` (the
 * checksum). Returns 0 or RKV_ECORRUPT. */
static int decode_members(const uint8_t *p,
                          const uint8_t *end,
                          struct raft_conf *conf,
                          char *errmsg)
{
    for (size_t i = 0; i < conf->n; i++) {
        struct raft_member *m = &conf->members[i];
        uint8_t voter;
        if ((size_t)(end - p) < CONF_MEMBER_BYTES)
            return corrupt(errmsg, "member truncated");
        m->id = get_le(p, 8);
        voter = p[8];
        m->ctx_len = (uint16_t)get_le(p + 9, 2);
        p += CONF_MEMBER_BYTES;
        if (voter > 1)
            return corrupt(errmsg, "bad voter flag");
        m->voter = voter == 1;
        if (m->ctx_len > RAFT_MEMBER_CTX_MAX)
            return corrupt(errmsg, "member context too long");
        if ((size_t)(end - p) < m->ctx_len)
            return corrupt(errmsg, "member context truncated");
        memcpy(m->ctx, p, m->ctx_len);
        p += m->ctx_len;
    }
    return p == end ? 0 : corrupt(errmsg, "trailing bytes");
}

int raft_conf_decode(const uint8_t *buf,
                     size_t len,
                     struct raft_conf *conf,
                     char *errmsg)
{
    const char *why;
    int rv;
    if (len < CONF_HEAD_BYTES + CONF_CRC_BYTES)
        return corrupt(errmsg, "too short");
    if (get_le(buf + len - CONF_CRC_BYTES, CONF_CRC_BYTES) !=
        crc32c(buf, len - CONF_CRC_BYTES))
        return corrupt(errmsg, "bad checksum");
    if (buf[0] != CONF_VERSION)
        return corrupt(errmsg, "unknown version");
    memset(conf, 0, sizeof *conf);
    conf->n = buf[1];
    if (conf->n == 0 || conf->n > RAFT_MAX_NODES)
        return corrupt(errmsg, "bad member count");
    rv = decode_members(buf + CONF_HEAD_BYTES, buf + len - CONF_CRC_BYTES, conf,
                        errmsg);
    if (rv != 0)
        return rv;
    if (!raft__conf_valid(conf, false, &why))
        return corrupt(errmsg, why);
    return 0;
}

/* Position of `id` in `conf`, or where it would go. */
static size_t member_pos(const struct raft_conf *conf, raft_id id)
{
    size_t i = 0;
    while (i < conf->n && conf->members[i].id < id)
        i++;
    return i;
}

const struct raft_member *raft_conf_find(const struct raft_conf *conf,
                                         raft_id id)
{
    size_t i = member_pos(conf, id);
    return i < conf->n && conf->members[i].id == id ? &conf->members[i] : NULL;
}

bool raft__is_voter(const struct raft *r, raft_id id)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return r->prs[i].voter;
    return false;
}

size_t raft__n_voters(const struct raft *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].voter)
            n++;
    return n;
}

size_t raft__quorum(const struct raft *r)
{
    return raft__n_voters(r) / 2 + 1;
}

/* The configuration of raft_config: its voters, or none on a joining
 * node. */
static void conf_initial(const struct raft *r, struct raft_conf *conf)
{
    memset(conf, 0, sizeof *conf);
    for (size_t i = 0; i < r->cfg.n_voters; i++) {
        raft_id id = r->cfg.voters[i];
        size_t at = member_pos(conf, id);
        memmove(&conf->members[at + 1], &conf->members[at],
                (conf->n - at) * sizeof conf->members[0]);
        conf->members[at] = (struct raft_member){.id = id, .voter = true};
        conf->n++;
    }
}

/* What is in force without a CONF entry in the log: the snapshot's
 * configuration if it records one, else the initial one. Returns the index
 * it dates from. */
static raft_index conf_base(const struct raft *r, struct raft_conf *conf)
{
    if (r->snap_conf.n > 0)
        *conf = r->snap_conf;
    else
        conf_initial(r, conf);
    return r->snap.index;
}

/* The index of the last CONF entry in [lo, hi], 0 if none. */
static raft_index last_conf_entry(const struct raft *r,
                                  raft_index lo,
                                  raft_index hi)
{
    for (raft_index i = hi; i >= lo && i > r->log.offset; i--)
        if (raft__log_get(&r->log, i)->type == RAFT_ENTRY_CONF)
            return i;
    return 0;
}

/* The configuration held by the CONF entry at `index`. Every CONF entry in
 * the log was decoded once before it got there (raft_step's validation,
 * raft_load, raft_change_member), so this cannot fail. */
static void entry_conf(const struct raft *r,
                       raft_index index,
                       struct raft_conf *conf)
{
    const struct raft_entry *e = raft__log_get(&r->log, index);
    ASSERT(e != NULL);
    ASSERT(e->type == RAFT_ENTRY_CONF);
    int rv = raft_conf_decode(e->data, e->len, conf, NULL);
    ASSERT(rv == 0);
}

/* Progress records follow the configuration: kept for members that stay,
 * fresh (PROBE from the end of our log) for new ones, dropped for those
 * removed; in id order. Each takes a free ring of the pool. */
static void progress_follow_conf(struct raft *r)
{
    struct raft__progress old[RAFT_MAX_NODES];
    size_t n_old = r->n_prs, ring = 0;
    bool ring_used[RAFT_MAX_NODES] = {false};
    raft_index next = raft__log_last_index(&r->log) + 1;
    memcpy(old, r->prs, n_old * sizeof old[0]);
    for (size_t i = 0; i < n_old; i++)
        if (raft_conf_find(&r->conf, old[i].id) != NULL)
            ring_used[(size_t)(old[i].inflight - r->inflight_pool) /
                      r->cfg.max_inflight] = true;
    r->n_prs = 0;
    for (size_t i = 0; i < r->conf.n; i++) {
        const struct raft_member *m = &r->conf.members[i];
        struct raft__progress *pr = &r->prs[r->n_prs++];
        size_t j = 0;
        while (j < n_old && old[j].id != m->id)
            j++;
        if (j < n_old) {
            *pr = old[j];
            pr->voter = m->voter;
            continue;
        }
        while (ring_used[ring])
            ring++;
        ASSERT(ring < RAFT_MAX_NODES);
        ring_used[ring] = true;
        raft__progress_init(pr, m->id, m->voter, next,
                            r->inflight_pool + ring * r->cfg.max_inflight);
    }
}

static void trace_conf(const struct raft *r)
{
    char line[400];
    size_t n = 0;
    for (size_t i = 0; i < r->conf.n && n < sizeof line; i++) {
        const struct raft_member *m = &r->conf.members[i];
        int k =
            snprintf(line + n, sizeof line - n, " %llu%s",
                     (unsigned long long)m->id, m->voter ? "" : "(learner)");
        if (k < 0)
            return;
        n += (size_t)k;
    }
    line[n < sizeof line ? n : sizeof line - 1] = '\0';
    raft__tracef(r, RAFT_TRACE_INFO, "configuration at %llu:%s",
                 (unsigned long long)r->conf_index,
                 r->conf.n > 0 ? line : " none");
}

static bool same_members(const struct raft_conf *a, const struct raft_conf *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->members[i].id != b->members[i].id ||
            a->members[i].voter != b->members[i].voter)
            return false;
    return true;
}

static void conf_set(struct raft *r,
                     const struct raft_conf *conf,
                     raft_index index)
{
    bool same = same_members(&r->conf, conf);
    ASSERT(raft__conf_valid(conf, true, NULL));
    r->conf = *conf;
    r->conf_index = index;
    progress_follow_conf(r);
    if (!same)
        trace_conf(r);
    /* A transfer freezes the leader's log (no proposal, no change), so its
     * target stays a voter (thesis §3.10). */
    ASSERT(r->transfer_target == 0 || raft__is_voter(r, r->transfer_target));
}

void raft__conf_init(struct raft *r)
{
    struct raft_conf conf;
    ASSERT(r->n_prs == 0);
    conf_initial(r, &conf);
    conf_set(r, &conf, 0);
}

#ifdef RKV_DEBUG
/* Whether conf_index names the last CONF entry of the log, or, without
 * one, the snapshot or the initial configuration. Used only inside
 * ASSERT_DEBUG. */
static bool conf_index_is_current(const struct raft *r)
{
    raft_index at =
        last_conf_entry(r, r->log.offset + 1, raft__log_last_index(&r->log));
    return at != 0 ? r->conf_index == at : r->conf_index <= r->log.offset;
}
#endif

/* §4.1: "a server always uses the latest configuration in its log,
 * regardless of whether the entry is committed"; so when a conflicting
 * leader truncates that entry, the one before it is back in force. */
void raft__conf_log_changed(struct raft *r, raft_index from)
{
    struct raft_conf conf;
    bool lost = r->conf_index >= from; /* its entry was truncated */
    raft_index at = last_conf_entry(r, lost ? r->log.offset + 1 : from,
                                    raft__log_last_index(&r->log));
    ASSERT(from > r->log.offset);
    if (at != 0) {
        entry_conf(r, at, &conf);
        conf_set(r, &conf, at);
    } else if (lost) {
        raft_index base = conf_base(r, &conf);
        conf_set(r, &conf, base);
    }
    ASSERT_DEBUG(conf_index_is_current(r));
}

void raft__conf_snapshot_installed(struct raft *r)
{
    struct raft_conf conf;
    raft_index base = conf_base(r, &conf);
    ASSERT(raft__log_last_index(&r->log) == r->snap.index);
    conf_set(r, &conf, base);
}

void raft__conf_for_snapshot(const struct raft *r,
                             raft_index index,
                             struct raft_conf *conf)
{
    raft_index at = last_conf_entry(r, r->log.offset + 1, index);
    ASSERT(index >= r->log.offset);
    ASSERT(index <= raft__log_last_index(&r->log));
    if (at != 0)
        entry_conf(r, at, conf);
    else
        *conf = r->snap_conf;
}

const struct raft_conf *raft_conf_of(const struct raft *r)
{
    return &r->conf;
}

int raft_conf_at(const struct raft *r, raft_index index, struct raft_conf *out)
{
    if (index < r->log.offset)
        return RKV_ECOMPACTED;
    if (index > raft__log_last_index(&r->log))
        return RKV_EUNAVAIL;
    raft__conf_for_snapshot(r, index, out);
    if (out->n == 0)
        conf_initial(r, out);
    return 0;
}

/* Whether this leader may propose a membership change now. */
static int change_allowed(const struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return RKV_ENOTLEADER;
    /* §3.10: no new work while leadership is being handed over. */
    if (r->transfer_target != 0)
        return RKV_EBUSY;
    /* §4.1: one change at a time: the last must be committed first. */
    if (r->conf_index > r->commit)
        return RKV_EBUSY;
    /* The single-server change bug (Ongaro, raft-dev, 2015; thesis
     * errata): a change of an earlier leader may still be uncommitted in
     * other logs, and ours could then disagree with it on the majority.
     * Committing an entry of our own term settles that. */
    if (raft__log_term(&r->log, r->commit) != r->term)
        return RKV_EBUSY;
    return 0;
}

/* `next` := the configuration in force with `change` made to `id`. */
static int changed_conf(struct raft *r,
                        int change,
                        raft_id id,
                        const void *ctx,
                        size_t ctx_len,
                        struct raft_conf *next)
{
    size_t at = member_pos(&r->conf, id);
    bool found = at < r->conf.n && r->conf.members[at].id == id;
    struct raft__progress *pr = raft__progress_of(r, id);
    *next = r->conf;
    if (id == 0 || ctx_len > RAFT_MEMBER_CTX_MAX ||
        (ctx_len > 0 && ctx == NULL))
        return RKV_EINVAL;
    switch (change) {
        case RAFT_CHANGE_ADD_LEARNER:
            if (found || next->n == RAFT_MAX_NODES)
                return RKV_EINVAL;
            memmove(&next->members[at + 1], &next->members[at],
                    (next->n - at) * sizeof next->members[0]);
            next->members[at] = (struct raft_member){
                .id = id, .voter = false, .ctx_len = (uint16_t)ctx_len};
            if (ctx_len > 0)
                memcpy(next->members[at].ctx, ctx, ctx_len);
            next->n++;
            return 0;
        case RAFT_CHANGE_PROMOTE:
            if (!found || next->members[at].voter)
                return RKV_EINVAL;
            /* §4.2.1: a learner joins the voters only once caught up, or
             * the cluster could stall while it copies the log. Caught up:
             * it stores all that this leader has committed. */
            ASSERT(pr != NULL);
            if (raft__progress_match(r, pr) < r->commit)
                return RKV_EBUSY;
            next->members[at].voter = true;
            return 0;
        case RAFT_CHANGE_REMOVE:
            if (!found || (next->members[at].voter && raft__n_voters(r) == 1))
                return RKV_EINVAL;
            memmove(&next->members[at], &next->members[at + 1],
                    (next->n - at - 1) * sizeof next->members[0]);
            next->n--;
            return 0;
        default:
            return RKV_EINVAL;
    }
}

int raft_change_member(struct raft *r,
                       int change,
                       raft_id id,
                       const void *ctx,
                       size_t ctx_len,
                       raft_index *index)
{
    struct raft_conf next;
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t len;
    raft_index at;
    int rv = change_allowed(r);
    if (rv == 0)
        rv = changed_conf(r, change, id, ctx, ctx_len, &next);
    if (rv != 0)
        return rv;
    /* So at most one CONF entry is ever uncommitted on this leader. */
    ASSERT_DEBUG(
        last_conf_entry(r, r->commit + 1, raft__log_last_index(&r->log)) == 0);
    rv = raft_conf_encode(&next, buf, sizeof buf, &len);
    ASSERT(rv == 0);
    rv = raft__append_local(r, RAFT_ENTRY_CONF, buf, (uint32_t)len, &at);
    if (rv != 0)
        return rv;
    ASSERT(r->conf_index == at);
    raft__tracef(r, RAFT_TRACE_INFO, "membership change %d of %llu at %llu",
                 change, (unsigned long long)id, (unsigned long long)at);
    if (index != NULL)
        *index = at;
    return 0;
}
