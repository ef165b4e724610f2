/* Seed corpus generator for the fuzz targets (`make fuzz-corpus`): writes
 * tests/fuzz/corpus/<target>/<name>, small valid inputs of every format.
 * The binary formats come from the real encoders (peer frames, a WAL
 * segment written by the WAL, the snapshot stream of a state machine, kv
 * commands), so the seeds follow the formats when they change; the text
 * protocols are written out by hand. The output is deterministic. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "kv/kv.h"
#include "net/peer_codec.h"
#include "net/resp.h"
#include "raftkv/err.h"
#include "storage/wal.h"
#include "storage/wal_record.h"
#include "util/buf.h"

#define MSG_MAX 4096 /* bytes of the largest frame written here */

static const char *out_root; /* argv[1] */

static _Noreturn void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("gen-corpus: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void check(int rv, const char *what, const char *errmsg)
{
    if (rv != 0)
        die("%s: %s: %s", what, rkv_strerror(rv), errmsg != NULL ? errmsg : "");
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("mkdir %s: %s", path, strerror(errno));
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
    if (len > 0 && write(fd, data, len) != (ssize_t)len)
        die("write %s: %s", path, strerror(errno));
    if (close(fd) != 0)
        die("close %s: %s", path, strerror(errno));
}

/* tests/fuzz/corpus/<target>/<name> := data[0..len). */
static void put(const char *target,
                const char *name,
                const void *data,
                size_t len)
{
    char path[1024];

    snprintf(path, sizeof path, "%s/%s", out_root, target);
    make_dir(path);
    snprintf(path, sizeof path, "%s/%s/%s", out_root, target, name);
    write_file(path, data, len);
}

static void append(struct rkv_buf *b, const void *p, size_t n)
{
    if (rkv_buf_append(b, p, n) != 0)
        die("out of memory");
}

/* A seed of the targets that read a u16 split before the stream. */
static void put_split(const char *target,
                      const char *name,
                      uint16_t split,
                      const char *text,
                      size_t len)
{
    struct rkv_buf b;
    uint8_t prefix[FUZZ_SPLIT_BYTES] = {(uint8_t)split, (uint8_t)(split >> 8)};

    rkv_buf_init(&b);
    append(&b, prefix, sizeof prefix);
    append(&b, text, len);
    put(target, name, b.data, b.len);
    rkv_buf_close(&b);
}

#define PUT_SPLIT(target, name, split, text) \
    put_split(target, name, split, text, sizeof text - 1)

static void gen_http(void)
{
    /* The seed's `curl -X POST .../kv -H "Content-Type: application/json"
     * -d '{"key":"foo","value":"bar"}'`, as curl 7.88 sends it. */
    PUT_SPLIT("http_request", "curl-post", 40,
              "POST /kv HTTP/1.1\r\nHost: localhost:3001\r\n"
              "User-Agent: curl/7.88.1\r\nAccept: */*\r\n"
              "Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
              "{\"key\":\"foo\",\"value\":\"bar\"}");
    PUT_SPLIT("http_request", "curl-get", 9,
              "GET /kv/foo HTTP/1.1\r\nHost: localhost:3001\r\n"
              "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n");
    PUT_SPLIT("http_request", "pipelined", 120,
              "GET /debug HTTP/1.1\r\nHost: n1\r\n\r\n"
              "DELETE /kv/a%20b?stale=true&x=1+2 HTTP/1.1\r\n"
              "X-Client-Id: 7\r\nX-Request-Seq: 42\r\n\r\n"
              "POST /kv HTTP/1.1\r\nExpect: 100-continue\r\n"
              "Content-Length: 34\r\n\r\n"
              "{\"key\":\"k\\u0000\",\"value\":\"\\u00e9\"}"
              "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
              "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n");
    /* Refused: a chunked body, and one over HTTP_BODY_MAX. */
    PUT_SPLIT("http_request", "chunked", 50,
              "POST /kv HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              "1b\r\n{\"key\":\"foo\",\"value\":\"bar\"}\r\n0\r\n\r\n");
    PUT_SPLIT("http_request", "body-too-big", 0,
              "POST /kv HTTP/1.1\r\nContent-Length: 2097153\r\n\r\n{");
    static const char *const bodies[] = {
        "{\"key\":\"foo\",\"value\":\"bar\"}",
        "{\"value\": \"\", \"key\": \"a\\u0000b\"}",
        "{\"key\":\"\\ud83d\\ude00\",\"value\":\"caf\\u00e9 \\\"q\\\"\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "body-%zu", i);
        put("http_json", name, bodies[i], strlen(bodies[i]));
    }
}

/* Commands of RESP_ARGS_MAX arguments, multibulk and inline, so that the
 * fuzzer's inputs may grow that long and probe the limit. (Limits beyond
 * a few KiB, RESP_INLINE_MAX or HTTP_HEADER_MAX, are left to the unit
 * tests: seeds that long slow every target down tenfold.) */
static void gen_resp_limits(void)
{
    uint8_t prefix[FUZZ_SPLIT_BYTES] = {0, 0};
    char count[32];
    struct rkv_buf b;

    rkv_buf_init(&b);
    append(&b, prefix, sizeof prefix);
    snprintf(count, sizeof count, "*%d\r\n", RESP_ARGS_MAX);
    append(&b, count, strlen(count));
    for (size_t i = 0; i < RESP_ARGS_MAX; i++)
        append(&b, "$0\r\n\r\n", 6);
    put("resp", "args-max", b.data, b.len);
    b.len = sizeof prefix;
    for (size_t i = 0; i < RESP_ARGS_MAX; i++)
        append(&b, "a ", 2);
    append(&b, "\n", 1);
    put("resp", "inline-args-max", b.data, b.len);
    rkv_buf_close(&b);
}

static void gen_resp(void)
{
    PUT_SPLIT("resp", "set", 7,
              "*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    PUT_SPLIT("resp", "pipelined", 30,
              "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"
              "*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$0\r\n\r\n"
              "*0\r\n*-1\r\n"
              "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
    PUT_SPLIT("resp", "inline", 12,
              "PING\r\nSET k \"a\\x41\\n\\\"\" 'it\\'s'\r\n\r\nECHO x\n");
    gen_resp_limits();
}

static void gen_config(void)
{
    static const char seed[] =
        "1 127.0.0.1 2001\n2 127.0.0.1 2002\n3 127.0.0.1 2003\n";
    static const char full[] =
        "# id host peer [http [resp]]\r\n"
        "1 node1.example 7000 8000 9000\r\n"
        "\r\n"
        "2\tnode2.example 7000 # comment\r\n"
        "5 10.0.0.5 65000\r\n";

    put("config_nodes", "seed", seed, sizeof seed - 1);
    put("config_nodes", "full", full, sizeof full - 1);
}

/* Encode a command into a new buffer the caller frees (kv_buf_free). */
static struct kv_buf encode_cmd(const struct kv_cmd *c)
{
    struct kv_buf b;
    char errmsg[RKV_ERRMSG_LEN];

    check(kv_cmd_encode_alloc(c, &b, errmsg), "kv_cmd_encode_alloc", errmsg);
    return b;
}

#define SLICE(s) ((struct kv_slice){s, sizeof s - 1})

/* The commands of the state machine seeds, one per op. */
static size_t make_cmds(struct kv_buf cmds[4])
{
    const struct kv_slice k1 = SLICE("foo"), v1 = SLICE("bar");
    const struct kv_slice keys[2] = {SLICE("a"), SLICE("b")};
    const struct kv_slice values[2] = {SLICE("1"), SLICE("")};
    const struct kv_slice n = SLICE("n");
    const struct kv_cmd put_cmd = {.op = KV_OP_PUT,
                                   .cond = KV_COND_NX,
                                   .client_id = 7,
                                   .seq = 1,
                                   .n = 1,
                                   .keys = &k1,
                                   .values = &v1};
    const struct kv_cmd mset = {
        .op = KV_OP_MSET, .n = 2, .keys = keys, .values = values};
    const struct kv_cmd incr = {.op = KV_OP_INCRBY,
                                .client_id = 9,
                                .seq = 3,
                                .delta = -5,
                                .n = 1,
                                .keys = &n};
    const struct kv_cmd del = {.op = KV_OP_DEL, .n = 1, .keys = keys};

    cmds[0] = encode_cmd(&put_cmd);
    cmds[1] = encode_cmd(&mset);
    cmds[2] = encode_cmd(&incr);
    cmds[3] = encode_cmd(&del);
    return 4;
}

static void gen_kv_cmd(const struct kv_buf *cmds, size_t n)
{
    static const char *const names[] = {"put", "mset", "incrby", "del"};

    for (size_t i = 0; i < n; i++)
        put("kv_cmd", names[i], cmds[i].data, cmds[i].len);
}

/* A scratch directory, emptied and removed by remove_dir(). */
static void make_tmp(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/rkv-gen-corpus-XXXXXX");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp: %s", strerror(errno));
}

static void remove_dir(const char *dir, const char *const *files, size_t n)
{
    char path[1024];

    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        (void)unlink(path); /* absent when never created */
    }
    if (rmdir(dir) != 0)
        die("rmdir %s: %s", dir, strerror(errno));
}

static void read_file(const char *path, struct rkv_buf *out)
{
    uint8_t chunk[4096];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        append(out, chunk, (size_t)n);
    if (n < 0)
        die("read %s: %s", path, strerror(errno));
    (void)close(fd); /* read only */
}

/* Write `n` entries with the WAL into a fresh directory; return the
 * segment file's bytes in `out`. */
static void wal_segment(const struct raft_entry *e,
                        size_t n,
                        struct rkv_buf *out)
{
    char dir[64], name[64], errmsg[RKV_ERRMSG_LEN];
    struct wal_config cfg = {.disk = disk_posix()};
    struct wal_replay rp;
    struct wal *w;
    const char *files[1] = {name};

    make_tmp(dir, sizeof dir);
    cfg.dir = dir;
    check(wal_open(&cfg, &w, &rp, errmsg), "wal_open", errmsg);
    wal_replay_free(&rp);
    check(wal_append(w, e, n, errmsg), "wal_append", errmsg);
    check(wal_sync(w, errmsg), "wal_sync", errmsg);
    wal_free(w);
    snprintf(name, sizeof name, "wal-%016llx.log",
             (unsigned long long)e[0].index);
    {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        read_file(path, out);
    }
    remove_dir(dir, files, 1);
}

static void put_wal(const char *name, const struct rkv_buf *seg)
{
    put("wal_record", name, seg->data, seg->len);
    put("wal_replay", name, seg->data, seg->len);
}

static void gen_wal(const struct kv_buf *cmds)
{
    static const uint8_t conf[] = "1 2 3";
    const struct raft_entry log[] = {
        {1, 1, RAFT_ENTRY_NOOP, 0, NULL},
        {1, 2, RAFT_ENTRY_NORMAL, (uint32_t)cmds[0].len, cmds[0].data},
        {2, 3, RAFT_ENTRY_CONF, sizeof conf - 1, conf},
        {2, 4, RAFT_ENTRY_NORMAL, (uint32_t)cmds[2].len, cmds[2].data},
    };
    const struct raft_entry later[] = {
        {5, 100, RAFT_ENTRY_NOOP, 0, NULL},
        {5, 101, RAFT_ENTRY_NORMAL, (uint32_t)cmds[1].len, cmds[1].data},
    };
    struct rkv_buf seg;

    rkv_buf_init(&seg);
    wal_segment(log, 4, &seg);
    put_wal("segment", &seg);
    /* The last record cut in half, as a crash mid-write leaves it. */
    seg.len -= (WAL_RECORD_HEADER_BYTES + cmds[2].len) / 2;
    put_wal("torn-tail", &seg);
    seg.len = 0;
    wal_segment(later, 2, &seg);
    put_wal("segment-at-100", &seg);
    rkv_buf_close(&seg);
}

/* Apply `n` commands as entries 1..n to a fresh state machine and return
 * its snapshot stream in `out`. */
static void snapshot_stream(const struct kv_buf *cmds,
                            size_t n,
                            struct rkv_buf *out)
{
    static const char *const files[] = {"state.mdb", "state.mdb-lock",
                                        "restore.mdb", "restore.mdb-lock"};
    struct kv_options opt = {.map_size_bytes = 16u << 20, .no_sync = true};
    char dir[64], errmsg[RKV_ERRMSG_LEN];
    struct raft_entry e[4];
    struct kv_snapshot *s;
    uint8_t chunk[512];
    struct kv *kv;
    size_t got;

    make_tmp(dir, sizeof dir);
    check(kv_open(dir, &opt, &kv, errmsg), "kv_open", errmsg);
    for (size_t i = 0; i < n; i++)
        e[i] = (struct raft_entry){.term = 1,
                                   .index = i + 1,
                                   .type = RAFT_ENTRY_NORMAL,
                                   .len = (uint32_t)cmds[i].len,
                                   .data = cmds[i].data};
    if (n > 0)
        check(kv_apply(kv, e, n, NULL, errmsg), "kv_apply", errmsg);
    check(kv_snapshot_open(kv, &s, errmsg), "kv_snapshot_open", errmsg);
    do {
        check(kv_snapshot_read(s, chunk, sizeof chunk, &got, errmsg),
              "kv_snapshot_read", errmsg);
        append(out, chunk, got);
    } while (got > 0);
    kv_snapshot_free(s);
    kv_close(kv);
    remove_dir(dir, files, sizeof files / sizeof files[0]);
}

static void gen_kv_snapshot(const struct kv_buf *cmds, size_t n)
{
    struct rkv_buf b;
    uint8_t chunk = 0;

    rkv_buf_init(&b);
    append(&b, &chunk, 1);
    snapshot_stream(cmds, 0, &b);
    put("kv_snapshot", "empty", b.data, b.len);
    b.len = 0;
    chunk = 7;
    append(&b, &chunk, 1);
    snapshot_stream(cmds, n, &b);
    put("kv_snapshot", "sessions-chunked", b.data, b.len);
    b.data[0] = 0;
    put("kv_snapshot", "sessions", b.data, b.len);
    rkv_buf_close(&b);
}

/* Append the frame of `m`. */
static void append_frame(struct rkv_buf *b, const struct raft_msg *m)
{
    uint8_t frame[MSG_MAX];
    size_t len;

    check(peer_msg_encode(m, frame, sizeof frame, &len), "peer_msg_encode",
          NULL);
    append(b, frame, len);
}

static void put_frame(const char *target,
                      const char *name,
                      const struct raft_msg *m)
{
    struct rkv_buf b;

    rkv_buf_init(&b);
    append_frame(&b, m);
    put(target, name, b.data, b.len);
    rkv_buf_close(&b);
}

static void gen_peer(const struct kv_buf *cmds)
{
    const struct raft_entry entries[] = {
        {3, 6, RAFT_ENTRY_NORMAL, (uint32_t)cmds[0].len, cmds[0].data},
        {3, 7, RAFT_ENTRY_NOOP, 0, NULL},
    };
    static const uint8_t chunk[] = "RAFTKVSN";
    const struct raft_msg msgs[] = {
        {.type = RAFT_MSG_APPEND,
         .from = 2,
         .to = 1,
         .term = 3,
         .index = 5,
         .log_term = 3,
         .commit = 5,
         .entries = entries,
         .n_entries = 2},
        {.type = RAFT_MSG_APPEND_RESP,
         .from = 1,
         .to = 2,
         .term = 3,
         .index = 5,
         .reject = true,
         .hint_index = 4,
         .hint_term = 2},
        {.type = RAFT_MSG_PREVOTE,
         .from = 3,
         .to = 1,
         .term = 4,
         .index = 7,
         .log_term = 3},
        {.type = RAFT_MSG_HEARTBEAT,
         .from = 2,
         .to = 1,
         .term = 3,
         .commit = 7,
         .context = 11},
        {.type = RAFT_MSG_SNAPSHOT,
         .from = 2,
         .to = 1,
         .term = 4,
         .index = 9,
         .log_term = 4,
         .offset = 0,
         .done = true,
         .data = chunk,
         .len = sizeof chunk - 1},
    };
    static const char *const names[] = {"append", "append-resp", "prevote",
                                        "heartbeat", "snapshot"};
    const struct peer_handshake hs = {.cluster_id = 0x1234, .from = 2, .to = 1};
    uint8_t hbuf[PEER_HANDSHAKE_LEN];
    struct rkv_buf all;

    rkv_buf_init(&all);
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        put_frame("peer_msg", names[i], &msgs[i]);
        append_frame(&all, &msgs[i]);
    }
    put("peer_msg", "pipelined", all.data, all.len);
    rkv_buf_close(&all);
    peer_handshake_encode(&hs, hbuf);
    put("peer_handshake", "handshake", hbuf, sizeof hbuf);
}

/* Operation bytes of the raft_step target. */
static uint8_t op_tick(unsigned times)
{
    return (uint8_t)((times - 1) << 2 | FUZZ_OP_TICK);
}

static void add_step(struct rkv_buf *b, const struct raft_msg *m)
{
    uint8_t op = FUZZ_OP_STEP;

    append(b, &op, 1);
    append_frame(b, m);
}

static void add_byte(struct rkv_buf *b, uint8_t byte)
{
    append(b, &byte, 1);
}

/* The follower (entries 1..5, term 3) gets an append, a heartbeat, a
 * snapshot, a vote request; the leader (term 4 after its election, a
 * no-op at 6) gets answers, a proposal and reads. */
static void gen_raft_step(const struct kv_buf *cmds)
{
    const struct raft_entry e6 = {3, 6, RAFT_ENTRY_NORMAL,
                                  (uint32_t)cmds[0].len, cmds[0].data};
    static const uint8_t chunk[] = "RAFTKVSN";
    struct rkv_buf b;

    rkv_buf_init(&b);
    add_byte(&b, FUZZ_START_FOLLOWER);
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_APPEND,
                                    .from = 2,
                                    .to = 1,
                                    .term = 3,
                                    .index = 5,
                                    .log_term = 3,
                                    .commit = 6,
                                    .entries = &e6,
                                    .n_entries = 1});
    add_byte(&b, op_tick(3));
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
                                    .from = 2,
                                    .to = 1,
                                    .term = 3,
                                    .commit = 6,
                                    .context = 1});
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_SNAPSHOT,
                                    .from = 2,
                                    .to = 1,
                                    .term = 4,
                                    .index = 9,
                                    .log_term = 4,
                                    .done = true,
                                    .data = chunk,
                                    .len = sizeof chunk - 1});
    add_byte(&b, op_tick(40));
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_VOTE,
                                    .from = 3,
                                    .to = 1,
                                    .term = 6,
                                    .index = 9,
                                    .log_term = 4});
    put("raft_step", "follower", b.data, b.len);

    b.len = 0;
    add_byte(&b, FUZZ_START_LEADER);
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_APPEND_RESP,
                                    .from = 2,
                                    .to = 1,
                                    .term = 4,
                                    .index = 6});
    add_byte(&b, 3 << 2 | FUZZ_OP_PROPOSE);
    append(&b, "abc", 3);
    add_byte(&b, 5 << 3 | FUZZ_OP_OTHER); /* read_index(5) */
    add_byte(&b, op_tick(5));
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_HEARTBEAT_RESP,
                                    .from = 3,
                                    .to = 1,
                                    .term = 4,
                                    .context = 1});
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_APPEND_RESP,
                                    .from = 3,
                                    .to = 1,
                                    .term = 4,
                                    .index = 6,
                                    .reject = true,
                                    .hint_index = 2,
                                    .hint_term = 1});
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_READ_INDEX,
                                    .from = 2,
                                    .to = 1,
                                    .term = 4,
                                    .context = 9});
    add_byte(&b, 1 << 2 | FUZZ_OP_OTHER); /* compact */
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_PROPOSE,
                                    .from = 2,
                                    .to = 1,
                                    .term = 4,
                                    .entries = &e6,
                                    .n_entries = 1});
    put("raft_step", "leader", b.data, b.len);

    b.len = 0;
    add_byte(&b, FUZZ_START_CANDIDATE);
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_VOTE_RESP,
                                    .from = 3,
                                    .to = 1,
                                    .term = 4,
                                    .reject = true});
    add_step(&b,
             &(struct raft_msg){
                 .type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .to = 1, .term = 4});
    add_step(&b, &(struct raft_msg){.type = RAFT_MSG_PREVOTE,
                                    .from = 2,
                                    .to = 1,
                                    .term = 6,
                                    .index = 5,
                                    .log_term = 3});
    put("raft_step", "candidate", b.data, b.len);

    b.len = 0;
    add_byte(&b, FUZZ_START_EMPTY);
    add_byte(&b, op_tick(64));
    add_step(&b,
             &(struct raft_msg){
                 .type = RAFT_MSG_PREVOTE_RESP, .from = 2, .to = 1, .term = 1});
    add_step(&b,
             &(struct raft_msg){
                 .type = RAFT_MSG_VOTE_RESP, .from = 3, .to = 1, .term = 1});
    put("raft_step", "empty-campaign", b.data, b.len);
    rkv_buf_close(&b);
}

int main(int argc, char **argv)
{
    struct kv_buf cmds[4];
    size_t n;

    if (argc != 2)
        die("usage: gen-corpus OUT_DIR");
    out_root = argv[1];
    make_dir(out_root);
    n = make_cmds(cmds);
    gen_http();
    gen_resp();
    gen_config();
    gen_kv_cmd(cmds, n);
    gen_wal(cmds);
    gen_kv_snapshot(cmds, n);
    gen_peer(cmds);
    gen_raft_step(cmds);
    for (size_t i = 0; i < n; i++)
        kv_buf_free(&cmds[i]);
    return 0;
}
