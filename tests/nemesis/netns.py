"""The nemesis's private network (issue 7): one network namespace per node
plus a hub namespace holding a bridge, each node joined to it by a veth
pair, all created and destroyed by the test. The host's interfaces and
routes are never touched: the test process itself moves into the hub
(setns), so its clients reach every node on 10.77.<slot>.(10+i), and the
hub's links are never cut, so a client can always talk to a node on
either side of a partition. Partitions are blackhole routes inside the
nodes' namespaces, in both directions: packets between the two nodes are
silently dropped, established connections stall.

Needs root and iproute2. Names: PREFIX + "h" (hub) and PREFIX + i; the
veths are PREFIX + "v" + i in the hub and eth0 in the node.
"""

import ctypes
import os
import subprocess

CLONE_NEWNET = 0x40000000


class NetError(Exception):
    """A namespace operation failed; the message has the command."""


def ip(*args, stdin=None):
    cmd = ["ip", *args]
    try:
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                           timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetError(f"{' '.join(cmd)}: {e}") from None
    if r.returncode != 0:
        raise NetError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def setns(fd, what):
    """Move the calling thread into the network namespace open as `fd`.
    Threads and processes it starts afterwards are born there."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise NetError(f"setns {what}: {os.strerror(ctypes.get_errno())}")


class Net:
    """The namespaces of one nemesis slot, for nodes 1..n."""

    def __init__(self, slot, n):
        assert 0 <= slot < 10
        self.prefix = f"rkvnem{slot}"
        self.subnet = f"10.77.{slot}"
        self.n = n
        self.home = None  # fd of the namespace we came from, while in hub
        self.cut_pairs = set()  # frozenset({a, b}) of cut node pairs

    def ns(self, i):
        """Namespace name of node i (0: the hub)."""
        return self.prefix + ("h" if i == 0 else str(i))

    def addr(self, i):
        return f"{self.subnet}.1" if i == 0 else f"{self.subnet}.{10 + i}"

    def exec_prefix(self, i):
        """Command prefix running a program in node i's namespace (`ip
        netns exec` execs it: the PID stays the program's)."""
        return ["ip", "netns", "exec", self.ns(i)]

    def remove_leftovers(self):
        """Delete this slot's namespaces left by an earlier run (the caller
        holds the slot's lock, so no live run owns them)."""
        names = [line.split()[0] for line in ip("netns", "list").splitlines()
                 if line.strip()]
        for name in names:
            if name == self.ns(0) or name in (self.ns(i) for i in
                                              range(1, 10)):
                ip("netns", "del", name)

    def up(self):
        """Create the hub, the bridge, and one namespace and veth per node.
        On failure the caller runs down()."""
        hub = self.ns(0)
        ip("netns", "add", hub)
        ip("-n", hub, "link", "set", "lo", "up")
        ip("-n", hub, "link", "add", "br0", "type", "bridge")
        ip("-n", hub, "addr", "add", f"{self.addr(0)}/24", "dev", "br0")
        ip("-n", hub, "link", "set", "br0", "up")
        for i in range(1, self.n + 1):
            ns, veth = self.ns(i), f"{self.prefix}v{i}"
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            # Created inside the hub: no interface ever appears on the host.
            ip("-n", hub, "link", "add", veth, "type", "veth", "peer",
               "name", "eth0", "netns", ns)
            ip("-n", hub, "link", "set", veth, "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.addr(i)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    def enter_hub(self):
        """Move this process's main thread into the hub. Call before
        starting any thread."""
        path = f"/run/netns/{self.ns(0)}"
        fd = os.open(path, os.O_RDONLY)
        try:
            self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
            setns(fd, path)
        finally:
            os.close(fd)

    def leave_hub(self):
        if self.home is not None:
            setns(self.home, "back to the original namespace")
            os.close(self.home)
            self.home = None

    def down(self):
        """Leave the hub and delete every namespace of the slot (their
        veths go with them). Idempotent."""
        self.leave_hub()
        self.remove_leftovers()
        self.cut_pairs.clear()

    def cut(self, side_a, side_b):
        """Drop all traffic between every node of side_a and every node of
        side_b (iterables of node ids), in both directions."""
        routes = {}
        for a in side_a:
            for b in side_b:
                pair = frozenset((a, b))
                if a == b or pair in self.cut_pairs:
                    continue
                self.cut_pairs.add(pair)
                routes.setdefault(a, []).append(b)
                routes.setdefault(b, []).append(a)
        for node, peers in sorted(routes.items()):
            batch = "".join(f"route add blackhole {self.addr(p)}/32\n"
                            for p in peers)
            ip("-n", self.ns(node), "-batch", "-", stdin=batch)

    def heal(self):
        """Remove every cut."""
        for i in range(1, self.n + 1):
            ip("-n", self.ns(i), "route", "flush", "type", "blackhole")
        self.cut_pairs.clear()
