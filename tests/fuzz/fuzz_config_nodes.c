/* Fuzz target: the cluster file parser config_parse_nodes()
 * (server/config.h).
 *
 * Input: the text of a nodes.conf. Accepted members must keep every rule
 * the parser states: 1..CONFIG_MEMBERS_MAX of them, ids in range and
 * strictly ascending, non-zero ports, printable host names, and no
 * HOST:PORT used twice (host names compared without case). Refusals must be
 * RKV_ECONFIG with a message that names the file. */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "raftkv/err.h"
#include "server/config.h"

#define NAME "nodes.conf"

static bool same_address(const struct config_member *a,
                         uint16_t a_port,
                         const struct config_member *b,
                         uint16_t b_port)
{
    return a_port == b_port && strcasecmp(a->host, b->host) == 0;
}

static void check_member(const struct config_member *m)
{
    size_t host_len = strnlen(m->host, sizeof m->host);

    FUZZ_CHECK(m->id >= 1 && m->id <= CONFIG_ID_MAX);
    FUZZ_CHECK(host_len >= 1 && host_len <= CONFIG_HOST_MAX);
    for (size_t i = 0; i < host_len; i++)
        FUZZ_CHECK(m->host[i] > 0x20 && m->host[i] < 0x7f);
    FUZZ_CHECK(m->peer_port > 0 && m->http_port > 0 && m->resp_port > 0);
    FUZZ_CHECK(m->peer_port != m->http_port && m->peer_port != m->resp_port &&
               m->http_port != m->resp_port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config_member members[CONFIG_MEMBERS_MAX];
    char errmsg[RKV_ERRMSG_LEN];
    size_t n = 0;
    int rv =
        config_parse_nodes((const char *)data, size, NAME, members, &n, errmsg);

    if (rv != 0) {
        FUZZ_CHECK(rv == RKV_ECONFIG);
        FUZZ_CHECK(strncmp(errmsg, NAME ":", sizeof NAME) == 0);
        return 0;
    }
    FUZZ_CHECK(n >= 1 && n <= CONFIG_MEMBERS_MAX);
    for (size_t i = 0; i < n; i++) {
        const struct config_member *a = &members[i];
        check_member(a);
        FUZZ_CHECK(i == 0 || members[i - 1].id < a->id);
        for (size_t j = 0; j < i; j++) {
            const struct config_member *b = &members[j];
            const uint16_t ap[3] = {a->peer_port, a->http_port, a->resp_port};
            const uint16_t bp[3] = {b->peer_port, b->http_port, b->resp_port};
            for (size_t x = 0; x < 3; x++) {
                for (size_t y = 0; y < 3; y++)
                    FUZZ_CHECK(!same_address(a, ap[x], b, bp[y]));
            }
        }
    }
    (void)config_cluster_id(members, n); /* pure: exercised, not checked */
    return 0;
}
