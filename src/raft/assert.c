/* Assertion failure report. The only place the core writes anywhere: it is
 * about to abort, so purity no longer matters. */
#include <stdio.h>
#include <stdlib.h>

#include "raft_int.h"

void raft__assert_fail(const struct raft *r,
                       const char *file,
                       int line,
                       const char *expr)
{
    if (r != NULL)
        fprintf(stderr,
                "%s:%d: assertion failed: %s (node=%llu term=%llu "
                "role=%s)\n",
                file, line, expr, (unsigned long long)r->cfg.id,
                (unsigned long long)r->term, raft_role_name(r->role));
    else
        fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
