/* rkv_strerror(), generated from the code list in include/raftkv/err.h. */
#include "raftkv/err.h"

#include <stdarg.h>
#include <stdio.h>

void rkv_errmsgf(char *errmsg, const char *fmt, ...)
{
    va_list ap;
    if (errmsg == NULL)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(errmsg, RKV_ERRMSG_LEN, fmt, ap); /* cut: fine */
    va_end(ap);
}

int rkv_errf(char *errmsg, int code, const char *fmt, ...)
{
    va_list ap;
    if (errmsg == NULL)
        return code;
    va_start(ap, fmt);
    (void)vsnprintf(errmsg, RKV_ERRMSG_LEN, fmt, ap); /* cut: fine */
    va_end(ap);
    return code;
}

const char *rkv_strerror(int code)
{
    switch (code) {
        case 0:
            return "ok";
#define RKV_ERR_CASE_(name, code, text) \
    case RKV_##name:                    \
        return text;
            RKV_ERRNO_MAP(RKV_ERR_CASE_)
#undef RKV_ERR_CASE_
        default:
            return "unknown error";
    }
}
