/* raftkv-walbench: what group commit buys on this disk. For 1, 16 and 256
 * appender threads, each appending small entries and waiting until its
 * entry is durable, it measures entries/s and fsyncs/s with group commit (a
 * committer takes every queued entry, one wal_append + one wal_sync, then
 * wakes them all) against one wal_append + wal_sync per entry. Figures, not
 * assertions; each row runs for --seconds.
 *
 * usage: raftkv-walbench [--dir DIR] [--seconds S] [--entry-bytes N]
 * The WAL goes in DIR/walbench-<pid> (default ./build/walbench-tmp),
 * removed afterwards. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "raftkv/err.h"
#include "storage/disk.h"
#include "storage/wal.h"

#define MAX_APPENDERS 256

struct bench
{
    struct wal *wal;        /* the WAL under test */
    bool group;             /* group commit, or one fsync per entry */
    const uint8_t *payload; /* the bytes of every entry */
    uint32_t entry_bytes;   /* payload length */
    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t queued;  /* committer: entries queued, or stop */
    pthread_cond_t durable; /* appenders: durable_seq moved */
    bool stop;              /* the row's time is up */
    uint64_t queued_seq;    /* entries queued so far */
    uint64_t durable_seq;   /* entries durable so far (a prefix) */
    raft_index next_index;  /* index of the next entry appended */
    uint64_t fsyncs;        /* wal_sync calls */
    uint64_t fsync_ns;      /* total time in wal_sync */
    uint64_t latency_ns;    /* appenders: total append-to-durable time */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rv, const char *errmsg)
{
    fprintf(stderr, "raftkv-walbench: %s: %s (%s)\n", what, errmsg,
            rkv_strerror(rv));
    exit(1);
}

/* Append `n` entries at the WAL's next index and sync. Caller holds no
 * lock in group mode (only the committer writes) and b->mu otherwise. */
static void write_and_sync(struct bench *b, struct raft_entry *e, size_t n)
{
    char errmsg[RKV_ERRMSG_LEN];
    uint64_t t0;
    int rv;

    for (size_t i = 0; i < n; i++)
        e[i] = (struct raft_entry){.term = 1,
                                   .index = b->next_index + i,
                                   .type = RAFT_ENTRY_NORMAL,
                                   .len = b->entry_bytes,
                                   .data = b->payload};
    rv = wal_append(b->wal, e, n, errmsg);
    if (rv != 0)
        die("wal_append", rv, errmsg);
    t0 = now_ns();
    rv = wal_sync(b->wal, errmsg);
    if (rv != 0)
        die("wal_sync", rv, errmsg);
    b->fsync_ns += now_ns() - t0;
    b->fsyncs++;
    b->next_index += n;
}

/* Group commit: take everything queued, write it once, sync once. */
static void *committer(void *arg)
{
    struct bench *b = arg;
    struct raft_entry *e = calloc(MAX_APPENDERS, sizeof *e);

    if (e == NULL)
        die("committer", RKV_ENOMEM, "calloc");
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (b->queued_seq == b->durable_seq && !b->stop)
            pthread_cond_wait(&b->queued, &b->mu);
        if (b->queued_seq == b->durable_seq)
            break; /* stopped and drained */
        uint64_t upto = b->queued_seq;
        pthread_mutex_unlock(&b->mu);
        write_and_sync(b, e, (size_t)(upto - b->durable_seq));
        pthread_mutex_lock(&b->mu);
        b->durable_seq = upto;
        pthread_cond_broadcast(&b->durable);
    }
    pthread_mutex_unlock(&b->mu);
    free(e);
    return NULL;
}

static void *appender(void *arg)
{
    struct bench *b = arg;
    struct raft_entry e;
    uint64_t latency_ns = 0;

    for (;;) {
        /* Latency counts the wait for the lock: in "fsync per entry" mode
         * that is where the appenders queue. */
        uint64_t t0 = now_ns();
        pthread_mutex_lock(&b->mu);
        if (b->stop)
            break;
        if (b->group) {
            uint64_t mine = ++b->queued_seq;
            pthread_cond_signal(&b->queued);
            while (b->durable_seq < mine)
                pthread_cond_wait(&b->durable, &b->mu);
        } else {
            write_and_sync(b, &e, 1);
            b->durable_seq++;
        }
        pthread_mutex_unlock(&b->mu);
        latency_ns += now_ns() - t0;
    }
    b->latency_ns += latency_ns;
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4200];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (unlink(path) != 0)
            fprintf(stderr, "raftkv-walbench: unlink %s: %s\n", path,
                    strerror(errno));
    }
    closedir(d);
    if (rmdir(dir) != 0)
        fprintf(stderr, "raftkv-walbench: rmdir %s: %s\n", dir,
                strerror(errno));
}

static void run_row(const char *dir,
                    bool group,
                    int appenders,
                    double seconds,
                    const uint8_t *payload,
                    uint32_t entry_bytes)
{
    struct wal_config cfg = {.disk = disk_posix(), .dir = dir};
    struct bench b = {.group = group,
                      .payload = payload,
                      .entry_bytes = entry_bytes,
                      .next_index = 1};
    pthread_t threads[MAX_APPENDERS], commit_thread;
    struct timespec row = {(time_t)seconds,
                           (long)((seconds - (double)(time_t)seconds) * 1e9)};
    struct wal_replay rp;
    char errmsg[RKV_ERRMSG_LEN];
    uint64_t t0, elapsed_ns;
    int rv;

    if (mkdir(dir, 0700) != 0)
        die("mkdir", RKV_EIO, strerror(errno));
    rv = wal_open(&cfg, &b.wal, &rp, errmsg);
    if (rv != 0)
        die("wal_open", rv, errmsg);
    wal_replay_free(&rp);
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.queued, NULL);
    pthread_cond_init(&b.durable, NULL);

    t0 = now_ns();
    if (group && pthread_create(&commit_thread, NULL, committer, &b) != 0)
        die("pthread_create", RKV_ENOMEM, "committer");
    for (int i = 0; i < appenders; i++)
        if (pthread_create(&threads[i], NULL, appender, &b) != 0)
            die("pthread_create", RKV_ENOMEM, "appender");
    nanosleep(&row, NULL);
    pthread_mutex_lock(&b.mu);
    b.stop = true;
    pthread_cond_broadcast(&b.queued);
    pthread_mutex_unlock(&b.mu);
    for (int i = 0; i < appenders; i++)
        pthread_join(threads[i], NULL);
    if (group)
        pthread_join(commit_thread, NULL);
    elapsed_ns = now_ns() - t0;

    double secs = (double)elapsed_ns / 1e9;
    double entries = (double)b.durable_seq;
    printf("%-16s %9d %11.0f %10.0f %13.1f %10.3f %12.3f\n",
           group ? "group commit" : "fsync per entry", appenders,
           entries / secs, (double)b.fsyncs / secs, entries / (double)b.fsyncs,
           (double)b.fsync_ns / 1e6 / (double)b.fsyncs,
           (double)b.latency_ns / 1e6 / entries);
    fflush(stdout);

    pthread_cond_destroy(&b.durable);
    pthread_cond_destroy(&b.queued);
    pthread_mutex_destroy(&b.mu);
    wal_free(b.wal);
    remove_dir(dir);
}

int main(int argc, char **argv)
{
    const char *base = NULL;
    double seconds = 2.0;
    long entry_bytes = 100;
    static const int appenders[] = {1, 16, 256};
    char work[4096], row_dir[4200];
    uint8_t *payload;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--entry-bytes") == 0 && i + 1 < argc)
            entry_bytes = atol(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: raftkv-walbench [--dir DIR] "
                    "[--seconds S] [--entry-bytes N]\n");
            return 2;
        }
    }
    if (seconds <= 0 || seconds > 600 || entry_bytes < 0 ||
        entry_bytes > RAFT_ENTRY_MAX) {
        fprintf(stderr, "raftkv-walbench: bad --seconds or --entry-bytes\n");
        return 2;
    }
    if (base != NULL) {
        snprintf(work, sizeof work, "%s/walbench-%ld", base, (long)getpid());
    } else {
        if (mkdir("build", 0755) != 0 && errno != EEXIST)
            die("mkdir build", RKV_EIO, strerror(errno));
        snprintf(work, sizeof work, "build/walbench-tmp");
    }
    if (mkdir(work, 0700) != 0)
        die(work, RKV_EIO, strerror(errno));
    payload = calloc(1, (size_t)entry_bytes + 1);
    if (payload == NULL)
        die("calloc", RKV_ENOMEM, "payload");
    memset(payload, 'x', (size_t)entry_bytes);

    printf("WAL in %s, %ld-byte entries, %.1f s per row\n", work, entry_bytes,
           seconds);
    printf("%-16s %9s %11s %10s %13s %10s %12s\n", "mode", "appenders",
           "entries/s", "fsyncs/s", "entries/fsync", "fsync ms", "latency ms");
    for (size_t i = 0; i < sizeof appenders / sizeof appenders[0]; i++) {
        for (int group = 1; group >= 0; group--) {
            snprintf(row_dir, sizeof row_dir, "%s/row-%zu-%d", work, i, group);
            run_row(row_dir, group, appenders[i], seconds, payload,
                    (uint32_t)entry_bytes);
        }
    }
    free(payload);
    remove_dir(work);
    return 0;
}
