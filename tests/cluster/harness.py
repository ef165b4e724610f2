"""The cluster tests' harness: real raftkv processes on 127.0.0.1 (or in
network namespaces: test_partition.py), driven through their HTTP API.

Rules every test follows through this module: nodes bind only the address
their cluster was given; ports come from a range of their own (PORT_BASE,
away from `make cluster`'s 2001-4003); data lives in a fresh temporary
directory; every wait has a deadline (wait_until); every process is stopped
by its PID; each node's stderr goes to a log file that is scanned for
sanitizer reports when the test ends. Python standard library only.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PORT_BASE = int(os.environ.get("RKV_TEST_PORT_BASE", "21000"))
SLOTS = 30  # clusters per run: peer ports PORT_BASE + 10 * slot + id
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")


def short(x, n=40):
    """x as text for a message, cut to about n characters."""
    t = str(x)
    return t if len(t) <= n else f"{t[:n]}...({len(t)} chars)"


class TestFailure(Exception):
    """A check of a test did not hold; the message says which."""


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def binary(name):
    """build/asan/<name> when it exists (sanitizer reports surface), else
    build/<name>; RKV_BUILD=<dir> picks the directory."""
    build = os.environ.get("RKV_BUILD")
    if build:
        dirs = [Path(build).resolve()]
    else:
        dirs = [ROOT / "build/asan", ROOT / "build"]
    for d in dirs:
        if (d / name).is_file():
            return str(d / name)
    raise TestFailure(f"{name} not built (looked in "
                      f"{', '.join(map(str, dirs))})")


def wait_until(what, fn, timeout, interval=0.05):
    """Call fn() until it returns something true, which is returned; raise
    TestFailure after `timeout` seconds. fn may raise OSError (a node that
    is not up yet): that counts as not yet, and the last one is reported."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        if time.monotonic() >= deadline:
            more = f" (last error: {last})" if last else ""
            raise TestFailure(f"timed out after {timeout:g} s waiting for "
                              f"{what}{more}")
        time.sleep(interval)


# ---- HTTP ------------------------------------------------------------------

class Response:
    """One HTTP answer: status, headers (lower-case names), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"{self.status} {self.body[:200]!r}"


def request(host, port, method, path, body=None, headers=None, timeout=10.0):
    """One request on a new connection. `body`: a dict (sent as JSON),
    bytes or None. Raises OSError if the node cannot be reached."""
    hdrs = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                        data)
    finally:
        conn.close()


def read_response(f):
    """Read one HTTP/1.1 response from the binary file `f` (a socket's
    makefile("rb")): status line, headers, Content-Length body."""
    line = f.readline()
    if not line:
        raise TestFailure("connection closed before an answer")
    parts = line.decode("latin-1").split(" ", 2)
    check(len(parts) >= 2 and parts[0] == "HTTP/1.1",
          f"bad status line {line!r}")
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return Response(int(parts[1]), headers, body)


def raw_request(host, port, data, timeout=10.0):
    """Send raw bytes on a new connection and read one answer."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        with s.makefile("rb") as f:
            return read_response(f)


# ---- nodes and clusters ----------------------------------------------------

class Node:
    """One raftkv process. `prefix` is prepended to its command line (e.g.
    `ip netns exec NS`, which execs, so the PID is still raftkv's)."""

    def __init__(self, cluster, node_id, host, prefix=()):
        slot = cluster.slot
        self.cluster = cluster
        self.id = node_id
        self.host = host
        self.peer_port = PORT_BASE + 10 * slot + node_id
        self.http_port = self.peer_port + 300
        self.resp_port = self.peer_port + 600
        self.data_dir = cluster.dir / f"node{node_id}"
        self.log_path = cluster.dir / f"node{node_id}.log"
        self.prefix = list(prefix)
        self.proc = None
        self.exit_codes = []  # of every run so far: (signal sent, code)
        self.exit_expected = False  # killed, stopped, or meant to exit

    def __repr__(self):
        return f"node {self.id}"

    def command(self):
        return self.prefix + [binary("raftkv"), "--id", str(self.id),
                              "--config", str(self.cluster.conf),
                              "--data-dir", str(self.data_dir)]

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        self.exit_expected = False
        log = open(self.log_path, "ab")
        try:
            # A session of its own: a Ctrl-C meant for the runner must not
            # reach the node, which the runner then stops by PID.
            self.proc = subprocess.Popen(
                self.command(), cwd=self.cluster.dir,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        finally:
            log.close()

    def wait_up(self, timeout=10.0):
        """Wait until the node answers /status (its ports are open)."""
        wait_until(f"{self} to answer /status", self.status, timeout)

    def wait_exit(self, timeout=15.0):
        """Wait for a node that should exit by itself; return its code."""
        self.exit_expected = True
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"{self} still running after {timeout:g} s")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def crashed(self):
        """Why the node exited by itself, or None if it did not."""
        if self.exit_expected or self.proc is None or self.alive():
            return None
        lines = self.log_text().strip().splitlines()
        return (f"{self} exited by itself, code {self.proc.returncode}: "
                f"{lines[-1] if lines else '(empty log)'}")

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def kill(self):
        """kill -9, and reap."""
        if self.alive():
            self.exit_expected = True
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.exit_codes.append((signal.SIGKILL, self.proc.returncode))

    def stop(self, timeout=15.0):
        """SIGTERM, and reap() it. Returns the exit code (None if it had to
        be killed, or was not running)."""
        if not self.alive():
            return None
        self.proc.send_signal(signal.SIGTERM)
        return self.reap(timeout)

    def reap(self, timeout=15.0):
        """Wait for the exit after a SIGTERM, record the exit code, and
        SIGKILL the node if it is still running after `timeout`. (Only one
        SIGTERM: a second one kills a node that is stopping.)"""
        self.exit_expected = True
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            code = None
        self.exit_codes.append((signal.SIGTERM, code))
        return code

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        return request(self.host, self.http_port, method, path, body,
                       headers, timeout)

    def put(self, key, value, headers=None, timeout=10.0):
        return self.request("POST", "/kv", {"key": key, "value": value},
                            headers, timeout)

    def get(self, key, stale=False, timeout=10.0):
        query = "?stale=true" if stale else ""
        return self.request("GET", f"/kv/{key}{query}", timeout=timeout)

    def read(self, key, stale=False, timeout=10.0):
        """GET /kv/<key>, retried while the node answers 503 (an election)
        or cannot be reached, up to `timeout`; returns the last answer."""
        last = []

        def attempt():
            r = self.get(key, stale, timeout=3.0)
            last[:] = [r]
            return r.status != 503 and r
        try:
            return wait_until(f"{self} to read {short(key)}", attempt, timeout)
        except TestFailure:
            if last:
                return last[0]
            raise

    def status(self, timeout=2.0):
        """GET /status as a dict; raises OSError if unreachable."""
        r = self.request("GET", "/status", timeout=timeout)
        check(r.status == 200, f"{self}: /status answered {r}")
        return r.json()


class Cluster:
    """N nodes sharing one nodes.conf in a fresh directory. `hosts[i]` and
    `prefixes[i]` give node i+1 an address and a command prefix of its own
    (network namespaces); by default every node is on 127.0.0.1."""

    def __init__(self, workdir, slot, n, hosts=None, prefixes=None):
        assert 0 <= slot < SLOTS
        self.slot = slot
        self.dir = Path(workdir) / f"c{slot}"
        self.dir.mkdir(parents=True)
        self.conf = self.dir / "nodes.conf"
        hosts = hosts or ["127.0.0.1"] * n
        prefixes = prefixes or [()] * n
        self.nodes = [Node(self, i + 1, hosts[i], prefixes[i])
                      for i in range(n)]
        self.client_id = (int.from_bytes(os.urandom(8), "big") >> 1) or 1
        self.seq = 0  # last X-Request-Seq of write()
        with open(self.conf, "w") as f:
            f.write("# <ID> <HOST> <PEER_PORT> <HTTP_PORT> <RESP_PORT>\n")
            for nd in self.nodes:
                f.write(f"{nd.id} {nd.host} {nd.peer_port} {nd.http_port} "
                        f"{nd.resp_port}\n")

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def addrs(self):
        """host:port,... of the HTTP APIs, for raftkv-cli -c."""
        return ",".join(f"{n.host}:{n.http_port}" for n in self.nodes)

    def check_ports_free(self):
        """Fail early and clearly if another program holds one of our
        ports (only meaningful on 127.0.0.1)."""
        for nd in self.nodes:
            for port in (nd.peer_port, nd.http_port, nd.resp_port):
                s = socket.socket()
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((nd.host, port))
                except OSError as e:
                    raise TestFailure(f"port {nd.host}:{port} is taken ({e}):"
                                      " set RKV_TEST_PORT_BASE") from None
                finally:
                    s.close()

    def start(self):
        for nd in self.nodes:
            nd.start()

    def leader(self, among=None, timeout=15.0):
        """Wait until one of `among` (default: the live nodes) leads and
        every one of them that answers names it; return that node."""
        def find():
            for nd in self.nodes:
                check(not nd.crashed(), nd.crashed())
            nodes = among or [nd for nd in self.nodes if nd.alive()]
            seen = {}
            for nd in nodes:
                try:
                    seen[nd.id] = nd.status()
                except OSError:
                    pass
            leaders = [i for i, s in seen.items() if s["role"] == "leader"]
            if len(leaders) != 1 or len(seen) < len(nodes):
                return None
            lid = leaders[0]
            if all(s["leader"] == lid for s in seen.values()):
                return self.node(lid)
            return None
        return wait_until("one leader that every node follows", find, timeout)

    def followers(self, leader):
        return [nd for nd in self.nodes if nd is not leader]

    def write(self, method, path, body=None, nodes=None, timeout=15.0):
        """Send a write to whichever of `nodes` (default: the live ones)
        answers it other than with 503, retrying through elections and
        unreachable nodes with one X-Client-Id/X-Request-Seq pair, so that
        it is applied once. Returns (node that answered, Response)."""
        self.seq += 1
        hdrs = {"X-Client-Id": str(self.client_id),
                "X-Request-Seq": str(self.seq)}
        what = f"{method} {path} {short(body)}"

        def attempt():
            for nd in nodes or [nd for nd in self.nodes if nd.alive()]:
                try:
                    r = nd.request(method, path, body, hdrs, timeout=3.0)
                except OSError:
                    continue
                if r.status != 503:
                    return nd, r
            return None
        return wait_until(f"an answer to {what}", attempt, timeout)

    def put_any(self, key, value, nodes=None, timeout=15.0):
        """Write key=value through one of `nodes` (see write()) and
        require 200 {"ok": true}. Returns (node, log index)."""
        nd, r = self.write("POST", "/kv", {"key": key, "value": value},
                           nodes, timeout)
        check(r.status == 200 and r.json().get("ok") is True,
              f"POST /kv {short(key)}={short(value)} on {nd}: {r}")
        return nd, r.json()["index"]

    def put_ok(self, node, key, value, timeout=15.0):
        """put_any() through `node` alone; returns the log index."""
        return self.put_any(key, value, [node], timeout)[1]

    def wait_applied(self, nodes, index, timeout=10.0):
        """Wait until every node of `nodes` has applied `index`."""
        def done():
            return all(nd.status()["last_applied"] >= index for nd in nodes)
        wait_until(f"{nodes} applying index {index}", done, timeout)

    def stop(self):
        """SIGTERM every live node, by PID; SIGKILL any that hangs."""
        live = [nd for nd in self.nodes if nd.alive()]
        for nd in live:
            nd.signal(signal.SIGTERM)
        for nd in live:
            nd.reap()

    def kill(self):
        for nd in self.nodes:
            nd.kill()

    def problems(self):
        """What the logs and exit codes say went wrong: sanitizer reports,
        a node that exited by itself, a SIGTERM that did not end in exit
        code 0."""
        out = [nd.crashed() for nd in self.nodes if nd.crashed()]
        for nd in self.nodes:
            for line in nd.log_text().splitlines():
                if any(m in line for m in SANITIZER_MARKS):
                    out.append(f"{nd}: {line.strip()} (log {nd.log_path})")
                    break
            for sig, code in nd.exit_codes:
                if sig == signal.SIGTERM and code != 0:
                    out.append(f"{nd}: exit code {code} after SIGTERM "
                               f"(log {nd.log_path})")
        return out
