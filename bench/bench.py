#!/usr/bin/env python3
"""`make bench` (issue 6): raftkv side by side with etcd and Redis, in one
run, on 127.0.0.1, with the same load generators and the same machine.

Started here, each with a fresh data directory under BENCH_DIR
(/tmp/raftkv-bench), on ports from BENCH_PORT_BASE (24000) up:
  raftkv  3 nodes, build/raftkv (RAFTKV=<path> to pick another), defaults
          (fsync on): peer 24001-3, HTTP 24101-3, RESP 24201-3
  etcd    3 members, Debian's etcd-server, defaults: client 24301-3,
          peer 24311-3
  Redis   appendonly yes with appendfsync always (24401) and everysec (24402)
Loads, each system in turn for every row so that they see the same machine:
  wrk -t1 (bench/wrk.lua), 64-byte values over 10000 keys, on the leader:
  writes, linearizable reads and local reads (raftkv ?stale=true, etcd
  serializable) at 1, 16, 64, 256 connections; raftkv through a follower at
  64. redis-benchmark SET and GET, 64-byte values, -r 100000, at 1, 16, 64
  clients, -P 1 and 16. etcdctl check perf --load=s (not with QUICK=1).
Every process started here is stopped by its PID on exit, also on Ctrl-C.
Prints one table and writes it, with the machine's facts, to
bench/RESULTS.md. Exits 1 if a load saw an error reply or a socket error.

Environment: QUICK=1 (about 2 minutes), PROFILE=1 (perf profile of the raftkv
leader under 64-connection writes), BENCH_DIR, BENCH_PORT_BASE, RAFTKV.
Python standard library only.
"""

import csv
import datetime
import http.client
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
SCRATCH = Path(os.environ.get("BENCH_DIR", "/tmp/raftkv-bench"))
PORT = int(os.environ.get("BENCH_PORT_BASE", "24000"))
QUICK = os.environ.get("QUICK", "0") == "1"
PROFILE = os.environ.get("PROFILE", "0") == "1"
RAFTKV = os.environ.get("RAFTKV", str(ROOT / "build/raftkv"))
NODES = (1, 2, 3)
KEYS = 10000
VALUE_BYTES = 64
REDIS_KEYSPACE = 100000

# Seconds per measured run.
WRITE_S, READ_S, RESP_RAFTKV_S, RESP_REDIS_S = \
    (2, 1, 1, 1) if QUICK else (10, 5, 3, 2)
HTTP_CONNS = (1, 16, 64, 256)
RESP_CLIENTS = (1, 16, 64)
FSYNC_SAMPLES = 500 if QUICK else 2000

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """Something the benchmark needs did not work; the message says what."""


# ---- processes --------------------------------------------------------------

class Procs:
    """Every server started by the benchmark; stop_all() stops each by its
    PID (SIGTERM, then SIGKILL after 10 s)."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, log):
        with open(log, "wb") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        self.procs.append((name, p))
        return p

    def stop_all(self):
        for _, p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"bench: {name} (PID {p.pid}) ignored SIGTERM, killing",
                      file=sys.stderr)
                p.kill()
                p.wait()
        self.procs = []

    def check_alive(self):
        for name, p in self.procs:
            if p.poll() is not None:
                raise BenchError(f"{name} (PID {p.pid}) exited with "
                                 f"{p.returncode}; see its log in {SCRATCH}")


def wait_until(what, fn, timeout):
    """Call fn() until it returns something true; BenchError after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, http.client.HTTPException, ValueError,
                KeyError) as e:
            last = e
        time.sleep(0.1)
    raise BenchError(f"timed out after {timeout} s waiting for {what}"
                     + (f" (last error: {last})" if last else ""))


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_call(port, method, path, body=None, timeout=2.0):
    """One HTTP request to 127.0.0.1:port; returns (status, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def prometheus(port):
    """The unlabelled samples of a /metrics page, as {name: float}."""
    status, body = http_call(port, "GET", "/metrics")
    if status != 200:
        raise BenchError(f"GET /metrics on {port}: status {status}")
    out = {}
    for line in body.decode().splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and "{" not in line:
            out[parts[0]] = float(parts[1])
    return out


def resp_call(port, *args, timeout=2.0):
    """One Redis command; returns the reply (str, int, None or
    ("error", message)). Raises OSError when nothing answers."""
    cmd = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        f = s.makefile("rb")
        line = f.readline().decode().rstrip("\r\n")
        if not line:
            raise OSError("connection closed without a reply")
        kind, rest = line[0], line[1:]
        if kind == "+":
            return rest
        if kind == "-":
            return ("error", rest)
        if kind == ":":
            return int(rest)
        if kind == "$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:n].decode()
        raise OSError(f"unexpected reply {line!r}")


# ---- the systems ------------------------------------------------------------

class Raftkv:
    """The 3-node raftkv cluster."""

    name = "raftkv"

    def __init__(self, procs):
        self.procs = procs
        self.dir = SCRATCH / "raftkv"
        self.http = {i: PORT + 100 + i for i in NODES}
        self.resp = {i: PORT + 200 + i for i in NODES}
        self.pids = {}
        self.leader = self.term = None

    def ports(self):
        return ([PORT + i for i in NODES] + list(self.http.values())
                + list(self.resp.values()))

    def start(self):
        self.dir.mkdir(parents=True)
        conf = self.dir / "nodes.conf"
        conf.write_text("".join(
            f"{i} 127.0.0.1 {PORT + i} {self.http[i]} {self.resp[i]}\n"
            for i in NODES))
        for i in NODES:
            p = self.procs.start(
                f"raftkv node {i}",
                [RAFTKV, "--id", str(i), "--config", str(conf),
                 "--data-dir", str(self.dir / f"node{i}")],
                self.dir / f"node{i}.log")
            self.pids[i] = p.pid

    def status(self, i):
        status, body = http_call(self.http[i], "GET", "/status")
        if status != 200:
            raise ValueError(f"status {status}")
        return json.loads(body)

    def find_leader(self):
        def agreed():
            st = [self.status(i) for i in NODES]
            leaders = {s["leader"] for s in st}
            lead = [s["id"] for s in st if s["role"] == "leader"]
            if len(lead) == 1 and leaders == {lead[0]}:
                return lead[0], st[0]["term"]
            return None
        self.leader, self.term = wait_until("a raftkv leader", agreed, 20)

    def first_write(self):
        body = json.dumps({"key": "bench-ready", "value": "x"})
        status, _ = http_call(self.http[self.leader], "POST", "/kv", body)
        if status != 200:
            raise BenchError(f"raftkv: first write answered {status}")

    def port(self, i):
        return self.http[i]

    def key_count(self):
        return self.status(self.leader)["keys"] - 1  # bench-ready

    def disk_counters(self):
        m = prometheus(self.http[self.leader])
        return m["raftkv_wal_fsyncs_total"], m["raftkv_wal_entries_total"]


class Etcd:
    """The 3-member etcd cluster (Debian's etcd-server, defaults)."""

    name = "etcd"

    def __init__(self, procs):
        self.procs = procs
        self.dir = SCRATCH / "etcd"
        self.client = {i: PORT + 300 + i for i in NODES}
        self.peer = {i: PORT + 310 + i for i in NODES}
        self.pids = {}
        self.leader = self.term = None

    def ports(self):
        return list(self.client.values()) + list(self.peer.values())

    def start(self):
        self.dir.mkdir(parents=True)
        cluster = ",".join(f"n{i}=http://127.0.0.1:{self.peer[i]}"
                           for i in NODES)
        for i in NODES:
            c = f"http://127.0.0.1:{self.client[i]}"
            p = f"http://127.0.0.1:{self.peer[i]}"
            proc = self.procs.start(
                f"etcd member {i}",
                ["etcd", "--name", f"n{i}", "--data-dir",
                 str(self.dir / f"n{i}.etcd"),
                 "--listen-client-urls", c, "--advertise-client-urls", c,
                 "--listen-peer-urls", p, "--initial-advertise-peer-urls", p,
                 "--initial-cluster", cluster,
                 "--initial-cluster-token", "raftkv-bench",
                 "--initial-cluster-state", "new"],
                self.dir / f"n{i}.log")
            self.pids[i] = proc.pid

    def member_status(self, i):
        status, body = http_call(self.client[i], "POST",
                                 "/v3/maintenance/status", "{}")
        if status != 200:
            raise ValueError(f"status {status}")
        st = json.loads(body)
        return st["header"]["member_id"], st["leader"], st["raftTerm"]

    def find_leader(self):
        def agreed():
            st = {i: self.member_status(i) for i in NODES}
            leaders = {s[1] for s in st.values()}
            lead = [i for i, s in st.items() if s[0] == s[1]]
            if len(lead) == 1 and len(leaders) == 1:
                return lead[0], st[lead[0]][2]
            return None
        self.leader, self.term = wait_until("an etcd leader", agreed, 30)

    def first_write(self):
        status, _ = http_call(self.client[self.leader], "POST", "/v3/kv/put",
                              '{"key":"YmVuY2gtcmVhZHk=","value":"eA=="}')
        if status != 200:
            raise BenchError(f"etcd: first write answered {status}")

    def key_count(self):
        # keys in [bench/, bench0): base64 of "bench/" and "bench0"
        status, body = http_call(
            self.client[self.leader], "POST", "/v3/kv/range",
            '{"key":"YmVuY2gv","range_end":"YmVuY2gw","count_only":true}')
        if status != 200:
            raise ValueError(f"status {status}")
        return int(json.loads(body).get("count", 0))

    def disk_counters(self):
        m = prometheus(self.client[self.leader])
        return (m["etcd_disk_wal_fsync_duration_seconds_count"],
                m["etcd_server_proposals_committed_total"])

    def port(self, i):
        return self.client[i]


class Redis:
    """One Redis server with the append-only file on."""

    leader = 1  # its one process, pids[1], is the one measured

    def __init__(self, procs, name, port, fsync):
        self.procs = procs
        self.name = name
        self.port = port
        self.fsync = fsync
        self.dir = SCRATCH / name
        self.pids = {}

    def ports(self):
        return [self.port]

    def start(self):
        self.dir.mkdir(parents=True)
        p = self.procs.start(
            self.name,
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
             "--appendfsync", self.fsync],
            self.dir / "redis.log")
        self.pids[1] = p.pid
        wait_until(self.name, lambda: resp_call(self.port, "PING") == "PONG",
                   10)

    def error_replies(self):
        info = resp_call(self.port, "INFO", "stats")
        m = re.search(r"total_error_replies:(\d+)", info)
        return int(m.group(1)) if m else None


# ---- measuring --------------------------------------------------------------

def proc_cpu_s(pid):
    """CPU seconds (user + system) used so far by process `pid`."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_idle():
    """(idle + iowait jiffies, all jiffies) from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v)


class Sampler:
    """CPU of the servers, of the load generator and of the machine, and the
    leader's fsync counters, over one measured run."""

    def __init__(self, system, counters):
        self.system = system
        self.counters = counters
        self.t = time.monotonic()
        self.cpu = {i: proc_cpu_s(p) for i, p in system.pids.items()}
        self.idle = machine_idle()
        self.client = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.disk = system.disk_counters() if counters else None

    def finish(self):
        dt = time.monotonic() - self.t
        cpu = {i: 100 * (proc_cpu_s(p) - self.cpu[i]) / dt
               for i, p in self.system.pids.items()}
        idle, total = machine_idle()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {
            "leader_cpu": cpu[self.system.leader],
            "follower_cpu": [c for i, c in cpu.items()
                             if i != self.system.leader],
            "idle": 100 * (idle - self.idle[0]) / max(1, total - self.idle[1]),
            "client_cpu": 100 * (ru.ru_utime + ru.ru_stime
                                 - self.client.ru_utime
                                 - self.client.ru_stime) / dt,
        }
        if self.disk:
            fs, items = self.system.disk_counters()
            out["fsyncs_per_s"] = (fs - self.disk[0]) / dt
            out["per_fsync"] = ((items - self.disk[1])
                                / max(1.0, fs - self.disk[0]))
        return out


def run_wrk(port, api, op, conns, seconds, local=False, extra_env=None):
    """One wrk run; returns {"rps", "p50", "p99" (ms), "errors", "note"}."""
    env = dict(os.environ, BENCH_API=api, BENCH_OP=op, BENCH_KEYS=str(KEYS),
               BENCH_LOCAL="1" if local else "0", **(extra_env or {}))
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s",
            "-s", str(BENCH / "wrk.lua"), f"http://127.0.0.1:{port}"]
    r = subprocess.run(argv, env=env, capture_output=True, text=True,
                       timeout=seconds + 60)
    m = re.search(r"^BENCH (.*)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        return {"error": f"wrk failed ({r.returncode}): "
                         f"{(r.stderr or r.stdout).strip()[-200:]}"}
    v = {k: float(x) for k, x in (kv.split("=") for kv in m.group(1).split())}
    sock = v["connect"] + v["read"] + v["write"] + v["timeout"]
    note = []
    if v["status_errors"]:
        note.append(f"{v['status_errors']:.0f} non-2xx")
    if sock:
        note.append(f"{sock:.0f} socket errors")
    return {"rps": v["requests"] / (v["duration_us"] / 1e6),
            "p50": v["p50_us"] / 1000, "p99": v["p99_us"] / 1000,
            "errors": int(v["status_errors"] + sock), "note": ", ".join(note)}


def redis_benchmark_once(port, test, clients, pipeline, n):
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test,
            "-n", str(n), "-c", str(clients), "-P", str(pipeline),
            "-r", str(REDIS_KEYSPACE), "-d", str(VALUE_BYTES), "--csv"]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return {"error": "redis-benchmark did not finish within 120 s"}
    rows = list(csv.reader(r.stdout.splitlines()))
    err = [ln for ln in (r.stdout + r.stderr).splitlines()
           if ln.startswith("Error")]
    if r.returncode != 0 or err or len(rows) < 2:
        why = err[0] if err else (r.stderr.strip() or "no result")[-200:]
        return {"error": f"redis-benchmark stopped: {why}"}
    v = rows[1]
    return {"rps": float(v[1]), "p50": float(v[4]), "p99": float(v[6]),
            "errors": 0, "note": ""}


def run_redis_benchmark(port, test, clients, pipeline, seconds):
    """A short probe run to learn the rate, then a run of about `seconds`.
    redis-benchmark stops at the first error reply, so an error shows as a
    result with "error"."""
    floor = max(100, 4 * clients * pipeline)
    probe = redis_benchmark_once(port, test, clients, pipeline, floor)
    if "error" in probe:
        return probe
    # A probe too quick to time (Redis with pipelining) reports an
    # infinite rate: then the cap decides.
    rate = probe["rps"]
    n = 3000000 if not math.isfinite(rate) else \
        min(3000000, max(floor, int(rate * seconds)))
    return redis_benchmark_once(port, test, clients, pipeline, n)


# ---- machine facts ----------------------------------------------------------

def fsync_probe(n):
    """n x (append 4 KiB + fdatasync) in the scratch dir: p50, p99 (ms) and
    syncs/s."""
    path = SCRATCH / "fsync-probe"
    block = b"\0" * 4096
    lat = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        t_all = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            lat.append(time.perf_counter() - t)
        total = time.perf_counter() - t_all
    finally:
        os.close(fd)
        path.unlink()
    lat.sort()
    return {"p50": 1000 * lat[n // 2], "p99": 1000 * lat[n * 99 // 100],
            "per_s": n / total}


def first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError as e:
        return f"({e})"
    out = (r.stdout or r.stderr).strip().splitlines()
    return out[0] if out else "?"


def machine_facts():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    fs = "?"
    best = ""
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, kind = line.split()[:3]
            if str(SCRATCH).startswith(mnt) and len(mnt) > len(best):
                best, fs = mnt, f"{kind} on {dev} (mounted at {mnt})"
    git = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory": f"{mem_kib / 1048576:.1f} GiB",
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "scratch": f"{SCRATCH}: {fs}",
        "raftkv": first_line([RAFTKV, "--version"]) + f" (git {git}"
        + (", with uncommitted changes)" if dirty else ")"),
        "etcd": first_line(["etcd", "--version"]),
        "redis": first_line(["redis-server", "--version"]),
        "wrk": first_line(["wrk", "-v"]),
        "load_start": os.getloadavg(),
    }


# ---- the loads --------------------------------------------------------------

W_WRITE = "write"
W_LIN = "read, linearizable"
W_LOCAL = "read, local (raftkv stale, etcd serializable)"
W_FWRITE = "write through a follower"
W_FLIN = "read, linearizable, through a follower"
HTTP_WORKLOADS = (W_WRITE, W_LIN, W_LOCAL, W_FWRITE, W_FLIN)
RESP_WORKLOADS = tuple(f"{t} {'-P 16' if p > 1 else '-P 1'}"
                       for t in ("SET", "GET") for p in (1, 16))


class Run:
    """One benchmark run: the systems, and what was measured."""

    def __init__(self, procs):
        self.procs = procs
        self.rk = Raftkv(procs)
        self.et = Etcd(procs)
        self.always = Redis(procs, "redis-always", PORT + 401, "always")
        self.everysec = Redis(procs, "redis-everysec", PORT + 402, "everysec")
        self.rows = {}  # (workload, conns) -> {system name: result}
        self.notes = []  # leader changes, one line each
        self.failures = []  # errors outside the rows, one line each
        self.resp_available = False
        self.checkperf = None
        self.profile = None

    def start(self):
        systems = (self.rk, self.et, self.always, self.everysec)
        busy = [p for s in systems for p in s.ports() if not port_free(p)]
        if busy:
            raise BenchError(f"ports in use: {busy} (set BENCH_PORT_BASE)")
        if not os.access(RAFTKV, os.X_OK):
            raise BenchError(f"{RAFTKV} not built (run make first)")
        for s in systems:
            s.start()
        for s in (self.rk, self.et):
            s.find_leader()
            s.first_write()
        print(f"bench: raftkv leader node {self.rk.leader}, etcd leader "
              f"member {self.et.leader}", flush=True)

    def record(self, workload, conns, system, result):
        self.rows.setdefault((workload, conns), {})[system] = result
        self.procs.check_alive()
        r = result
        shown = (r["error"] if "error" in r else
                 f"{r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, "
                 f"p99 {r['p99']:.2f} ms" + (f", {r['note']}" if r["note"]
                                             else ""))
        print(f"  {workload:<46} {conns:>4} {system:<15} {shown}", flush=True)

    def leader_port(self, system, follower=False, before=""):
        """The HTTP port of the current leader (or of the follower with the
        lowest id), looked up anew so that every row loads the node it
        says; a leader change since the last look is noted."""
        old = (system.leader, system.term)
        system.find_leader()
        if (system.leader, system.term) != old:
            self.notes.append(
                f"{system.name}: the leader changed (node {old[0]}, term "
                f"{old[1]} -> node {system.leader}, term {system.term}), "
                f"seen before {before}")
        if follower:
            return system.port(min(i for i in NODES if i != system.leader))
        return system.port(system.leader)

    def wrk(self, workload, conns, system, op, seconds, local=False,
            follower=False, counters=False):
        port = self.leader_port(system, follower,
                                f"the HTTP {workload} run at {conns} conns")
        s = Sampler(system, counters)
        r = run_wrk(port, system.name, op, conns, seconds, local)
        if "error" not in r:
            r["cpu"] = s.finish()
        self.record(workload, conns, system.name, r)

    def preload(self, system):
        """Write every key once, in order, until all KEYS are there. A round
        starts a little below the count reached, to cover writes still in
        flight when the previous round stopped."""
        n = 0
        for _ in range(10):
            first = str(max(0, n - 256))
            port = self.leader_port(system, before="a preload round")
            r = run_wrk(port, system.name, "load", 64, 3,
                        extra_env={"BENCH_FIRST": first})
            if "error" in r:
                raise BenchError(f"{system.name} preload: {r['error']}")
            if r["errors"]:
                self.failures.append(f"{system.name} preload: {r['note']}")
            n = system.key_count()
            if n >= KEYS:
                return
        raise BenchError(f"{system.name}: {n} of {KEYS} keys after preload")

    def http_loads(self):
        rk, et = self.rk, self.et
        print("bench: preloading 10000 keys into raftkv and etcd", flush=True)
        self.preload(rk)
        self.preload(et)
        for c in HTTP_CONNS:
            self.wrk(W_WRITE, c, rk, "put", WRITE_S, counters=True)
            self.wrk(W_WRITE, c, et, "put", WRITE_S, counters=True)
        for c in HTTP_CONNS:
            self.wrk(W_LIN, c, rk, "get", READ_S)
            self.wrk(W_LIN, c, et, "get", READ_S)
        for c in HTTP_CONNS:
            self.wrk(W_LOCAL, c, rk, "get", READ_S, local=True)
            self.wrk(W_LOCAL, c, et, "get", READ_S, local=True)
        self.wrk(W_FWRITE, 64, rk, "put", READ_S, follower=True,
                 counters=True)
        self.wrk(W_FLIN, 64, rk, "get", READ_S, follower=True)

    def resp_one(self, workload, clients, target, port, seconds):
        errs = target.error_replies() if isinstance(target, Redis) else None
        test, pipeline = workload.split(" -P ")
        s = Sampler(target, False)
        r = run_redis_benchmark(port, test.lower(), clients, int(pipeline),
                                seconds)
        if "error" not in r:
            r["cpu"] = s.finish()
            if errs is not None:
                r["errors"] = target.error_replies() - errs
                r["note"] = f"{r['errors']} error replies" if r["errors"] \
                    else ""
        self.record(workload, clients, target.name, r)

    def resp_loads(self):
        self.leader_port(self.rk, before="the RESP runs")
        try:
            self.resp_available = resp_call(self.rk.resp[self.rk.leader],
                                            "PING") == "PONG"
        except OSError:
            self.resp_available = False
        if not self.resp_available:
            print("bench: raftkv RESP: not available", flush=True)
        for w in RESP_WORKLOADS:
            for c in RESP_CLIENTS:
                if self.resp_available:
                    self.leader_port(self.rk, before=f"the RESP {w} run at "
                                     f"{c} clients")
                    self.resp_one(w, c, self.rk, self.rk.resp[self.rk.leader],
                                  RESP_RAFTKV_S)
                for r in (self.always, self.everysec):
                    self.resp_one(w, c, r, r.port, RESP_REDIS_S)

    def etcd_check_perf(self):
        eps = ",".join(f"127.0.0.1:{p}" for p in self.et.client.values())
        print("bench: etcdctl check perf --load=s (60 s)", flush=True)
        r = subprocess.run(
            ["etcdctl", f"--endpoints={eps}", "check", "perf", "--load=s",
             "--auto-compact", "--auto-defrag"],
            env=dict(os.environ, ETCDCTL_API="3"), capture_output=True,
            text=True, timeout=240)
        lines = [ln.strip() for ln in (r.stdout + r.stderr).splitlines()
                 if ln.strip().startswith(("PASS", "FAIL"))]
        self.checkperf = lines or [f"no verdict (exit {r.returncode}): "
                                   f"{r.stderr.strip()[-200:]}"]
        print("  " + "; ".join(self.checkperf), flush=True)

    def profile_leader(self):
        """Where the raftkv leader spends its time under 64-connection writes:
        on the CPU (perf record), and blocked in system calls (perf trace)."""
        if shutil.which("perf") is None:
            self.profile = {"error": "perf not installed"}
            return
        port = self.leader_port(self.rk, before="the profile")
        pid = self.rk.pids[self.rk.leader]
        data = SCRATCH / "perf.data"
        print(f"bench: profiling the raftkv leader (PID {pid}) under "
              f"64-connection writes, 2 x {WRITE_S} s", flush=True)
        self.profile = {}
        for key, argv in (
                ("cpu_load", ["perf", "record", "-e", "cpu-clock", "-F", "999",
                              "--call-graph", "dwarf,16384", "-o", str(data)]),
                ("trace_load", ["perf", "trace", "-s", "-o",
                                str(SCRATCH / "perf-syscalls.txt")])):
            perf = subprocess.Popen(
                argv + ["-p", str(pid), "--", "sleep", str(WRITE_S)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                self.profile[key] = run_wrk(port, "raftkv", "put", 64,
                                            WRITE_S)
                perf.wait(timeout=60)
            finally:
                if perf.poll() is None:  # interrupted
                    perf.kill()
                    perf.wait()
        for key, extra in (("self", ["--no-children", "--sort", "sym"]),
                           ("children", ["--children", "--sort", "sym"]),
                           ("dso", ["--no-children", "--sort", "dso"])):
            out = subprocess.run(
                ["perf", "report", "-i", str(data), "--stdio", "-g", "none",
                 "--percent-limit", "0.5"] + extra,
                capture_output=True, text=True, timeout=600).stdout
            (SCRATCH / f"perf-{key}.txt").write_text(out)
            # Lines "  12.34%  [.] symbol", without unresolved addresses.
            self.profile[key] = [
                ln.strip() for ln in out.splitlines()
                if re.match(r"\s*\d+\.\d+%", ln)
                and not re.search(r"\] 0x[0-9a-f]+$", ln)][:20]
        self.profile["syscalls"] = syscall_summary(
            (SCRATCH / "perf-syscalls.txt").read_text(), pid)


def syscall_summary(text, pid):
    """From `perf trace -s` output for process `pid`: the system calls that
    took the most time in the event loop (the thread whose id is the pid)
    and, summed, in libuv's thread pool (the other threads), as a list of
    (thread, syscall, calls, total ms), largest first within a thread."""
    sums = {}
    thread = None
    for line in text.splitlines():
        m = re.match(r"\s*\S+ \((\d+)\), \d+ events", line)
        if m:
            thread = ("event loop" if int(m.group(1)) == pid
                      else "thread pool")
            continue
        f = line.split()
        if thread and len(f) >= 4 and f[1].isdigit() and f[0].isidentifier():
            calls, ms = sums.get((thread, f[0]), (0, 0.0))
            sums[(thread, f[0])] = (calls + int(f[1]), ms + float(f[3]))
    out = [(t, call, calls, ms) for (t, call), (calls, ms) in sums.items()]
    out.sort(key=lambda r: (r[0] != "event loop", -r[3]))
    return out

# ---- the report -------------------------------------------------------------

def fmt_ms(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def cell(r):
    if r is None:
        return "–"
    if "error" in r:
        return "error"
    return f"{r['rps']:,.0f} ({fmt_ms(r['p50'])} / {fmt_ms(r['p99'])})"


def ratio(a, b):
    if not a or not b or "error" in a or "error" in b:
        return None
    return a["rps"] / b["rps"]


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}"


def row_errors(cells):
    bad = [f"{name}: {r['error'] if 'error' in r else r['note']}"
           for name, r in cells.items() if "error" in r or r["errors"]]
    return "; ".join(bad) if bad else "0"


def results_table(run):
    lines = ["| workload | conns | raftkv | etcd | Redis aof always "
             "| Redis aof everysec | raftkv ÷ etcd "
             "| raftkv ÷ Redis always / everysec | errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for w in HTTP_WORKLOADS + RESP_WORKLOADS:
        for (wl, c), cells in run.rows.items():
            if wl != w:
                continue
            rk = cells.get("raftkv")
            raftkv = cell(rk)
            if w in RESP_WORKLOADS and not run.resp_available:
                raftkv = "not available"
            vs_redis = "–"
            if rk and "redis-always" in cells:
                vs_redis = (fmt_ratio(ratio(rk, cells["redis-always"])) + " / "
                            + fmt_ratio(ratio(rk, cells["redis-everysec"])))
            api = "RESP" if w in RESP_WORKLOADS else "HTTP"
            lines.append(
                f"| {api} {w} | {c} | {raftkv} | {cell(cells.get('etcd'))} | "
                f"{cell(cells.get('redis-always'))} | "
                f"{cell(cells.get('redis-everysec'))} | "
                f"{fmt_ratio(ratio(rk, cells.get('etcd')))} | {vs_redis} | "
                f"{row_errors(cells)} |")
    return lines


def targets(run):
    """The four targets of issue 6, each with what was measured."""
    def get(w, c, s):
        r = run.rows.get((w, c), {}).get(s)
        return None if r is None or "error" in r else r

    def rps(r):
        return r and f"{r['rps']:,.0f}/s"

    def p99(r):
        return r and f"{fmt_ms(r['p99'])} ms"

    rows = []
    for w, goal in ((W_WRITE, 2.0), (W_LIN, 3.0)):
        a, b = get(w, 64, "raftkv"), get(w, 64, "etcd")
        x = ratio(a, b)
        rows.append((f"HTTP {w} throughput, 64 conns (vs etcd)", rps(a),
                     rps(b), x, f"≥ {goal:g}×", x is not None and x >= goal))
    a, b = get(W_WRITE, 1, "raftkv"), get(W_WRITE, 1, "etcd")
    x = a and b and a["p99"] / b["p99"]
    rows.append(("HTTP write p99 latency, 1 conn (vs etcd)", p99(a), p99(b),
                 x, "≤ 1×", x is not None and x <= 1.0))
    a, b = get("SET -P 1", 64, "raftkv"), get("SET -P 1", 64, "redis-always")
    x = ratio(a, b)
    rows.append(("RESP SET throughput, 64 clients (vs Redis aof always)",
                 rps(a) if run.resp_available else "raftkv RESP: not "
                 "available", rps(b), x, "≥ 0.5×",
                 x is not None and x >= 0.5))
    out = ["| target | raftkv | reference | ratio | goal | met |",
           "|---|---|---|---|---|---|"]
    for what, a, b, x, goal, met in rows:
        verdict = ("not measured" if x is None else
                   "**yes**" if met else "**no**")
        out.append(f"| {what} | {a or '–'} | {b or '–'} | {fmt_ratio(x)} | "
                   f"{goal} | {verdict} |")
    return out


def time_table(run):
    out = ["| workload | conns | system | req/s | leader CPU % "
           "| each follower CPU % | wrk CPU % | machine idle % "
           "| leader WAL fsyncs/s | writes per fsync |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for (w, c), cells in run.rows.items():
        if w in RESP_WORKLOADS or (w != W_WRITE and c != 64):
            continue
        for name, r in cells.items():
            if "cpu" not in r:
                continue
            u = r["cpu"]
            fol = " / ".join(f"{x:.0f}" for x in u["follower_cpu"])
            fs = (f"{u['fsyncs_per_s']:,.0f}" if "fsyncs_per_s" in u
                  else "–")
            per = f"{u['per_fsync']:.1f}" if "per_fsync" in u else "–"
            out.append(f"| {w} | {c} | {name} | {r['rps']:,.0f} | "
                       f"{u['leader_cpu']:.0f} | {fol} | "
                       f"{u['client_cpu']:.0f} | {u['idle']:.0f} | {fs} | "
                       f"{per} |")
    return out


def machine_table(f, fs_before, fs_after):
    def fsync(x):
        return (f"p50 {x['p50']:.2f} ms, p99 {x['p99']:.2f} ms, "
                f"{x['per_s']:,.0f} syncs/s")
    return [
        "| item | value |", "|---|---|",
        f"| cores (`nproc`) | {f['cores']} |",
        f"| CPU | {f['cpu']} |",
        f"| memory | {f['memory']} |",
        f"| OS, kernel | {f['os']}, Linux {f['kernel']} |",
        f"| scratch dir | {f['scratch']} |",
        f"| fsync, 4 KiB append + fdatasync, n={FSYNC_SAMPLES}, before the "
        f"loads | {fsync(fs_before)} |",
        f"| the same, after the loads | {fsync(fs_after)} |",
        f"| load average (1/5/15 min) at start | "
        f"{' / '.join(f'{x:.2f}' for x in f['load_start'])} |",
        f"| software | {f['raftkv']}; {f['etcd']}; {f['redis']}; "
        f"{f['wrk']} |",
    ]


def correctness(run):
    bad = [f"{w} {c} {name}: {r.get('error') or r['note']}"
           for (w, c), cells in run.rows.items()
           for name, r in cells.items() if "error" in r or r["errors"]]
    out = ["- wrk: replies with status > 399 and socket errors are counted "
           "per run; redis-benchmark stops at the first error reply, and "
           "Redis's `total_error_replies` is compared before and after each "
           "run."]
    out += [f"- {x}" for x in bad + run.failures]
    if not bad and not run.failures:
        out.append("- Every run: 0 non-2xx, 0 socket errors, 0 error "
                   "replies.")
    out += [f"- {x}" for x in run.notes]
    if not run.notes:
        out.append("- Both leaders stayed the same through the run.")
    out.append(f"- {KEYS} keys were preloaded in raftkv and etcd (counted) "
               "before the reads.")
    return out


def profile_section(run):
    p = run.profile
    if "error" in p:
        return [f"Not profiled: {p['error']}."]
    out = ["On the CPU: `perf record -e cpu-clock -F 999 --call-graph dwarf "
           f"-p <leader>` for {WRITE_S} s under `wrk -c64` writes on the "
           f"leader ({cell(p['cpu_load'])} while profiled). Full reports "
           f"in {SCRATCH}/perf-*.txt.", ""]
    for key, title in (("self", "self time by symbol"),
                       ("children", "time including callees, by symbol"),
                       ("dso", "self time by binary")):
        out += [f"{title}:", "", "```"] + p[key] + ["```", ""]
    out += ["`[k] pvm_irq_enable` is this VM's paravirtual interrupt "
            "enable: kernel work done with interrupts off is charged to it.",
            "", "In system calls: `perf trace -s -p <leader>` for "
            f"{WRITE_S} s under the same load ({cell(p['trace_load'])}; "
            "tracing slows the node). Time as % of the run; the thread "
            "pool's is summed over its threads. epoll_wait and futex are "
            "waiting for work.", "",
            "| thread | system call | calls | total ms | % of the run |",
            "|---|---|---|---|---|"]
    shown = {}
    for thread, call, calls, ms in p["syscalls"]:
        shown[thread] = shown.get(thread, 0) + 1
        if shown[thread] <= 5:
            out.append(f"| {thread} | {call} | {calls} | {ms:.0f} | "
                       f"{100 * ms / (1000 * WRITE_S):.1f} |")
    return out

def command():
    """The command line of this run, with the settings that were given."""
    env = " ".join(f"{k}={os.environ[k]}" for k in
                   ("QUICK", "PROFILE", "RAFTKV", "BENCH_DIR",
                    "BENCH_PORT_BASE") if os.environ.get(k))
    return f"{env} make bench" if env else "make bench"


def report(run, facts, fs_before, fs_after, started, elapsed):
    md = [
        "# raftkv benchmark: side by side with etcd and Redis", "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, with "
        f"`{command()}` (bench/bench.sh, then bench/bench.py), "
        f"{'a QUICK run: short loads' if QUICK else 'the full run'}. "
        "Every system ran on this machine in the same run; compare figures "
        "of one run only.", ""]
    if facts["load_start"][0] > 0.5:
        md += [f"**Noisy:** the machine was busy when the run started (load "
               f"average {facts['load_start'][0]:.2f} over the last minute): "
               "other work shared the cores, so the figures are noisy.", ""]
    md += ["## Machine", ""] + machine_table(facts, fs_before, fs_after)
    md += ["", "## Results", "",
           "Each cell: **req/s (p50 / p99 latency in ms)**. HTTP rows: "
           "`wrk -t1 -c<conns>`, 64-byte values over 10000 keys, on the "
           f"leader, {WRITE_S} s per write run and {READ_S} s per read run. "
           "RESP rows: `redis-benchmark -c <clients> -P <1|16> -r 100000 "
           f"-d 64`, about {RESP_RAFTKV_S} s per raftkv run and "
           f"{RESP_REDIS_S} s per Redis run. Ratios are of throughput.", ""]
    md += results_table(run)
    md += ["", "## Issue 6 targets", ""] + targets(run)
    md += ["", "## Where the time goes", "",
           "CPU as % of one core (the machine has "
           f"{100 * facts['cores']}%), per process from procfs over each run. "
           "Writes per fsync: raftkv's WAL entries per WAL fsync, etcd's "
           "committed proposals per WAL fsync, both on the leader.", ""]
    md += time_table(run)
    md += ["", "## etcdctl check perf --load=s", ""]
    md += ([f"- {x}" for x in run.checkperf] if run.checkperf
           else ["Not run (QUICK=1)."])
    md += ["", "## Correctness", ""] + correctness(run)
    if run.profile:
        md += ["", "## Hot spots of the raftkv leader", ""]
        md += profile_section(run)
    md += ["", "## Setup", "",
           "- raftkv: 3 nodes, `build/raftkv --id N --config nodes.conf "
           "--data-dir DIR`, defaults (fsync on).",
           "- etcd: 3 members, Debian's etcd-server, defaults (fsync on, "
           "heartbeat 100 ms), HTTP/JSON gateway `/v3/kv/put` and "
           "`/v3/kv/range`, keys and values in base64.",
           "- Redis: one server per setting, `--appendonly yes "
           "--appendfsync always|everysec --save ''`.",
           "- All on 127.0.0.1; the load generators share the cores with "
           "the servers. wrk latencies are closed-loop (no correction for "
           "coordinated omission).", ""]
    return "\n".join(md)


def fresh_scratch():
    """Empty BENCH_DIR, but only one made here (holding .raftkv-bench)."""
    mark = SCRATCH / ".raftkv-bench"
    if SCRATCH.exists() and not mark.exists() and any(SCRATCH.iterdir()):
        raise BenchError(f"{SCRATCH} exists and was not made by the "
                         "benchmark; remove it or set BENCH_DIR")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    mark.touch()


def main():
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def on_signal(signum, _frame):
        for sig in signals:  # a second signal must not cut the clean-up
            signal.signal(sig, signal.SIG_IGN)
        print(f"bench: signal {signum}, stopping everything", file=sys.stderr)
        raise SystemExit(128 + signum)
    for sig in signals:
        signal.signal(sig, on_signal)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    procs = Procs()
    try:
        fresh_scratch()
        facts = machine_facts()
        fs_before = fsync_probe(FSYNC_SAMPLES)
        run = Run(procs)
        run.start()
        run.http_loads()
        run.resp_loads()
        if not QUICK:
            run.etcd_check_perf()
        if PROFILE:
            run.profile_leader()
        procs.stop_all()
        fs_after = fsync_probe(FSYNC_SAMPLES)
    except (BenchError, subprocess.TimeoutExpired) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
    text = report(run, facts, fs_before, fs_after, started,
                  time.monotonic() - t0)
    (BENCH / "RESULTS.md").write_text(text)
    print()
    print(text)
    print(f"bench: wrote {BENCH / 'RESULTS.md'}; logs in {SCRATCH}")
    bad = any("error" in r or r["errors"] for cells in run.rows.values()
              for r in cells.values())
    return 1 if bad or run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
