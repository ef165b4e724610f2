/* The unit test runner: runs every registered test (or those whose
 * "suite/name" contains argv[1]) in registration order and prints a summary
 * line "N passed, N failed". A failing ASSERT longjmps back here. */
#define _DEFAULT_SOURCE
#include "runner.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct test_case *test_head;
static struct test_case **test_tail = &test_head;
static jmp_buf test_jmp;
static char test_dir[256];

void test__register(struct test_case *tc)
{
    *test_tail = tc;
    test_tail = &tc->next;
}

void test__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    longjmp(test_jmp, 1);
}

const char *test_tmpdir(void)
{
    return test_dir;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char sub[512];
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        closedir(d);
        (void)rmdir(path); /* best effort: a leftover dir fails no test */
    } else {
        (void)unlink(path);
    }
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    /* volatile: they live across setjmp/longjmp. */
    volatile unsigned passed = 0, failed = 0;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (struct test_case *volatile tc = test_head; tc != NULL; tc = tc->next) {
        char full[256];
        snprintf(full, sizeof full, "%s/%s", tc->suite, tc->name);
        if (filter != NULL && strstr(full, filter) == NULL)
            continue;
        snprintf(test_dir, sizeof test_dir, "%s/rkv-test-%d-%u", base,
                 (int)getpid(), passed + failed);
        rm_rf(test_dir);
        if (mkdir(test_dir, 0700) != 0) {
            printf("FAIL %s: cannot create %s\n", full, test_dir);
            failed++;
            continue;
        }
        if (setjmp(test_jmp) == 0) {
            tc->fn();
            printf("ok   %s\n", full);
            passed++;
        } else {
            printf("FAIL %s\n", full);
            failed++;
        }
        rm_rf(test_dir);
    }
    printf("%u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
