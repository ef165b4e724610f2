/* The in-memory log and its reference-counted payloads (see log.h). */
#include "log.h"

#include <string.h>

#include "raft_int.h"

struct raft__buf
{
    uint32_t refs;  /* holders: the log, Readies, queued messages */
    uint32_t len;   /* payload bytes */
    uint8_t data[]; /* the payload; raft_entry.data points here */
};

static struct raft__buf *buf_of(const struct raft_entry *e)
{
    return (struct raft__buf *)(void *)((uintptr_t)e->data -
                                        offsetof(struct raft__buf, data));
}

void raft__entry_ref(const struct raft_entry *e, struct raft_entry *out)
{
    *out = *e;
    if (e->data != NULL)
        buf_of(e)->refs++;
}

void raft__entry_unref(struct raft *r, struct raft_entry *e)
{
    if (e->data != NULL) {
        struct raft__buf *b = buf_of(e);
        ASSERT(b->refs > 0);
        ASSERT(b->len == e->len);
        if (--b->refs == 0)
            raft__free(r, b);
    }
    e->data = NULL;
}

int raft__entry_copy(struct raft *r,
                     const struct raft_entry *src,
                     struct raft_entry *dst)
{
    *dst = *src;
    dst->data = NULL;
    if (src->len > 0) {
        struct raft__buf *b = raft__malloc(r, sizeof *b + src->len);
        if (b == NULL)
            return RKV_ENOMEM;
        b->refs = 1;
        b->len = src->len;
        memcpy(b->data, src->data, src->len);
        dst->data = b->data;
    }
    return 0;
}

int raft__entries_copy(struct raft *r,
                       const struct raft_entry *src,
                       size_t n,
                       struct raft_entry **out)
{
    struct raft_entry *es = raft__malloc(r, n * sizeof *es);
    if (es == NULL)
        return RKV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rv = raft__entry_copy(r, &src[i], &es[i]);
        if (rv != 0) {
            while (i-- > 0)
                raft__entry_unref(r, &es[i]);
            raft__free(r, es);
            return rv;
        }
    }
    *out = es;
    return 0;
}

void raft__log_init(struct raft__log *l)
{
    memset(l, 0, sizeof *l);
}

void raft__log_close(struct raft *r, struct raft__log *l)
{
    for (size_t i = 0; i < l->n; i++)
        raft__entry_unref(r, &l->entries[i]);
    raft__free(r, l->entries);
    raft__log_init(l);
}

raft_index raft__log_last_index(const struct raft__log *l)
{
    return l->offset + l->n;
}

raft_term raft__log_last_term(const struct raft__log *l)
{
    return l->n > 0 ? l->entries[l->n - 1].term : l->offset_term;
}

raft_term raft__log_term(const struct raft__log *l, raft_index index)
{
    if (index == l->offset)
        return l->offset_term;
    if (index < l->offset || index > raft__log_last_index(l))
        return 0;
    return l->entries[index - l->offset - 1].term;
}

const struct raft_entry *raft__log_get(const struct raft__log *l,
                                       raft_index index)
{
    if (index <= l->offset || index > raft__log_last_index(l))
        return NULL;
    return &l->entries[index - l->offset - 1];
}

int raft__log_append_copy(struct raft *r,
                          struct raft__log *l,
                          const struct raft_entry *e)
{
    int rv;
    ASSERT(e->index == raft__log_last_index(l) + 1);
    ASSERT(e->term >= raft__log_last_term(l));
    ASSERT(e->len <= RAFT_ENTRY_MAX);
    if (l->n == l->cap) {
        size_t cap = l->cap == 0 ? 64 : l->cap * 2;
        struct raft_entry *p =
            raft__realloc(r, l->entries, cap * sizeof *l->entries);
        if (p == NULL)
            return RKV_ENOMEM;
        l->entries = p;
        l->cap = cap;
    }
    rv = raft__entry_copy(r, e, &l->entries[l->n]);
    if (rv != 0)
        return rv;
    l->n++;
    return 0;
}

void raft__log_truncate(struct raft *r, struct raft__log *l, raft_index from)
{
    ASSERT(from > l->offset);
    while (raft__log_last_index(l) >= from) {
        l->n--;
        raft__entry_unref(r, &l->entries[l->n]);
    }
    ASSERT(raft__log_last_index(l) == from - 1 || from > l->offset + l->n);
}

void raft__log_compact(struct raft *r,
                       struct raft__log *l,
                       raft_index index,
                       raft_term term)
{
    size_t drop;
    ASSERT(index > l->offset);
    if (index > raft__log_last_index(l)) {
        raft__log_truncate(r, l, l->offset + 1);
        l->offset = index;
        l->offset_term = term;
        return;
    }
    ASSERT(raft__log_term(l, index) == term);
    drop = (size_t)(index - l->offset);
    for (size_t i = 0; i < drop; i++)
        raft__entry_unref(r, &l->entries[i]);
    memmove(l->entries, l->entries + drop, (l->n - drop) * sizeof *l->entries);
    l->n -= drop;
    l->offset = index;
    l->offset_term = term;
}

raft_index raft__log_find_conflict_by_term(const struct raft__log *l,
                                           raft_index index,
                                           raft_term term)
{
    raft_index last = raft__log_last_index(l);
    if (index > last)
        index = last;
    while (index > l->offset && raft__log_term(l, index) > term)
        index--;
    return index;
}
