"""A node refuses to start on a data directory it must not trust: a WAL
damaged in the middle (not a torn tail), or a directory of another cluster
or another node."""

import os
import subprocess

from harness import TestFailure, check, wait_until


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


def disk_full(ctx):
    """One node's data directory on a small tmpfs that the test fills up:
    writes through that node are answered with an error (507 or 503,
    "outcome unknown"), never a hang or a crash; what was acknowledged
    before stays readable; once space is back the node catches up and
    serves writes again, and after a restart every acknowledged write is
    there."""
    c = ctx.cluster(3, start=False)
    full = c.node(1)
    mnt = c.dir / "small-disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs",
                        str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        ctx.skip(f"cannot mount a tmpfs ({r.stderr.strip() or 'not root'})")
    ctx.defer(lambda: subprocess.run(["umount", "-l", str(mnt)], check=False))
    full.data_dir = mnt / "node1"
    c.check_ports_free()
    c.start()
    c.leader()
    acked = {}
    for i in range(20):
        c.put_ok(full, f"before{i}", f"v{i}")
        acked[f"before{i}"] = f"v{i}"
    filler = mnt / "filler"
    for bs in ("1M", "4k", "512"):  # fill the disk to the last block
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", f"bs={bs}",
                        "oflag=append", "conv=notrunc"],
                       capture_output=True, check=False)
    ctx.log(f"filled {mnt}: {filler.stat().st_size} bytes")
    statuses = set()
    for i in range(5):
        r = full.put(f"during{i}", "x" * 100000, timeout=15)
        statuses.add(r.status)
        check(r.status in (503, 507),
              f"write on a full disk answered {r.status}: {r.body[:200]!r}")
    check(full.alive(), "the node with the full disk exited")
    check(full.status()["id"] == 1, "the node stopped answering /status")
    for k, v in acked.items():
        got = full.get(k, stale=True)
        check(got.status == 200 and got.json()["value"] == v,
              f"acknowledged {k} unreadable on the full node: {got}")
    os.unlink(filler)
    leader = c.leader()
    idx = c.put_ok(full, "after", "space is back")
    acked["after"] = "space is back"
    c.wait_applied(c.nodes, idx, timeout=20)
    c.stop()
    c.start()
    c.leader()
    for k, v in acked.items():
        got = wait_until(f"{k} after restart",
                         lambda k=k: full.get(k, stale=True).status == 200
                         and full.get(k, stale=True), 15)
        check(got.json()["value"] == v, f"{k} after restart: {got}")
    ctx.log(f"answers on the full disk: {sorted(statuses)}; leader was "
            f"{leader}")


TESTS = [
    ("corrupt_wal", corrupt_wal, 60),
    ("foreign_data_dir", foreign_data_dir, 60),
    ("disk_full", disk_full, 120),
]
