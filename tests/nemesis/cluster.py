"""The nemesis's cluster: N real raftkv processes, each in its own network
namespace (netns.py) or, without namespaces, on 127.0.0.1. Every process
is started, signalled and stopped by its PID; the PIDs are also written to
a file so that a later run can kill what a crashed run left behind. Each
node's stdout and stderr go to a log that is scanned for sanitizer
reports. Python standard library only.
"""

import http.client
import json
import os
import signal
import subprocess
import time
from pathlib import Path

PORT_BASE = 23000  # slot s, node i: peer 23000+100s+i, HTTP +10, RESP +20
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "assertion failed", "Assertion `")


def kill_leftovers(pid_file, marker):
    """SIGKILL the processes an earlier run started and left running: the
    PIDs in `pid_file` whose command line still contains `marker` (the run's
    nodes.conf path). The caller holds the slot's lock, so no live run owns
    them. Empties the file; returns how many were killed."""
    killed = 0
    try:
        pids = [int(x) for x in pid_file.read_text().split()]
    except (FileNotFoundError, ValueError):
        pids = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    pid_file.write_text("")
    return killed


class Node:
    """One raftkv process: state "up", "paused" (SIGSTOP) or "down"."""

    def __init__(self, cluster, node_id, host, prefix):
        self.cluster = cluster
        self.id = node_id
        self.host = host
        self.peer_port = PORT_BASE + 100 * cluster.slot + node_id
        self.http_port = self.peer_port + 10
        self.resp_port = self.peer_port + 20
        self.prefix = list(prefix)  # e.g. ip netns exec NS
        self.data_dir = cluster.dir / f"node{node_id}"
        self.log_path = cluster.dir / f"node{node_id}.log"
        self.proc = None
        self.state = "down"
        self.crashes = []  # exit codes of exits we did not cause

    def __repr__(self):
        return f"node {self.id}"

    def start(self):
        assert self.state == "down"
        cmd = self.prefix + [self.cluster.binary, "--id", str(self.id),
                             "--config", str(self.cluster.conf),
                             "--data-dir", str(self.data_dir),
                             *self.cluster.server_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        self.cluster.remember_pid(self.proc.pid)
        self.state = "up"

    def kill(self):
        """kill -9 (works on a paused process too), and reap."""
        if self.state != "down":
            self.check_exit()
        if self.state != "down":
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.state = "down"

    def pause(self):
        assert self.state == "up"
        self.proc.send_signal(signal.SIGSTOP)
        self.state = "paused"

    def resume(self):
        if self.state == "paused":
            self.proc.send_signal(signal.SIGCONT)
            self.state = "up"

    def check_exit(self):
        """Notice an exit we did not cause (a crash): record it, mark the
        node down. Returns True if it had exited."""
        if self.state == "down" or self.proc.poll() is None:
            return False
        self.crashes.append(self.proc.returncode)
        self.state = "down"
        return True

    def stop(self):
        """SIGTERM (after SIGCONT if paused); SIGKILL after 15 s. Returns
        the exit code, or None if it had to be killed or was down."""
        if self.check_exit() or self.state == "down":
            return None
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            code = None
        self.state = "down"
        return code

    def status(self, timeout=1.0):
        """GET /status as a dict; raises OSError or ValueError."""
        conn = http.client.HTTPConnection(self.host, self.http_port,
                                          timeout=timeout)
        try:
            conn.request("GET", "/status")
            r = conn.getresponse()
            body = r.read()
        except http.client.HTTPException as e:
            raise OSError(str(e)) from None
        finally:
            conn.close()
        if r.status != 200:
            raise ValueError(f"/status answered {r.status}")
        return json.loads(body)

    def sanitizer_report(self):
        """The first line of the log that looks like a sanitizer report or a
        failed assertion, or None."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            if any(m in line for m in SANITIZER_MARKS):
                return line.strip()
        return None


class Cluster:
    """N nodes sharing a nodes.conf in `workdir` (created fresh)."""

    def __init__(self, workdir, slot, binary, hosts, prefixes, server_args):
        """`hosts[i]` and `prefixes[i]` (command prefix) are node i+1's;
        PIDs are appended to `workdir`/../slot<slot>.pids."""
        self.dir = Path(workdir)
        self.slot = slot
        self.binary = binary
        self.server_args = list(server_args)
        self.conf = self.dir / "nodes.conf"
        self.pid_file = self.dir.parent / f"slot{slot}.pids"
        self.nodes = [Node(self, i + 1, hosts[i], prefixes[i])
                      for i in range(len(hosts))]
        with open(self.conf, "w") as f:
            for nd in self.nodes:
                f.write(f"{nd.id} {nd.host} {nd.peer_port} {nd.http_port} "
                        f"{nd.resp_port}\n")

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def remember_pid(self, pid):
        with open(self.pid_file, "a") as f:
            f.write(f"{pid}\n")

    def start(self):
        for nd in self.nodes:
            nd.start()

    def live(self):
        return [nd for nd in self.nodes if nd.state == "up"]

    def leader(self, timeout=0.5):
        """The node that claims leadership in the highest term among the
        live ones that answer, or None."""
        best = None
        for nd in self.live():
            try:
                st = nd.status(timeout)
            except (OSError, ValueError):
                continue
            if st.get("role") == "leader" and (
                    best is None or st["term"] > best[0]):
                best = (st["term"], nd)
        return best[1] if best else None

    def converged(self):
        """Every node up, one leader that all follow, and every node has
        applied the leader's commit index. Returns a reason string if not,
        None if so."""
        sts = {}
        for nd in self.nodes:
            if nd.state != "up":
                return f"{nd} is {nd.state}"
            try:
                sts[nd.id] = nd.status(1.0)
            except (OSError, ValueError) as e:
                return f"{nd}: /status: {e}"
        leaders = {s.get("leader") for s in sts.values()}
        if len(leaders) != 1 or None in leaders:
            return f"leaders seen: {sorted(map(str, leaders))}"
        commit = sts[leaders.pop()]["commit_index"]
        lag = [i for i, s in sts.items() if s["last_applied"] < commit]
        return f"nodes {lag} behind commit {commit}" if lag else None

    def wait_converged(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            why = self.converged()
            if why is None:
                return None
            if time.monotonic() > deadline:
                return why
            time.sleep(0.2)

    def stop(self):
        """Stop every node; returns {node id: exit code} of those that were
        running (None: had to be killed)."""
        return {nd.id: nd.stop() for nd in self.nodes if nd.state != "down"}
