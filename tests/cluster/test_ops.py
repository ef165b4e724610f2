"""The seed's exercises 1, 2 and 4 on real processes (basic operations,
leader failover, full-cluster restart), and the CLI against a live
cluster. Exercise 3, the partition, is in test_partition.py."""

import subprocess

from harness import TestFailure, binary, check, wait_until


def expect_value(node, key, want, stale=False):
    r = node.read(key, stale=stale)
    check(r.status == 200 and r.json().get("value") == want,
          f"GET /kv/{key} on {node}: want {want!r}, got {r}")


def expect_missing(node, key):
    r = node.read(key)
    check(r.status == 404, f"GET /kv/{key} on {node}: want 404, got {r}")


def basic_operations(ctx):
    """Exercise 1: a write through any node (leader or follower) is then
    read with the same value on every node; overwrite and delete too."""
    c = ctx.cluster(3)
    leader = c.leader()
    c.put_ok(leader, "foo", "bar")
    for nd in c.nodes:
        expect_value(nd, "foo", "bar")
    for nd in c.followers(leader):
        c.put_ok(nd, f"via{nd.id}", f"value{nd.id}")
    for reader in c.nodes:
        for nd in c.followers(leader):
            expect_value(reader, f"via{nd.id}", f"value{nd.id}")
    c.put_ok(c.nodes[2], "foo", "baz")
    for nd in c.nodes:
        expect_value(nd, "foo", "baz")
    _, r = c.write("DELETE", "/kv/foo", nodes=[c.nodes[1]])
    check(r.status == 200, f"DELETE /kv/foo: {r}")
    for nd in c.nodes:
        expect_missing(nd, "foo")
    _, r = c.write("DELETE", "/kv/foo", nodes=[c.nodes[0]])
    check(r.status == 404, f"DELETE of a missing key: want 404, got {r}")


def leader_failover(ctx):
    """Exercise 2: kill -9 the leader; the others elect a new one in a
    higher term, writes go on, and the old leader restarts, follows, and
    catches up with every write."""
    c = ctx.cluster(3)
    old = c.leader()
    want = {}
    for i in range(20):
        c.put_ok(c.nodes[i % 3], f"k{i}", f"v{i}")
        want[f"k{i}"] = f"v{i}"
    term0 = old.status()["term"]
    old.kill()
    rest = c.followers(old)
    new = c.leader(among=rest, timeout=10)
    check(new is not old, "the killed node is still the leader")
    check(new.status()["term"] > term0, "the new leader's term is not higher")
    for i in range(20, 40):
        c.put_any(f"k{i}", f"v{i}", nodes=rest)
        want[f"k{i}"] = f"v{i}"
    old.start()
    commit = new.status()["commit_index"]
    wait_until(f"{old} following {new}",
               lambda: old.status()["leader"] == new.id, 10)
    c.wait_applied([old], commit)
    check(old.status()["role"] == "follower", f"{old} is not a follower")
    for k, v in want.items():
        expect_value(old, k, v, stale=True)
        expect_value(old, k, v)


def restart_all(ctx, stop):
    """Exercise 4: every acknowledged write (puts, overwrites, a delete)
    is there after every node is stopped by `stop` and started again."""
    c = ctx.cluster(3)
    want = {}
    for i in range(60):
        c.put_ok(c.nodes[i % 3], f"p{i}", f"value-{i}")
        want[f"p{i}"] = f"value-{i}"
    for i in range(0, 60, 7):
        c.put_ok(c.nodes[(i + 1) % 3], f"p{i}", f"again-{i}")
        want[f"p{i}"] = f"again-{i}"
    _, r = c.write("DELETE", "/kv/p1", nodes=[c.nodes[0]])
    check(r.status == 200, f"DELETE /kv/p1: {r}")
    del want["p1"]
    stop(c)
    check(not any(nd.alive() for nd in c.nodes), "a node survived the stop")
    c.start()
    c.leader()
    for nd in c.nodes:
        for k, v in want.items():
            expect_value(nd, k, v)
        expect_missing(nd, "p1")


def persistence_sigterm(ctx):
    restart_all(ctx, lambda c: c.stop())


def persistence_kill9(ctx):
    restart_all(ctx, lambda c: c.kill())


def cli(ctx):
    """raftkv-cli against a live cluster: `put a 1 && get a` prints 1,
    a missing key exits 1, `status` shows one leader and two followers."""
    c = ctx.cluster(3)
    cli = f"{binary('raftkv-cli')} -c {c.addrs()}"
    stderr = []

    def sh(cmd):
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                           timeout=30)
        ctx.log(f"$ {cmd}\n{p.stdout}{p.stderr}")
        stderr.extend(p.stderr.splitlines())
        return p
    p = sh(f"{cli} put a 1 && {cli} get a")
    check(p.returncode == 0 and p.stdout == "1\n",
          f"put a 1 && get a: rc {p.returncode}, out {p.stdout!r}, "
          f"err {p.stderr!r}")
    p = sh(f"{cli} get no-such-key")
    check(p.returncode == 1, f"get of a missing key: rc {p.returncode}")
    # An election may be under way on a loaded machine: ask again, briefly.
    def status_roles():
        p = sh(f"{cli} status")
        rows = [line.split() for line in p.stdout.splitlines()[1:]]
        roles = sorted(r[2] for r in rows if len(r) > 2)
        return p.returncode == 0 and roles == ["follower", "follower",
                                               "leader"]
    wait_until("`status` to show one leader and two followers",
               status_roles, 10, interval=0.5)
    leader = c.leader()
    p = sh(f"{cli} leader")
    check(p.returncode == 0 and p.stdout.split()[:1] == [str(leader.id)],
          f"leader: want {leader.id}, got {p.stdout!r}")
    problems = [line for line in stderr
                if "Sanitizer" in line or "runtime error:" in line]
    if problems:
        raise TestFailure(f"raftkv-cli: {problems[0]}")


TESTS = [
    ("basic_operations", basic_operations, 30),
    ("leader_failover", leader_failover, 60),
    ("persistence_sigterm", persistence_sigterm, 60),
    ("persistence_kill9", persistence_kill9, 60),
    ("cli", cli, 60),
]
