/* A small test runner: TEST(suite, name) registers a test at load time;
 * ASSERT_* macros print both sides and fail the current test without
 * aborting the process. The runner binary takes an optional filter
 * (substring of "suite/name") and ends with "N passed, N failed". */
#ifndef RKV_TEST_RUNNER_H
#define RKV_TEST_RUNNER_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

struct test_case
{
    const char *suite;      /* e.g. "raft_election" */
    const char *name;       /* the rule checked, e.g. "grants_one_vote" */
    void (*fn)(void);       /* the body */
    struct test_case *next; /* registration list */
};

void test__register(struct test_case *tc);
void test__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define TEST(suite, name)                                                    \
    static void test_##suite##_##name(void);                                 \
    static struct test_case test_case_##suite##_##name = {                   \
        #suite, #name, test_##suite##_##name, NULL};                         \
    __attribute__((constructor)) static void test_reg_##suite##_##name(void) \
    {                                                                        \
        test__register(&test_case_##suite##_##name);                         \
    }                                                                        \
    static void test_##suite##_##name(void)

#define ASSERT_TRUE(x)                                               \
    do {                                                             \
        if (!(x))                                                    \
            test__fail(__FILE__, __LINE__, "expected true: %s", #x); \
    } while (0)
#define ASSERT_FALSE(x)                                               \
    do {                                                              \
        if (x)                                                        \
            test__fail(__FILE__, __LINE__, "expected false: %s", #x); \
    } while (0)
#define ASSERT_EQ_U64_MSG(a, b, msg)                                     \
    do {                                                                 \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                 \
        if (a_ != b_)                                                    \
            test__fail(__FILE__, __LINE__,                               \
                       "%s: %s == %" PRIu64 ", expected %s == %" PRIu64, \
                       (msg), #a, a_, #b, b_);                           \
    } while (0)
#define ASSERT_EQ_U64(a, b) ASSERT_EQ_U64_MSG(a, b, "")
#define ASSERT_EQ_INT(a, b)                                                   \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_)                                                         \
            test__fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
                       #a, a_, #b, b_);                                       \
    } while (0)
#define ASSERT_EQ_STR(a, b)                                                 \
    do {                                                                    \
        const char *a_ = (a), *b_ = (b);                                    \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                \
            test__fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", \
                       #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");         \
    } while (0)
#define ASSERT_EQ_MEM(a, b, n)                                              \
    do {                                                                    \
        if (memcmp((a), (b), (n)) != 0)                                     \
            test__fail(__FILE__, __LINE__, "%s and %s differ in %zu bytes", \
                       #a, #b, (size_t)(n));                                \
    } while (0)
#define ASSERT_OK(x)                                                         \
    do {                                                                     \
        int rv_ = (x);                                                       \
        if (rv_ != 0)                                                        \
            test__fail(__FILE__, __LINE__, "%s returned %d, expected 0", #x, \
                       rv_);                                                 \
    } while (0)

/* Scratch directory for the current test (created fresh, removed after). */
const char *test_tmpdir(void);

#endif /* RKV_TEST_RUNNER_H */
