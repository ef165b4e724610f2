/* Fuzz target: the client command decoder kv_cmd_decode() (kv/cmd.h), which
 * every replica runs on the payload of each committed entry.
 *
 * Input: an entry payload. A decoded command must lie inside the input and
 * re-encode to exactly its bytes (the layout has one encoding per
 * command); anything else must be RKV_EPROTO or RKV_ECORRUPT. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kv/cmd.h"
#include "raftkv/err.h"

/* KV_CMD_KEYS_MAX slices each: kept off the stack. */
static struct kv_slice keys[KV_CMD_KEYS_MAX], values[KV_CMD_KEYS_MAX];

static bool inside(const struct kv_slice *s, const uint8_t *data, size_t size)
{
    const uint8_t *p = s->data;

    return s->len <= size && p >= data && p <= data + size - s->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errmsg[RKV_ERRMSG_LEN];
    struct kv_cmd cmd;
    uint8_t *buf;
    size_t len;
    int rv = kv_cmd_decode(data, size, &cmd, keys, values, errmsg);

    if (rv != 0) {
        FUZZ_CHECK(rv == RKV_EPROTO || rv == RKV_ECORRUPT);
        return 0;
    }
    FUZZ_CHECK(cmd.n >= 1 && cmd.n <= KV_CMD_KEYS_MAX);
    for (size_t i = 0; i < cmd.n; i++) {
        FUZZ_CHECK(cmd.keys[i].len >= 1 && cmd.keys[i].len <= KV_KEY_MAX);
        FUZZ_CHECK(inside(&cmd.keys[i], data, size));
        if (cmd.values != NULL) {
            FUZZ_CHECK(cmd.values[i].len <= KV_VALUE_MAX);
            FUZZ_CHECK(inside(&cmd.values[i], data, size));
        }
    }
    buf = malloc(size);
    FUZZ_CHECK(buf != NULL);
    rv = kv_cmd_encode(&cmd, buf, size, &len, errmsg);
    if (rv != 0)
        fuzz_fail(__FILE__, __LINE__, "re-encoding a decoded command: %d: %s",
                  rv, errmsg);
    FUZZ_CHECK(len == size && memcmp(buf, data, size) == 0);
    free(buf);
    return 0;
}
