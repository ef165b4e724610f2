/* Fuzz target: the peer message decoder peer_msg_decode() (net/peer_codec.h).
 *
 * Input: the bytes a peer sends after the handshake: frames back to back.
 * Each frame decoded must (a) re-encode to exactly its own bytes (the
 * format has one encoding per message) and decode again to an equal
 * message, and (b) read as incomplete when cut one byte short. The custom
 * mutator fixes the frames' checksums (fuzz.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net/peer_codec.h"
#include "raftkv/err.h"

static void fix_frames(uint8_t *data, size_t size)
{
    size_t off = 0, n;

    while ((n = fuzz_fix_peer_frame(data + off, size - off)) > 0)
        off += n;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data,
                               size_t size,
                               size_t max_size,
                               unsigned int seed)
{
    return fuzz_mutate_fixed(data, size, max_size, seed, fix_frames);
}

static bool same_entries(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->n_entries != b->n_entries)
        return false;
    for (size_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        if (x->term != y->term || x->index != y->index || x->type != y->type ||
            x->len != y->len ||
            (x->len > 0 && memcmp(x->data, y->data, x->len) != 0))
            return false;
    }
    return true;
}

static bool same_msg(const struct raft_msg *a, const struct raft_msg *b)
{
    return a->type == b->type && a->from == b->from && a->to == b->to &&
           a->term == b->term && a->index == b->index &&
           a->log_term == b->log_term && a->commit == b->commit &&
           a->context == b->context && a->reject == b->reject &&
           a->done == b->done && a->hint_index == b->hint_index &&
           a->hint_term == b->hint_term && a->offset == b->offset &&
           same_entries(a, b) && a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* decode -> encode -> decode of the frame `frame` (n bytes) that decoded
 * into `d`. */
static void check_round_trip(const struct peer_decoded *d,
                             const uint8_t *frame,
                             size_t n)
{
    struct peer_decoded again;
    size_t size = peer_msg_encoded_size(&d->msg), len, n2;
    uint8_t *buf;

    FUZZ_CHECK(size == n);
    buf = malloc(size);
    FUZZ_CHECK(buf != NULL);
    FUZZ_CHECK(peer_msg_encode(&d->msg, buf, size, &len) == 0);
    FUZZ_CHECK(len == n);
    FUZZ_CHECK(memcmp(buf, frame, n) == 0);
    peer_decoded_init(&again);
    FUZZ_CHECK(peer_msg_decode(buf, len, &again, &n2, NULL) == 0);
    FUZZ_CHECK(n2 == n);
    FUZZ_CHECK(same_msg(&again.msg, &d->msg));
    peer_decoded_close(&again);
    free(buf);
}

/* A frame cut one byte short is incomplete, not an error. */
static void check_short(const uint8_t *frame, size_t n)
{
    struct peer_decoded d;
    uint8_t *buf = fuzz_dup(frame, n - 1);
    size_t consumed;

    peer_decoded_init(&d);
    FUZZ_CHECK(peer_msg_decode(buf, n - 1, &d, &consumed, NULL) == RKV_EAGAIN);
    peer_decoded_close(&d);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer_decoded d;
    char errmsg[RKV_ERRMSG_LEN];
    size_t off = 0, n;
    int rv;

    peer_decoded_init(&d);
    do {
        rv = peer_msg_decode(data + off, size - off, &d, &n, errmsg);
        if (rv != 0) {
            FUZZ_CHECK(rv == RKV_EAGAIN || rv == RKV_EPROTO);
            break;
        }
        FUZZ_CHECK(n >= PEER_FRAME_HEADER_LEN && n <= size - off);
        FUZZ_CHECK(d.msg.type >= 1 && d.msg.type <= RAFT_MSG_TYPE_MAX);
        check_round_trip(&d, data + off, n);
        check_short(data + off, n);
        off += n;
    } while (off < size);
    peer_decoded_close(&d);
    return 0;
}
