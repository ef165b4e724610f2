#!/usr/bin/env python3
"""Linearizability checker for the nemesis histories (issue 7): a
Wing-Gong search with Lowe's memoization, in the form Porcupine uses (a
linked list of call and return events, lifted and put back as the search
goes and backtracks), over a key-value register with delete, one key at a
time (a history is linearizable iff each key's is).

History: one JSON object a line,
  {"client": int, "op": "put"|"get"|"delete", "key": str,
   "value": str|null, "call": ns, "return": ns, "ok": true|false|"unknown"}
`value` is what a put wrote or what a get read (null: the key was
missing, HTTP 404); a delete's is null. `ok: false` means the operation
certainly did not take effect; `"unknown"` that it may have, at any time
after its call, or never (its `return` is when the client gave up).

Model: the state of a key is its value or None (missing). put(v) sets v,
delete sets None (a blind write: deleting a missing key is not an error),
get(v) is legal only in state v.

What the search leaves out, and why that is exact:
  (a) ok:false operations, and gets that failed: they did not happen, or
      constrain nothing;
  (b) unknown puts whose value no get returned: if a linearization
      contains one, the stretch until the next write has state v, which no
      get reads, so deleting it leaves a valid linearization;
  (c) of several pending unknown deletes, only the earliest-called one is
      tried at each step: all of them are interchangeable from then on;
  (d) an unknown delete is never tried when the key is already missing: not
      taking it now is never worse.
The memo is keyed by (128-bit Zobrist hash of the linearized set, state),
so it costs O(1) a step. A collision could only prune a branch wrongly (a
false "no", never a false "yes"); with at most MEMO_MAX entries its odds
are below 2^-80 per key.

Each key's search gets a time budget and a memory bound (MEMO_MAX): past
either, the key is "undecided", never a guess. Also reported: acknowledged
writes lost, by the final reads (see lost_writes()).

Usage: checker.py HISTORY.jsonl [--budget-s S]
Prints one line per key and a summary; exits 0 (linearizable), 1 (not),
2 (undecided or unreadable history).
"""

import argparse
import json
import random
import sys
import textwrap
import time

OPS = ("put", "get", "delete")
YES, NO, UNDECIDED = "yes", "no", "undecided"
MEMO_MAX = 2_000_000  # configurations remembered per key (~300 MB)


class HistoryError(Exception):
    """The history file is malformed; the message names the line."""


class Op:
    """One operation of the history."""

    __slots__ = ("line", "client", "kind", "key", "value", "call", "ret",
                 "ok")

    def __init__(self, line, client, kind, key, value, call, ret, ok):
        self.line = line      # 1-based line in the history file
        self.client = client  # client (process) id
        self.kind = kind      # "put", "get" or "delete"
        self.key = key
        self.value = value    # str, or None (missing / delete)
        self.call = call      # ns
        self.ret = ret        # ns: return, or when the client gave up
        self.ok = ok          # True, False or "unknown"

    def __repr__(self):
        v = "null" if self.value is None else repr(self.value)
        ok = {True: "ok", False: "fail"}.get(self.ok, "unknown")
        return (f"line {self.line}: client {self.client} {self.kind} "
                f"{self.key!r} {v} [{self.call / 1e9:.6f} s, "
                f"{self.ret / 1e9:.6f} s] {ok}")


def parse_op(obj, line):
    """Validate one decoded JSON line and return an Op."""
    if not isinstance(obj, dict):
        raise HistoryError(f"line {line}: expected a JSON object")
    for field in ("client", "op", "key", "value", "call", "return", "ok"):
        if field not in obj:
            raise HistoryError(f"line {line}: missing field {field!r}")
    client, kind, key = obj["client"], obj["op"], obj["key"]
    value, call, ret, ok = obj["value"], obj["call"], obj["return"], obj["ok"]
    if not isinstance(client, int) or isinstance(client, bool):
        raise HistoryError(f"line {line}: client must be an integer")
    if kind not in OPS:
        raise HistoryError(f"line {line}: op must be put, get or delete")
    if not isinstance(key, str):
        raise HistoryError(f"line {line}: key must be a string")
    if not (value is None or isinstance(value, str)):
        raise HistoryError(f"line {line}: value must be a string or null")
    if kind == "put" and value is None:
        raise HistoryError(f"line {line}: a put needs a string value")
    if kind == "delete" and value is not None:
        raise HistoryError(f"line {line}: a delete's value is null")
    for name, t in (("call", call), ("return", ret)):
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise HistoryError(f"line {line}: {name} must be a "
                               f"non-negative integer (ns)")
    if ret < call:
        raise HistoryError(f"line {line}: return before call")
    if ok not in (True, False, "unknown"):
        raise HistoryError(f"line {line}: ok must be true, false or "
                           f"\"unknown\"")
    return Op(line, client, kind, key, value, call, ret, ok)


def load_history(path):
    """Read a history file; raises HistoryError or OSError."""
    ops = []
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise HistoryError(f"line {line}: bad JSON: {e}") from None
            ops.append(parse_op(obj, line))
    return ops


def by_key(ops):
    keys = {}
    for op in ops:
        keys.setdefault(op.key, []).append(op)
    return keys


def search_set(ops):
    """The operations of one key the search must place, per (a) and (b)
    of the module comment."""
    read = {op.value for op in ops if op.kind == "get" and op.ok is True}
    out = []
    for op in ops:
        if op.ok is False:
            continue
        if op.kind == "get" and op.ok is not True:
            continue
        if op.kind == "put" and op.ok is not True and op.value not in read:
            continue
        out.append(op)
    return out


class KeyResult:
    """The outcome for one key."""

    def __init__(self, key, outcome, n_ops, seconds, detail="", stuck=None):
        self.key = key
        self.outcome = outcome  # YES, NO or UNDECIDED
        self.n_ops = n_ops      # operations the search placed
        self.seconds = seconds  # search time
        self.detail = detail    # NO: where it got stuck; else ""
        self.stuck = stuck      # NO: the Op no order gets past


class Events:
    """Porcupine's doubly linked list of events: node 2i is op i's call,
    2i+1 its return (absent for unknown ops), node 2n the head. lift()
    and unlift() must be called in LIFO order (dancing links)."""

    def __init__(self, ops):
        n = len(ops)
        ev = [(op.call, 0, 2 * i) for i, op in enumerate(ops)]
        ev += [(op.ret, 1, 2 * i + 1) for i, op in enumerate(ops)
               if op.ok is True]
        ev.sort()  # at equal times calls first: concurrent, not ordered
        self.head = 2 * n
        self.nxt = [-1] * (2 * n + 1)
        self.prv = [-1] * (2 * n + 1)
        prev = self.head
        for _, _, node in ev:
            self.nxt[prev] = node
            self.prv[node] = prev
            prev = node
        self.known = [op.ok is True for op in ops]

    def _remove(self, x):
        nxt, prv = self.nxt, self.prv
        nxt[prv[x]] = nxt[x]
        if nxt[x] != -1:
            prv[nxt[x]] = prv[x]

    def _restore(self, x):
        nxt, prv = self.nxt, self.prv
        nxt[prv[x]] = x
        if nxt[x] != -1:
            prv[nxt[x]] = x

    def lift(self, i):
        self._remove(2 * i)
        if self.known[i]:
            self._remove(2 * i + 1)

    def unlift(self, i):
        if self.known[i]:
            self._restore(2 * i + 1)
        self._restore(2 * i)


def step(op, state):
    """The model: (legal, next state)."""
    if op.kind == "get":
        return op.value == state, state
    if op.kind == "put":
        return True, op.value
    return True, None


def check_key(key, ops, budget_s):
    """Search one key's operations (search_set() applied). Returns a
    KeyResult."""
    start = time.monotonic()
    deadline = start + budget_s
    n = len(ops)
    rng = random.Random(0x6e656d)  # fixed: runs are reproducible
    zob = [rng.getrandbits(128) for _ in range(n)]
    ev = Events(ops)
    nxt, head = ev.nxt, ev.head
    unknown_del = [op.ok is not True and op.kind == "delete" for op in ops]
    remaining = sum(ev.known)
    state, lin, ud_seen = None, 0, False
    stack, memo = [], set()
    deepest = (-1, None, None)  # (ops placed, stuck op, state there)
    steps = 0
    e = nxt[head]
    while remaining > 0:
        steps += 1
        if (steps & 4095) == 0 and (time.monotonic() > deadline or
                                    len(memo) > MEMO_MAX):
            return KeyResult(key, UNDECIDED, n, time.monotonic() - start,
                             f"no answer within {budget_s:g} s and "
                             f"{MEMO_MAX} configurations")
        assert e != -1, "a known op's return is always ahead"
        i = e >> 1
        if e & 1 == 0:
            tried = True
            if unknown_del[i]:
                tried = state is not None and not ud_seen
                ud_seen = True
            if tried:
                legal, new = step(ops[i], state)
                nl = lin ^ zob[i]
                if legal and (nl, new) not in memo:
                    memo.add((nl, new))
                    stack.append((i, state, ud_seen))
                    state, lin = new, nl
                    ev.lift(i)
                    remaining -= ev.known[i]
                    e, ud_seen = nxt[head], False
                    continue
            e = nxt[e]
            continue
        # The return of an op not yet placed: undo the last choice.
        if len(stack) > deepest[0]:
            deepest = (len(stack), ops[i], state)
        if not stack:
            return KeyResult(key, NO, n, time.monotonic() - start,
                             stuck_detail(ops, deepest), deepest[1])
        i, state, ud_seen = stack.pop()
        lin ^= zob[i]
        ev.unlift(i)
        remaining += ev.known[i]
        e = nxt[2 * i]
    return KeyResult(key, YES, n, time.monotonic() - start)


def stuck_detail(ops, deepest):
    """Name the operation the longest partial linearization could not get
    past, the last writes that returned before it was called, and the
    operations concurrent with it."""
    placed, op, state = deepest
    s = "null" if state is None else repr(state)
    before = [o for o in ops if o.kind != "get" and o.ok is True and
              o.ret < op.call]
    before.sort(key=lambda o: o.ret)
    lines = [f"after {placed} ops placed (state {s}), no legal order "
             f"reaches the return of {op}",
             "  the last acknowledged writes before its call:"]
    lines += [f"    {o}" for o in before[-3:]]
    lines.append("  concurrent with it:")
    lines += [f"    {o}" for o in ops
              if o is not op and o.call <= op.ret and
              (o.ok is not True or o.ret >= op.call)][:30]
    return "\n".join(lines)


def check_history(ops, budget_s=60.0):
    """Check every key; returns {key: KeyResult}, keys in sorted order."""
    return {k: check_key(k, search_set(v), budget_s)
            for k, v in sorted(by_key(ops).items())}


def verdict(results):
    """The overall outcome: NO if any key is NO, else UNDECIDED if any
    is, else YES."""
    outcomes = {r.outcome for r in results.values()}
    if NO in outcomes:
        return NO
    return UNDECIDED if UNDECIDED in outcomes else YES


def final_reads(ops):
    """{key: the last successful get called after every write to any key
    returned or was given up on}: the reads taken once the cluster is
    healed and quiet."""
    writes_end = max((op.ret for op in ops if op.kind != "get"), default=-1)
    out = {}
    for op in ops:
        if op.kind == "get" and op.ok is True and op.call > writes_end:
            if op.key not in out or op.call > out[op.key].call:
                out[op.key] = op
    return out


def lost_writes(ops):
    """Acknowledged writes (ok put or delete) that the final read of their
    key contradicts. A write x is lost when every write that could have
    produced the final value (the puts of that value; for a missing key,
    every delete, and the initial state) returned before x was called: x
    then follows all of them in real time, so the final value cannot
    reflect x. Unknown writes count as returning never. Returns
    (number of acknowledged writes, list of lost Ops, keys without a
    final read)."""
    keys = by_key(ops)
    finals = final_reads(ops)
    acked = [op for op in ops if op.kind != "get" and op.ok is True]
    lost = []
    for key, kops in keys.items():
        if key not in finals:
            continue
        v = finals[key].value
        producers = [op for op in kops if op.kind != "get" and
                     op.ok is not False and
                     (op.value == v if v is not None else op.kind == "delete")]
        latest = max((op.ret if op.ok is True else float("inf")
                      for op in producers), default=-1)
        lost += [op for op in kops if op.kind != "get" and op.ok is True
                 and op.call > latest]
    no_final = sorted(k for k in keys if k not in finals)
    return len(acked), lost, no_final


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("history")
    ap.add_argument("--budget-s", type=float, default=60.0,
                    help="search time per key (default 60)")
    args = ap.parse_args(argv)
    try:
        ops = load_history(args.history)
    except (OSError, HistoryError) as e:
        print(f"checker: {args.history}: {e}", file=sys.stderr)
        return 2
    results = check_history(ops, args.budget_s)
    for r in results.values():
        print(f"key {r.key}: {r.outcome} ({r.n_ops} ops, {r.seconds:.2f} s)")
        if r.detail:
            print(textwrap.indent(r.detail, "    "))
    n_acked, lost, _ = lost_writes(ops)
    print(f"acknowledged writes: {n_acked}")
    print(f"lost acknowledged writes: {len(lost)}")
    v = verdict(results)
    print(f"linearizable: {v}")
    return {YES: 0, NO: 1}.get(v, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
