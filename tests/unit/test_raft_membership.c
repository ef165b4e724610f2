/* Membership changes (Ongaro's thesis §4; src/raft/membership.c): the
 * encoding of configurations, learners that catch up (by entries or by
 * snapshot) before they are promoted, one change at a time, the
 * configuration in force being the latest in the log (and reverting when a
 * conflicting leader truncates it), quorums counting voters only, a leader
 * that removes itself, and nodes outside the configuration, which are
 * heard but cannot disrupt it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/runner.h"
#include "raft_fixture.h"
#include "storage/crc32c.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Nodes 1..voters form the initial configuration and node 1 leads it;
 * nodes voters+1..total start as joining nodes, without a configuration. */
static struct fx *cluster(size_t voters, size_t total)
{
    struct fx *f = fx_alloc(total);
    for (size_t i = 0; i < total; i++) {
        f->nodes[i].cfg.n_voters = i < voters ? voters : 0;
        f->nodes[i].cfg.join = i >= voters;
    }
    fx_start(f);
    fx_elect(f, 1);
    return f;
}

/* "1 2 3 4l": the members of `conf`, learners marked. */
static const char *conf_str(const struct raft_conf *conf, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < conf->n && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu%s", i > 0 ? " " : "",
                              (unsigned long long)conf->members[i].id,
                              conf->members[i].voter ? "" : "l");
    return buf;
}

#define ASSERT_CONF(f, id, want)                                           \
    do {                                                                   \
        char buf_[128];                                                    \
        ASSERT_EQ_STR(                                                     \
            conf_str(raft_conf_of(fx_raft((f), (id))), buf_, sizeof buf_), \
            (want));                                                       \
    } while (0)

/* Make a membership change on `leader` and let it commit everywhere. */
static raft_index change(struct fx *f, raft_id leader, int what, raft_id id)
{
    raft_index idx = 0;
    ASSERT_OK(raft_change_member(fx_raft(f, leader), what, id, NULL, 0, &idx));
    fx_stabilize(f);
    ASSERT_TRUE(raft_commit_index(fx_raft(f, leader)) >= idx);
    return idx;
}

/* Propose on `leader` and tell whether it commits once the network is
 * quiet (heartbeats give lost messages a second chance). */
static bool commits(struct fx *f, raft_id leader)
{
    struct raft *r = fx_raft(f, leader);
    raft_index idx;
    ASSERT_OK(raft_propose(r, "x", 1, &idx, NULL));
    fx_stabilize(f);
    fx_tick(f, leader, f->nodes[leader - 1].cfg.heartbeat_ticks);
    return raft_commit_index(r) >= idx;
}

/* The leader commits with `need` voters (itself included) and not with
 * one fewer: links to the other voters are cut, then restored. */
static void assert_quorum(struct fx *f, raft_id leader, size_t need)
{
    const struct raft_conf *conf = raft_conf_of(fx_raft(f, leader));
    size_t kept = 1; /* the leader */
    ASSERT_TRUE(need >= 2);
    for (size_t i = 0; i < conf->n; i++) {
        raft_id id = conf->members[i].id;
        if (id == leader || !conf->members[i].voter)
            continue;
        if (kept < need - 1)
            kept++;
        else
            fx_cut(f, leader, id);
    }
    ASSERT_FALSE(commits(f, leader));
    fx_heal(f);
    ASSERT_TRUE(commits(f, leader));
}

static struct raft_conf sample_conf(void)
{
    struct raft_conf c;
    memset(&c, 0, sizeof c);
    c.n = 3;
    c.members[0] = (struct raft_member){.id = 1, .voter = true};
    c.members[1] = (struct raft_member){.id = 7, .voter = true, .ctx_len = 5};
    memcpy(c.members[1].ctx, "a:700", 5);
    c.members[2] = (struct raft_member){
        .id = UINT64_MAX, .voter = false, .ctx_len = RAFT_MEMBER_CTX_MAX};
    memset(c.members[2].ctx, 0xab, RAFT_MEMBER_CTX_MAX);
    return c;
}

static bool conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct raft_member *x = &a->members[i], *y = &b->members[i];
        if (x->id != y->id || x->voter != y->voter ||
            x->ctx_len != y->ctx_len || memcmp(x->ctx, y->ctx, x->ctx_len))
            return false;
    }
    return true;
}

TEST(raft_membership, conf_encode_decode_round_trip)
{
    struct raft_conf c = sample_conf(), got;
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t len;
    char errmsg[RKV_ERRMSG_LEN];
    ASSERT_OK(raft_conf_encode(&c, buf, sizeof buf, &len));
    ASSERT_EQ_U64(len, 2 + 3 * 11 + 5 + RAFT_MEMBER_CTX_MAX + 4);
    ASSERT_EQ_U64(buf[0], 1); /* version */
    /* The checksum is the standard CRC-32C, as the storage layer's. */
    ASSERT_EQ_U64(buf[len - 4] | (uint32_t)buf[len - 3] << 8 |
                      (uint32_t)buf[len - 2] << 16 |
                      (uint32_t)buf[len - 1] << 24,
                  crc32c(0, buf, len - 4));
    ASSERT_OK(raft_conf_decode(buf, len, &got, errmsg));
    ASSERT_TRUE(conf_equal(&c, &got));
    ASSERT_EQ_INT(raft_conf_encode(&c, buf, len - 1, &len), RKV_EINVAL);
}

TEST(raft_membership, conf_encode_refuses_invalid_configuration)
{
    static const char *const cases[] = {
        "no members",       "member id 0", "ids not ascending", "duplicate",
        "context too long", "no voter",    "too many",
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct raft_conf c = sample_conf();
        uint8_t buf[RAFT_CONF_ENCODED_MAX];
        size_t len;
        switch (i) {
            case 0:
                c.n = 0;
                break;
            case 1:
                c.members[0].id = 0;
                break;
            case 2:
                c.members[0].id = 8;
                break;
            case 3:
                c.members[1].id = 1;
                break;
            case 4:
                c.members[1].ctx_len = RAFT_MEMBER_CTX_MAX + 1;
                break;
            case 5:
                c.members[0].voter = c.members[1].voter = false;
                break;
            default:
                c.n = RAFT_MAX_NODES + 1;
                break;
        }
        ASSERT_EQ_U64_MSG(
            raft_conf_encode(&c, buf, sizeof buf, &len) == RKV_EINVAL, 1,
            cases[i]);
    }
}

/* Bytes from a peer or a disk are never trusted: every prefix and every
 * single flipped bit of an encoded configuration is refused. */
TEST(raft_membership, conf_decode_rejects_every_truncation_and_bit_flip)
{
    struct raft_conf c = sample_conf(), got;
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    char errmsg[RKV_ERRMSG_LEN];
    size_t len;
    ASSERT_OK(raft_conf_encode(&c, buf, sizeof buf, &len));
    for (size_t n = 0; n < len; n++)
        ASSERT_EQ_U64_MSG(
            raft_conf_decode(buf, n, &got, errmsg) == RKV_ECORRUPT, 1,
            "prefix");
    for (size_t bit = 0; bit < 8 * len; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ASSERT_EQ_U64_MSG(
            raft_conf_decode(buf, len, &got, errmsg) == RKV_ECORRUPT, 1,
            "flip");
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    ASSERT_OK(raft_conf_decode(buf, len, &got, NULL));
}

/* Well-checksummed bytes that do not describe a valid configuration. */
TEST(raft_membership, conf_decode_rejects_invalid_content)
{
    static const char *const cases[] = {
        "version 2", "no members",       "voter flag 2",  "ids descending",
        "no voter",  "context too long", "trailing byte",
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct raft_conf c = sample_conf(), got;
        uint8_t buf[RAFT_CONF_ENCODED_MAX + 1];
        char errmsg[RKV_ERRMSG_LEN] = "";
        size_t len;
        uint32_t crc;
        c.n = 2; /* members 1 (voter) and 7 (voter, 5 bytes of context) */
        ASSERT_OK(raft_conf_encode(&c, buf, sizeof buf, &len));
        len -= 4;
        switch (i) {
            case 0:
                buf[0] = 2;
                break;
            case 1:
                buf[1] = 0;
                break;
            case 2:
                buf[2 + 8] = 2;
                break;
            case 3:
                buf[2] = 9; /* member 1 becomes 9, before 7 */
                break;
            case 4:
                buf[2 + 8] = buf[2 + 11 + 8] = 0;
                break;
            case 5:
                buf[2 + 11 + 9] = RAFT_MEMBER_CTX_MAX + 1;
                break;
            default:
                buf[len++] = 0;
                break;
        }
        crc = crc32c(0, buf, len);
        for (int k = 0; k < 4; k++)
            buf[len++] = (uint8_t)(crc >> (8 * k));
        ASSERT_EQ_U64_MSG(
            raft_conf_decode(buf, len, &got, errmsg) == RKV_ECORRUPT, 1,
            cases[i]);
        ASSERT_TRUE(errmsg[0] != '\0');
    }
}

/* A joining node starts without a configuration, never campaigns, hears
 * the leader although the leader is in no configuration it knows, and
 * learns the configuration, contexts included, from the log. */
TEST(raft_membership, joining_node_gets_configuration_from_leader)
{
    struct fx *f = cluster(3, 4);
    struct raft *r4 = fx_raft(f, 4);
    const struct raft_member *m;
    raft_index idx;
    ASSERT_EQ_U64(raft_conf_of(r4)->n, 0);
    fx_tick(f, 4, 10 * f->nodes[3].cfg.election_ticks);
    ASSERT_EQ_INT(raft_role_of(r4), RAFT_FOLLOWER);
    ASSERT_EQ_U64(raft_term_of(r4), 0);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_PREVOTE][4][1], 0);
    ASSERT_OK(raft_change_member(fx_raft(f, 1), RAFT_CHANGE_ADD_LEARNER, 4,
                                 "10.0.0.4:7000", 13, &idx));
    fx_stabilize(f);
    ASSERT_CONF(f, 4, "1 2 3 4l");
    ASSERT_TRUE(conf_equal(raft_conf_of(r4), raft_conf_of(fx_raft(f, 1))));
    m = raft_conf_find(raft_conf_of(r4), 4);
    ASSERT_TRUE(m != NULL);
    ASSERT_EQ_U64(m->ctx_len, 13);
    ASSERT_EQ_MEM(m->ctx, "10.0.0.4:7000", 13);
    ASSERT_EQ_U64(raft_leader_of(r4), 1);
    ASSERT_TRUE(fx_logs_equal(f, 1, 4));
    fx_free(f);
}

/* A learner receives the log like a follower, shows in the leader's
 * progress as a non-voter, and does not count toward the commit quorum. */
TEST(raft_membership, learner_catches_up_but_does_not_count_for_commit)
{
    struct fx *f = cluster(3, 4);
    struct raft_progress_info pi[RAFT_MAX_NODES];
    size_t n;
    fx_propose(f, 1, "before");
    fx_stabilize(f);
    change(f, 1, RAFT_CHANGE_ADD_LEARNER, 4);
    ASSERT_CONF(f, 1, "1 2 3 4l");
    ASSERT_TRUE(fx_logs_equal(f, 1, 4));
    ASSERT_EQ_U64(raft_commit_index(fx_raft(f, 4)),
                  raft_commit_index(fx_raft(f, 1)));
    n = raft_progress(fx_raft(f, 1), pi, RAFT_MAX_NODES);
    ASSERT_EQ_U64(n, 4);
    ASSERT_EQ_U64(pi[3].id, 4);
    ASSERT_FALSE(pi[3].voter);
    ASSERT_TRUE(pi[0].voter && pi[1].voter && pi[2].voter);
    ASSERT_EQ_U64(pi[3].match, raft_last_index(fx_raft(f, 1)));
    /* The leader and the learner hold it: one voter of three. */
    fx_crash(f, 2);
    fx_crash(f, 3);
    ASSERT_FALSE(commits(f, 1));
    ASSERT_EQ_U64(raft_last_index(fx_raft(f, 4)),
                  raft_last_index(fx_raft(f, 1)));
    fx_free(f);
}

/* Tap: count SNAPSHOT messages that carry a configuration entry. */
static void count_conf_snapshots(void *ctx, const struct raft_msg *m, bool d)
{
    if (!d && m->type == RAFT_MSG_SNAPSHOT && m->n_entries == 1 &&
        m->entries[0].type == RAFT_ENTRY_CONF)
        (*(unsigned *)ctx)++;
}

/* A learner whose entries the leader compacted away catches up by
 * InstallSnapshot, which carries the snapshot's configuration: the learner
 * has it in force, keeps it across a restart, and can then be promoted. */
TEST(raft_membership, learner_catches_up_by_snapshot_with_its_configuration)
{
    struct fx *f = cluster(3, 4);
    struct raft *r1 = fx_raft(f, 1);
    unsigned with_conf = 0;
    fx_isolate(f, 4);
    change(f, 1, RAFT_CHANGE_ADD_LEARNER, 4);
    for (int i = 0; i < 3; i++)
        fx_propose(f, 1, "while away");
    fx_stabilize(f);
    fx_compact(f, 1, raft_applied_index(r1));
    ASSERT_CONF(f, 4, "");
    f->tap = count_conf_snapshots;
    f->tap_ctx = &with_conf;
    fx_heal(f);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    ASSERT_TRUE(with_conf >= 1);
    ASSERT_EQ_U64(f->nodes[3].snap.index, raft_snapshot_of(r1).index);
    ASSERT_CONF(f, 4, "1 2 3 4l");
    ASSERT_TRUE(conf_equal(&f->nodes[3].snap_conf, raft_conf_of(r1)));
    ASSERT_TRUE(fx_logs_equal(f, 1, 4));
    fx_crash(f, 4);
    fx_restart(f, 4);
    ASSERT_CONF(f, 4, "1 2 3 4l");
    ASSERT_EQ_U64(raft_first_index(fx_raft(f, 4)), f->nodes[3].snap.index + 1);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    change(f, 1, RAFT_CHANGE_PROMOTE, 4);
    ASSERT_CONF(f, 4, "1 2 3 4");
    fx_free(f);
}

/* §4.2.1: a learner is promoted only once it stores everything the leader
 * has committed; until then the change is refused as busy. */
TEST(raft_membership, promote_refused_until_learner_caught_up)
{
    struct fx *f = cluster(3, 4);
    struct raft *r1 = fx_raft(f, 1);
    change(f, 1, RAFT_CHANGE_ADD_LEARNER, 4);
    fx_isolate(f, 4);
    fx_propose(f, 1, "ahead");
    fx_stabilize(f);
    ASSERT_EQ_INT(raft_change_member(r1, RAFT_CHANGE_PROMOTE, 4, NULL, 0, NULL),
                  RKV_EBUSY);
    ASSERT_CONF(f, 1, "1 2 3 4l");
    fx_heal(f);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    change(f, 1, RAFT_CHANGE_PROMOTE, 4);
    for (raft_id id = 1; id <= 4; id++)
        ASSERT_CONF(f, id, "1 2 3 4");
    fx_free(f);
}

/* 3 -> 5 voters, one server at a time, writes committing all along; the
 * quorum follows the voters: 2 of 3, 2 of 3 (+1 learner), 3 of 4, 3 of 4
 * (+1 learner), 3 of 5. */
TEST(raft_membership, grow_from_3_to_5_voters_with_commits_all_along)
{
    static const struct
    {
        int change;
        raft_id id;
        const char *conf;
        size_t quorum;
    } steps[] = {
        {RAFT_CHANGE_ADD_LEARNER, 4, "1 2 3 4l", 2},
        {RAFT_CHANGE_PROMOTE, 4, "1 2 3 4", 3},
        {RAFT_CHANGE_ADD_LEARNER, 5, "1 2 3 4 5l", 3},
        {RAFT_CHANGE_PROMOTE, 5, "1 2 3 4 5", 3},
    };
    struct fx *f = cluster(3, 5);
    assert_quorum(f, 1, 2);
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        change(f, 1, steps[i].change, steps[i].id);
        ASSERT_TRUE(commits(f, 1));
        for (raft_id id = 1; id <= steps[i].id; id++)
            ASSERT_CONF(f, id, steps[i].conf);
        assert_quorum(f, 1, steps[i].quorum);
    }
    for (raft_id id = 2; id <= 5; id++)
        ASSERT_TRUE(fx_logs_equal(f, 1, id));
    fx_free(f);
}

/* Removing a follower: its progress goes, and a two-voter configuration
 * needs both voters to commit. */
TEST(raft_membership, remove_follower_leaves_two_voters_that_both_must_ack)
{
    struct fx *f = cluster(3, 3);
    struct raft_progress_info pi[RAFT_MAX_NODES];
    change(f, 1, RAFT_CHANGE_REMOVE, 3);
    ASSERT_CONF(f, 1, "1 2");
    ASSERT_CONF(f, 2, "1 2");
    ASSERT_EQ_U64(raft_progress(fx_raft(f, 1), pi, RAFT_MAX_NODES), 2);
    assert_quorum(f, 1, 2);
    /* Node 3 hears nothing more. */
    fx_reset_counters(f);
    ASSERT_TRUE(commits(f, 1));
    ASSERT_EQ_U64(f->sent[RAFT_MSG_APPEND][1][3], 0);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_HEARTBEAT][1][3], 0);
    fx_free(f);
}

/* §4.2.2: a leader that removes itself manages the cluster until the new
 * configuration commits, without counting itself toward the majority, then
 * steps down; the others elect a leader among themselves, and the removed
 * node never campaigns. */
TEST(raft_membership, removed_leader_steps_down_once_change_commits)
{
    struct fx *f = cluster(3, 3);
    struct raft *r1 = fx_raft(f, 1);
    raft_term t = raft_term_of(r1);
    raft_index idx;
    raft_id leader;
    ASSERT_OK(raft_change_member(r1, RAFT_CHANGE_REMOVE, 1, NULL, 0, &idx));
    ASSERT_CONF(f, 1, "2 3");
    /* Stored by the leader and node 2: not a majority of {2, 3}. */
    fx_drop(f, 3, 1, RAFT_MSG_APPEND_RESP);
    fx_stabilize(f);
    ASSERT_EQ_INT(raft_role_of(r1), RAFT_LEADER);
    ASSERT_TRUE(raft_commit_index(r1) < idx);
    fx_heal(f);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    ASSERT_TRUE(raft_commit_index(r1) >= idx);
    ASSERT_EQ_INT(raft_role_of(r1), RAFT_FOLLOWER);
    ASSERT_TRUE(raft_commit_index(fx_raft(f, 2)) >= idx);
    fx_reset_counters(f);
    fx_tick_all(f, 4 * f->nodes[0].cfg.election_ticks);
    leader = fx_leader(f);
    ASSERT_TRUE(leader == 2 || leader == 3);
    ASSERT_EQ_U64(raft_term_of(r1), t);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_PREVOTE][1][2], 0);
    ASSERT_TRUE(commits(f, leader));
    fx_free(f);
}

/* §4.1: one change at a time; and a new leader changes nothing before an
 * entry of its own term commits (the single-server change bug). */
TEST(raft_membership, one_change_at_a_time)
{
    struct fx *f = cluster(3, 5);
    struct raft *r1 = fx_raft(f, 1);
    ASSERT_OK(
        raft_change_member(r1, RAFT_CHANGE_ADD_LEARNER, 4, NULL, 0, NULL));
    ASSERT_EQ_INT(
        raft_change_member(r1, RAFT_CHANGE_ADD_LEARNER, 5, NULL, 0, NULL),
        RKV_EBUSY);
    ASSERT_EQ_INT(raft_change_member(r1, RAFT_CHANGE_REMOVE, 3, NULL, 0, NULL),
                  RKV_EBUSY);
    fx_stabilize(f);
    ASSERT_OK(
        raft_change_member(r1, RAFT_CHANGE_ADD_LEARNER, 5, NULL, 0, NULL));
    fx_stabilize(f);
    ASSERT_CONF(f, 1, "1 2 3 4l 5l");
    fx_free(f);
}

TEST(raft_membership, new_leader_cannot_change_before_its_noop_commits)
{
    struct fx *f = fx_new(3);
    struct raft *r1 = fx_raft(f, 1);
    fx_drop(f, 2, 1, RAFT_MSG_APPEND_RESP);
    fx_drop(f, 3, 1, RAFT_MSG_APPEND_RESP);
    fx_elect(f, 1);
    ASSERT_TRUE(raft_term_at(r1, raft_commit_index(r1)) != raft_term_of(r1));
    ASSERT_EQ_INT(raft_change_member(r1, RAFT_CHANGE_REMOVE, 3, NULL, 0, NULL),
                  RKV_EBUSY);
    fx_heal(f);
    fx_tick(f, 1, f->nodes[0].cfg.heartbeat_ticks);
    ASSERT_OK(raft_change_member(r1, RAFT_CHANGE_REMOVE, 3, NULL, 0, NULL));
    fx_free(f);
}

TEST(raft_membership, invalid_changes_are_refused)
{
    static const struct
    {
        const char *name;
        int change;
        raft_id id;
        size_t ctx_len;
        int want;
    } cases[] = {
        {"add a voter", RAFT_CHANGE_ADD_LEARNER, 2, 0, RKV_EINVAL},
        {"add a learner twice", RAFT_CHANGE_ADD_LEARNER, 4, 0, RKV_EINVAL},
        {"add node 0", RAFT_CHANGE_ADD_LEARNER, 0, 0, RKV_EINVAL},
        {"context too long", RAFT_CHANGE_ADD_LEARNER, 5,
         RAFT_MEMBER_CTX_MAX + 1, RKV_EINVAL},
        {"promote a voter", RAFT_CHANGE_PROMOTE, 2, 0, RKV_EINVAL},
        {"promote a stranger", RAFT_CHANGE_PROMOTE, 9, 0, RKV_EINVAL},
        {"remove a stranger", RAFT_CHANGE_REMOVE, 9, 0, RKV_EINVAL},
        {"unknown change", 0, 5, 0, RKV_EINVAL},
    };
    static const uint8_t ctx[RAFT_MEMBER_CTX_MAX + 1];
    struct fx *f = cluster(3, 5);
    struct raft *r1 = fx_raft(f, 1);
    raft_index last;
    change(f, 1, RAFT_CHANGE_ADD_LEARNER, 4);
    last = raft_last_index(r1);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        ASSERT_EQ_U64_MSG(
            raft_change_member(r1, cases[i].change, cases[i].id, ctx,
                               cases[i].ctx_len, NULL) == cases[i].want,
            1, cases[i].name);
    ASSERT_EQ_U64(raft_last_index(r1), last);
    ASSERT_EQ_INT(
        raft_change_member(fx_raft(f, 2), RAFT_CHANGE_REMOVE, 3, NULL, 0, NULL),
        RKV_ENOTLEADER);
    fx_free(f);
}

/* The last voter cannot be removed, even once nothing else is pending. */
TEST(raft_membership, last_voter_cannot_be_removed)
{
    struct fx *f = cluster(1, 2);
    struct raft *r1 = fx_raft(f, 1);
    ASSERT_EQ_INT(raft_change_member(r1, RAFT_CHANGE_REMOVE, 1, NULL, 0, NULL),
                  RKV_EINVAL);
    change(f, 1, RAFT_CHANGE_ADD_LEARNER, 2);
    ASSERT_EQ_INT(raft_change_member(r1, RAFT_CHANGE_REMOVE, 1, NULL, 0, NULL),
                  RKV_EINVAL);
    change(f, 1, RAFT_CHANGE_REMOVE, 2);
    ASSERT_CONF(f, 1, "1");
    ASSERT_TRUE(commits(f, 1));
    fx_free(f);
}

/* §4.1: the configuration in force is the latest in the log, committed or
 * not; when a new leader overwrites that entry, the previous configuration
 * is back, and stays so after a restart. */
TEST(raft_membership, configuration_reverts_when_its_entry_is_truncated)
{
    struct fx *f = cluster(3, 4);
    struct raft *r1 = fx_raft(f, 1);
    raft_index idx;
    raft_id leader;
    fx_isolate(f, 1);
    ASSERT_OK(
        raft_change_member(r1, RAFT_CHANGE_ADD_LEARNER, 4, NULL, 0, &idx));
    fx_stabilize(f);
    ASSERT_CONF(f, 1, "1 2 3 4l");
    fx_tick_all(f, 3 * f->nodes[0].cfg.election_ticks);
    leader = fx_leader(f);
    ASSERT_TRUE(leader == 2 || leader == 3);
    ASSERT_EQ_U64(raft_last_index(fx_raft(f, leader)), idx);
    ASSERT_CONF(f, leader, "1 2 3");
    fx_heal(f);
    fx_tick(f, leader, f->nodes[0].cfg.heartbeat_ticks);
    ASSERT_TRUE(raft_term_at(r1, idx) == raft_term_of(fx_raft(f, leader)));
    ASSERT_CONF(f, 1, "1 2 3");
    ASSERT_TRUE(fx_logs_equal(f, 1, leader));
    fx_crash(f, 1);
    fx_restart(f, 1);
    ASSERT_CONF(f, 1, "1 2 3");
    fx_free(f);
}

/* Learners never campaign (thesis §4.2.1). Knowing no leader, a learner
 * still answers vote requests on the log alone (thesis §4.1: its
 * configuration may be stale, it may have been promoted); the candidate
 * counts the vote only if it sees the learner as a voter. */
TEST(raft_membership, learner_never_campaigns_and_votes_on_the_log_alone)
{
    struct fx *f = cluster(3, 4);
    struct raft *r4 = fx_raft(f, 4);
    struct raft_msg m;
    const struct raft_msg *resp;
    raft_term t;
    change(f, 1, RAFT_CHANGE_ADD_LEARNER, 4);
    t = raft_term_of(r4);
    fx_isolate(f, 4);
    fx_reset_counters(f);
    fx_tick_all(f, 10 * f->nodes[3].cfg.election_ticks);
    ASSERT_EQ_INT(raft_role_of(r4), RAFT_FOLLOWER);
    ASSERT_EQ_U64(raft_term_of(r4), t);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_PREVOTE][4][1], 0);
    ASSERT_EQ_U64(f->sent[RAFT_MSG_VOTE][4][1], 0);
    ASSERT_EQ_U64(raft_leader_of(r4), 0); /* it forgot the silent leader */
    /* A PreVote grant changes nothing on the voter. */
    m = fx_msg(RAFT_MSG_PREVOTE, 2, 4, t + 1);
    m.index = raft_last_index(r4) + 5;
    m.log_term = t + 1;
    fx_clear(f);
    ASSERT_OK(fx_step(f, &m));
    fx_drain(f, 4);
    resp = fx_find(f, RAFT_MSG_PREVOTE_RESP, 4, 2);
    ASSERT_TRUE(resp != NULL);
    ASSERT_FALSE(resp->reject);
    ASSERT_EQ_U64(raft_term_of(r4), t);
    ASSERT_EQ_U64(raft_vote_of(r4), 0);
    /* A real vote takes up the candidate's term. */
    m.type = RAFT_MSG_VOTE;
    fx_clear(f);
    ASSERT_OK(fx_step(f, &m));
    fx_drain(f, 4);
    resp = fx_find(f, RAFT_MSG_VOTE_RESP, 4, 2);
    ASSERT_TRUE(resp != NULL);
    ASSERT_FALSE(resp->reject);
    ASSERT_EQ_U64(raft_term_of(r4), t + 1);
    ASSERT_EQ_U64(raft_vote_of(r4), 2);
    ASSERT_EQ_INT(raft_role_of(r4), RAFT_FOLLOWER);
    fx_free(f);
}

TEST(raft_membership, removed_node_cannot_disrupt)
{
    for (int pre_vote = 0; pre_vote <= 1; pre_vote++) {
        struct fx *f = fx_alloc(3);
        raft_term t;
        for (size_t i = 0; i < 3; i++) {
            f->nodes[i].cfg.pre_vote = pre_vote;
            f->nodes[i].cfg.check_quorum = pre_vote;
        }
        fx_start(f);
        fx_elect(f, 1);
        fx_isolate(f, 3);
        change(f, 1, RAFT_CHANGE_REMOVE, 3);
        ASSERT_CONF(f, 3, "1 2 3");
        t = raft_term_of(fx_raft(f, 1));
        fx_heal(f);
        fx_tick_all(f, 10 * f->nodes[0].cfg.election_ticks);
        ASSERT_EQ_U64(fx_leader(f), 1);
        ASSERT_EQ_U64(raft_term_of(fx_raft(f, 1)), t);
        ASSERT_EQ_U64(raft_term_of(fx_raft(f, 2)), t);
        ASSERT_TRUE(f->sent[pre_vote ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE][3][1] >
                    0);
        ASSERT_TRUE(commits(f, 1));
        fx_free(f);
    }
}

/* An entry of a configuration that does not decode, a configuration
 * proposed through a follower, and a snapshot's configuration entry in the
 * wrong place are protocol errors, refused before anything changes. */
TEST(raft_membership, malformed_configuration_entries_are_refused)
{
    struct fx *f = cluster(3, 3);
    struct raft *r2 = fx_raft(f, 2);
    struct raft_conf c = sample_conf();
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t len;
    raft_index last = raft_last_index(r2);
    raft_term t = raft_term_of(r2);
    struct raft_entry e = {
        .term = t, .index = last + 1, .type = RAFT_ENTRY_CONF};
    struct raft_msg m;
    ASSERT_OK(raft_conf_encode(&c, buf, sizeof buf, &len));
    buf[len - 1] ^= 1;
    e.data = buf;
    e.len = (uint32_t)len;
    m = fx_msg(RAFT_MSG_APPEND, 1, 2, t);
    m.index = last;
    m.log_term = t;
    m.entries = &e;
    m.n_entries = 1;
    ASSERT_EQ_INT(fx_step(f, &m), RKV_EPROTO);
    ASSERT_EQ_U64(raft_last_index(r2), last);
    buf[len - 1] ^= 1;
    m = fx_msg(RAFT_MSG_PROPOSE, 2, 1, t);
    m.entries = &e;
    m.n_entries = 1;
    ASSERT_EQ_INT(fx_step(f, &m), RKV_EPROTO);
    m = fx_msg(RAFT_MSG_SNAPSHOT, 1, 2, t);
    m.index = last + 10;
    m.log_term = t;
    m.entries = &e; /* at last + 1, not at the snapshot's index */
    m.n_entries = 1;
    ASSERT_EQ_INT(fx_step(f, &m), RKV_EPROTO);
    ASSERT_FALSE(raft_has_ready(r2));
    ASSERT_CONF(f, 2, "1 2 3");
    fx_free(f);
}

/* Election Safety: a second leader's APPEND in a term whose leader is
 * known cannot be genuine; it is refused, whoever sent it. */
TEST(raft_membership, append_from_second_leader_of_a_term_is_refused)
{
    struct fx *f = cluster(3, 4);
    struct raft *r2 = fx_raft(f, 2);
    raft_term t = raft_term_of(r2);
    struct raft_msg m = fx_msg(RAFT_MSG_HEARTBEAT, 4, 2, t);
    ASSERT_EQ_INT(fx_step(f, &m), RKV_EPROTO);
    m.from = 3;
    ASSERT_EQ_INT(fx_step(f, &m), RKV_EPROTO);
    m.from = 4;
    m.term = t + 1; /* a later term's leader may be anyone */
    ASSERT_OK(fx_step(f, &m));
    ASSERT_EQ_U64(raft_leader_of(r2), 4);
    fx_free(f);
}

/* A stored vote is checked against the initial voters only while the
 * configuration never changed: once it did, a later leader may have
 * truncated the entry that made the candidate a voter. */
TEST(raft_membership, load_accepts_a_vote_for_any_node)
{
    struct raft_config cfg;
    struct raft_conf c;
    uint8_t buf[RAFT_CONF_ENCODED_MAX];
    size_t len;
    struct raft_entry es[2] = {
        {.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP},
        {.term = 1, .index = 2, .type = RAFT_ENTRY_CONF},
    };
    struct raft_hard_state hs = {.term = 2, .vote = 4};
    struct raft *r;
    raft_config_default(&cfg);
    cfg.id = 1;
    cfg.n_voters = 3;
    for (size_t i = 0; i < 3; i++)
        cfg.voters[i] = i + 1;
    memset(&c, 0, sizeof c);
    c.n = 4;
    for (size_t i = 0; i < 4; i++)
        c.members[i] = (struct raft_member){.id = i + 1, .voter = i != 3};
    ASSERT_OK(raft_conf_encode(&c, buf, sizeof buf, &len));
    es[1].data = buf;
    es[1].len = (uint32_t)len;
    /* Before the change and after it: a vote may name any node. */
    ASSERT_OK(raft_new(&cfg, &r));
    ASSERT_OK(raft_load(r, &hs, es, 1));
    raft_free(r);
    ASSERT_OK(raft_new(&cfg, &r));
    ASSERT_OK(raft_load(r, &hs, es, 2));
    ASSERT_EQ_U64(raft_vote_of(r), 4);
    ASSERT_EQ_U64(raft_conf_of(r)->n, 4);
    raft_free(r);
    /* A configuration entry that does not decode is corruption. */
    buf[3] ^= 1;
    ASSERT_OK(raft_new(&cfg, &r));
    ASSERT_EQ_INT(raft_load(r, &hs, es, 2), RKV_ECORRUPT);
    raft_free(r);
}

TEST(raft_membership, join_flag_must_match_an_empty_voter_list)
{
    struct raft_config cfg;
    struct raft *r = NULL;
    raft_config_default(&cfg);
    cfg.id = 4;
    cfg.join = true;
    ASSERT_OK(raft_new(&cfg, &r));
    ASSERT_EQ_U64(raft_conf_of(r)->n, 0);
    raft_free(r);
    r = NULL;
    cfg.voters[0] = 1;
    cfg.n_voters = 1;
    ASSERT_EQ_INT(raft_new(&cfg, &r), RKV_EINVAL);
    ASSERT_TRUE(r == NULL);
}

/* raft_conf_at: what a snapshot taken at an index must record. */
TEST(raft_membership, conf_at_names_the_configuration_of_each_index)
{
    struct fx *f = cluster(3, 4);
    struct raft *r1 = fx_raft(f, 1);
    struct raft_conf c;
    char buf[64];
    raft_index before = raft_last_index(r1), idx;
    idx = change(f, 1, RAFT_CHANGE_ADD_LEARNER, 4);
    ASSERT_OK(raft_conf_at(r1, before, &c));
    ASSERT_EQ_STR(conf_str(&c, buf, sizeof buf), "1 2 3");
    ASSERT_OK(raft_conf_at(r1, idx, &c));
    ASSERT_EQ_STR(conf_str(&c, buf, sizeof buf), "1 2 3 4l");
    ASSERT_EQ_INT(raft_conf_at(r1, idx + 1, &c), RKV_EUNAVAIL);
    fx_compact(f, 1, idx);
    ASSERT_EQ_INT(raft_conf_at(r1, idx - 1, &c), RKV_ECOMPACTED);
    ASSERT_OK(raft_conf_at(r1, idx, &c));
    ASSERT_EQ_STR(conf_str(&c, buf, sizeof buf), "1 2 3 4l");
    ASSERT_EQ_STR(conf_str(&f->nodes[0].snap_conf, buf, sizeof buf),
                  "1 2 3 4l");
    fx_free(f);
}

/* A core call in the sweep: refusals that a failure earlier in the run
 * explains (no leader, not yet committed) are fine; ENOMEM crashes the
 * node; anything else fails the test. */
static void call(struct fx *f, raft_id id, int rv)
{
    if (rv != RKV_ENOTLEADER && rv != RKV_ENOLEADER && rv != RKV_EBUSY &&
        rv != RKV_EINVAL)
        (void)fx_check(f, id, rv);
}

/* Node 1 (the leader to be) and node 4 (joining) allocate through `fa`:
 * node 4 is added, catches up partly by snapshot, is promoted, node 2 is
 * removed, leadership moves to node 3, and nodes 1 and 4 restart. */
static void membership_scenario(struct fx_fail_alloc *fa)
{
    static const struct
    {
        int change;
        raft_id id;
    } steps[] = {{RAFT_CHANGE_ADD_LEARNER, 4},
                 {RAFT_CHANGE_PROMOTE, 4},
                 {RAFT_CHANGE_REMOVE, 2}};
    struct fx *f = fx_alloc(4);
    f->tolerate_enomem = true;
    for (size_t i = 0; i < 4; i++) {
        f->nodes[i].cfg.n_voters = i < 3 ? 3 : 0;
        f->nodes[i].cfg.join = i == 3;
    }
    f->nodes[0].cfg.alloc = f->nodes[3].cfg.alloc = &fa->a;
    fx_start(f);
    for (unsigned i = 0; i < 200 && fx_raft(f, 1) != NULL &&
                         raft_role_of(fx_raft(f, 1)) != RAFT_LEADER;
         i++)
        fx_tick(f, 1, 1);
    fx_isolate(f, 4); /* so that it catches up by snapshot */
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        struct raft *r1 = fx_raft(f, 1);
        if (r1 != NULL)
            call(f, 1,
                 raft_change_member(r1, steps[i].change, steps[i].id, "a:1", 3,
                                    NULL));
        fx_stabilize(f);
        r1 = fx_raft(f, 1);
        if (i == 0 && r1 != NULL && raft_applied_index(r1) > 0)
            fx_compact(f, 1, raft_applied_index(r1));
        fx_heal(f);
        fx_tick_all(f, f->nodes[0].cfg.heartbeat_ticks);
    }
    if (fx_raft(f, 1) != NULL)
        call(f, 1, raft_transfer_leader(fx_raft(f, 1), 3));
    fx_stabilize(f);
    for (raft_id id = 1; id <= 4; id += 3) {
        if (fx_raft(f, id) != NULL)
            fx_crash(f, id);
        fx_restart(f, id);
    }
    fx_tick_all(f, 2 * f->nodes[0].cfg.heartbeat_ticks);
    if (fa->fail_at == 0) { /* the unfailing run goes all the way */
        ASSERT_EQ_U64(fx_leader(f), 3);
        ASSERT_CONF(f, 4, "1 3 4");
        ASSERT_EQ_U64(f->nodes[3].snap.index, f->nodes[0].snap.index);
    }
    fx_free(f);
}

TEST(raft_membership, allocation_failure_sweep_through_changes)
{
    struct fx_fail_alloc fa = fx_fail_alloc();
    unsigned long total;
    fa.a.ctx = &fa;
    membership_scenario(&fa);
    total = fa.calls;
    ASSERT_EQ_U64(fa.live, 0);
    ASSERT_TRUE(total > 10);
    for (unsigned long n = 1; n <= total; n++) {
        fa.calls = 0;
        fa.fail_at = n;
        fa.live = 0;
        membership_scenario(&fa);
        ASSERT_EQ_U64_MSG(fa.live, 0, "blocks leaked");
    }
}
