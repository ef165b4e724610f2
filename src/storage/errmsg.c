/* Error messages and assertion reports of the storage layer (see
 * storage_int.h): each layer writes or wraps the caller's errmsg buffer on
 * the way up. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_int.h"

void storage__assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}

static void vformat(char *errmsg, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vformat(char *errmsg, const char *fmt, va_list ap)
{
    if (errmsg != NULL)
        vsnprintf(errmsg, RKV_ERRMSG_LEN, fmt, ap);
}

int storage__errf(char *errmsg, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int storage__wrapf(char *errmsg, int code, const char *fmt, ...)
{
    char inner[RKV_ERRMSG_LEN];
    size_t n;
    va_list ap;

    if (errmsg == NULL)
        return code;
    snprintf(inner, sizeof inner, "%s", errmsg);
    va_start(ap, fmt);
    vformat(errmsg, fmt, ap);
    va_end(ap);
    n = strlen(errmsg);
    snprintf(errmsg + n, RKV_ERRMSG_LEN - n, ": %s", inner);
    return code;
}

int storage__corrupt(char *errmsg, int line, const char *fmt, ...)
{
    va_list ap;
    (void)line; /* kept so a debugger breakpoint here shows the raiser */
    va_start(ap, fmt);
    vformat(errmsg, fmt, ap);
    va_end(ap);
    return RKV_ECORRUPT;
}
