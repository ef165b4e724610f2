/* The simulator's event queue: a binary min-heap on (time, sequence number).
 * The sequence number makes the order of simultaneous events the order in
 * which they were scheduled, so a seed replays exactly. */
#include <assert.h>
#include <stdlib.h>

#include "sim.h"

static bool before(const struct sim_event *a, const struct sim_event *b)
{
    if (a->time_ms != b->time_ms)
        return a->time_ms < b->time_ms;
    return a->seq < b->seq;
}

void sim_queue_init(struct sim_queue *q)
{
    q->heap = NULL;
    q->n = q->cap = 0;
    q->next_seq = 0;
}

void sim_queue_close(struct sim_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->heap[i].msg);
    free(q->heap);
    sim_queue_init(q);
}

void sim_queue_push(struct sim_queue *q, const struct sim_event *ev)
{
    size_t i;
    if (q->n == q->cap) {
        q->cap = q->cap == 0 ? 256 : q->cap * 2;
        q->heap = sim_xrealloc(q->heap, q->cap * sizeof *q->heap);
    }
    i = q->n++;
    q->heap[i] = *ev;
    q->heap[i].seq = q->next_seq++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        struct sim_event tmp;
        if (!before(&q->heap[i], &q->heap[parent]))
            break;
        tmp = q->heap[i];
        q->heap[i] = q->heap[parent];
        q->heap[parent] = tmp;
        i = parent;
    }
}

bool sim_queue_pop(struct sim_queue *q, struct sim_event *ev)
{
    size_t i = 0;
    if (q->n == 0)
        return false;
    *ev = q->heap[0];
    q->heap[0] = q->heap[--q->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, min = i;
        struct sim_event tmp;
        if (l < q->n && before(&q->heap[l], &q->heap[min]))
            min = l;
        if (r < q->n && before(&q->heap[r], &q->heap[min]))
            min = r;
        if (min == i)
            break;
        tmp = q->heap[i];
        q->heap[i] = q->heap[min];
        q->heap[min] = tmp;
        i = min;
    }
    assert(q->n == 0 || !before(&q->heap[0], ev));
    return true;
}
