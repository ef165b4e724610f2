/* Encoding and decoding of WAL segment headers and records; the format is
 * drawn in wal_record.h. Decoding treats its input as untrusted. */
#include "storage/wal_record.h"

#include <string.h>

#include "storage/crc32c.h"
#include "storage/storage_int.h"

#define SEG_OFF(field) offsetof(struct wal_segment_header, field)
#define REC_OFF(field) offsetof(struct wal_record_header, field)

void wal__segment_header_encode(uint8_t *buf, raft_index first)
{
    ASSERT(buf != NULL);
    ASSERT(first >= 1);
    storage__put_u32(buf + SEG_OFF(magic), WAL_MAGIC);
    storage__put_u32(buf + SEG_OFF(version), WAL_VERSION);
    storage__put_u32(buf + SEG_OFF(reserved), 0);
    storage__put_u64(buf + SEG_OFF(first), first);
    storage__put_u32(buf + SEG_OFF(crc),
                     crc32c(0, buf + 4, WAL_SEGMENT_HEADER_BYTES - 4));
}

int wal__segment_header_decode(const uint8_t *buf,
                               size_t len,
                               raft_index *first,
                               char *errmsg)
{
    uint32_t version;

    ASSERT(buf != NULL || len == 0);
    if (len < WAL_SEGMENT_HEADER_BYTES)
        return storage__errf(errmsg, RKV_EAGAIN, "short segment header");
    if (storage__get_u32(buf + SEG_OFF(crc)) !=
        crc32c(0, buf + 4, WAL_SEGMENT_HEADER_BYTES - 4))
        return STORAGE_CORRUPT(errmsg, "segment header checksum mismatch");
    if (storage__get_u32(buf + SEG_OFF(magic)) != WAL_MAGIC)
        return STORAGE_CORRUPT(errmsg, "not a WAL segment (bad magic)");
    version = storage__get_u32(buf + SEG_OFF(version));
    if (version != WAL_VERSION)
        return STORAGE_CORRUPT(errmsg, "unsupported WAL version %u",
                               (unsigned)version);
    if (storage__get_u32(buf + SEG_OFF(reserved)) != 0)
        return STORAGE_CORRUPT(errmsg, "segment header reserved field set");
    *first = storage__get_u64(buf + SEG_OFF(first));
    return 0;
}

void wal__record_encode(uint8_t *buf, const struct raft_entry *e)
{
    ASSERT(e->len <= RAFT_ENTRY_MAX);
    ASSERT(e->data != NULL || e->len == 0);
    storage__put_u32(buf + REC_OFF(payload_crc), crc32c(0, e->data, e->len));
    storage__put_u32(buf + REC_OFF(len), e->len);
    buf[REC_OFF(type)] = WAL_RECORD_ENTRY;
    buf[REC_OFF(entry_type)] = e->type;
    storage__put_u16(buf + REC_OFF(reserved), 0);
    storage__put_u64(buf + REC_OFF(term), e->term);
    storage__put_u64(buf + REC_OFF(index), e->index);
    storage__put_u32(buf + REC_OFF(header_crc),
                     crc32c(0, buf + 4, WAL_RECORD_HEADER_BYTES - 4));
    if (e->len > 0)
        memcpy(buf + WAL_RECORD_HEADER_BYTES, e->data, e->len);
}

/* Check the header fields a sound checksum does not vouch for. */
static int check_header_fields(const uint8_t *buf, char *errmsg)
{
    uint8_t type = buf[REC_OFF(type)];
    uint8_t entry_type = buf[REC_OFF(entry_type)];
    uint32_t len = storage__get_u32(buf + REC_OFF(len));

    if (type != WAL_RECORD_ENTRY)
        return STORAGE_CORRUPT(errmsg, "unknown record type %u",
                               (unsigned)type);
    if (entry_type < RAFT_ENTRY_NORMAL || entry_type > RAFT_ENTRY_CONF)
        return STORAGE_CORRUPT(errmsg, "unknown entry type %u",
                               (unsigned)entry_type);
    if (storage__get_u16(buf + REC_OFF(reserved)) != 0)
        return STORAGE_CORRUPT(errmsg, "record reserved field set");
    if (len > RAFT_ENTRY_MAX)
        return STORAGE_CORRUPT(errmsg, "record length %u over the maximum",
                               (unsigned)len);
    return 0;
}

int wal__record_decode(const uint8_t *buf,
                       size_t len,
                       struct raft_entry *e,
                       size_t *consumed,
                       char *errmsg)
{
    const uint8_t *payload;
    uint32_t payload_len;
    int rv;

    ASSERT(buf != NULL || len == 0);
    if (len < WAL_RECORD_HEADER_BYTES)
        return storage__errf(errmsg, RKV_EAGAIN, "short record header");
    if (storage__get_u32(buf + REC_OFF(header_crc)) !=
        crc32c(0, buf + 4, WAL_RECORD_HEADER_BYTES - 4))
        return STORAGE_CORRUPT(errmsg, "record header checksum mismatch");
    rv = check_header_fields(buf, errmsg);
    if (rv != 0)
        return rv;
    payload = buf + WAL_RECORD_HEADER_BYTES;
    payload_len = storage__get_u32(buf + REC_OFF(len));
    if (len - WAL_RECORD_HEADER_BYTES < payload_len)
        return storage__errf(errmsg, RKV_EAGAIN, "short record payload");
    if (storage__get_u32(buf + REC_OFF(payload_crc)) !=
        crc32c(0, payload, payload_len))
        return STORAGE_CORRUPT(errmsg, "record payload checksum mismatch");
    *e = (struct raft_entry){
        .term = storage__get_u64(buf + REC_OFF(term)),
        .index = storage__get_u64(buf + REC_OFF(index)),
        .type = buf[REC_OFF(entry_type)],
        .len = payload_len,
        .data = payload_len > 0 ? payload : NULL,
    };
    *consumed = wal__record_size(payload_len);
    return 0;
}
