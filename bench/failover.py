#!/usr/bin/env python3
"""Failover time of a 3-node raftkv cluster (`make failover-bench`): kill -9
the leader, measure the time from the kill to the first write acknowledged
by the cluster, restart the old leader, wait until it has caught up, and
repeat. Prints each round, then the median and the maximum. A figure, not
an assertion.

    bench/failover.py [--rounds N]

Uses build/raftkv (release; RKV_BUILD=DIR overrides) on 127.0.0.1, ports
from 23000 (RKV_BENCH_PORT_BASE), a temporary data directory. Writers: a
new write is started every WRITE_EVERY_S against a surviving node, each on
its own connection, so the first one the new leader commits is seen within
WRITE_EVERY_S, however long the ones sent during the election hang.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RKV_BUILD", str(ROOT / "build"))
os.environ["RKV_TEST_PORT_BASE"] = os.environ.get("RKV_BENCH_PORT_BASE",
                                                  "23000")
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(ROOT / "tests/cluster"))

import harness  # noqa: E402

WRITE_EVERY_S = 0.01  # a new write attempt this often during a failover
ATTEMPT_S = 3.0       # per-attempt socket timeout
ROUND_BUDGET_S = 30   # give up on a round after this long


def first_ack_after(kill_at, nodes, round_no):
    """Start writes against `nodes` every WRITE_EVERY_S until one is
    acknowledged; return the monotonic time of that acknowledgement."""
    acked = []
    done = threading.Event()

    def attempt(nd, key):
        try:
            r = nd.put(key, "x", timeout=ATTEMPT_S)
        except OSError:
            return
        if r.status == 200 and not done.is_set():
            acked.append(time.monotonic())
            done.set()

    i = 0
    while not done.is_set():
        if time.monotonic() - kill_at > ROUND_BUDGET_S:
            raise harness.TestFailure(f"round {round_no}: no write "
                                      f"acknowledged in {ROUND_BUDGET_S} s")
        t = threading.Thread(target=attempt, daemon=True,
                             args=(nodes[i % len(nodes)], f"r{round_no}-{i}"))
        t.start()
        i += 1
        done.wait(WRITE_EVERY_S)
    return min(acked)  # attempts still hanging end on their own


def run(rounds, workdir):
    c = harness.Cluster(workdir, 0, 3)
    c.check_ports_free()
    c.start()
    try:
        times = []
        for k in range(1, rounds + 1):
            leader = c.leader(timeout=15)
            c.put_ok(leader, "warm", str(k))
            rest = c.followers(leader)
            kill_at = time.monotonic()
            leader.kill()
            took = first_ack_after(kill_at, rest, k) - kill_at
            new = c.leader(among=rest, timeout=15)
            times.append(took)
            print(f"round {k:2}: killed node {leader.id}, new leader node "
                  f"{new.id}, first acknowledged write after "
                  f"{took * 1000:6.0f} ms", flush=True)
            leader.start()
            c.wait_applied([leader], new.status()["commit_index"], 30)
        return times
    finally:
        c.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    print(f"server: {harness.binary('raftkv')}; 3 nodes on 127.0.0.1; "
          f"{args.rounds} leader kills", flush=True)
    workdir = tempfile.mkdtemp(prefix="rkv-failover-")
    try:
        times = run(args.rounds, workdir)
    except harness.TestFailure as e:
        print(f"failover bench failed: {e} (logs in {workdir})")
        return 1
    ms = [t * 1000 for t in times]
    print(f"kill -9 of the leader to first acknowledged write: median "
          f"{statistics.median(ms):.0f} ms, max {max(ms):.0f} ms "
          f"({len(ms)} rounds)")
    if os.environ.get("RKV_KEEP") == "1":
        print(f"logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
