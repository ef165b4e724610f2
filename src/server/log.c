/* The server's log lines (log.h). */
#include "server/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *level_name(int level)
{
    switch (level) {
        case NODE_LOG_DEBUG:
            return "DEBUG";
        case NODE_LOG_INFO:
            return "INFO";
        case NODE_LOG_WARN:
            return "WARN";
        default:
            return "ERROR";
    }
}

void node_log_vwrite(const struct node_logger *lg,
                     int level,
                     const char *fmt,
                     va_list ap)
{
    char line[1024];
    char stamp[32] = "";
    struct timespec ts = {0, 0};
    struct tm tm;
    int n;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
        gmtime_r(&ts.tv_sec, &tm) != NULL)
        (void)strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    n = snprintf(line, sizeof line,
                 "%s.%03ld %-5s node=%llu term=%llu "
                 "role=%s ",
                 stamp, ts.tv_nsec / 1000000, level_name(level),
                 (unsigned long long)lg->id, (unsigned long long)lg->term,
                 lg->role != NULL ? lg->role : "-");
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    (void)vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap); /* cut */
    /* One write per line so that lines of several nodes sharing a terminal
     * do not interleave. */
    fprintf(stderr, "%s\n", line);
}

void node_log_line(int level, const char *line)
{
    char stamp[32] = "";
    struct timespec ts = {0, 0};
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
        gmtime_r(&ts.tv_sec, &tm) != NULL)
        (void)strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ld %-5s %s\n", stamp, ts.tv_nsec / 1000000,
            level_name(level), line);
}

void node_log_write(const struct node_logger *lg,
                    int level,
                    const char *fmt,
                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    node_log_vwrite(lg, level, fmt, ap);
    va_end(ap);
}

int node_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i + 1;
    return 0;
}
