/* raftkv-sim: runs the real Raft core in a deterministic simulation, one
 * seed or a sweep of seeds, and reports invariant violations with the seed,
 * the replay command and the events leading to it. See usage() below. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define DEFAULT_NODES 5
#define DEFAULT_CHAOS_MS 10000
#define REPORT_LINES 60 /* trace lines printed before a violation */

/* Sums over the runs of a sweep. */
struct totals
{
    uint64_t runs, steps, elections, commits, writes, reads, crashes,
        partitions, snapshots, installs, torn, changes, transfers, violations;
    bool membership; /* some run had --membership: print its counters */
};

/* What the command line asked for. */
struct cli
{
    struct sim_opts opt;  /* seed, nodes, chaos length, trace */
    bool have_seed;       /* --seed */
    uint64_t first, last; /* --seeds A-B */
    bool have_range;
    const char *seeds_file; /* --seeds-file */
    bool keep_going;        /* --keep-going */
};

static void usage(FILE *f)
{
    fputs(
        "usage: raftkv-sim --seed N [RUN FLAGS] [--trace]\n"
        "       raftkv-sim --seeds A-B [RUN FLAGS] [--keep-going]\n"
        "       raftkv-sim --seeds-file FILE [--keep-going]\n"
        "run flags: [--nodes 3|5] [--chaos-ms MS] [--snapshot-every N]\n"
        "           [--crash-disk] [--membership]\n"
        "\n"
        "Runs the Raft core on simulated nodes, network and disks, driven\n"
        "by one seed, and checks Election Safety, Leader Append-Only, Log\n"
        "Matching, Leader Completeness, State Machine Safety, linearizable\n"
        "reads and, after the faults stop, liveness.\n"
        "\n"
        "  --seed N           run seed N and print one summary line\n"
        "  --seeds A-B        run seeds A to B (inclusive), print the sums\n"
        "  --seeds-file FILE  run every pinned seed in FILE; each line is\n"
        "                     '<seed> <nodes> [run flags]  # why'\n"
        "  --nodes 3|5        cluster size (default 5)\n"
        "  --chaos-ms MS      virtual ms of crashes, partitions, loss and\n"
        "                     slow clocks before healing (default 10000)\n"
        "  --snapshot-every N  each node snapshots its state machine and\n"
        "                     compacts its log every N applied entries;\n"
        "                     lagging followers get InstallSnapshot, in\n"
        "                     chunks of a size the seed picks (default 0:\n"
        "                     never)\n"
        "  --crash-disk       a crash may tear the last unsynced write (a\n"
        "                     prefix of its entries or chunk survives) and\n"
        "                     disks may turn slow; restart cuts the torn\n"
        "                     WAL tail (default: unsynced writes are lost\n"
        "                     whole)\n"
        "  --membership       the cluster also changes: nodes are added as\n"
        "                     learners (from 2 spare slots), promoted,\n"
        "                     removed (the leader too; a removed node runs\n"
        "                     on a while, then stops), and leadership is\n"
        "                     transferred; liveness is checked on the final\n"
        "                     configuration (default: fixed membership)\n"
        "  --trace            print every event and core trace line\n"
        "                     (--seed only)\n"
        "  --stop-on-violation  stop a sweep at the first violation\n"
        "                     (the default)\n"
        "  --keep-going       report every violating seed of a sweep\n"
        "  --help             this text\n"
        "\n"
        "On a violation: the invariant, the seed, the replay command and the\n"
        "last 60 events. Exit status: 0 no violation, 1 violation, 2 usage.\n",
        f);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return RKV_EINVAL;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || *end != '\0' ? RKV_EINVAL : 0;
}

static int parse_range(const char *s, uint64_t *first, uint64_t *last)
{
    char buf[64];
    char *dash;
    if (s == NULL || strlen(s) >= sizeof buf)
        return RKV_EINVAL;
    strcpy(buf, s);
    dash = strchr(buf, '-');
    if (dash == NULL)
        return RKV_EINVAL;
    *dash = '\0';
    if (parse_u64(buf, first) != 0 || parse_u64(dash + 1, last) != 0 ||
        *first > *last)
        return RKV_EINVAL;
    return 0;
}

/* Flags that shape one run, also accepted in a seeds file. Returns 1 if
 * argv[*i] was one (and consumed its value, if it takes one), 0 if not,
 * RKV_EINVAL if its value is bad. */
static int parse_run_flag(char **argv, int argc, int *i, struct sim_opts *o)
{
    const char *flag = argv[*i], *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t v;
    if (strcmp(flag, "--nodes") == 0) {
        if (parse_u64(val, &v) != 0 || (v != 3 && v != 5))
            return RKV_EINVAL;
        o->n_nodes = (unsigned)v;
    } else if (strcmp(flag, "--chaos-ms") == 0) {
        if (parse_u64(val, &v) != 0 || v > 3600u * 1000u)
            return RKV_EINVAL;
        o->chaos_ms = v;
    } else if (strcmp(flag, "--snapshot-every") == 0) {
        if (parse_u64(val, &v) != 0 || v > 1000000)
            return RKV_EINVAL;
        o->snapshot_every = (unsigned)v;
    } else if (strcmp(flag, "--crash-disk") == 0) {
        o->crash_disk = true;
        return 1; /* takes no value */
    } else if (strcmp(flag, "--membership") == 0) {
        o->membership = true;
        return 1; /* takes no value */
    } else {
        return 0;
    }
    (*i)++;
    return 1;
}

static int parse_cli(int argc, char **argv, struct cli *c)
{
    memset(c, 0, sizeof *c);
    c->opt.n_nodes = DEFAULT_NODES;
    c->opt.chaos_ms = DEFAULT_CHAOS_MS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int rv = parse_run_flag(argv, argc, &i, &c->opt);
        if (rv < 0) {
            fprintf(stderr, "raftkv-sim: bad value for %s\n", a);
            return RKV_EINVAL;
        }
        if (rv == 1)
            continue;
        if (strcmp(a, "--seed") == 0) {
            rv = parse_u64(val, &c->opt.seed);
            c->have_seed = true;
            i++;
        } else if (strcmp(a, "--seeds") == 0) {
            rv = parse_range(val, &c->first, &c->last);
            c->have_range = true;
            i++;
        } else if (strcmp(a, "--seeds-file") == 0) {
            rv = val != NULL ? 0 : RKV_EINVAL;
            c->seeds_file = val;
            i++;
        } else if (strcmp(a, "--trace") == 0) {
            c->opt.trace = true;
        } else if (strcmp(a, "--stop-on-violation") == 0) {
            c->keep_going = false;
        } else if (strcmp(a, "--keep-going") == 0) {
            c->keep_going = true;
        } else {
            fprintf(stderr, "raftkv-sim: bad argument '%s'\n", a);
            return RKV_EINVAL;
        }
        if (rv < 0) {
            fprintf(stderr, "raftkv-sim: bad value for %s\n", a);
            return RKV_EINVAL;
        }
    }
    if ((int)c->have_seed + (int)c->have_range + (c->seeds_file != NULL) != 1 ||
        (c->opt.trace && !c->have_seed)) {
        fprintf(stderr,
                "raftkv-sim: give exactly one of --seed, --seeds, "
                "--seeds-file (--trace needs --seed)\n");
        return RKV_EINVAL;
    }
    return 0;
}

static void print_replay(const struct sim_opts *o)
{
    printf("replay: raftkv-sim --seed %" PRIu64 " --nodes %u", o->seed,
           o->n_nodes);
    if (o->chaos_ms != DEFAULT_CHAOS_MS)
        printf(" --chaos-ms %" PRIu64, o->chaos_ms);
    if (o->snapshot_every != 0)
        printf(" --snapshot-every %u", o->snapshot_every);
    if (o->crash_disk)
        printf(" --crash-disk");
    if (o->membership)
        printf(" --membership");
    printf(" --trace\n");
}

/* Replay the violating seed with the trace ring on and print its tail. */
static void report(const struct sim_opts *o, const char *violation)
{
    struct sim_opts again = *o;
    struct sim *s = sim_xmalloc(sizeof *s);
    printf("VIOLATION seed=%" PRIu64 " nodes=%u %s\n", o->seed, o->n_nodes,
           violation);
    print_replay(o);
    if (!o->trace) {
        uint64_t n, from;
        again.capture = true;
        if (sim_run(s, &again) == 0 || strcmp(s->violation, violation) != 0)
            printf("replay did not reproduce it: %s\n",
                   s->violation[0] ? s->violation : "no violation");
        n = s->ring->n;
        from = n > REPORT_LINES ? n - REPORT_LINES : 0;
        printf("last %" PRIu64 " events:\n", n - from);
        for (uint64_t i = from; i < n; i++)
            printf("  %s\n", s->ring->lines[i % SIM_RING_LINES]);
        sim_close(s);
    }
    free(s);
}

/* Run one seed, add it to `t`, report a violation. Returns 1 on one. */
static int run_one(const struct sim_opts *o, struct totals *t)
{
    struct sim *s = sim_xmalloc(sizeof *s);
    int bad = sim_run(s, o);
    char violation[SIM_LINE_MAX];
    t->runs++;
    t->steps += s->stats.steps;
    t->elections += s->stats.elections;
    t->commits += s->stats.commits;
    t->writes += s->stats.writes;
    t->reads += s->stats.reads;
    t->crashes += s->stats.crashes;
    t->partitions += s->stats.partitions;
    t->snapshots += s->stats.snapshots;
    t->installs += s->stats.installs;
    t->torn += s->stats.torn;
    t->changes += s->stats.changes;
    t->transfers += s->stats.transfers;
    t->membership |= o->membership;
    t->violations += (uint64_t)bad;
    memcpy(violation, s->violation, sizeof violation);
    sim_close(s);
    free(s);
    if (bad)
        report(o, violation);
    return bad;
}

static void print_totals(const struct totals *t)
{
    printf("steps=%" PRIu64 " elections=%" PRIu64 " commits=%" PRIu64
           " writes=%" PRIu64 " reads=%" PRIu64 " crashes=%" PRIu64
           " partitions=%" PRIu64 " snapshots=%" PRIu64 " installs=%" PRIu64
           " torn=%" PRIu64,
           t->steps, t->elections, t->commits, t->writes, t->reads, t->crashes,
           t->partitions, t->snapshots, t->installs, t->torn);
    if (t->membership)
        printf(" changes=%" PRIu64 " transfers=%" PRIu64, t->changes,
               t->transfers);
    printf(" violations=%" PRIu64 "\n", t->violations);
}

/* Split `line` in place into at most `cap` words; a '#' ends the line. */
static int split_words(char *line, char **words, int cap)
{
    int n = 0;
    char *hash = strchr(line, '#');
    if (hash != NULL)
        *hash = '\0';
    for (char *w = strtok(line, " \t\r\n"); w != NULL;
         w = strtok(NULL, " \t\r\n")) {
        if (n == cap)
            return RKV_EINVAL;
        words[n++] = w;
    }
    return n;
}

/* Parse one seeds-file line into `o`. Returns 1 for a run, 0 for a blank
 * or comment line, RKV_EINVAL for a bad line. */
static int parse_seed_line(char *line, struct sim_opts *o)
{
    char *words[16];
    uint64_t nodes;
    int n = split_words(line, words, 16);
    if (n <= 0)
        return n;
    if (n < 2 || parse_u64(words[0], &o->seed) != 0 ||
        parse_u64(words[1], &nodes) != 0 || (nodes != 3 && nodes != 5))
        return RKV_EINVAL;
    o->n_nodes = (unsigned)nodes;
    for (int i = 2; i < n; i++)
        if (parse_run_flag(words, n, &i, o) != 1)
            return RKV_EINVAL;
    return 1;
}

/* Run every seed pinned in the file. Returns 0, or RKV_EINVAL (reported)
 * if the file cannot be read or a line is malformed. */
static int run_file(const struct cli *c, struct totals *t)
{
    char line[1024];
    unsigned lineno = 0;
    int rv = 0;
    FILE *f = fopen(c->seeds_file, "r");
    if (f == NULL) {
        fprintf(stderr, "raftkv-sim: %s: %s\n", c->seeds_file, strerror(errno));
        return RKV_EINVAL;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        struct sim_opts o = c->opt;
        lineno++;
        rv = parse_seed_line(line, &o);
        if (rv < 0) {
            fprintf(stderr,
                    "raftkv-sim: %s:%u: expected '<seed> <3|5> "
                    "[run flags]  # why'\n",
                    c->seeds_file, lineno);
            break;
        }
        if (rv == 0)
            continue; /* blank or comment */
        rv = 0;
        if (run_one(&o, t) != 0 && !c->keep_going)
            break;
    }
    if (rv == 0 && ferror(f)) {
        fprintf(stderr, "raftkv-sim: %s: read error\n", c->seeds_file);
        rv = RKV_EINVAL;
    }
    (void)fclose(f); /* read-only: nothing to lose */
    return rv;
}

static void run_range(const struct cli *c, struct totals *t)
{
    struct sim_opts o = c->opt;
    for (uint64_t seed = c->first;; seed++) {
        o.seed = seed;
        if ((run_one(&o, t) != 0 && !c->keep_going) || seed == c->last)
            break;
    }
}

int main(int argc, char **argv)
{
    struct cli c;
    struct totals t = {0};
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
    if (parse_cli(argc, argv, &c) != 0) {
        usage(stderr);
        return 2;
    }
    if (c.have_seed) {
        (void)run_one(&c.opt, &t); /* counted in t.violations */
        printf("seed=%" PRIu64 " nodes=%u ", c.opt.seed, c.opt.n_nodes);
    } else if (c.have_range) {
        run_range(&c, &t);
        printf("seeds=%" PRIu64 "-%" PRIu64 " nodes=%u runs=%" PRIu64 " ",
               c.first, c.last, c.opt.n_nodes, t.runs);
    } else {
        if (run_file(&c, &t) != 0)
            return 2;
        printf("seeds-file=%s runs=%" PRIu64 " ", c.seeds_file, t.runs);
    }
    print_totals(&t);
    return t.violations != 0;
}
