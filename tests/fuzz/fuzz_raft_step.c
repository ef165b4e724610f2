/* Fuzz target: the core's validation and handling of peer messages,
 * raft_step() (include/raftkv/raft.h), with messages decoded from bytes by
 * peer_msg_decode() as the server does.
 *
 * Input: a u8 start state, then operations. The core is node 1 of voters
 * {1, 2, 3}, created fresh for each input in the state start % 4 picks: a
 * follower with an empty log; a follower holding entries 1..5 (terms 1 1 2
 * 2 3) in term 3; the same after winning a PreVote round (a candidate); or
 * the same after winning the election (a leader). Each operation is one
 * byte `op`, with op % 4 choosing (enum fuzz_raft_op in fuzz.h):
 *   0  step: a peer frame follows, decoded and passed to raft_step();
 *   1  tick (op >> 2) + 1 times;
 *   2  propose the (op >> 2) bytes that follow;
 *   3  compact up to the applied index if op & 4, else read_index with
 *      context op >> 3.
 * Input that runs out mid-operation, or a frame that does not decode, ends
 * the run. After every operation the host side drains raft_ready() /
 * raft_advance() as a server whose disk always succeeds would, and the
 * node's own invariants are checked: the term and the commit index never
 * go back, commit <= last index, applied <= commit, a leader knows itself
 * as leader. The core must never crash or assert; raft_step() returns 0
 * or RKV_EPROTO. The custom mutator fixes the frames' checksums. */
#include <stdbool.h>

#include "fuzz.h"
#include "net/peer_codec.h"
#include "raftkv/raft.h"

#define START_BYTES 1   /* the start state before the operations */
#define READY_ROUNDS 64 /* Ready rounds one operation may need */

/* Walk the operations as LLVMFuzzerTestOneInput reads them, fixing the
 * checksum of every frame. */
static void fix_frames(uint8_t *data, size_t size)
{
    size_t off = START_BYTES;

    while (off < size) {
        uint8_t op = data[off++];
        size_t n;
        if (op % FUZZ_RAFT_OPS == FUZZ_OP_PROPOSE) {
            off += op >> 2;
        } else if (op % FUZZ_RAFT_OPS == FUZZ_OP_STEP) {
            n = fuzz_fix_peer_frame(data + off, size - off);
            if (n == 0)
                return;
            off += n;
        }
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data,
                               size_t size,
                               size_t max_size,
                               unsigned int seed)
{
    return fuzz_mutate_fixed(data, size, max_size, seed, fix_frames);
}

/* What the host does with a Ready when the disk always succeeds: persist
 * and apply nothing of its own, drop the messages, advance. */
static void drain(struct raft *r)
{
    struct raft_ready rd;
    unsigned rounds = 0;

    while (raft_ready(r, &rd)) {
        FUZZ_CHECK(++rounds <= READY_ROUNDS);
        raft_advance(r, &rd);
    }
}

static void step_ok(struct raft *r, const struct raft_msg *m)
{
    FUZZ_CHECK(raft_step(r, m) == 0);
    drain(r);
}

/* A node with entries 1..5 in term 3, as after a restart. */
static void load_log(struct raft *r)
{
    static const raft_term terms[] = {1, 1, 2, 2, 3};
    static const uint8_t payload[] = "x";
    struct raft_entry entries[5];
    struct raft_hard_state hs = {.term = 3, .vote = 2, .commit = 3};

    for (size_t i = 0; i < 5; i++)
        entries[i] = (struct raft_entry){.term = terms[i],
                                         .index = i + 1,
                                         .type = RAFT_ENTRY_NORMAL,
                                         .len = 1,
                                         .data = payload};
    FUZZ_CHECK(raft_load(r, &hs, entries, 5) == 0);
    drain(r);
}

/* Time out into a PreVote round, win it with node 2's answer. */
static void become_candidate(struct raft *r)
{
    struct raft_msg m = {.type = RAFT_MSG_PREVOTE_RESP, .from = 2, .to = 1};

    for (unsigned i = 0; i < 1000 && raft_role_of(r) == RAFT_FOLLOWER; i++)
        raft_tick(r);
    FUZZ_CHECK(raft_role_of(r) == RAFT_PRE_CANDIDATE);
    drain(r);
    m.term = raft_term_of(r) + 1;
    step_ok(r, &m);
    FUZZ_CHECK(raft_role_of(r) == RAFT_CANDIDATE);
}

static void become_leader(struct raft *r)
{
    struct raft_msg m = {.type = RAFT_MSG_VOTE_RESP, .from = 2, .to = 1};

    m.term = raft_term_of(r);
    step_ok(r, &m);
    FUZZ_CHECK(raft_role_of(r) == RAFT_LEADER);
}

static struct raft *start(uint8_t state)
{
    struct raft_config cfg;
    struct raft *r;

    raft_config_default(&cfg);
    cfg.id = 1;
    cfg.voters[0] = 1;
    cfg.voters[1] = 2;
    cfg.voters[2] = 3;
    cfg.n_voters = 3;
    cfg.seed = 1;
    FUZZ_CHECK(raft_new(&cfg, &r) == 0);
    if (state % FUZZ_RAFT_STARTS == FUZZ_START_EMPTY)
        return r;
    load_log(r);
    if (state % FUZZ_RAFT_STARTS >= FUZZ_START_CANDIDATE)
        become_candidate(r);
    if (state % FUZZ_RAFT_STARTS == FUZZ_START_LEADER)
        become_leader(r);
    return r;
}

/* One node's view of what Raft guarantees it, after an operation. */
struct view
{
    raft_term term;    /* never goes back */
    raft_index commit; /* never goes back */
};

static void check_view(struct raft *r, struct view *v)
{
    raft_term term = raft_term_of(r);
    raft_index commit = raft_commit_index(r);

    FUZZ_CHECK(term >= v->term);
    FUZZ_CHECK(commit >= v->commit);
    FUZZ_CHECK(commit <= raft_last_index(r));
    FUZZ_CHECK(raft_applied_index(r) <= commit);
    FUZZ_CHECK(raft_role_of(r) != RAFT_LEADER || raft_leader_of(r) == 1);
    v->term = term;
    v->commit = commit;
}

/* Run the operation `op` whose arguments start at data[*off]; false when
 * the input ends before them. */
static bool run_op(struct raft *r,
                   uint8_t op,
                   const uint8_t *data,
                   size_t size,
                   size_t *off,
                   struct peer_decoded *d)
{
    size_t n;
    int rv;

    switch (op % FUZZ_RAFT_OPS) {
        case FUZZ_OP_STEP:
            if (peer_msg_decode(data + *off, size - *off, d, &n, NULL) != 0)
                return false;
            *off += n;
            rv = raft_step(r, &d->msg);
            FUZZ_CHECK(rv == 0 || rv == RKV_EPROTO);
            break;
        case FUZZ_OP_TICK:
            for (unsigned i = 0; i <= (unsigned)(op >> 2); i++)
                raft_tick(r);
            break;
        case FUZZ_OP_PROPOSE:
            if ((size_t)(op >> 2) > size - *off)
                return false;
            rv = raft_propose(r, data + *off, op >> 2, NULL, NULL);
            FUZZ_CHECK(rv == 0 || rv == RKV_ENOLEADER);
            *off += op >> 2;
            break;
        default:
            if (op & 4) {
                rv = raft_compact(r, raft_applied_index(r));
                FUZZ_CHECK(rv == 0 || rv == RKV_EINVAL);
            } else {
                rv = raft_read_index(r, op >> 3);
                FUZZ_CHECK(rv == 0 || rv == RKV_ENOLEADER);
            }
            break;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer_decoded d;
    struct view v = {0};
    struct raft *r;
    size_t off = START_BYTES;

    if (size < START_BYTES)
        return 0;
    r = start(data[0]);
    check_view(r, &v);
    peer_decoded_init(&d);
    while (off < size) {
        uint8_t op = data[off++];
        if (!run_op(r, op, data, size, &off, &d))
            break;
        drain(r);
        check_view(r, &v);
    }
    peer_decoded_close(&d);
    raft_free(r);
    return 0;
}
