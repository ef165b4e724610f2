/* Encoder and decoder of the peer wire protocol. The byte layout, the
 * limits and the reason for the checksum are in peer_codec.h. */
#include "net/peer_codec.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/crc32c.h"

#define FLAG_REJECT 0x01u /* raft_msg.reject */
#define FLAG_DONE 0x02u   /* raft_msg.done */
#define MAGIC "RKVP"      /* first bytes of every connection */
#define MAGIC_LEN 4
#define LEN_FIELD 4 /* the frame's u32 length */
#define CRC_FIELD 4 /* the frame's u32 checksum */

_Static_assert(PEER_FRAME_MAX <= UINT32_MAX, "frame length is a u32");
_Static_assert(PEER_FRAME_HEADER_LEN ==
                   LEN_FIELD + CRC_FIELD + 3 + 10 * 8 + 4 + 4,
               "frame header layout");
_Static_assert(PEER_ENTRY_HEADER_LEN == 8 + 8 + 1 + 4, "entry header");
_Static_assert(PEER_HANDSHAKE_LEN == MAGIC_LEN + 1 + 3 * 8 + 4, "handshake");

/* Every RKV_EPROTO of the codec is raised here: one breakpoint site for
 * "what did the peer send?" (after sqlite's SQLITE_CORRUPT_BKPT). */
static int proto_error(char *errmsg, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define PROTO_ERROR(errmsg, ...) proto_error((errmsg), __LINE__, __VA_ARGS__)

static int proto_error(char *errmsg, int line, const char *fmt, ...)
{
    va_list ap;

    (void)line; /* kept so a debugger breakpoint here shows the check */
    if (errmsg != NULL) {
        va_start(ap, fmt);
        vsnprintf(errmsg, RKV_ERRMSG_LEN, fmt, ap);
        va_end(ap);
    }
    return RKV_EPROTO;
}

static uint8_t *put_u8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A read position inside one frame whose length is already checked. */
struct reader
{
    const uint8_t *p; /* next byte */
    size_t left;      /* bytes from p to the end of the frame */
};

/* Callers check r->left first. */
static uint8_t read_u8(struct reader *r)
{
    assert(r->left >= 1);
    r->left -= 1;
    return *r->p++;
}

static uint32_t read_u32(struct reader *r)
{
    uint32_t v;
    assert(r->left >= 4);
    v = get_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return v;
}

static uint64_t read_u64(struct reader *r)
{
    uint64_t v;
    assert(r->left >= 8);
    v = get_u64(r->p);
    r->p += 8;
    r->left -= 8;
    return v;
}

static bool carries_entries(uint8_t type)
{
    /* A SNAPSHOT carries the configuration entry at its index (membership
     * changes, raft.h). */
    return type == RAFT_MSG_APPEND || type == RAFT_MSG_PROPOSE ||
           type == RAFT_MSG_SNAPSHOT;
}

static bool valid_entry_type(uint8_t type)
{
    return type >= RAFT_ENTRY_NORMAL && type <= RAFT_ENTRY_CONF;
}

void peer_decoded_init(struct peer_decoded *d)
{
    memset(&d->msg, 0, sizeof d->msg);
    d->entries = NULL;
    d->entries_cap = 0;
}

void peer_decoded_close(struct peer_decoded *d)
{
    free(d->entries);
    peer_decoded_init(d);
}

size_t peer_msg_encoded_size(const struct raft_msg *m)
{
    size_t size = PEER_FRAME_HEADER_LEN + m->len;

    if (m->n_entries > PEER_ENTRIES_MAX)
        return SIZE_MAX;
    for (size_t i = 0; i < m->n_entries; i++)
        size += PEER_ENTRY_HEADER_LEN + m->entries[i].len;
    return size;
}

/* Whether `m` is a message the decoder would accept back. */
static bool valid_msg(const struct raft_msg *m)
{
    if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX)
        return false;
    if (m->n_entries > 0 && (!carries_entries(m->type) || m->entries == NULL))
        return false;
    if (m->len > 0 && (m->type != RAFT_MSG_SNAPSHOT || m->data == NULL))
        return false;
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (!valid_entry_type(e->type) || e->len > RAFT_ENTRY_MAX ||
            (e->len > 0 && e->data == NULL))
            return false;
    }
    return true;
}

static uint8_t *encode_fields(const struct raft_msg *m, uint8_t *p)
{
    uint8_t flags =
        (uint8_t)((m->reject ? FLAG_REJECT : 0u) | (m->done ? FLAG_DONE : 0u));

    p = put_u8(p, PEER_WIRE_VERSION);
    p = put_u8(p, m->type);
    p = put_u8(p, flags);
    p = put_u64(p, m->from);
    p = put_u64(p, m->to);
    p = put_u64(p, m->term);
    p = put_u64(p, m->index);
    p = put_u64(p, m->log_term);
    p = put_u64(p, m->commit);
    p = put_u64(p, m->context);
    p = put_u64(p, m->hint_index);
    p = put_u64(p, m->hint_term);
    return put_u64(p, m->offset);
}

int peer_msg_encode(const struct raft_msg *m,
                    uint8_t *buf,
                    size_t cap,
                    size_t *len)
{
    size_t size;
    uint8_t *p;

    if (m->n_entries > PEER_ENTRIES_MAX)
        return RKV_ETOOBIG;
    if (!valid_msg(m))
        return RKV_EINVAL;
    size = peer_msg_encoded_size(m);
    if (size > PEER_FRAME_MAX)
        return RKV_ETOOBIG;
    if (cap < size)
        return RKV_EINVAL;
    p = put_u32(buf, (uint32_t)(size - LEN_FIELD));
    p += CRC_FIELD; /* filled last, over everything after it */
    p = encode_fields(m, p);
    p = put_u32(p, (uint32_t)m->n_entries);
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        p = put_u64(p, e->term);
        p = put_u64(p, e->index);
        p = put_u8(p, e->type);
        p = put_u32(p, e->len);
        if (e->len > 0)
            memcpy(p, e->data, e->len);
        p += e->len;
    }
    p = put_u32(p, (uint32_t)m->len);
    if (m->len > 0)
        memcpy(p, m->data, m->len);
    p += m->len;
    assert((size_t)(p - buf) == size);
    put_u32(buf + LEN_FIELD, crc32c(0, buf + LEN_FIELD + CRC_FIELD,
                                    size - LEN_FIELD - CRC_FIELD));
    *len = size;
    return 0;
}

/* The fixed fields after the checksum. The caller has checked that the
 * frame is at least a header long. */
static int decode_fields(struct reader *r, struct raft_msg *m, char *errmsg)
{
    uint8_t version = read_u8(r), flags;

    if (version != PEER_WIRE_VERSION)
        return PROTO_ERROR(errmsg, "frame version %u, ours %u", version,
                           PEER_WIRE_VERSION);
    m->type = read_u8(r);
    if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX)
        return PROTO_ERROR(errmsg, "unknown message type %u", m->type);
    flags = read_u8(r);
    if ((flags & ~(FLAG_REJECT | FLAG_DONE)) != 0)
        return PROTO_ERROR(errmsg, "unknown flags 0x%02x", flags);
    m->reject = (flags & FLAG_REJECT) != 0;
    m->done = (flags & FLAG_DONE) != 0;
    m->from = read_u64(r);
    m->to = read_u64(r);
    m->term = read_u64(r);
    m->index = read_u64(r);
    m->log_term = read_u64(r);
    m->commit = read_u64(r);
    m->context = read_u64(r);
    m->hint_index = read_u64(r);
    m->hint_term = read_u64(r);
    m->offset = read_u64(r);
    return 0;
}

/* Make room for `n` entries; the old ones need not survive. */
static int reserve_entries(struct peer_decoded *d, size_t n)
{
    struct raft_entry *e;

    if (n <= d->entries_cap)
        return 0;
    e = malloc(n * sizeof *e);
    if (e == NULL)
        return RKV_ENOMEM;
    free(d->entries);
    d->entries = e;
    d->entries_cap = n;
    return 0;
}

/* The entry count and the entries; each entry's data points into the
 * frame. The caller has checked that 8 bytes (two u32 counts) are left. */
static int decode_entries(struct reader *r,
                          struct peer_decoded *d,
                          char *errmsg)
{
    uint32_t n = read_u32(r);
    int rv;

    if (n > PEER_ENTRIES_MAX)
        return PROTO_ERROR(errmsg, "%u entries, limit %u", n, PEER_ENTRIES_MAX);
    /* Checked before allocating, so a lying count costs nothing. */
    if (n > (r->left - 4) / PEER_ENTRY_HEADER_LEN)
        return PROTO_ERROR(errmsg, "%u entries cannot fit in %zu bytes", n,
                           r->left);
    if (n > 0 && !carries_entries(d->msg.type))
        return PROTO_ERROR(errmsg, "entries in a message of type %u",
                           d->msg.type);
    rv = reserve_entries(d, n);
    if (rv != 0)
        return rv;
    for (uint32_t i = 0; i < n; i++) {
        struct raft_entry *e = &d->entries[i];
        if (r->left < PEER_ENTRY_HEADER_LEN)
            return PROTO_ERROR(errmsg, "entry %u of %u overruns the frame", i,
                               n);
        e->term = read_u64(r);
        e->index = read_u64(r);
        e->type = read_u8(r);
        e->len = read_u32(r);
        if (!valid_entry_type(e->type))
            return PROTO_ERROR(errmsg, "entry %u: unknown type %u", i, e->type);
        if (e->len > RAFT_ENTRY_MAX || e->len > r->left)
            return PROTO_ERROR(errmsg, "entry %u: %u bytes overrun the frame",
                               i, e->len);
        e->data = e->len > 0 ? r->p : NULL;
        r->p += e->len;
        r->left -= e->len;
    }
    d->msg.entries = n > 0 ? d->entries : NULL;
    d->msg.n_entries = n;
    return 0;
}

static int decode_data(struct reader *r, struct raft_msg *m, char *errmsg)
{
    uint32_t n;

    if (r->left < 4)
        return PROTO_ERROR(errmsg, "frame ends before its data length");
    n = read_u32(r);
    if (n > r->left)
        return PROTO_ERROR(errmsg, "%u data bytes overrun the frame", n);
    if (n > 0 && m->type != RAFT_MSG_SNAPSHOT)
        return PROTO_ERROR(errmsg, "data in a message of type %u", m->type);
    m->data = n > 0 ? r->p : NULL;
    m->len = n;
    r->p += n;
    r->left -= n;
    return 0;
}

int peer_msg_decode(const uint8_t *buf,
                    size_t len,
                    struct peer_decoded *out,
                    size_t *consumed,
                    char *errmsg)
{
    struct reader r;
    uint32_t body;
    int rv;

    assert(buf != NULL || len == 0);
    if (len < LEN_FIELD)
        return RKV_EAGAIN;
    body = get_u32(buf);
    if (body > PEER_FRAME_MAX - LEN_FIELD)
        return PROTO_ERROR(errmsg, "frame of %u bytes, limit %u", body,
                           PEER_FRAME_MAX - LEN_FIELD);
    if (body < PEER_FRAME_HEADER_LEN - LEN_FIELD)
        return PROTO_ERROR(errmsg, "frame of %u bytes, shorter than a header",
                           body);
    if (len - LEN_FIELD < body)
        return RKV_EAGAIN;
    r.p = buf + LEN_FIELD + CRC_FIELD;
    r.left = body - CRC_FIELD;
    if (crc32c(0, r.p, r.left) != get_u32(buf + LEN_FIELD))
        return PROTO_ERROR(errmsg, "frame checksum mismatch");
    memset(&out->msg, 0, sizeof out->msg);
    rv = decode_fields(&r, &out->msg, errmsg);
    if (rv == 0)
        rv = decode_entries(&r, out, errmsg);
    if (rv == 0)
        rv = decode_data(&r, &out->msg, errmsg);
    if (rv != 0)
        return rv;
    if (r.left != 0)
        return PROTO_ERROR(errmsg, "%zu bytes left over in the frame", r.left);
    *consumed = LEN_FIELD + body;
    return 0;
}

void peer_handshake_encode(const struct peer_handshake *h,
                           uint8_t out[PEER_HANDSHAKE_LEN])
{
    uint8_t *p = out;

    memcpy(p, MAGIC, MAGIC_LEN);
    p = put_u8(p + MAGIC_LEN, PEER_WIRE_VERSION);
    p = put_u64(p, h->cluster_id);
    p = put_u64(p, h->from);
    p = put_u64(p, h->to);
    put_u32(p, crc32c(0, out, PEER_HANDSHAKE_LEN - 4));
}

int peer_handshake_decode(const uint8_t *buf,
                          size_t len,
                          struct peer_handshake *out,
                          size_t *consumed,
                          char *errmsg)
{
    const uint8_t *p;

    assert(buf != NULL || len == 0);
    if (len == 0)
        return RKV_EAGAIN;
    if (memcmp(buf, MAGIC, len < MAGIC_LEN ? len : MAGIC_LEN) != 0)
        return PROTO_ERROR(errmsg, "bad magic: not a raftkv peer");
    if (len <= MAGIC_LEN)
        return RKV_EAGAIN;
    if (buf[MAGIC_LEN] != PEER_WIRE_VERSION)
        return PROTO_ERROR(errmsg, "protocol version %u, ours %u",
                           buf[MAGIC_LEN], PEER_WIRE_VERSION);
    if (len < PEER_HANDSHAKE_LEN)
        return RKV_EAGAIN;
    if (crc32c(0, buf, PEER_HANDSHAKE_LEN - 4) !=
        get_u32(buf + PEER_HANDSHAKE_LEN - 4))
        return PROTO_ERROR(errmsg, "handshake checksum mismatch");
    p = buf + MAGIC_LEN + 1;
    out->cluster_id = get_u64(p);
    out->from = get_u64(p + 8);
    out->to = get_u64(p + 16);
    *consumed = PEER_HANDSHAKE_LEN;
    return 0;
}
