/* Error codes shared by every raftkv module.
 *
 * Functions return 0 on success or a negative RKV_E* code. The list below is
 * the only place codes are defined; rkv_strerror() is generated from it. */
#ifndef RAFTKV_ERR_H
#define RAFTKV_ERR_H

#define RKV_ERRMSG_LEN 256 /* size of caller-owned error message buffers */

#define RKV_ERRNO_MAP(X)                       \
    X(ENOMEM, -1, "out of memory")             \
    X(EINVAL, -2, "invalid argument")          \
    X(ENOTLEADER, -3, "not the leader")        \
    X(ENOLEADER, -4, "no known leader")        \
    X(EIO, -5, "I/O error")                    \
    X(ENOSPC, -6, "no space left on device")   \
    X(ECORRUPT, -7, "corrupt data")            \
    X(EPROTO, -8, "protocol error")            \
    X(EAGAIN, -9, "incomplete input")          \
    X(ETOOBIG, -10, "too large")               \
    X(ENOTFOUND, -11, "not found")             \
    X(EBUSY, -12, "busy")                      \
    X(ECANCELED, -13, "canceled")              \
    X(ETIMEDOUT, -14, "timed out")             \
    X(ECOMPACTED, -15, "entry compacted away") \
    X(EUNAVAIL, -16, "entry not available")    \
    X(ESHUTDOWN, -17, "shutting down")         \
    X(ECONFIG, -18, "bad configuration")       \
    X(EINTERNAL, -19, "internal error")

enum rkv_err {
#define RKV_ERR_ENUM_(name, code, text) RKV_##name = (code),
    RKV_ERRNO_MAP(RKV_ERR_ENUM_)
#undef RKV_ERR_ENUM_
};

/* Format a message into `errmsg` (RKV_ERRMSG_LEN bytes), cut if longer. */
void rkv_errmsgf(char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Format a message into `errmsg` (RKV_ERRMSG_LEN bytes, may be NULL) and
 * return `code`: every error path of a module goes through it, which makes
 * it one breakpoint site. */
int rkv_errf(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Return a static, human-readable description of `code` (0 gives "ok"). */
const char *rkv_strerror(int code);

#endif /* RAFTKV_ERR_H */
