"""The HTTP API under bad input, keep-alive and pipelining, exactly-once
retries, stale reads and lost quorum, on real processes (contract in
src/server/http_api.h and src/net/http.h)."""

import json
import socket
import threading
import time

from harness import TestFailure, check, raw_request, read_response, wait_until

KEY_MAX = 511         # KV_KEY_MAX
VALUE_MAX = 1 << 20   # KV_VALUE_MAX
BODY_MAX = 2 << 20    # HTTP_BODY_MAX
SLOW_TIMEOUT_S = 10   # HTTP_API_REQUEST_TIMEOUT_MS
OP_TIMEOUT_S = 5      # CONFIG_REQUEST_TIMEOUT_MS


def post(body, headers=b""):
    """A raw POST /kv with `body` (bytes) and Content-Length."""
    return (b"POST /kv HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
            b"\r\n" + headers + b"Content-Length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)


def get(path, headers=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n"


def session(cid, seq):
    return f"X-Client-Id: {cid}\r\nX-Request-Seq: {seq}\r\n".encode()


# (what, raw request, acceptable statuses)
BAD_REQUESTS = [
    ("malformed JSON", post(b'{"key": "a", "value": '), {400}),
    ("JSON array", post(b'["a", "b"]'), {400}),
    ("empty body", post(b""), {400}),
    ("missing value", post(b'{"key": "a"}'), {400}),
    ("missing key", post(b'{"value": "a"}'), {400}),
    ("key not a string", post(b'{"key": 1, "value": "a"}'), {400}),
    ("value a number", post(b'{"key": "a", "value": 5}'), {400}),
    ("value an object", post(b'{"key": "a", "value": {"x": 1}}'), {400}),
    ("unknown field", post(b'{"key": "a", "value": "b", "ttl": 3}'), {400}),
    ("duplicate field", post(b'{"key": "a", "key": "b", "value": "c"}'),
     {400}),
    ("empty key", post(b'{"key": "", "value": "a"}'), {400}),
    ("invalid UTF-8", post(b'{"key": "a", "value": "\xff\xfe"}'), {400}),
    ("key over the limit",
     post(json.dumps({"key": "k" * (KEY_MAX + 1), "value": "v"}).encode()),
     {413}),
    ("value over the limit",
     post(json.dumps({"key": "big", "value": "v" * (VALUE_MAX + 1)}).encode()),
     {413}),
    ("GET key over the limit", get(b"/kv/" + b"k" * (KEY_MAX + 1)), {413}),
    ("body over the limit, refused before it arrives",
     b"POST /kv HTTP/1.1\r\nHost: t\r\nContent-Length: "
     + str(BODY_MAX + 1).encode() + b"\r\n\r\n", {413}),
    ("unknown path", get(b"/nope"), {404}),
    ("root path", get(b"/"), {404}),
    ("empty key in path", get(b"/kv/"), {404}),
    ("PUT /kv", b"PUT /kv HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
     {405}),
    ("DELETE /status", b"DELETE /status HTTP/1.1\r\nHost: t\r\n\r\n", {405}),
    ("PATCH /kv/a", b"PATCH /kv/a HTTP/1.1\r\nHost: t\r\n\r\n", {405}),
    ("oversized headers", get(b"/health", b"X-Big: " + b"h" * 20000 + b"\r\n"),
     {413, 431}),
    ("URL over the limit", get(b"/kv/" + b"u" * 9000), {413, 414}),
    ("bad percent-encoding", get(b"/kv/%zz"), {400}),
    ("too many query parameters",
     get(b"/kv/a?" + b"&".join(b"p%d=1" % i for i in range(20))), {400}),
    ("chunked body", b"POST /kv HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
     b"chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", {400, 411, 501}),
    ("HTTP/2.0", b"GET /health HTTP/2.0\r\nHost: t\r\n\r\n", {400, 505}),
    ("X-Request-Seq not a number",
     post(b'{"key": "a", "value": "b"}', b"X-Client-Id: 5\r\n"
          b"X-Request-Seq: abc\r\n"), {400}),
    ("X-Client-Id without X-Request-Seq",
     post(b'{"key": "a", "value": "b"}', b"X-Client-Id: 5\r\n"), {400}),
    ("X-Client-Id zero", post(b'{"key": "a", "value": "b"}', session(0, 1)),
     {400}),
    ("garbage bytes", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
     {400}),
    ("NUL bytes", b"\x00" * 64 + b"\r\n\r\n", {400}),
    ("request line only garbage", b"HELLO WORLD\r\n\r\n", {400}),
]


def slow_request(node, data, out):
    """Send `data` (part of a request), then wait for the 408; record
    (status or error, seconds taken) in out."""
    start = time.monotonic()
    try:
        with socket.create_connection((node.host, node.http_port),
                                      timeout=SLOW_TIMEOUT_S + 10) as s:
            s.sendall(data)
            with s.makefile("rb") as f:
                out.append((read_response(f).status,
                            time.monotonic() - start))
    except (OSError, TestFailure) as e:
        out.append((f"{type(e).__name__}: {e}", time.monotonic() - start))


def bad_input(ctx):
    """Every bad request gets its 4xx (never a crash or a silent drop) and
    the node serves normally after each; half a request gets 408 after
    HTTP_API_REQUEST_TIMEOUT_MS; limits are inclusive."""
    c = ctx.cluster(3)
    target = c.nodes[0]
    slow = []
    threads = [threading.Thread(target=slow_request, args=(target, part, slow))
               for part in (b"GET /kv/a HTTP/1.1\r\nHost: t\r\nX-Half: ",
                            post(b'{"key": "slow", "value": "x"}')[:-8])]
    for t in threads:
        t.start()
    for what, data, want in BAD_REQUESTS:
        r = raw_request(target.host, target.http_port, data)
        check(r.status in want, f"{what}: want {sorted(want)}, got {r}")
        check(r.status < 500 or r.status == 505, f"{what}: server error {r}")
        if r.body:
            check("error" in r.json(), f"{what}: no JSON error in {r}")
        if r.status == 405:
            check("allow" in r.headers, f"{what}: 405 without Allow")
        h = target.request("GET", "/health")
        check(h.status == 200, f"after {what}: /health answered {h}")
    # The limits themselves are allowed.
    c.put_ok(target, "k" * KEY_MAX, "v")
    c.put_ok(target, "big", "v" * VALUE_MAX, timeout=30)
    r = target.read("big")
    check(r.status == 200 and len(r.json()["value"]) == VALUE_MAX,
          f"GET of a value of the largest size: {r.status}")
    for t in threads:
        t.join(SLOW_TIMEOUT_S + 15)
    for got, took in slow:
        check(got == 408, f"half a request: want 408, got {got}")
        check(SLOW_TIMEOUT_S - 0.5 <= took <= SLOW_TIMEOUT_S + 3,
              f"half a request answered after {took:.1f} s, want about "
              f"{SLOW_TIMEOUT_S} s")
    check(len(slow) == 2, "a slow-request thread did not finish")
    for nd in c.nodes:
        check(nd.alive(), f"{nd} died")
    c.put_ok(c.nodes[1], "after", "all")
    for nd in c.nodes:
        r = nd.read("after")
        check(r.status == 200, f"{nd} after the bad input: {r}")


def pipeline(node, reqs, rounds=3):
    """Send the raw requests `reqs` in one send on a new connection and
    read as many answers, in order. A round that meets an election (a 503
    among its answers) is sent again, up to `rounds` times: the order of
    answers is what is checked, not availability. Returns the answers."""
    for _ in range(rounds):
        with socket.create_connection((node.host, node.http_port),
                                      timeout=30) as s, s.makefile("rb") as f:
            s.sendall(b"".join(reqs))
            answers = []
            try:
                while len(answers) < len(reqs):
                    answers.append(read_response(f))
            except (OSError, TestFailure) as e:
                last = answers[-1] if answers else None
                raise TestFailure(f"answer {len(answers)} of {len(reqs)} "
                                  f"pipelined requests on {node}: {e}; the "
                                  f"answer before: {last}") from None
        busy = [r for r in answers if r.status == 503]
        if not busy:
            return answers
    raise TestFailure(f"{rounds} rounds of {len(reqs)} pipelined requests "
                      f"on {node} each met an election: {busy[0]}")


def pipelined_writes(node, numbers):
    """POST s<i>=v<i> for every i of `numbers` in one send on one
    connection; require every answer, in order."""
    answers = pipeline(node, [post(json.dumps(
        {"key": f"s{i}", "value": f"v{i}"}).encode()) for i in numbers])
    for i, r in zip(numbers, answers):
        check(r.status == 200 and r.json()["key"] == f"s{i}",
              f"pipelined write s{i}: {r}")


def keepalive_and_pipelining(ctx):
    """One connection carries many requests; requests sent together are
    answered in order, errors included; Connection: close and HTTP/1.0
    close after their answer; more than HTTP_API_PIPELINE_MAX requests in
    one send are all answered."""
    c = ctx.cluster(3)
    nd = c.nodes[1]
    c.put_ok(nd, "old0", "x0")
    c.put_ok(nd, "old1", "x1")
    with socket.create_connection((nd.host, nd.http_port), timeout=15) as s, \
            s.makefile("rb") as f:
        for i in range(5):  # keep-alive: one at a time on one connection
            s.sendall(get(b"/status"))
            r = read_response(f)
            check(r.status == 200 and r.json()["id"] == nd.id,
                  f"keep-alive request {i}: {r}")
            check(r.headers.get("connection", "").lower() != "close",
                  f"keep-alive request {i} answered with Connection: close")
    reqs = [
        (post(b'{"key": "new0", "value": "y0"}'), 200, "new0"),
        (get(b"/kv/old0"), 200, "x0"),
        (get(b"/nope"), 404, None),
        (post(b'{"key": "new1", "value": "y1"}'), 200, "new1"),
        (get(b"/kv/missing"), 404, None),
        (b"DELETE /status HTTP/1.1\r\nHost: t\r\n\r\n", 405, None),
        (get(b"/kv/old1?stale=true"), 200, "x1"),
        (get(b"/status"), 200, None),
        (get(b"/health"), 200, None),
        (get(b"/kv/old1"), 200, "x1"),
    ]
    answers = pipeline(nd, [r[0] for r in reqs])
    for i, ((_, status, want), r) in enumerate(zip(reqs, answers)):
        check(r.status == status, f"pipelined answer {i}: want {status}, "
              f"got {r}")
        if want is not None:
            body = r.json()
            check(want in (body.get("key"), body.get("value")),
                  f"pipelined answer {i} out of order: {r}")
    n = 1500
    answers = pipeline(nd, [get(b"/kv/old%d" % (i % 2)) for i in range(n)])
    for i, r in enumerate(answers):
        check(r.status == 200 and r.json()["value"] == f"x{i % 2}",
              f"answer {i} of {n} pipelined reads: {r}")
    pipelined_writes(nd, range(3000))  # > HTTP_API_PIPELINE_MAX
    for data in (get(b"/status", b"Connection: close\r\n"),
                 b"GET /status HTTP/1.0\r\n\r\n"):
        with socket.create_connection((nd.host, nd.http_port),
                                      timeout=5) as s, s.makefile("rb") as f:
            s.sendall(data + get(b"/status"))
            r = read_response(f)
            check(r.status == 200, f"{data!r}: {r}")
            check(f.read() == b"", f"{data!r}: connection kept open, or a "
                  "request after the close was answered")


def exactly_once(ctx):
    """A retry with the same X-Client-Id/X-Request-Seq, on any node, gets
    the first answer and is not applied again; an older sequence number
    than one applied is refused (409)."""
    c = ctx.cluster(3)
    a, b, d = c.nodes
    cid = 987654321

    def send(nd, seq, method, path, body=None):
        """The request, repeated while it gets 503 (an election): the
        retries a client makes, with the same sequence number."""
        hdrs = {"X-Client-Id": str(cid), "X-Request-Seq": str(seq)}
        return wait_until(f"{method} {path} seq {seq} on {nd}", lambda: (
            r := nd.request(method, path, body, hdrs)).status != 503 and r,
            15)

    def put(nd, seq, value):
        r = send(nd, seq, "POST", "/kv", {"key": "eo", "value": value})
        check(r.status == 200, f"seq {seq} on {nd}: {r}")
        return r.json()

    def same(r1, r2):
        """The same answer but for "index": a retry is a log entry of its
        own, and the answer names that entry's index."""
        return (r1.status == r2.status and
                {**r1.json(), "index": 0} == {**r2.json(), "index": 0})
    first = put(a, 1, "first")
    c.put_ok(b, "eo", "second")  # another client
    for nd in (a, b, d):
        again = put(nd, 1, "first")
        check(again["index"] >= first["index"], f"retry on {nd}: index "
              f"{again['index']} before the first's {first['index']}")
        again["index"] = first["index"]
        check(again == first, f"retry on {nd}: want {first}, got {again}")
    r = d.read("eo")
    check(r.json().get("value") == "second",
          f"the retry was applied again: {r}")
    put(b, 2, "third")
    check(d.read("eo").json().get("value") == "third", "seq 2 not applied")
    r = send(a, 1, "POST", "/kv", {"key": "eo", "value": "first"})
    check(r.status == 409, f"seq 1 after seq 2: want 409, got {r}")
    r1 = send(a, 3, "DELETE", "/kv/eo")
    r2 = send(b, 3, "DELETE", "/kv/eo")
    check(r1.status == 200 and same(r1, r2), f"retried DELETE: first {r1}, "
          f"retry {r2} (a 404 means it was applied twice)")
    # The same request sent to every node at once is applied once.
    out = []
    ts = [threading.Thread(target=lambda n=nd: out.append(
        send(n, 4, "POST", "/kv", {"key": "eo4", "value": "v"})))
        for nd in c.nodes]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    check(len(out) == 3 and out[0].status == 200 and
          all(same(out[0], r) for r in out),
          f"one request on three nodes at once: {out}")


def stale_reads(ctx):
    """?stale=true is served from the node's own state and says
    "stale": true; a linearizable read does not."""
    c = ctx.cluster(3)
    leader = c.leader()
    index = c.put_ok(leader, "s", "1")
    c.wait_applied(c.nodes, index)
    for nd in c.nodes:
        r = nd.read("s", stale=True)
        check(r.status == 200 and r.json() == {"key": "s", "value": "1",
                                                "stale": True},
              f"stale read on {nd}: {r}")
        r = nd.read("s")
        check(r.status == 200 and "stale" not in r.json(),
              f"linearizable read on {nd}: {r}")


def timed(fn, out, name):
    start = time.monotonic()
    try:
        r = fn()
    except OSError as e:
        r = e
    out[name] = (r, time.monotonic() - start)


def no_quorum(ctx):
    """Without a majority, a write and a linearizable read get 503 with
    Retry-After within the request timeout, on the old leader and on a
    leaderless node, while a stale read still answers; with the majority
    back, writes go through."""
    c = ctx.cluster(3)
    leader = c.leader()
    c.put_ok(leader, "q", "before")
    gone = c.followers(leader)
    for nd in gone:
        nd.kill()
    out = {}
    ts = [threading.Thread(target=timed, args=(fn, out, name)) for name, fn in
          (("write", lambda: leader.put("q", "after", timeout=15)),
           ("read", lambda: leader.get("q", timeout=15)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(20)
    for name in ("write", "read"):
        r, took = out.get(name, ("no answer", 0))
        check(not isinstance(r, str) and not isinstance(r, OSError)
              and r.status == 503, f"{name} without quorum: {r}")
        check("retry-after" in r.headers, f"{name}: 503 without Retry-After")
        check(took <= OP_TIMEOUT_S + 1.5, f"{name}: 503 after {took:.1f} s")
    r = leader.get("q", stale=True)
    check(r.status == 200 and r.json().get("value") == "before",
          f"stale read without quorum: {r}")
    gone[0].start()
    node, _ = c.put_any("q", "back", nodes=[leader, gone[0]], timeout=20)
    # A node alone, without a leader, answers at once with 503.
    c.leader(among=[leader, gone[0]])
    for nd in (leader, gone[0]):
        nd.kill()
    gone[1].start()
    gone[1].wait_up()
    start = time.monotonic()
    r = gone[1].put("q", "lonely", timeout=15)
    took = time.monotonic() - start
    check(r.status == 503 and "retry-after" in r.headers,
          f"write on a lone node: {r}")
    check(took <= OP_TIMEOUT_S + 1.5, f"lone node answered after {took:.1f} s")
    h = gone[1].request("GET", "/health")
    check(h.status == 503, f"/health on a lone node: {h}")


def snapshot_catch_up(ctx):
    """A follower that was down while the others took a snapshot and
    compacted their logs catches up (InstallSnapshot) once restarted; the
    whole cluster then survives kill -9 and restarts from snapshot + log."""
    c = ctx.cluster(3)
    leader = c.leader()
    late = c.followers(leader)[0]
    late.stop()
    n = 10500  # past CONFIG_SNAPSHOT_ENTRIES (10000)
    for lo in range(0, n, 500):
        pipelined_writes(leader, range(lo, min(lo + 500, n)))
    st = wait_until("a snapshot on the leader",
                    lambda: (s := leader.status())["snapshot_index"] > 0 and s,
                    30)
    ctx.log(f"leader status: {st}")
    check(st["first_index"] > 1, f"the log was not compacted: {st}")
    late.start()
    c.wait_applied([late], st["commit_index"], timeout=30)
    for i in (0, 5000, n - 1):
        r = late.read(f"s{i}", stale=True)
        check(r.status == 200 and r.json()["value"] == f"v{i}",
              f"s{i} on the restarted follower: {r}")
    c.kill()
    c.start()
    c.leader()
    for nd in c.nodes:
        for i in (0, 9999, n - 1):
            r = nd.read(f"s{i}")
            check(r.status == 200 and r.json()["value"] == f"v{i}",
                  f"s{i} on {nd} after kill -9 and restart: {r}")


TESTS = [
    ("bad_input", bad_input, 60),
    ("keepalive_and_pipelining", keepalive_and_pipelining, 60),
    ("exactly_once", exactly_once, 30),
    ("stale_reads", stale_reads, 30),
    ("no_quorum", no_quorum, 60),
    ("snapshot_catch_up", snapshot_catch_up, 120),
]
