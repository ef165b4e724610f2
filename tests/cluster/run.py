#!/usr/bin/env python3
"""Run the real-process cluster tests (issue 5) and print one line a test,
`ok   cluster/<name>` or `FAIL cluster/<name>: reason`, then
`N passed, N failed`; exit 1 if any failed.

    tests/cluster/run.py [-v] [NAME_SUBSTRING...]

Servers come from build/asan/ when it exists (else build/; RKV_BUILD=DIR
overrides), so sanitizer reports in a node's log fail the test. Ports:
RKV_TEST_PORT_BASE (default 21000) up to +900. Each test has a time budget;
a test's data and logs are kept (and their directory printed) when it
fails, or always with RKV_KEEP=1. The tests are in test_ops.py,
test_http.py, test_disk.py and test_partition.py (test_resp.py runs on its
own).
"""

import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import test_disk  # noqa: E402
import test_http  # noqa: E402
import test_membership  # noqa: E402
import test_ops  # noqa: E402
import test_partition  # noqa: E402

MODULES = (test_ops, test_http, test_disk, test_partition, test_membership)


class Budget(Exception):
    """Raised by SIGALRM when a test overruns its budget."""


class Skipped(Exception):
    """The test cannot run here (Context.skip)."""


class Context:
    """What a test gets: clusters it asks for are stopped (by PID) and
    their logs checked when it ends, whatever happened."""

    def __init__(self, workdir, verbose):
        self.workdir = Path(workdir)
        self.verbose = verbose
        self.clusters = []
        self.cleanups = []
        self.next_slot = 0

    def cluster(self, n, start=True, **kw):
        """A new n-node cluster with ports and a directory of its own;
        started, with a leader elected, unless start=False."""
        slot = self.next_slot
        self.next_slot += 1
        c = harness.Cluster(self.workdir, slot, n, **kw)
        self.clusters.append(c)
        if start:
            c.check_ports_free()
            c.start()
            c.leader()
        return c

    def defer(self, fn):
        """Run fn() when the test ends (last registered, first run)."""
        self.cleanups.append(fn)

    def skip(self, why):
        """End the test as skipped: counted neither passed nor failed."""
        raise Skipped(why)

    def log(self, msg):
        if self.verbose:
            print(f"     {msg}", flush=True)

    def finish(self):
        """Stop everything; return the problems the logs show."""
        problems = []
        for c in self.clusters:
            c.stop()
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # a cleanup must not hide the others
                problems.append(f"cleanup failed: {e}")
        for c in self.clusters:
            problems += c.problems()
        return problems


def on_alarm(signum, frame):
    raise Budget()


def on_term(signum, frame):
    raise KeyboardInterrupt()


def run_one(fn, budget_s, workdir, verbose):
    """Run one test; return (None, None) if it passed, ("skip", why) if
    it was skipped, else ("fail", reason)."""
    ctx = Context(workdir, verbose)
    reason = skipped = None
    signal.alarm(budget_s)
    try:
        fn(ctx)
    except Skipped as e:
        skipped = str(e)
    except Budget:
        reason = f"over its time budget of {budget_s} s"
    except harness.TestFailure as e:
        reason = str(e)
    except Exception as e:
        reason = f"{type(e).__name__}: {e}"
        if verbose:
            traceback.print_exc()
    finally:
        signal.alarm(0)
        problems = ctx.finish()
    problems = [p for p in dict.fromkeys(problems) if p != reason]
    if problems:
        reason = "; ".join(([reason] if reason else []) + problems)
    if reason is not None:
        return "fail", reason
    return ("skip", skipped) if skipped is not None else (None, None)


def main(argv):
    verbose = "-v" in argv
    keep = os.environ.get("RKV_KEEP") == "1"
    filters = [a for a in argv if a != "-v"]
    tests = [t for m in MODULES for t in m.TESTS
             if not filters or any(f in t[0] for f in filters)]
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    try:
        print(f"server: {harness.binary('raftkv')}", flush=True)
    except harness.TestFailure as e:
        print(f"FAIL cluster/setup: {e}\n0 passed, 1 failed")
        return 1
    top = Path(tempfile.mkdtemp(prefix="rkv-cluster-"))
    passed = failed = skipped = 0
    for name, fn, budget_s in tests:
        workdir = top / name
        workdir.mkdir()
        start = time.monotonic()
        outcome, reason = run_one(fn, budget_s, workdir, verbose)
        took = time.monotonic() - start
        if outcome is None:
            passed += 1
            print(f"ok   cluster/{name} ({took:.1f} s)", flush=True)
            if not keep:
                shutil.rmtree(workdir, ignore_errors=True)
        elif outcome == "skip":
            skipped += 1
            print(f"SKIP cluster/{name}: {reason}", flush=True)
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            failed += 1
            print(f"FAIL cluster/{name}: {reason} ({took:.1f} s; data and "
                  f"logs in {workdir})", flush=True)
    if failed == 0 and not keep:
        shutil.rmtree(top, ignore_errors=True)
    elif keep:
        print(f"data and logs kept in {top}")
    if skipped:
        print(f"{skipped} skipped (see SKIP lines)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # the running test has cleaned up already
        print("interrupted")
        sys.exit(130)
