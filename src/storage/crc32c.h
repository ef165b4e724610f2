/* CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected), the checksum of
 * every record the storage layer writes: WAL records, segment headers and
 * the hard-state file. Same parameters as iSCSI (RFC 3720, B.4) and ext4. */
#ifndef STORAGE_CRC32C_H
#define STORAGE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend the checksum `crc` of some bytes with `len` more bytes at `buf`.
 * Start with crc = 0: crc32c(0, "123456789", 9) == 0xE3069283, and
 * crc32c(crc32c(0, a, n), b, m) is the checksum of a followed by b. `buf`
 * may be NULL when len == 0. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The table-driven version that crc32c() falls back to; exposed so that
 * tests can check both paths agree. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif /* STORAGE_CRC32C_H */
