/* The server's log: one line per event on stderr, "<time> <LEVEL> node=<id>
 * term=<t> role=<r> <message>". The level is checked before the arguments
 * are evaluated (STYLE.md §8). Default level: info (state changes only). */
#ifndef SERVER_LOG_H
#define SERVER_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum node_log_level {
    NODE_LOG_DEBUG = 1,
    NODE_LOG_INFO = 2,
    NODE_LOG_WARN = 3,
    NODE_LOG_ERROR = 4,
};

struct node_logger
{
    int level;        /* lowest level written */
    uint64_t id;      /* this node */
    uint64_t term;    /* kept current by the node */
    const char *role; /* kept current by the node, static string */
};

void node_log_write(const struct node_logger *lg,
                    int level,
                    const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));
void node_log_vwrite(const struct node_logger *lg,
                     int level,
                     const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));
/* Write `line`, which already names node, term and role (the core's trace
 * lines do), with the time and level in front. */
void node_log_line(int level, const char *line);
/* Parse "debug", "info", "warn", "error"; returns 0 if unknown. */
int node_log_level_parse(const char *s);

#define NODE_LOG(lg, lvl, ...)                        \
    do {                                              \
        if ((lvl) >= (lg)->level)                     \
            node_log_write((lg), (lvl), __VA_ARGS__); \
    } while (0)
#define LOG_DEBUG(lg, ...) NODE_LOG(lg, NODE_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(lg, ...) NODE_LOG(lg, NODE_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(lg, ...) NODE_LOG(lg, NODE_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(lg, ...) NODE_LOG(lg, NODE_LOG_ERROR, __VA_ARGS__)

#endif /* SERVER_LOG_H */
