#!/usr/bin/env python3
"""Jepsen-style fault test of raftkv (issue 7): a 5-node cluster of real
raftkv processes, concurrent clients recording a history (recorder.py), a
seeded schedule of faults, then healing, a final read of every key on
every node, and the linearizability check (checker.py).

    tests/nemesis/nemesis.py [--seed N] [--duration S] [--binary PATH]
                             [--planted-bug] [--slot K] [--no-netns] [-v]

Faults: kill -9 and restart of a random node, of the leader, or of a
majority at once (the committed state must come back from disk); SIGSTOP /
SIGCONT of a random node or of the leader; partitions built from network
namespaces (netns.py): majority/minority, the leader isolated, a bridge
(one node sees both sides); and combinations (a partition plus a kill or a
pause). Without root or iproute2 (or with --no-netns) the nodes run on
127.0.0.1 and partitions are left out, as the output says.

The history is kept in build/nemesis/history-<seed>.jsonl (history-bug-
<seed>.jsonl for --planted-bug); node logs and data in build/nemesis/
run<slot>/, which the next run of the slot replaces. Exit 0 iff the history
is linearizable, no acknowledged write was lost, every node recovered and
no node log has a sanitizer report. With --planted-bug the server is built
with RKV_BUG_LOCAL_READS (every node answers reads from local state) and
exit 0 means the checker caught it: "linearizable: no".

Slots (default 0, and 1 for --planted-bug) let two runs share the machine:
a slot has its own lock, ports (23000 + 100 * slot + ...), namespaces and
subnet (10.77.<slot>.0/24). Leftovers of a crashed run of the same slot
(namespaces, processes) are removed first.
"""

import argparse
import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))

import checker  # noqa: E402
import netns  # noqa: E402
from cluster import Cluster, kill_leftovers  # noqa: E402
from recorder import History, Recorder, final_reads  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "build" / "nemesis"
N_NODES = 5
BUG_BUILD = "build/bug-local-reads"
REQUEST_TIMEOUT_MS = 1500  # server: a write's outcome is unknown after this
CLIENT_TIMEOUT_S = 3.0     # client: gives up (outcome unknown) after this
SNAPSHOT_ENTRIES = 500     # snapshots, and InstallSnapshot on restarts
HEAL_S = 8                 # the last seconds run on a healed cluster

# Fault menu: (kind, weight). Partitions need namespaces.
MENU = (("kill", 2), ("kill-leader", 2), ("kill-majority", 1), ("pause", 2),
        ("pause-leader", 2), ("partition-halves", 2), ("partition-leader", 2),
        ("partition-bridge", 2), ("combined", 3))
PARTITIONS = ("partition-halves", "partition-leader", "partition-bridge")


class Nemesis:
    """Injects faults on a schedule drawn from `rng`; every fault is undone
    before the next one starts, and heal() undoes everything."""

    def __init__(self, cluster, net, rng, log, clock, first=()):
        self.cluster = cluster
        self.net = net  # None: no partitions
        self.rng = rng
        self.log = log
        self.clock = clock  # the history's clock, ns
        self.first = list(first)  # kinds to inject first, in order
        self.counts = {}  # kind -> times injected
        self.episodes = []  # (start ns, end ns, description)

    def count(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def up_node(self):
        choices = self.cluster.live()
        return self.rng.choice(choices) if choices else None

    def leader_or_random(self, kind):
        """The leader, counted as `kind`-leader; without one, a random
        node, counted as plain `kind`."""
        nd = self.cluster.leader()
        if nd is None:
            nd = self.up_node()
            if nd is not None:
                self.count(kind)
        else:
            self.count(f"{kind}-leader")
        return nd

    def kill(self, nd, undo):
        nd.kill()
        undo.append(("restart", nd))

    def pause(self, nd, undo):
        nd.pause()
        undo.append(("resume", nd))

    def partition(self, kind, undo):
        ids = [nd.id for nd in self.cluster.nodes]
        self.rng.shuffle(ids)
        if kind == "partition-leader":
            lead = self.cluster.leader()
            if lead is None:
                kind = "partition-halves"
            else:
                ids.remove(lead.id)
                ids.insert(0, lead.id)
        if kind == "partition-leader":
            sides = (ids[:1], ids[1:])
        elif kind == "partition-halves":
            sides = (ids[:2], ids[2:])
        else:  # bridge: ids[2] sees both {ids[0], ids[1]} and the rest
            sides = (ids[:2], ids[3:])
        self.net.cut(*sides)
        self.count(kind)
        undo.append(("heal", None))
        return f"{kind} {sides[0]} | {sides[1]}" + (
            f" (bridge {ids[2]})" if kind == "partition-bridge" else "")

    def inject(self, kind, undo):
        """Inject one fault of `kind`; appends its undo steps to `undo`.
        Returns a description."""
        if kind in PARTITIONS:
            return self.partition(kind, undo)
        if kind == "combined":
            return self.combined(undo)
        if kind == "kill-majority":
            live = self.cluster.live()
            victims = self.rng.sample(live, min(len(live), N_NODES // 2 + 1))
            for nd in victims:
                self.kill(nd, undo)
            self.count(kind)
            return f"{kind}: {sorted(nd.id for nd in victims)}"
        action = kind.split("-")[0]  # kill or pause
        if kind.endswith("-leader"):
            nd = self.leader_or_random(action)
        else:
            nd = self.up_node()
            if nd is not None:
                self.count(kind)
        if nd is None:
            return f"{kind}: no node up"
        (self.kill if action == "kill" else self.pause)(nd, undo)
        return f"{kind}: {nd}"

    def combined(self, undo):
        """A partition, then a kill or a pause on top of it."""
        self.count("combined")
        what = [self.partition(self.rng.choice(PARTITIONS), undo)]
        what.append(self.inject(self.rng.choice(
            ("kill", "kill-leader", "pause", "pause-leader")), undo))
        return " + ".join(what)

    def undo(self, steps):
        for action, nd in reversed(steps):
            if action == "restart":
                nd.start()
            elif action == "resume":
                nd.resume()
            else:
                self.net.heal()

    def notice_crashes(self):
        """Restart any node that exited on its own (Run reports it)."""
        for nd in self.cluster.nodes:
            if nd.check_exit():
                self.log(f"{nd} exited by itself (code {nd.crashes[-1]}); "
                         f"restarting it")
                nd.start()

    def run(self, until):
        """Faults until monotonic time `until`: a quiet spell, a fault held
        for a while, undone; repeat."""
        kinds = [k for k, w in MENU for _ in range(w)
                 if self.net is not None or
                 (k not in PARTITIONS and k != "combined")]
        while True:
            time.sleep(self.rng.uniform(1.0, 3.0))
            self.notice_crashes()
            if time.monotonic() + 2 > until:
                return
            kind = self.first.pop(0) if self.first else self.rng.choice(kinds)
            steps = []
            start = self.clock()
            try:
                what = self.inject(kind, steps)
                self.log(what)
                hold = self.rng.uniform(1.5, 5.0)
                time.sleep(max(0.0, min(hold, until - time.monotonic())))
            finally:
                self.undo(steps)
            self.episodes.append((start, self.clock(), what))
            self.log("healed")

    def during(self, op):
        """The faults in place at some time between op's call and return."""
        return [w for s, e, w in self.episodes if s <= op.ret and e >= op.call]

    def heal(self):
        """Undo whatever is still in place: every node up, no cut."""
        self.notice_crashes()
        for nd in self.cluster.nodes:
            nd.resume()
            if nd.state == "down":
                nd.start()
        if self.net is not None:
            self.net.heal()


def acquire_slot(slot):
    """Lock the slot for this run; fail fast if another run holds it."""
    f = open(OUT / f"slot{slot}.lock", "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"nemesis: slot {slot} is in use by another run "
                 f"(use --slot)")
    return f


def build_bug_binary():
    """make the planted-bug server (release, RKV_BUG_LOCAL_READS)."""
    cmd = ["make", "--no-print-directory", "MODE=release",
           f"BUILD={BUG_BUILD}", "EXTRA_CFLAGS=-DRKV_BUG_LOCAL_READS",
           f"{BUG_BUILD}/raftkv"]
    print(f"building: {' '.join(cmd)}", flush=True)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nemesis: build failed:\n{r.stdout[-2000:]}"
                 f"{r.stderr[-2000:]}")
    return str(ROOT / BUG_BUILD / "raftkv")


def pick_binary(args):
    if args.binary:
        return str(Path(args.binary).resolve())
    if args.planted_bug:
        return build_bug_binary()
    for p in (ROOT / "build/asan/raftkv", ROOT / "build/raftkv"):
        if p.is_file():
            return str(p)
    sys.exit("nemesis: no raftkv binary (run make, or give --binary)")


def setup_network(args, slot):
    """The namespaces, or None (and the reason) to run on 127.0.0.1."""
    if args.no_netns:
        return None, "--no-netns"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return None, "needs root and iproute2"
    net = netns.Net(slot, N_NODES)
    try:
        net.remove_leftovers()
        net.up()
        net.enter_hub()
    except netns.NetError as e:
        try:
            net.down()
        except netns.NetError:
            pass
        return None, str(e)
    return net, None


def on_term(signum, frame):
    raise KeyboardInterrupt()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=75.0,
                    help="seconds of clients and faults (default 75)")
    ap.add_argument("--binary", help="raftkv to run (default build/asan/"
                    "raftkv, else build/raftkv)")
    ap.add_argument("--planted-bug", action="store_true",
                    help="build and run the RKV_BUG_LOCAL_READS server; "
                    "succeed iff the checker finds a violation")
    ap.add_argument("--slot", type=int, help="0-9 (default 0, 1 with "
                    "--planted-bug)")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--keys", type=int, default=5)
    ap.add_argument("--think-ms", type=float, default=40.0,
                    help="max pause between two ops of a client")
    ap.add_argument("--budget-s", type=float, default=30.0,
                    help="checker time per key (default 30)")
    ap.add_argument("--no-netns", action="store_true",
                    help="run on 127.0.0.1 without partitions")
    ap.add_argument("-v", action="store_true", help="log each fault")
    args = ap.parse_args(argv)
    if args.slot is None:
        args.slot = 1 if args.planted_bug else 0
    if not 0 <= args.slot <= 9:
        ap.error("--slot must be 0..9")
    return args


def main(argv):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_term)
    OUT.mkdir(parents=True, exist_ok=True)
    lock = acquire_slot(args.slot)
    binary = pick_binary(args)
    tag = f"bug-{args.seed}" if args.planted_bug else str(args.seed)
    hist_path = OUT / f"history-{tag}.jsonl"
    workdir = OUT / f"run{args.slot}"
    run = Run(args, binary, workdir, hist_path)
    try:
        run.execute()
    except KeyboardInterrupt:
        print("nemesis: interrupted; nodes stopped, namespaces removed")
        return 130
    finally:
        lock.close()
    return run.report()


class Run:
    """One run: set up, record under faults, tear down, check, report."""

    def __init__(self, args, binary, workdir, hist_path):
        self.args = args
        self.binary = binary
        self.workdir = workdir
        self.hist_path = hist_path
        self.fault_path = hist_path.with_name(
            hist_path.name.replace("history-", "faults-").replace(
                ".jsonl", ".log"))
        self.fault_log = None
        self.history_t0 = time.monotonic_ns()
        self.t0 = time.monotonic()
        self.problems = []  # what failed besides the checker
        self.nemesis = None

    def log(self, msg):
        """A line in the fault log (and on stdout with -v), stamped with
        the history's clock so that it lines up with the operations."""
        t = (time.monotonic_ns() - self.history_t0) / 1e9
        line = f"[{t:7.3f} s] {msg}"
        self.fault_log.write(line + "\n")
        self.fault_log.flush()
        if self.args.v:
            print(line, flush=True)

    def make_cluster(self, net):
        if net is None:
            hosts = ["127.0.0.1"] * N_NODES
            prefixes = [()] * N_NODES
        else:
            hosts = [net.addr(i) for i in range(1, N_NODES + 1)]
            prefixes = [net.exec_prefix(i) for i in range(1, N_NODES + 1)]
        return Cluster(self.workdir, self.args.slot, self.binary, hosts,
                       prefixes, ["--request-timeout-ms",
                                  str(REQUEST_TIMEOUT_MS),
                                  "--snapshot-entries", str(SNAPSHOT_ENTRIES)])

    def clean_workdir(self):
        """Kill what a crashed run of this slot left, then start afresh."""
        n = kill_leftovers(OUT / f"slot{self.args.slot}.pids",
                           str(self.workdir / "nodes.conf"))
        if n:
            print(f"killed {n} leftover processes of slot {self.args.slot}",
                  flush=True)
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        self.hist_path.unlink(missing_ok=True)  # never check a stale one

    def execute(self):
        a = self.args
        self.clean_workdir()
        net, why = setup_network(a, a.slot)
        if net is None:
            note = (f"127.0.0.1, partitions disabled: network namespaces "
                    f"unavailable ({why})")
        else:
            note = (f"network namespaces {net.ns(0)}, {net.ns(1)}.."
                    f"{net.ns(N_NODES)} on {net.subnet}.0/24")
        print(f"nemesis seed={a.seed} duration={a.duration:g} s "
              f"nodes={N_NODES} clients={a.clients} keys={a.keys}\n"
              f"server: {self.binary}\nnetwork: {note}", flush=True)
        cluster = recorder = history = None
        self.fault_log = open(self.fault_path, "w")
        try:
            cluster = self.make_cluster(net)
            cluster.start()
            if cluster.wait_converged(30) is not None:
                self.problems.append("the cluster did not start: "
                                     f"{cluster.converged()}")
                return
            history = History(self.hist_path)
            self.history_t0 = history.t0
            nodes = [(nd.host, nd.http_port) for nd in cluster.nodes]
            keys = [f"k{i}" for i in range(a.keys)]
            recorder = Recorder(history, nodes, keys, a.clients, a.seed,
                                CLIENT_TIMEOUT_S, a.think_ms / 1000.0)
            recorder.start()
            self.faults(cluster, net)
            recorder.stop()
            self.finish(cluster, history, nodes, keys)
        finally:
            if recorder is not None:
                recorder.stop()
            if history is not None:
                history.close()
            if cluster is not None:
                self.stop_cluster(cluster)
            if net is not None:
                net.down()
            self.fault_log.close()

    def faults(self, cluster, net):
        a = self.args
        start = time.monotonic()
        # The planted bug shows under these: reads on a minority side, and
        # on a node that was paused while writes went on.
        first = ()
        if a.planted_bug:
            first = ("pause-leader",) + (("partition-leader",) if net else ())
        self.nemesis = Nemesis(cluster, net,
                               random.Random(f"{a.seed}/nemesis"), self.log,
                               lambda: time.monotonic_ns() - self.history_t0,
                               first)
        try:
            self.nemesis.run(start + a.duration - HEAL_S)
        finally:
            self.nemesis.heal()
        self.log("all healed")
        time.sleep(max(0.0, start + a.duration - time.monotonic()))

    def finish(self, cluster, history, nodes, keys):
        why = cluster.wait_converged(30)
        if why is not None:
            self.problems.append(f"no recovery 30 s after healing: {why}")
        missing = final_reads(history, nodes, keys, CLIENT_TIMEOUT_S,
                              time.monotonic() + 30)
        if missing:
            self.problems.append(f"final reads that never succeeded "
                                 f"(node index, key): {missing}")

    def stop_cluster(self, cluster):
        for node_id, code in cluster.stop().items():
            if code != 0:
                self.problems.append(f"node {node_id}: exit code {code} "
                                     f"after SIGTERM")
        for nd in cluster.nodes:
            rep = nd.sanitizer_report()
            if rep:
                self.problems.append(f"{nd}: {rep} (log {nd.log_path})")
            for code in nd.crashes:
                self.problems.append(f"{nd} exited by itself with code "
                                     f"{code} (log {nd.log_path})")

    def report(self):
        """Check the history, print the report; returns the exit code."""
        a = self.args
        print(f"history: {self.hist_path}\nfault log: {self.fault_path}")
        if self.nemesis is not None:
            c = self.nemesis.counts
            total = sum(v for k, v in c.items() if k != "combined")
            print("faults: " + ", ".join(f"{k} {c[k]}" for k in sorted(c)) +
                  f" (total {total})")
        try:
            ops = checker.load_history(self.hist_path)
        except (OSError, checker.HistoryError) as e:
            ops = None
            self.problems.append(f"history unreadable: {e}")
        v = checker.UNDECIDED
        if ops is not None:
            v = self.check(ops)
        for p in self.problems:
            print(f"problem: {p}")
        print(f"time: {time.monotonic() - self.t0:.1f} s")
        if a.planted_bug:
            ok = v == checker.NO
            print(f"planted bug (RKV_BUG_LOCAL_READS) "
                  f"{'caught' if ok else 'NOT caught'}")
            return 0 if ok else 1
        return 0 if v == checker.YES and not self.problems else 1

    def check(self, ops):
        counts = {}
        for op in ops:
            counts[(op.kind, op.ok)] = counts.get((op.kind, op.ok), 0) + 1

        def n(kind=None, ok=None):
            return sum(v for (k, o), v in counts.items()
                       if kind in (None, k) and ok in (None, o))
        print(f"ops: {len(ops)} (put {n('put')}, get {n('get')}, delete "
              f"{n('delete')}); ok {n(ok=True)}, failed {n(ok=False)}, "
              f"unknown {n(ok='unknown')}")
        n_acked, lost, no_final = checker.lost_writes(ops)
        print(f"acknowledged writes: {n_acked}")
        print(f"lost acknowledged writes: {len(lost)}")
        for op in lost[:10]:
            print(f"    lost: {op}")
        if no_final:
            self.problems.append(f"keys without a final read: {no_final}")
        t = time.monotonic()
        results = checker.check_history(ops, self.args.budget_s)
        for r in results.values():
            print(f"key {r.key}: {r.outcome} ({r.n_ops} ops searched, "
                  f"{r.seconds:.2f} s)")
            if r.detail:
                print(textwrap.indent(r.detail, "    "))
            if r.stuck is not None and self.nemesis is not None:
                w = self.nemesis.during(r.stuck)
                print("    faults in place meanwhile: " +
                      ("; ".join(w) if w else "none"))
        v = checker.verdict(results)
        print(f"checker time: {time.monotonic() - t:.1f} s")
        if lost:
            self.problems.append(f"{len(lost)} acknowledged writes lost")
        print(f"linearizable: {v}")
        return v


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
