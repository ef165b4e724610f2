"""Membership changes and leadership transfer on real processes (issue 8):
grow 3 -> 5 under writes, shrink 5 -> 3 removing the leader too, replace a
dead node, hand the leadership to a chosen node (and time the pause), and
the user story through raftkv-cli."""

import os
import subprocess
import threading
import time

from harness import Node, TestFailure, binary, check, wait_until


class Writer(threading.Thread):
    """Writes w0, w1, ... until stopped, each retried (one session, so
    applied once) through 503s and unreachable nodes; records every
    acknowledgement and its time."""

    def __init__(self, nodes, prefix="w"):
        super().__init__(daemon=True)
        self.nodes = list(nodes)
        self.prefix = prefix
        self.acked = {}  # key -> value
        self.ack_times = []
        self.error = None
        self.halt = threading.Event()
        self.client_id = (int.from_bytes(os.urandom(8), "big") >> 1) or 1

    def write_one(self, seq, key, value):
        hdrs = {"X-Client-Id": str(self.client_id),
                "X-Request-Seq": str(seq)}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for nd in list(self.nodes):
                try:
                    r = nd.request("POST", "/kv", {"key": key, "value": value},
                                   hdrs, timeout=3.0)
                except OSError:
                    continue
                if r.status == 200:
                    return
                if r.status != 503:
                    raise TestFailure(f"write {key} on {nd}: {r}")
            time.sleep(0.01)
        raise TestFailure(f"write {key}: no answer within 20 s")

    def run(self):
        seq = 0
        try:
            while not self.halt.is_set():
                seq += 1
                key, value = f"{self.prefix}{seq}", f"v{seq}"
                self.write_one(seq, key, value)
                self.acked[key] = value
                self.ack_times.append(time.monotonic())
        except Exception as e:  # reported by stop()
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(30)
        check(not self.is_alive(), "the writer did not stop")
        if self.error is not None:
            raise self.error
        check(len(self.acked) > 0, "no write was acknowledged")

    def max_gap(self, since, until):
        """Longest time without an acknowledgement within [since, until]."""
        times = [since] + [t for t in self.ack_times
                           if since <= t <= until] + [until]
        return max(b - a for a, b in zip(times, times[1:]))


def expect_all(node, want):
    """Every acknowledged write is there, read linearizably on `node`."""
    for k, v in want.items():
        r = node.read(k)
        check(r.status == 200 and r.json().get("value") == v,
              f"GET /kv/{k} on {node}: want {v!r}, got {r} (write lost?)")


def start_small(ctx, n_started, n_total):
    """A cluster of n_total nodes of which the first n_started are the
    initial members (their own nodes conf lists only them); the others
    are spare, joined later with join(). Returns the cluster."""
    c = ctx.cluster(n_total, start=False)
    small = c.dir / "nodes-initial.conf"
    with open(c.conf) as f:
        lines = f.read().splitlines()
    with open(small, "w") as f:
        f.write("\n".join(lines[:1 + n_started]) + "\n")
    for nd in c.nodes[:n_started]:
        use_conf(nd, small)
    c.check_ports_free()
    for nd in c.nodes[:n_started]:
        nd.start()
    c.leader(among=c.nodes[:n_started])
    return c


def use_conf(nd, conf, join=None):
    """Start `nd` with `conf` instead of the cluster's, and --join; a
    snapshot every 10 entries, so that configurations go through them."""
    def command():
        cmd = [binary("raftkv"), "--id", str(nd.id), "--config", str(conf),
               "--data-dir", str(nd.data_dir), "--snapshot-entries", "10"]
        return cmd + (["--join", join] if join else [])
    nd.command = command


def join(c, nd, via):
    """Start `nd` as a joining node through `via`'s HTTP API."""
    use_conf(nd, c.conf, f"{via.host}:{via.http_port}")
    nd.start()
    nd.wait_up()


def addr(nd):
    return f"{nd.host}:{nd.peer_port}:{nd.http_port}:{nd.resp_port}"


def admin(c, among, method, path, body=None, timeout=20):
    """Send a membership request to whichever of `among` leads, retrying
    503s (not leader, busy) until accepted; return the answer."""
    def attempt():
        for nd in among:
            if not nd.alive():
                continue
            try:
                r = nd.request(method, path, body, timeout=3.0)
            except OSError:
                continue
            if r.status != 503:
                return r
        return None
    r = wait_until(f"{method} {path} accepted", attempt, timeout)
    check(r.status in (200, 202), f"{method} {path}: {r}")
    return r


def voters(nd):
    return sorted(nd.status()["voters"])


def wait_voters(nodes, want, timeout=15):
    want = sorted(want)
    wait_until(f"{nodes} to show voters {want}",
               lambda: all(voters(nd) == want for nd in nodes), timeout)


def grow_3_to_5(ctx):
    """Two nodes join a 3-node cluster as learners (started with --join),
    are promoted, and the cluster has 5 voters; a client writing all along
    loses no acknowledged write."""
    c = start_small(ctx, 3, 5)
    first = c.nodes[:3]
    w = Writer(first)
    w.start()
    for nd in c.nodes[3:]:
        join(c, nd, c.nodes[0])
        r = admin(c, first, "POST", "/members",
                  {"id": nd.id, "addr": addr(nd), "learner": True})
        ctx.log(f"added {nd} as learner: {r.json()}")
        check(nd.id in c.leader(among=first).status()["learners"],
              f"{nd} is not a learner")
        admin(c, first, "POST", f"/members/{nd.id}/promote")
    wait_voters(c.nodes, [1, 2, 3, 4, 5])
    time.sleep(0.3)
    w.stop()
    ctx.log(f"{len(w.acked)} writes acknowledged while growing")
    expect_all(c.nodes[4], w.acked)
    # The new voters count: with two of the old nodes down, 3 of 5 remain.
    c.nodes[0].kill()
    c.nodes[1].kill()
    c.put_any("after", "grow", nodes=c.nodes[2:])


def shrink_5_to_3(ctx):
    """Remove a follower, then the leader itself: a new leader is elected
    among the three left, writes go on, and the removed leader, which
    learns that its removal committed, stops by itself. (A removed
    follower never hears of its removal, since the leader stops talking to
    it at once: it is stopped here as an operator would.)"""
    c = ctx.cluster(5)
    w = Writer(c.nodes)
    w.start()
    leader = c.leader()
    follower = c.followers(leader)[0]
    admin(c, c.nodes, "DELETE", f"/members/{follower.id}")
    wait_voters([leader], [nd.id for nd in c.nodes if nd is not follower])
    check(follower.stop() == 0, f"{follower} did not stop cleanly")
    admin(c, [leader], "DELETE", f"/members/{leader.id}")
    rest = [nd for nd in c.nodes if nd not in (leader, follower)]
    new = c.leader(among=rest)
    check(new is not leader, "the removed leader still leads")
    leader.wait_exit(15)
    wait_voters(rest, [nd.id for nd in rest])
    w.nodes = rest
    time.sleep(0.3)
    w.stop()
    c.put_any("after", "shrink", nodes=rest)
    expect_all(new, w.acked)


def replace_dead_node(ctx):
    """kill -9 node 3, remove it, and add node 6 in its place: the cluster
    has voters 1, 2, 6 and node 6 holds every write."""
    c = start_small(ctx, 3, 3)
    for i in range(20):
        c.put_any(f"k{i}", f"v{i}", nodes=c.nodes)
    c.nodes[2].kill()
    live = c.nodes[:2]
    admin(c, live, "DELETE", "/members/3")
    six = Node(c, 6, "127.0.0.1")
    c.nodes.append(six)
    with open(c.conf, "a") as f:
        f.write(f"6 {six.host} {six.peer_port} {six.http_port} "
                f"{six.resp_port}\n")
    join(c, six, c.nodes[0])
    admin(c, live, "POST", "/members",
          {"id": 6, "addr": addr(six), "learner": True})
    admin(c, live, "POST", "/members/6/promote")
    wait_voters(live + [six], [1, 2, 6])
    c.put_any("after", "replace", nodes=live)
    expect_all(six, {f"k{i}": f"v{i}" for i in range(20)})
    r = six.read("after")
    check(r.status == 200 and r.json().get("value") == "replace",
          f"node 6: {r}")
    # Past a snapshot, a restart recovers the configuration stored with it.
    for i in range(30):
        c.put_any(f"m{i}", f"v{i}", nodes=live)
    check(any(six.data_dir.glob("snapshot-*.conf")),
          "no configuration stored beside node 6's snapshot")
    for nd in (six, c.nodes[0]):
        check(nd.stop() == 0, f"{nd} did not stop cleanly")
        nd.start()
    c.leader(among=live + [six])
    wait_voters(live + [six], [1, 2, 6])
    c.put_any("restarted", "yes", nodes=live + [six])


def transfer_leader(ctx):
    """POST /transfer-leader makes the chosen node the leader; the pause
    in acknowledged writes stays well under an election timeout plus a
    margin (1.5 s, generously)."""
    c = ctx.cluster(3)
    w = Writer(c.nodes)
    w.start()
    time.sleep(0.5)
    worst = 0.0
    for _ in range(3):
        leader = c.leader()
        target = c.followers(leader)[0]
        t0 = time.monotonic()
        r = leader.request("POST", "/transfer-leader", {"id": target.id})
        check(r.status == 202, f"POST /transfer-leader: {r}")
        wait_until(f"{target} to lead",
                   lambda: target.status()["role"] == "leader", 5, 0.01)
        check(c.leader() is target, f"{target} is not the leader")
        time.sleep(0.5)
        worst = max(worst, w.max_gap(t0, time.monotonic()))
    w.stop()
    print(f"     transfer-leader: longest pause without an acknowledged "
          f"write {worst * 1000:.0f} ms", flush=True)
    check(worst < 1.5, f"writes paused {worst:.2f} s during a transfer")
    expect_all(c.leader(), w.acked)
    # Transferring to a non-member is refused as a bad request.
    r = c.leader().request("POST", "/transfer-leader", {"id": 9})
    check(r.status == 400, f"transfer to a non-member: want 400, got {r}")


def user_story(ctx):
    """`make cluster`-like 3 nodes; a fourth starts with --join;
    `raftkv-cli member add` adds it, `status` shows four voters, and
    `raftkv-cli transfer-leader 2` makes node 2 the leader."""
    c = start_small(ctx, 3, 4)
    four = c.nodes[3]
    join(c, four, c.nodes[0])
    cli = [binary("raftkv-cli"), "-c", c.addrs(), "--timeout", "20000"]

    def sh(*args):
        p = subprocess.run(cli + list(args), capture_output=True, text=True,
                           timeout=60)
        ctx.log(f"raftkv-cli {' '.join(args)} -> {p.returncode} "
                f"{p.stdout.strip()!r} {p.stderr.strip()!r}")
        return p

    p = sh("member", "add", "4", addr(four))
    check(p.returncode == 0, f"member add: {p.returncode} {p.stderr}")
    wait_voters(c.nodes, [1, 2, 3, 4])
    p = sh("status")
    rows = [line.split() for line in p.stdout.splitlines()[1:]]
    check(p.returncode == 0 and len(rows) == 4 and
          sorted(r[0] for r in rows) == ["1", "2", "3", "4"],
          f"status: {p.stdout!r}")
    p = sh("member", "list")
    roles = [line.split()[1] for line in p.stdout.splitlines()[1:]]
    check(p.returncode == 0 and roles == ["voter"] * 4,
          f"member list: {p.stdout!r}")
    p = sh("transfer-leader", "2")
    check(p.returncode == 0, f"transfer-leader: {p.returncode} {p.stderr}")
    check(c.leader().id == 2, "node 2 is not the leader")
    p = sh("member", "promote", "4")
    check(p.returncode == 2, f"promoting a voter: want exit 2, got "
          f"{p.returncode} {p.stderr}")
    c.put_any("story", "done", nodes=[four])


TESTS = [
    ("membership_transfer_leader", transfer_leader, 60),
    ("membership_grow_3_to_5", grow_3_to_5, 90),
    ("membership_shrink_5_to_3", shrink_5_to_3, 90),
    ("membership_replace_dead_node", replace_dead_node, 90),
    ("membership_user_story", user_story, 90),
]
