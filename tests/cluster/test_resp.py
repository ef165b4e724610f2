#!/usr/bin/env python3
"""The Redis-protocol (RESP2) front end against a real 3-node cluster:
every command of src/server/resp_api.h, its errors, pipelining, inline
commands, binary values, forwarding from followers and the answer when
there is no leader. Prints `ok   resp/<name>` or `FAIL resp/<name>: why`
for each test, then `N passed, N failed`; exits 1 if any failed.

    tests/cluster/test_resp.py [-v] [NAME_SUBSTRING...]

The server is build/asan/raftkv when it exists, else build/raftkv
(RKV_BUILD=DIR overrides); a sanitizer report in a node's log fails the
run. Ports: peers 22001-22003, HTTP 22011-22013, RESP 22021-22023
(RKV_RESP_PORT_BASE moves them). Data and logs go to a temporary directory,
kept and printed when a test fails. Nodes are stopped by PID. Python
standard library only.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PORT_BASE = int(os.environ.get("RKV_RESP_PORT_BASE", "22000"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")
REQUEST_TIMEOUT_S = 5.0  # CONFIG_REQUEST_TIMEOUT_MS
KEY_MAX = 511            # KV_KEY_MAX
BULK_MAX = 1 << 20       # RESP_BULK_MAX


class TestFailure(Exception):
    """A check did not hold; the message says which."""


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def wait_until(what, fn, timeout, interval=0.05):
    """Call fn() until it returns something true, and return that; fail
    after `timeout` seconds. OSError counts as "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except OSError as e:
            last = e
        if time.monotonic() >= deadline:
            more = f" (last error: {last})" if last else ""
            raise TestFailure(f"timed out after {timeout:g} s waiting for "
                              f"{what}{more}")
        time.sleep(interval)


# ---- RESP ------------------------------------------------------------------

class Error(str):
    """An error reply ("-ERR ..."), as its text without the '-'."""


def encode(*args):
    """One multibulk command; args are str, bytes or int."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    """One RESP connection. Replies: str (+simple), Error (-error), int,
    bytes or None (bulk), list or None (array)."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        self.f.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        s = self.f.readline()
        check(s.endswith(b"\r\n"), f"connection closed or bad line {s!r}")
        return s[:-2]

    def read(self):
        s = self.line()
        kind, rest = s[:1], s[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Error(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            check(len(data) == n + 2 and data.endswith(b"\r\n"),
                  f"short bulk reply {data[:80]!r}")
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise TestFailure(f"bad reply line {s!r}")

    def call(self, *args):
        self.send(encode(*args))
        return self.read()

    def closed(self):
        """Whether the server closed the connection (after any bytes it
        still had to send were read)."""
        return self.f.read(1) == b""


def expect(c, args, want):
    got = c.call(*args)
    check(got == want and type(got) is type(want),
          f"{' '.join(map(str, args))[:80]}: got {got!r}, want {want!r}")


def expect_error(c, args, prefix):
    got = c.call(*args)
    check(isinstance(got, Error) and got.startswith(prefix),
          f"{' '.join(map(str, args))[:80]}: got {got!r}, want an error "
          f"starting with {prefix!r}")
    return got


# ---- the cluster -----------------------------------------------------------

def binary():
    build = os.environ.get("RKV_BUILD")
    dirs = ([Path(build).resolve()] if build
            else [ROOT / "build/asan", ROOT / "build"])
    for d in dirs:
        if (d / "raftkv").is_file():
            return str(d / "raftkv")
    raise TestFailure(f"raftkv not built (looked in "
                      f"{', '.join(map(str, dirs))})")


class Node:
    def __init__(self, workdir, conf, node_id):
        self.id = node_id
        self.peer_port = PORT_BASE + node_id
        self.http_port = PORT_BASE + 10 + node_id
        self.resp_port = PORT_BASE + 20 + node_id
        self.conf = conf
        self.data_dir = workdir / f"node{node_id}"
        self.log_path = workdir / f"node{node_id}.log"
        self.proc = None
        self.term_codes = []  # exit codes after our SIGTERMs

    def __repr__(self):
        return f"node {self.id}"

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [binary(), "--id", str(self.id), "--config", str(self.conf),
                 "--data-dir", str(self.data_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM by PID; SIGKILL if it does not exit within 15 s."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.term_codes.append(self.proc.wait(15))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self.term_codes.append(None)

    def client(self, timeout=10.0):
        return Client(self.resp_port, timeout)

    def raft_info(self):
        """INFO raft as a dict."""
        with self.client(2.0) as c:
            text = c.call("INFO", "raft")
        check(isinstance(text, bytes), f"{self}: INFO raft answered {text!r}")
        return dict(line.split(":", 1) for line in
                    text.decode().split("\r\n") if ":" in line)


class Cluster:
    def __init__(self, workdir):
        self.dir = workdir
        conf = workdir / "nodes.conf"
        self.nodes = [Node(workdir, conf, i) for i in (1, 2, 3)]
        with open(conf, "w") as f:
            f.write("# <ID> <HOST> <PEER_PORT> <HTTP_PORT> <RESP_PORT>\n")
            for nd in self.nodes:
                f.write(f"{nd.id} 127.0.0.1 {nd.peer_port} {nd.http_port} "
                        f"{nd.resp_port}\n")

    def start(self):
        for nd in self.nodes:
            for port in (nd.peer_port, nd.http_port, nd.resp_port):
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind(("127.0.0.1", port))
                    except OSError as e:
                        raise TestFailure(f"port {port} is taken ({e}): set "
                                          "RKV_RESP_PORT_BASE") from None
        for nd in self.nodes:
            nd.start()
        self.leader()

    def leader(self, timeout=20.0):
        """Wait until every node names the same leader; return it."""
        def find():
            infos = [nd.raft_info() for nd in self.nodes]
            ids = {i["leader"] for i in infos}
            if len(ids) == 1 and ids != {"0"}:
                return self.nodes[int(ids.pop()) - 1]
            return None
        return wait_until("a leader every node follows", find, timeout)

    def followers(self):
        lead = self.leader()
        return [nd for nd in self.nodes if nd is not lead]

    def stop(self):
        for nd in self.nodes:
            nd.stop()

    def problems(self):
        out = []
        for nd in self.nodes:
            try:
                text = nd.log_path.read_text(errors="replace")
            except FileNotFoundError:
                text = ""
            for line in text.splitlines():
                if any(m in line for m in SANITIZER_MARKS):
                    out.append(f"{nd}: {line.strip()}")
                    break
            if any(code != 0 for code in nd.term_codes):
                out.append(f"{nd}: exit codes after SIGTERM {nd.term_codes}")
        return out


# ---- tests -------------------------------------------------------------------
# Each takes the running cluster. They run in this order; no_leader stops
# two nodes, so it comes last.

def test_ping_echo(cl):
    with cl.nodes[0].client() as c:
        expect(c, ["PING"], "PONG")
        expect(c, ["ping", "hi there"], b"hi there")
        expect(c, ["ECHO", "x\r\ny"], b"x\r\ny")
        expect_error(c, ["PING", "a", "b"],
                     "ERR wrong number of arguments for 'ping' command")
        expect_error(c, ["ECHO"],
                     "ERR wrong number of arguments for 'echo' command")


def test_set_on_follower_get_on_others(cl):
    f1, f2 = cl.followers()
    lead = cl.leader()
    with f1.client() as c:
        expect(c, ["SET", "fwd", "from-follower"], "OK")
    # Linearizable reads: the write is visible everywhere at once.
    for nd in (f2, lead, f1):
        with nd.client() as c:
            expect(c, ["GET", "fwd"], b"from-follower")


def test_get_missing_is_nil(cl):
    with cl.nodes[1].client() as c:
        expect(c, ["GET", "no-such-key"], None)


def test_set_nx_xx_and_refused_options(cl):
    with cl.nodes[2].client() as c:
        expect(c, ["SET", "nx", "1", "NX"], "OK")
        expect(c, ["SET", "nx", "2", "nx"], None)
        expect(c, ["SET", "xx-missing", "1", "XX"], None)
        expect(c, ["SET", "nx", "3", "XX"], "OK")
        expect(c, ["GET", "nx"], b"3")
        expect(c, ["GET", "xx-missing"], None)
        expect_error(c, ["SET", "k", "v", "NX", "XX"], "ERR syntax error")
        expect_error(c, ["SET", "k", "v", "FOO"], "ERR syntax error")
        for opt in (["EX", "10"], ["PX", "10"], ["EXAT", "1"], ["PXAT", "1"],
                    ["KEEPTTL"], ["GET"]):
            err = expect_error(c, ["SET", "k", "v"] + opt, "ERR SET option")
            check("not supported" in err, f"SET {opt}: {err!r}")
        expect_error(c, ["SET", "k"],
                     "ERR wrong number of arguments for 'set' command")


def test_del_counts_removed_keys(cl):
    with cl.nodes[0].client() as c:
        expect(c, ["MSET", "d1", "a", "d2", "b"], "OK")
        expect(c, ["DEL", "d1", "d2", "d3"], 2)
        expect(c, ["DEL", "d1", "d2", "d3"], 0)
        expect(c, ["GET", "d1"], None)
        expect_error(c, ["DEL"],
                     "ERR wrong number of arguments for 'del' command")


def test_exists_counts_each_argument(cl):
    with cl.nodes[1].client() as c:
        expect(c, ["SET", "ex1", "v"], "OK")
        expect(c, ["EXISTS", "ex1"], 1)
        expect(c, ["EXISTS", "ex1", "ex1", "nope"], 2)
        expect(c, ["EXISTS", "nope"], 0)


def test_mset_mget(cl):
    with cl.nodes[2].client() as c:
        expect(c, ["MSET", "m1", "v1", "m2", "v2", "m3", ""], "OK")
        expect(c, ["MGET", "m1", "missing", "m2", "m3"],
               [b"v1", None, b"v2", b""])
        expect_error(c, ["MSET", "m1", "v1", "m2"],
                     "ERR wrong number of arguments for 'mset' command")
        expect_error(c, ["MGET"],
                     "ERR wrong number of arguments for 'mget' command")
    with cl.nodes[0].client() as c:
        expect(c, ["MGET", "m3", "m2", "m1"], [b"", b"v2", b"v1"])


def test_incr_family(cl):
    big = str(2**63 - 1)
    with cl.nodes[0].client() as c:
        expect(c, ["INCR", "ctr"], 1)
        expect(c, ["INCRBY", "ctr", "10"], 11)
        expect(c, ["DECR", "ctr"], 10)
        expect(c, ["DECRBY", "ctr", "3"], 7)
        expect(c, ["INCRBY", "ctr", "-8"], -1)
        expect(c, ["GET", "ctr"], b"-1")
        expect(c, ["SET", "text", "abc"], "OK")
        expect_error(c, ["INCR", "text"],
                     "ERR value is not an integer or out of range")
        expect_error(c, ["INCRBY", "ctr", "x1"],
                     "ERR value is not an integer or out of range")
        expect_error(c, ["INCRBY", "ctr", "01"],
                     "ERR value is not an integer or out of range")
        expect(c, ["SET", "max", big], "OK")
        expect_error(c, ["INCR", "max"],
                     "ERR increment or decrement would overflow")
        expect(c, ["GET", "max"], big.encode())
        expect_error(c, ["DECRBY", "max", str(-2**63)],
                     "ERR decrement would overflow")
        expect(c, ["INCRBY", "fresh", str(-2**63)], -2**63)
        expect_error(c, ["INCR"],
                     "ERR wrong number of arguments for 'incr' command")


def test_binary_values_and_keys(cl):
    value = bytes(range(256)) * 3 + b"\r\n$5\r\n*1\r\n\x00"
    key = b"bin\x00key\r\n\xff"
    with cl.nodes[0].client() as c:
        expect(c, ["SET", key, value], "OK")
        expect(c, ["SET", "empty", b""], "OK")
    with cl.nodes[1].client() as c:
        expect(c, ["GET", key], value)
        expect(c, ["MGET", key, "empty"], [value, b""])
        expect(c, ["EXISTS", key], 1)


def test_key_and_value_limits(cl):
    with cl.nodes[1].client() as c:
        expect(c, ["SET", "k" * KEY_MAX, "v"], "OK")
        expect(c, ["GET", "k" * KEY_MAX], b"v")
        for args in (["SET", "k" * (KEY_MAX + 1), "v"],
                     ["GET", "k" * (KEY_MAX + 1)],
                     ["MGET", "a", "k" * (KEY_MAX + 1)],
                     ["DEL", "k" * (KEY_MAX + 1)]):
            expect_error(c, args, "ERR key too large")
        expect_error(c, ["SET", "", "v"], "ERR empty keys")
        value = b"v" * BULK_MAX
        expect(c, ["SET", "big", value], "OK")
        expect(c, ["GET", "big"], value)
        # A length above the limit is refused as soon as it is announced
        # (the body is not sent: unread bytes would make the close a reset).
        c.send(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % (BULK_MAX + 1))
        err = c.read()
        check(isinstance(err, Error) and err.startswith("ERR Protocol error"),
              f"an oversized argument answered {err!r}")
        check(c.closed(), f"connection still open after {err!r}")


def test_pipeline_1000_set_get_in_one_send(cl):
    for nd in (cl.leader(), cl.followers()[0]):
        data = b"".join(encode("SET", f"p{nd.id}:{i}", f"v{i}") +
                        encode("GET", f"p{nd.id}:{i}") for i in range(1000))
        with nd.client(30.0) as c:
            c.send(data)
            for i in range(1000):
                got = c.read(), c.read()
                check(got == ("OK", f"v{i}".encode()),
                      f"{nd}: pipelined pair {i} answered {got!r}")
            expect(c, ["GET", f"p{nd.id}:999"], b"v999")


def test_inline_commands(cl):
    with cl.nodes[2].client() as c:
        c.send(b"PING\r\nSET inl \"a b\\x41\"\r\nGET inl\nEXISTS inl\r\n")
        got = [c.read() for _ in range(4)]
        check(got == ["PONG", "OK", b"a bA", 1], f"inline: {got!r}")


def test_unknown_command_and_arity_errors(cl):
    with cl.nodes[0].client() as c:
        expect_error(c, ["FOO", "bar", "baz"],
                     "ERR unknown command 'FOO', with args beginning with: "
                     "'bar' 'baz'")
        expect_error(c, ["GET"],
                     "ERR wrong number of arguments for 'get' command")
        expect_error(c, ["get", "a", "b"],
                     "ERR wrong number of arguments for 'get' command")
        expect(c, ["PING"], "PONG")  # the connection is still usable


def test_protocol_error_answers_then_closes(cl):
    with cl.nodes[0].client() as c:
        c.send(b"*1\r\n$x\r\nPING\r\n")
        err = c.read()
        check(isinstance(err, Error) and err.startswith("ERR Protocol error"),
              f"got {err!r}")
        check(c.closed(), "connection still open after a protocol error")


def test_select_dbsize_and_refused_commands(cl):
    with cl.nodes[1].client() as c:
        expect(c, ["SELECT", "0"], "OK")
        expect_error(c, ["SELECT", "1"], "ERR DB index is out of range")
        expect_error(c, ["SELECT", "x"],
                     "ERR value is not an integer or out of range")
        expect(c, ["MSET"] + [f"db{i // 2}" for i in range(10)], "OK")
        expect(c, ["GET", "db4"], b"db4")  # this node has applied the MSET
        n = c.call("DBSIZE")
        check(isinstance(n, int) and n >= 5, f"DBSIZE answered {n!r}")
        for args in (["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "GET", "save"]):
            err = expect_error(c, args, "ERR")
            check("not supported" in err, f"{args}: {err!r}")


def test_info_sections(cl):
    lead = cl.leader()
    with cl.nodes[0].client() as c:
        expect(c, ["SET", "info", "1"], "OK")
        text = c.call("INFO")
        check(isinstance(text, bytes), f"INFO answered {text!r}")
        text = text.decode()
        for want in ("# Server\r\n", "redis_version:", "raftkv_version:",
                     "# Clients\r\n", "# Raft\r\n", "role:", "term:",
                     f"leader:{lead.id}\r\n", "commit_index:",
                     "last_applied:", "# Keyspace\r\n", "db0:keys="):
            check(want in text, f"INFO lacks {want!r}: {text!r}")
        raft = c.call("info", "RAFT").decode()
        check(raft.startswith("# Raft\r\n") and "# Server" not in raft,
              f"INFO raft: {raft!r}")
        expect(c, ["INFO", "nosuchsection"], b"")


def test_command_client_hello(cl):
    with cl.nodes[2].client() as c:
        count = c.call("COMMAND", "COUNT")
        check(isinstance(count, int) and count >= 20, f"COUNT: {count!r}")
        all_cmds = c.call("COMMAND")
        check(isinstance(all_cmds, list) and len(all_cmds) == count,
              f"COMMAND: {str(all_cmds)[:200]}")
        expect(c, ["COMMAND", "DOCS"], [])
        info = c.call("COMMAND", "INFO", "get", "nosuch")
        check(info[1] is None and info[0][:2] == [b"get", 2] and
              "readonly" in info[0][2] and info[0][3:] == [1, 1, 1],
              f"COMMAND INFO: {info!r}")
        expect_error(c, ["COMMAND", "FOO"], "ERR unknown subcommand 'FOO'")
        expect(c, ["CLIENT", "GETNAME"], None)
        expect(c, ["CLIENT", "SETNAME", "tester"], "OK")
        expect(c, ["CLIENT", "GETNAME"], b"tester")
        cid = c.call("CLIENT", "ID")
        check(isinstance(cid, int) and cid > 0, f"CLIENT ID: {cid!r}")
        ci = c.call("CLIENT", "INFO")
        check(ci.startswith(b"id=%d " % cid) and b"name=tester" in ci,
              f"CLIENT INFO: {ci!r}")
        expect_error(c, ["CLIENT", "SETNAME", "a b"],
                     "ERR Client names cannot contain spaces")
        expect(c, ["CLIENT", "SETINFO", "LIB-NAME", "test"], "OK")
        expect_error(c, ["CLIENT", "KILL", "x"],
                     "ERR unknown subcommand 'KILL'")
        expect_error(c, ["CLIENT", "SETNAME"],
                     "ERR wrong number of arguments for 'client|setname'")
        expect_error(c, ["HELLO", "3"], "NOPROTO")
        expect(c, ["PING"], "PONG")


def test_quit_answers_then_closes(cl):
    with cl.nodes[0].client() as c:
        c.send(encode("SET", "q", "1") + encode("QUIT") + encode("SET", "q", "2"))
        check(c.read() == "OK" and c.read() == "OK", "SET, QUIT not +OK")
        check(c.closed(), "connection still open after QUIT")
    with cl.nodes[1].client() as c:
        expect(c, ["GET", "q"], b"1")  # nothing after QUIT ran


def test_half_close_still_answers(cl):
    with cl.nodes[1].client() as c:
        c.send(encode("SET", "hc", "v") + encode("GET", "hc"))
        c.sock.shutdown(socket.SHUT_WR)
        check(c.read() == "OK" and c.read() == b"v", "answers lost")
        check(c.closed(), "connection still open after the client's EOF")


def test_no_leader_answers_error_in_time(cl):
    survivor = cl.nodes[0]
    for nd in cl.nodes[1:]:
        nd.stop()
    with survivor.client(30.0) as c:
        expect(c, ["PING"], "PONG")
        for args in (["SET", "nl", "v"], ["GET", "fwd"], ["MGET", "a", "b"],
                     ["DEL", "fwd"]):
            start = time.monotonic()
            got = c.call(*args)
            took = time.monotonic() - start
            check(isinstance(got, Error) and
                  got.split(" ")[0] in ("CLUSTERDOWN", "TRYAGAIN", "TIMEOUT"),
                  f"{args} without a quorum answered {got!r}")
            check(took < REQUEST_TIMEOUT_S + 2,
                  f"{args} took {took:.1f} s to fail")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    verbose = "-v" in sys.argv[1:]
    tests = [t for t in TESTS
             if not args or any(a in t.__name__ for a in args)]
    workdir = Path(tempfile.mkdtemp(prefix="raftkv-resp-"))
    cl = Cluster(workdir)
    passed = failed = 0
    try:
        cl.start()
        for t in tests:
            name = t.__name__[len("test_"):]
            start = time.monotonic()
            try:
                t(cl)
                passed += 1
                extra = f" ({time.monotonic() - start:.1f} s)" if verbose else ""
                print(f"ok   resp/{name}{extra}", flush=True)
            except (TestFailure, OSError, ValueError) as e:
                failed += 1
                print(f"FAIL resp/{name}: {e}", flush=True)
    except TestFailure as e:
        failed += 1
        print(f"FAIL resp/cluster start: {e}", flush=True)
    finally:
        cl.stop()
    for p in cl.problems():
        failed += 1
        print(f"FAIL resp/clean run: {p}")
    if failed:
        print(f"data and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
