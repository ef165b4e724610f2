#!/usr/bin/env python3
"""Unit tests of checker.py on small histories whose answer is known, a
comparison with a brute-force search on random small histories, and
generated linearizable histories of a few thousand operations; and of how
recorder.py classifies the server's answers. Prints one line a test, then
"N passed, N failed"; exits 1 if any failed.

    tests/nemesis/test_checker.py [NAME_SUBSTRING]
"""

import contextlib
import io
import itertools
import os
import random
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))

import checker  # noqa: E402
import recorder  # noqa: E402
from checker import NO, UNDECIDED, YES  # noqa: E402

U = "unknown"


def hist(*rows, key="x"):
    """Ops from rows (op, value, call, return, ok[, key])."""
    ops = []
    for n, row in enumerate(rows):
        kind, value, call, ret, ok = row[:5]
        k = row[5] if len(row) > 5 else key
        ops.append(checker.Op(n + 1, n, kind, k, value, call, ret, ok))
    return ops


def verdict(ops, budget_s=10.0):
    return checker.verdict(checker.check_history(ops, budget_s))


# ---- known answers ---------------------------------------------------------

CASES = [
    ("empty history is linearizable", [], YES),
    ("get of a missing key reads null", [("get", None, 0, 1, True)], YES),
    ("get of a never written value is a violation",
     [("get", "a", 0, 1, True)], NO),
    ("put then get of its value", [("put", "a", 0, 1, True),
                                   ("get", "a", 2, 3, True)], YES),
    ("get after an acknowledged put must not read null",
     [("put", "a", 0, 1, True), ("get", None, 2, 3, True)], NO),
    ("get concurrent with a put may read either value",
     [("put", "a", 0, 10, True), ("get", None, 1, 2, True),
      ("get", "a", 3, 4, True)], YES),
    ("no new-old inversion: a get that follows a get of the new value "
     "must not read the old one",
     [("put", "a", 0, 10, True), ("get", "a", 1, 2, True),
      ("get", None, 3, 4, True)], NO),
    ("stale read after two sequential puts is a violation",
     [("put", "a", 0, 1, True), ("put", "b", 2, 3, True),
      ("get", "a", 4, 5, True)], NO),
    ("concurrent puts may land in either order",
     [("put", "a", 0, 10, True), ("put", "b", 1, 11, True),
      ("get", "a", 12, 13, True), ("get", "a", 14, 15, True)], YES),
    ("concurrent puts land in one order only",
     [("put", "a", 0, 10, True), ("put", "b", 1, 11, True),
      ("get", "b", 12, 13, True), ("get", "a", 14, 15, True)], NO),
    ("delete makes the key missing",
     [("put", "a", 0, 1, True), ("delete", None, 2, 3, True),
      ("get", None, 4, 5, True)], YES),
    ("a deleted value does not come back",
     [("put", "a", 0, 1, True), ("delete", None, 2, 3, True),
      ("get", "a", 4, 5, True)], NO),
    ("deleting a missing key is a blind write",
     [("delete", None, 0, 1, True), ("get", None, 2, 3, True)], YES),
    ("a failed put (ok false) did not happen",
     [("put", "a", 0, 1, False), ("get", None, 2, 3, True)], YES),
    ("reading the value of a failed put is a violation",
     [("put", "a", 0, 1, False), ("get", "a", 2, 3, True)], NO),
    ("a failed or unknown get constrains nothing",
     [("put", "a", 0, 1, True), ("get", "zz", 2, 3, False),
      ("get", "yy", 4, 5, U)], YES),
    ("an unknown put may take effect long after the client gave up",
     [("put", "a", 0, 1, U), ("get", None, 2, 3, True),
      ("get", "a", 100, 101, True)], YES),
    ("an unknown put may never take effect",
     [("put", "a", 0, 1, U), ("get", None, 2, 3, True)], YES),
    ("an unknown put cannot be read before its call",
     [("get", "a", 0, 1, True), ("put", "a", 2, 3, U)], NO),
    ("an unknown put takes effect once: its value cannot come back",
     [("put", "a", 0, 1, U), ("get", "a", 2, 3, True),
      ("put", "b", 4, 5, True), ("get", "a", 6, 7, True)], NO),
    ("an unknown delete may take effect late",
     [("put", "a", 0, 1, True), ("delete", None, 2, 3, U),
      ("get", "a", 4, 5, True), ("get", None, 6, 7, True)], YES),
    ("two unknown deletes can serve two separate deletions",
     [("put", "a", 0, 1, True), ("delete", None, 2, 3, U),
      ("delete", None, 4, 5, U), ("get", None, 6, 7, True),
      ("put", "b", 8, 9, True), ("get", None, 10, 11, True)], YES),
    ("one unknown delete cannot serve two deletions",
     [("put", "a", 0, 1, True), ("delete", None, 2, 3, U),
      ("get", None, 6, 7, True), ("put", "b", 8, 9, True),
      ("get", None, 10, 11, True)], NO),
    ("an op returning exactly when another is called overlaps it",
     [("put", "a", 0, 5, True), ("get", None, 5, 6, True)], YES),
]


def test_known_answers():
    errs = []
    for name, rows, want in CASES:
        got = verdict(hist(*rows))
        if got != want:
            errs.append(f"{name}: want {want}, got {got}")
    return errs


def test_keys_are_checked_independently():
    ops = hist(("put", "a", 0, 1, True, "x"), ("get", "a", 2, 3, True, "x"),
               ("put", "b", 0, 1, True, "y"), ("get", None, 2, 3, True, "y"))
    res = checker.check_history(ops)
    got = {k: r.outcome for k, r in res.items()}
    if got != {"x": YES, "y": NO}:
        return [f"per-key outcomes {got}"]
    if checker.verdict(res) != NO:
        return ["one bad key must make the history not linearizable"]
    if "get" not in res["y"].detail or "line 4" not in res["y"].detail:
        return [f"the detail must name the stuck get: {res['y'].detail!r}"]
    return []


def test_value_written_to_another_key_is_a_violation():
    ops = hist(("put", "a", 0, 1, True, "x"), ("get", "a", 2, 3, True, "y"))
    return [] if verdict(ops) == NO else ["cross-key read accepted"]


def test_out_of_budget_is_undecided_not_a_guess():
    rng = random.Random(5)
    ops = generated_history(rng, 3000, 10)
    got = checker.check_history(ops, budget_s=0.0)
    outs = {r.outcome for r in got.values()}
    if outs != {UNDECIDED}:
        return [f"budget 0 gave {outs}, want undecided"]
    if checker.verdict(got) != UNDECIDED:
        return ["overall verdict must be undecided"]
    return []


def test_lost_writes_by_final_read():
    errs = []
    # put a, put b acknowledged in sequence, the final read sees a: b lost.
    ops = hist(("put", "a", 0, 1, True), ("put", "b", 2, 3, True),
               ("get", "a", 10, 11, True))
    n, lost, _ = checker.lost_writes(ops)
    if n != 2 or [op.value for op in lost] != ["b"]:
        errs.append(f"stale final read: acked {n}, lost {lost}")
    # Concurrent puts: either may win, nothing is lost.
    ops = hist(("put", "a", 0, 5, True), ("put", "b", 1, 6, True),
               ("get", "a", 10, 11, True))
    if checker.lost_writes(ops)[1]:
        errs.append("concurrent puts: nothing may count as lost")
    # An unknown delete may land at any time: a missing key loses nothing.
    ops = hist(("delete", None, 0, 1, U), ("put", "b", 2, 3, True),
               ("get", None, 10, 11, True))
    if checker.lost_writes(ops)[1]:
        errs.append("an unknown delete may explain a missing key")
    # A missing key after an acknowledged put and no delete: lost.
    ops = hist(("put", "b", 2, 3, True), ("get", None, 10, 11, True))
    if len(checker.lost_writes(ops)[1]) != 1:
        errs.append("a vanished put must count as lost")
    # Keys without a final read are listed.
    ops = hist(("put", "b", 2, 3, True), ("get", "b", 1, 4, True))
    if checker.lost_writes(ops)[2] != ["x"]:
        errs.append("a key without a final read must be reported")
    return errs


def test_history_file_errors_name_the_line():
    errs = []
    bad = [
        ('{"client":1}', "missing field"),
        ('not json', "bad JSON"),
        ('{"client":1,"op":"cas","key":"x","value":null,"call":0,'
         '"return":1,"ok":true}', "op must be"),
        ('{"client":1,"op":"put","key":"x","value":null,"call":0,'
         '"return":1,"ok":true}', "string value"),
        ('{"client":1,"op":"get","key":"x","value":null,"call":5,'
         '"return":1,"ok":true}', "return before call"),
        ('{"client":1,"op":"get","key":"x","value":null,"call":0,'
         '"return":1,"ok":"maybe"}', "ok must be"),
    ]
    good = ('{"client":1,"op":"get","key":"x","value":null,"call":0,'
            '"return":1,"ok":true}')
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "h.jsonl")
        for text, want in bad:
            with open(p, "w") as f:
                f.write(good + "\n\n" + text + "\n")
            try:
                checker.load_history(p)
                errs.append(f"accepted {text!r}")
            except checker.HistoryError as e:
                if "line 3" not in str(e) or want not in str(e):
                    errs.append(f"{text!r}: message {e}")
        with open(p, "w") as f:
            f.write(good + "\n")
        if len(checker.load_history(p)) != 1:
            errs.append("a good line was not loaded")
        with contextlib.redirect_stdout(io.StringIO()):
            rc = checker.main([p])
        if rc != 0:
            errs.append("main() on a linearizable history must return 0")
    return errs


def test_answers_are_classified_by_what_they_prove():
    """ok:false only when the server says the write was not proposed or
    not applied; any other failure of a write is unknown."""
    errs = []
    nf = {"error": "key not found"}
    writes = [
        ("put", 200, {"ok": True}, True),
        ("delete", 200, {"ok": True}, True),
        ("delete", 404, nf, True),
        ("put", 503, {"error": "no leader"}, False),
        ("put", 400, {"error": "empty key"}, False),
        ("put", 413, {"error": "value too large"}, False),
        ("put", 409, {"error": "stale X-Request-Seq"}, False),
        ("put", 503, {"error": "timed out waiting for commit: outcome "
                               "unknown"}, U),
        ("delete", 503, {"error": "leadership changed: outcome unknown"}, U),
        ("put", 503, {"error": "node shutting down"}, U),
        ("put", 500, {"error": "I/O error"}, U),
        ("put", 507, {"error": "disk full"}, U),
        ("put", 404, nf, U),
    ]
    for kind, status, doc, want in writes:
        got = recorder.classify_write(kind, status, doc)
        if got != want:
            errs.append(f"{kind} {status} {doc}: want {want}, got {got}")
    reads = [
        (200, {"key": "k", "value": "v"}, (True, "v")),
        (404, nf, (True, None)),
        (404, {"error": "no such path"}, (False, None)),
        (503, {"error": "timed out: no quorum?"}, (False, None)),
        (200, {"key": "k"}, (False, None)),
    ]
    for status, doc, want in reads:
        got = recorder.classify_read(status, doc)
        if got != want:
            errs.append(f"get {status} {doc}: want {want}, got {got}")
    return errs


# ---- brute force on random small histories ---------------------------------

def brute_force(ops):
    """Linearizable? By trying every subset of the unknown writes and every
    order consistent with real time."""
    ops = [o for o in ops if o.ok is not False and
           (o.kind != "get" or o.ok is True)]
    must = [o for o in ops if o.ok is True]
    maybe = [o for o in ops if o.ok is not True]
    for r in range(len(maybe) + 1):
        for extra in itertools.combinations(maybe, r):
            chosen = must + list(extra)
            for perm in itertools.permutations(chosen):
                if legal_order(perm):
                    return True
    return False


def legal_order(perm):
    state = None
    for j, o in enumerate(perm):
        # Real time: nothing later in the order may have returned before
        # this one was called.
        for later in perm[j + 1:]:
            if later.ok is True and later.ret < o.call:
                return False
        ok, state = checker.step(o, state)
        if not ok:
            return False
    return True


def random_small_history(rng, n):
    rows = []
    values = []
    for i in range(n):
        call = rng.randrange(0, 20)
        ret = call + rng.randrange(0, 8)
        ok = rng.choice([True, True, True, False, U])
        kind = rng.choice(["put", "put", "get", "get", "delete"])
        if kind == "put":
            value = f"v{i}"
            values.append(value)
        elif kind == "get":
            value = rng.choice(values + [None, None]) if values else None
        else:
            value = None
        rows.append((kind, value, call, ret, ok))
    return hist(*rows)


def test_agrees_with_brute_force_on_random_histories():
    rng = random.Random(42)
    errs = []
    counts = {YES: 0, NO: 0}
    for t in range(600):
        ops = random_small_history(rng, rng.randrange(1, 7))
        want = YES if brute_force(ops) else NO
        got = verdict(ops)
        counts[got] = counts.get(got, 0) + 1
        if got != want:
            errs.append(f"history {t}: want {want}, got {got}: {ops}")
            if len(errs) > 3:
                break
    if not errs and min(counts[YES], counts[NO]) < 50:
        errs.append(f"random histories too one-sided: {counts}")
    return errs


# ---- large generated histories ---------------------------------------------

def generated_history(rng, n, clients):
    """A linearizable history: each op takes effect at a random point
    inside its interval, on one register; some writes are unknown (their
    effect, if any, after the call), some fail."""
    events = []  # (effect time, op row builder)
    t = [rng.randrange(0, 50) for _ in range(clients)]
    rows = []
    for i in range(n):
        c = rng.randrange(clients)
        call = t[c]
        ret = call + rng.randrange(1, 60)
        t[c] = ret + rng.randrange(0, 20)
        kind = rng.choice(["put", "put", "get", "get", "get", "delete"])
        fate = rng.choice([True] * 8 + [False, U])
        if kind == "get":
            fate = True
        effect = rng.uniform(call, ret)
        if fate == U:
            effect = rng.choice([None, rng.uniform(call, ret + 200)])
        elif fate is False:
            effect = None
        rows.append([kind, f"v{i}" if kind == "put" else None, call, ret,
                     fate, effect])
    state = None
    for row in sorted((r for r in rows if r[5] is not None),
                      key=lambda r: r[5]):
        if row[0] == "get":
            row[1] = state
        elif row[0] == "put":
            state = row[1]
        else:
            state = None
    return hist(*[tuple(r[:5]) for r in rows])


def test_large_generated_histories_are_linearizable():
    rng = random.Random(7)
    errs = []
    for n, clients in ((2000, 4), (3000, 10)):
        ops = generated_history(rng, n, clients)
        res = checker.check_history(ops, budget_s=60.0)
        r = res["x"]
        if r.outcome != YES:
            errs.append(f"{n} ops, {clients} clients: {r.outcome} "
                        f"({r.detail[:200]})")
    return errs


def test_large_history_with_a_stale_read_is_not_linearizable():
    rng = random.Random(8)
    ops = generated_history(rng, 2000, 6)
    # Append, after everything, two sequential puts and a read of the first.
    end = max(op.ret for op in ops) + 10
    ops += hist(("put", "late1", end, end + 1, True),
                ("put", "late2", end + 2, end + 3, True),
                ("get", "late1", end + 4, end + 5, True))
    got = verdict(ops, budget_s=60.0)
    return [] if got == NO else [f"want no, got {got}"]


TESTS = [(name[5:], fn) for name, fn in sorted(globals().items())
         if name.startswith("test_") and callable(fn)]


def main(argv):
    passed = failed = 0
    for name, fn in TESTS:
        if argv and not any(a in name for a in argv):
            continue
        errs = fn()
        if errs:
            failed += 1
            for e in errs:
                print(f"FAIL checker/{name}: {e}")
        else:
            passed += 1
            print(f"ok   checker/{name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
