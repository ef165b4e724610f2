/* The in-memory Raft log: entries after the last snapshot, each entry's
 * payload held in a reference-counted buffer.
 *
 * References. A payload lives in a `struct raft__buf` and `entry.data` points
 * at its `data` member, so the buffer is found from the entry alone. The log
 * holds one reference per entry; a Ready lent to the host and every queued
 * message holds one more per entry it carries. Truncating the log therefore
 * never invalidates what the host is still persisting or sending: the
 * memory goes when the last holder lets go (raft__entry_unref). */
#ifndef RAFT_LOG_H
#define RAFT_LOG_H

#include "raftkv/raft.h"

struct raft;

struct raft__log
{
    struct raft_entry *entries; /* entries[i].index == offset + 1 + i */
    size_t n;                   /* entries held */
    size_t cap;                 /* entries allocated */
    raft_index offset;          /* index just before entries[0] */
    raft_term offset_term;      /* term of the entry at `offset`, 0 if none */
};

void raft__log_init(struct raft__log *l);
void raft__log_close(struct raft *r, struct raft__log *l);

raft_index raft__log_last_index(const struct raft__log *l);
raft_term raft__log_last_term(const struct raft__log *l);
/* Term at `index`: offset_term at the offset, 0 outside [offset, last]. */
raft_term raft__log_term(const struct raft__log *l, raft_index index);
/* Entry at `index`, or NULL outside (offset, last]. */
const struct raft_entry *raft__log_get(const struct raft__log *l,
                                       raft_index index);

/* Append a copy of `e` at last+1 (its index is checked, not taken): the
 * payload is copied into a fresh buffer. Returns 0 or RKV_ENOMEM (log
 * unchanged). */
int raft__log_append_copy(struct raft *r,
                          struct raft__log *l,
                          const struct raft_entry *e);
/* Drop entries with index >= `from` (from > offset). */
void raft__log_truncate(struct raft *r, struct raft__log *l, raft_index from);

/* Forget entries up to `index` (offset < index <= last), keeping the term
 * at `index` as offset_term; or, with index > last, reset the log to empty
 * after (index, term). */
void raft__log_compact(struct raft *r,
                       struct raft__log *l,
                       raft_index index,
                       raft_term term);

/* The largest index <= `index` whose term is <= `term` (at least offset):
 * where a follower whose entry at `index` has term `term` may match us.
 * Used by fast backtracking on both sides (§5.3, "optimization"). */
raft_index raft__log_find_conflict_by_term(const struct raft__log *l,
                                           raft_index index,
                                           raft_term term);

/* Copy `src` into `dst` with its payload in a fresh buffer (one reference,
 * owned by the caller). Returns 0 or RKV_ENOMEM (dst untouched). */
int raft__entry_copy(struct raft *r,
                     const struct raft_entry *src,
                     struct raft_entry *dst);
/* An array of `n` such copies in *out; release each with
 * raft__entry_unref() and the array with raft__free(). */
int raft__entries_copy(struct raft *r,
                       const struct raft_entry *src,
                       size_t n,
                       struct raft_entry **out);
/* A new reference to `e`'s payload, as a shallow copy into *out. */
void raft__entry_ref(const struct raft_entry *e, struct raft_entry *out);
void raft__entry_unref(struct raft *r, struct raft_entry *e);

#endif /* RAFT_LOG_H */
