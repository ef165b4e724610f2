/* Shared pieces of the fuzz targets in tests/fuzz/ (one target per parser
 * that reads outside bytes; `make fuzz`, `make fuzz-regress`, see fuzz.mk):
 * the libFuzzer entry points, property checks that crash the target with a
 * message, and the checksum fixers behind the custom mutators of the
 * checksummed formats. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points (https://llvm.org/docs/LibFuzzer.html). Each
 * target defines LLVMFuzzerTestOneInput; targets of checksummed formats also
 * define LLVMFuzzerCustomMutator, which calls LLVMFuzzerMutate. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data,
                               size_t size,
                               size_t max_size,
                               unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* A property the target checks does not hold: print it and abort, which
 * libFuzzer reports as a crash and saves the input. */
#define FUZZ_CHECK(x)                                \
    do {                                             \
        if (!(x))                                    \
            fuzz_fail(__FILE__, __LINE__, "%s", #x); \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Input formats: the prefixes some targets read before the bytes of the
 * format itself, shared with the seed generator gen_corpus.c. */
#define FUZZ_SPLIT_BYTES 2 /* http_request, resp: u16 LE read split */
#define FUZZ_CHUNK_BYTES 1 /* kv_snapshot: u8 restore chunk size */

/* raft_step: a u8 start state, then operations (fuzz_raft_step.c). */
enum fuzz_raft_start {
    FUZZ_START_EMPTY,     /* follower, empty log */
    FUZZ_START_FOLLOWER,  /* follower with entries 1..5, term 3 */
    FUZZ_START_CANDIDATE, /* the same, after winning a PreVote round */
    FUZZ_START_LEADER,    /* the same, after winning the election */
};
#define FUZZ_RAFT_STARTS 4
enum fuzz_raft_op {
    FUZZ_OP_STEP,    /* a peer frame follows */
    FUZZ_OP_TICK,    /* tick (op >> 2) + 1 times */
    FUZZ_OP_PROPOSE, /* propose the (op >> 2) bytes that follow */
    FUZZ_OP_OTHER,   /* op & 4: compact; else read_index(op >> 3) */
};
#define FUZZ_RAFT_OPS 4

/* A copy of data[0..len) in a heap block of exactly `len` bytes, so that
 * ASan catches a parser reading past the end of a prefix of the input.
 * Free with free(). Never NULL (aborts when memory runs out). */
uint8_t *fuzz_dup(const uint8_t *data, size_t len);

/* Little-endian helpers for the input formats of the targets. */
uint32_t fuzz_get_u32(const uint8_t *p);
uint64_t fuzz_get_u64(const uint8_t *p);
void fuzz_put_u32(uint8_t *p, uint32_t v);

/* Checksums hide everything behind them from a fuzzer: a mutated byte
 * almost never keeps the checksum right. A custom mutator therefore runs
 * libFuzzer's own mutation, then, seven times in eight, `fix` on the result
 * to recompute the checksums (the eighth keeps the checksum checks
 * themselves exercised). The input files stay exactly the bytes the parser
 * reads, so any reproducer is a plain file of the format. */
size_t fuzz_mutate_fixed(uint8_t *data,
                         size_t size,
                         size_t max_size,
                         unsigned int seed,
                         void (*fix)(uint8_t *data, size_t size));

/* Recompute the checksum of the peer frame (net/peer_codec.h) at the start
 * of p[0..len). Returns the frame's size, or 0 if p holds no whole frame
 * (nothing changed). */
size_t fuzz_fix_peer_frame(uint8_t *p, size_t len);

/* Recompute the checksums of a WAL segment file (storage/wal_record.h):
 * its header, then each record as far as the length fields chain them. */
void fuzz_fix_wal_segment(uint8_t *p, size_t len);

/* A scratch directory for this process, created on first use (under
 * $TMPDIR, else /dev/shm, else /tmp) and removed with its files at exit. */
const char *fuzz_tmpdir(void);

/* Remove the regular files in `dir` (not the directory itself). */
void fuzz_empty_dir(const char *dir);

#endif /* FUZZ_H */
