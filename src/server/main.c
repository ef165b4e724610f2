/* raftkv: one node of a cluster. See `raftkv --help` and DESIGN.md. */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server/config.h"
#include "server/node.h"

extern char **environ;

struct main_ctx
{
    struct node *node; /* the node, until stopped */
    bool stopping;     /* a signal asked for it: ignore repeats */
    uv_signal_t sigint, sigterm;
};

/* The node has freed itself: close the signal handles, the last ones
 * keeping the loop alive, so uv_run returns. */
static void on_stopped(void *ctx)
{
    struct main_ctx *m = ctx;
    m->node = NULL;
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct main_ctx *m = s->data;
    if (m->stopping)
        return; /* Ctrl-C and a SIGTERM from a script both arrive */
    m->stopping = true;
    fprintf(stderr, "raftkv: signal %d, stopping\n", signum);
    if (m->node != NULL)
        node_stop(m->node, on_stopped, m);
    /* The signal handles stay until the node is gone (on_stopped). */
}

int main(int argc, char **argv)
{
    static struct node_config cfg; /* large: not on the stack */
    char errmsg[RKV_ERRMSG_LEN];
    struct main_ctx m;
    uv_loop_t loop;
    int rv;
    signal(SIGPIPE, SIG_IGN);
    rv = config_parse_args(argc, argv, environ, &cfg, errmsg);
    if (rv != 0) {
        fprintf(stderr, "raftkv: %s\n", errmsg);
        return 2;
    }
    if (cfg.action == CONFIG_HELP) {
        fputs(config_usage(), stdout);
        return 0;
    }
    if (cfg.action == CONFIG_VERSION) {
        printf("raftkv %s\n", RAFTKV_VERSION);
        return 0;
    }
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "raftkv: cannot create the event loop\n");
        return 1;
    }
    memset(&m, 0, sizeof m);
    /* Signals first: a SIGTERM during start-up still stops cleanly. */
    uv_signal_init(&loop, &m.sigint);
    uv_signal_init(&loop, &m.sigterm);
    m.sigint.data = m.sigterm.data = &m;
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    rv = node_start(&cfg, &loop, &m.node, errmsg);
    if (rv != 0) {
        fprintf(stderr, "raftkv: node %llu: %s\n",
                (unsigned long long)cfg.self_id, errmsg);
        uv_close((uv_handle_t *)&m.sigint, NULL);
        uv_close((uv_handle_t *)&m.sigterm, NULL);
        uv_run(&loop, UV_RUN_DEFAULT); /* let handles close */
        (void)uv_loop_close(&loop);
        return rv == RKV_ECONFIG ? 2 : 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    return 0;
}
