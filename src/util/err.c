/* rkv_strerror(), generated from the code list in include/raftkv/err.h. */
#include "raftkv/err.h"

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
