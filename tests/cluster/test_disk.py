"""A node refuses to start on a data directory it must not trust: a WAL
damaged in the middle (not a torn tail), or a directory of another cluster
or another node."""

from harness import TestFailure, check


def corrupt_wal(ctx):
    """A byte flipped in the middle of a WAL segment: the node exits with a
    non-zero code and a message naming the file and the offset; the other
    two nodes go on committing."""
    c = ctx.cluster(3)
    leader = c.leader()
    victim = c.followers(leader)[0]
    for i in range(200):
        c.put_ok(leader, f"w{i}", f"value-{i}-" + "x" * 40)
    c.wait_applied([victim], leader.status()["commit_index"])
    victim.stop()
    segments = sorted((victim.data_dir / "wal").iterdir(),
                      key=lambda p: p.stat().st_size)
    check(segments, f"no WAL segment under {victim.data_dir / 'wal'}")
    seg = segments[-1]
    data = bytearray(seg.read_bytes())
    off = len(data) // 2
    data[off] ^= 0x40
    seg.write_bytes(bytes(data))
    ctx.log(f"flipped byte {off} of {seg} ({len(data)} bytes)")
    victim.start()
    code = victim.wait_exit(15)
    log = victim.log_text()
    last = log.strip().splitlines()[-1] if log.strip() else ""
    check(code not in (0, None) and code > 0,
          f"exit code {code} on a corrupted WAL; log ends: {last!r}")
    check(seg.name in log and "offset" in log,
          f"the message does not name {seg.name} and an offset: {last!r}")
    c.put_ok(leader, "still", "committing")
    check(leader.read("still").status == 200, "the majority stopped serving")


def foreign_data_dir(ctx):
    """A node pointed at another cluster's data directory, or at another
    node's, exits with code 2 and says whose directory it is."""
    a = ctx.cluster(3)
    a.put_ok(a.leader(), "mine", "a")
    a.stop()
    b = ctx.cluster(3, start=False)
    intruder = b.node(1)
    intruder.data_dir = a.node(1).data_dir
    intruder.start()
    code = intruder.wait_exit(15)
    check(code == 2, f"another cluster's data dir: exit code {code}, want 2")
    check("belongs to cluster" in intruder.log_text(),
          f"no clear message: {intruder.log_text()[-300:]!r}")
    swapped = a.node(2)
    swapped.data_dir = a.node(1).data_dir
    swapped.start()
    code = swapped.wait_exit(15)
    check(code == 2, f"another node's data dir: exit code {code}, want 2")
    # The rightful owner still starts on it.
    owner = a.node(1)
    owner.start()
    owner.wait_up()
    if not owner.alive():
        raise TestFailure("node 1 no longer starts on its own data dir")


TESTS = [
    ("corrupt_wal", corrupt_wal, 60),
    ("foreign_data_dir", foreign_data_dir, 60),
]
