/* A fault-injecting disk for tests: wraps another struct disk and makes
 * chosen write(), sync()/sync_dir() or truncate() calls fail, optionally
 * after writing part of the buffer (a short write), as a full or failing
 * disk would. Everything else passes through. */
#ifndef STORAGE_DISK_FAULT_H
#define STORAGE_DISK_FAULT_H

#include <stdint.h>

#include "storage/disk.h"

#define DISK_FAULT_FOREVER UINT64_MAX /* rule.times: fail until turned off */

/* When and how one kind of call fails. All zero: never. */
struct disk_fault_rule
{
    uint64_t after;       /* calls that still succeed before failures start */
    uint64_t times;       /* calls that then fail; 0: rule off */
    int err;              /* the failure: RKV_ENOSPC or RKV_EIO */
    size_t partial_bytes; /* write rule: bytes of a failing write that land */
};

struct disk_fault
{
    struct disk disk;             /* the wrapped interface to hand out */
    const struct disk *inner;     /* the disk underneath, borrowed */
    uint64_t n_writes;            /* write() calls seen, failed ones included */
    uint64_t n_syncs;             /* sync() and sync_dir() calls seen */
    struct disk_fault_rule write; /* applies to write() */
    struct disk_fault_rule sync;  /* applies to sync() and sync_dir() */
    struct disk_fault_rule truncate; /* applies to truncate() */
};

/* Make `f` a pass-through wrapper of `inner` (borrowed: it must outlive
 * f) with every rule off; use &f->disk as the disk. Set f->write etc.
 * directly to inject faults; the new values apply from the next call. */
void disk_fault_init(struct disk_fault *f, const struct disk *inner);

#endif /* STORAGE_DISK_FAULT_H */
