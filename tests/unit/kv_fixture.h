/* Helpers shared by the state machine's tests (test_kv*.c). */
#ifndef RKV_TEST_KV_FIXTURE_H
#define RKV_TEST_KV_FIXTURE_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kv/kv.h"
#include "lib/runner.h"

/* Evaluate `expr`, which may write an error message into `em`, and fail
 * the test with that message unless it returns 0. */
#define OK(expr)                                                             \
    do {                                                                     \
        char em[RKV_ERRMSG_LEN] = "";                                        \
        int rv_ = (expr);                                                    \
        if (rv_ != 0)                                                        \
            test__fail(__FILE__, __LINE__, "%s returned %d: %s", #expr, rv_, \
                       em);                                                  \
    } while (0)

static inline struct kv_slice sl(const char *s)
{
    return (struct kv_slice){s, strlen(s)};
}

static inline void kv_dir(const char *name, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/%s", test_tmpdir(), name);
    ASSERT_TRUE(mkdir(dir, 0700) == 0 || errno == EEXIST);
}

static inline struct kv *open_kv(const char *name, const struct kv_options *opt)
{
    char dir[512];
    struct kv *kv;

    kv_dir(name, dir, sizeof dir);
    OK(kv_open(dir, opt, &kv, em));
    return kv;
}

#endif /* RKV_TEST_KV_FIXTURE_H */
