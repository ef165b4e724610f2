/* Assertions for the core. They stay on in every build: an impossible state
 * must crash loudly, naming the node, term and role (STYLE.md §7). */
#ifndef RAFT_ASSERT_H
#define RAFT_ASSERT_H

struct raft;

/* Report a failed assertion and abort. `r` may be NULL. */
_Noreturn void raft__assert_fail(const struct raft *r,
                                 const char *file,
                                 int line,
                                 const char *expr);

/* ASSERT needs a `r` in scope (a `struct raft *`, possibly NULL). */
#define ASSERT(x)                                         \
    do {                                                  \
        if (!(x))                                         \
            raft__assert_fail(r, __FILE__, __LINE__, #x); \
    } while (0)

#ifdef RKV_DEBUG
#define ASSERT_DEBUG(x) ASSERT(x)
#else
#define ASSERT_DEBUG(x) ((void)0)
#endif

#endif /* RAFT_ASSERT_H */
