"""The history recorder (issue 7): client threads doing put/get/delete on a
few keys through the HTTP API of randomly chosen nodes, without retries,
each operation written as one JSON line (format: checker.py).

How an answer is classified (src/server/http_api.c, answer_status()):
  writes  200, and DELETE 404 "key not found" (applied through the log to
          a missing key)                               ok: true
          503 "no leader": refused before proposing; 400, 413; 409 (stale
          X-Request-Seq: not applied); no connection (nothing was sent)
                                                       ok: false
          every other 503 (timed out waiting for commit, leadership
          changed, shutting down), 500, 507, a timeout or a broken
          connection after the request went out      ok: "unknown"
  reads   200 (value), 404 "key not found" (null)      ok: true
          any other answer                             ok: false
          a timeout or a broken connection             ok: "unknown"
A client whose operation ends "unknown" takes a new client id (and a fresh
X-Client-Id session), as Jepsen does for a crashed process: the old
operation stays pending forever. Every put writes a value of its own,
"c<client>-<n>".
"""

import http.client
import json
import random
import threading
import time

FINAL_CLIENT = 1000000  # client id of the final reads


class NotSent(Exception):
    """The connection could not be made: the request never left."""


class Broken(Exception):
    """The request went out; no complete answer came back."""


def http_call(host, port, method, path, body, headers, timeout_s):
    """One request on a fresh connection. Returns (status, decoded JSON
    body or {}); raises NotSent or Broken."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        try:
            conn.connect()
        except OSError as e:
            raise NotSent(str(e)) from None
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            raise Broken(str(e)) from None
    finally:
        conn.close()
    try:
        doc = json.loads(data) if data else {}
    except ValueError:
        doc = {}
    return r.status, doc if isinstance(doc, dict) else {}


def classify_write(kind, status, doc):
    if status == 200:
        return True
    if kind == "delete" and status == 404 and doc.get("error") == \
            "key not found":
        return True
    if status == 503 and doc.get("error") == "no leader":
        return False
    if status in (400, 409, 413):
        return False
    return "unknown"


def classify_read(status, doc):
    """(ok, value)."""
    if status == 200 and isinstance(doc.get("value"), str):
        return True, doc["value"]
    if status == 404 and doc.get("error") == "key not found":
        return True, None
    return False, None


class History:
    """The JSON-lines history file, written as operations complete."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "w", encoding="utf-8")
        self.lock = threading.Lock()
        self.t0 = time.monotonic_ns()  # time 0 of `call` and `return`

    def now(self):
        return time.monotonic_ns() - self.t0

    def record(self, client, op, key, value, call, ret, ok):
        line = json.dumps({"client": client, "op": op, "key": key,
                           "value": value, "call": call, "return": ret,
                           "ok": ok}, separators=(",", ":"))
        with self.lock:
            self.f.write(line + "\n")

    def close(self):
        with self.lock:
            self.f.close()


class Client:
    """One client thread's logic (also used for the final reads)."""

    def __init__(self, history, nodes, timeout_s):
        self.history = history
        self.nodes = nodes  # [(host, http_port)], index = node id - 1
        self.timeout_s = timeout_s

    def write(self, client, seq, kind, key, value, node):
        host, port = self.nodes[node]
        headers = {"X-Client-Id": str(client + 1),
                   "X-Request-Seq": str(seq)}
        if kind == "put":
            method, path = "POST", "/kv"
            body = json.dumps({"key": key, "value": value}).encode()
            headers["Content-Type"] = "application/json"
        else:
            method, path, body = "DELETE", f"/kv/{key}", None
        call = self.history.now()
        try:
            status, doc = http_call(host, port, method, path, body, headers,
                                    self.timeout_s)
            ok = classify_write(kind, status, doc)
        except NotSent:
            ok = False
        except Broken:
            ok = "unknown"
        self.history.record(client, kind, key, value, call,
                            self.history.now(), ok)
        return ok

    def read(self, client, key, node):
        host, port = self.nodes[node]
        call = self.history.now()
        try:
            status, doc = http_call(host, port, "GET", f"/kv/{key}", None,
                                    {}, self.timeout_s)
            ok, value = classify_read(status, doc)
        except NotSent:
            ok, value = False, None
        except Broken:
            ok, value = "unknown", None
        self.history.record(client, "get", key, value, call,
                            self.history.now(), ok)
        return ok, value


class Recorder:
    """`n_clients` threads issuing a random mix of operations until
    stop()."""

    MIX = (("get", 45), ("put", 40), ("delete", 15))

    def __init__(self, history, nodes, keys, n_clients, seed, timeout_s,
                 think_s):
        self.client = Client(history, nodes, timeout_s)
        self.keys = keys
        self.n_clients = n_clients
        self.seed = seed
        self.think_s = think_s  # max pause between two ops of a thread
        self.stopping = threading.Event()
        self.threads = []

    def start(self):
        for i in range(self.n_clients):
            t = threading.Thread(target=self.run, args=(i,), daemon=True,
                                 name=f"client{i}")
            self.threads.append(t)
            t.start()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()
        self.threads = []

    def run(self, idx):
        rng = random.Random(f"{self.seed}/client{idx}")
        kinds = [k for k, w in self.MIX for _ in range(w)]
        client, seq, n = idx, 0, 0
        while not self.stopping.is_set():
            kind = rng.choice(kinds)
            key = rng.choice(self.keys)
            node = rng.randrange(len(self.client.nodes))
            n += 1
            if kind == "get":
                ok, _ = self.client.read(client, key, node)
            else:
                seq += 1
                value = f"c{client}-{n}" if kind == "put" else None
                ok = self.client.write(client, seq, kind, key, value, node)
            if ok == "unknown":
                client, seq = client + self.n_clients, 0
            time.sleep(rng.uniform(0, self.think_s))


def final_reads(history, nodes, keys, timeout_s, deadline):
    """Read every key on every node, retrying each until it succeeds or
    `deadline` (monotonic s) passes. Returns the reads that never
    succeeded, as (node index, key)."""
    c = Client(history, nodes, timeout_s)
    missing = []
    for node in range(len(nodes)):
        for key in keys:
            while c.read(FINAL_CLIENT, key, node)[0] is not True:
                if time.monotonic() > deadline:
                    missing.append((node, key))
                    break
                time.sleep(0.2)
    return missing
