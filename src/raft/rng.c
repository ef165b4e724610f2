/* The core's PRNG: splitmix64, seeded from raft_config.seed. Its state lives
 * in struct raft, so a run is a function of its inputs alone. */
#include "raft_int.h"

uint64_t raft__rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

unsigned raft__rng_range(uint64_t *state, unsigned lo, unsigned hi)
{
    const struct raft *r = NULL; /* for ASSERT */
    uint64_t span, limit, x;
    ASSERT(lo < hi);
    span = (uint64_t)hi - lo;
    /* Reject the top sliver so that every value is equally likely. */
    limit = UINT64_MAX - UINT64_MAX % span;
    do {
        x = raft__rng_next(state);
    } while (x >= limit);
    return lo + (unsigned)(x % span);
}
