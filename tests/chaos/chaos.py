#!/usr/bin/env python3
"""Chaos run against a real cluster: concurrent customers and a merchant through HTTP while nodes are killed
(kill -9, restarted on the same data dir) and frozen (SIGSTOP past the failure detector, then SIGCONT), on a
schedule drawn from the seed. Every operation is recorded (invocation, completion, ok / refused / unknown). After
the faults stop and the cluster heals, the invariants are checked through every node:

  acked      every acknowledged order exists, in a state its acknowledged (or possibly-applied) history allows
  stock      per item: stock + units held by non-cancelled orders == initial stock (no oversell, no lost or
             double reservation), the same on every node
  once       an idempotency key gave one order id; no order appears twice; an unknown outcome happened at most once
  listing    every node lists the same orders for the merchant, and every acknowledged one among them
  healed     every node answers and every shard has a leader within 30 s of the last fault

Prints a report (operations, faults and their unavailability windows, invariants) and exits 1 on a violation,
printing the seed and the command that replays the schedule; node logs of a failed run are kept.

Usage: tests/chaos/chaos.py [--seconds 60] [--seed 1] [--nodes 5] [--binary build/bin/bento-node]
Not yet: partitions and delays (tests/support/tcp_proxy does them for the C++ tests), wiped data dirs, disk
faults, SDK clients, two faults at once.
"""
import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from bench_common import Client, start_cluster  # noqa: E402

RETRY_STATUSES = (429, 503, 504)
ITEMS = ["katsu", "curry", "soba", "tofu", "eel"]


class Cluster:
    def __init__(self, nodes):
        self.nodes = nodes
        self.down = set()    # indexes killed and not yet restarted
        self.frozen = set()  # indexes stopped with SIGSTOP
        self.lock = threading.Lock()

    def live(self):
        with self.lock:
            return [i for i in range(len(self.nodes)) if i not in self.down and i not in self.frozen]


class History:
    def __init__(self):
        self.ops = []
        self.lock = threading.Lock()

    def add(self, **op):
        with self.lock:
            self.ops.append(op)


def call_any(cluster, rng, token, method, path, body=None, key=None, budget_s=10.0):
    """One operation, retried on other nodes while the answer is "not now"; ('ok'|'refused'|'unknown', status, body)."""
    deadline = time.time() + budget_s
    last = (None, None)
    attempts = []  # (node, status) of every try, for the history
    # An attempt that may have been applied (504, or a connection lost after sending) makes a later refusal
    # ambiguous for an operation without a key: a second confirm of a confirmed order is refused.
    uncertain = False
    while time.time() < deadline:
        live = cluster.live()
        i = rng.choice(live or list(range(len(cluster.nodes))))
        c = Client(cluster.nodes[i].port, token)
        c.conn.timeout = 3
        headers_key = key
        try:
            if headers_key:
                # bench_common.Client has no header parameter: build the request by hand.
                c.conn.request(method, path, body=None if body is None else json.dumps(body),
                               headers={"Content-Type": "application/json", "Authorization": "Bearer " + token,
                                        "Idempotency-Key": headers_key})
                r = c.conn.getresponse()
                raw = r.read()
                status, payload = r.status, (json.loads(raw) if raw else None)
            else:
                status, payload = c.call(method, path, body)
        except Exception:  # a killed or frozen node: try another (the same key makes it safe)
            status, payload = None, None
        finally:
            c.conn.close()
        last = (status, payload)
        attempts.append((cluster.nodes[i].id, status, (payload or {}).get("error") if status and status >= 300 else None))
        if status is None or status == 504:
            uncertain = True
        if status is not None and status not in RETRY_STATUSES:
            if status >= 300 and uncertain and not key:
                return "unknown", status, payload, attempts
            return ("ok" if status < 300 else "refused"), status, payload, attempts
        time.sleep(0.05)  # back-off between attempts of one operation
    return "unknown", last[0], last[1], attempts


def sign_up_retrying(client, username, role):
    """Setup is not under test: on a busy machine a call may time out, so each step is retried (bounded)."""
    for attempt in range(20):
        status, _ = client.call("POST", "/api/v1/users", {"username": username, "password": "attack-password",
                                                         "email": username + "@example.com", "role": role,
                                                         "place": "taipei"})
        if status in (201, 409):  # 409: an earlier try that timed out did register
            break
        time.sleep(0.5)  # back-off of a bounded retry
    for attempt in range(20):
        try:
            client.login(username)
            return
        except AssertionError:
            if attempt == 19:
                raise
            time.sleep(0.5)  # back-off of a bounded retry


def workload(cluster, history, stop, seed, index, customers, merchant_token, rid, orders, orders_lock):
    rng = random.Random(seed * 1000 + index)
    n = 0
    while not stop.is_set():
        n += 1
        roll = rng.random()
        with orders_lock:
            mine = [o for o in orders.values() if o["customer"] == index % len(customers)]
            placed = [o for o in orders.values() if o["status"] == "placed"]
        if roll < 0.7 or not placed:
            token = customers[index % len(customers)]
            key = "w%d-%d" % (index, n)
            lines = rng.sample(ITEMS, rng.randint(1, 2))
            body = {"restaurant_id": rid, "meal": "lunch",
                    "items": [{"item_id": it, "qty": rng.randint(1, 2)} for it in lines]}
            t0 = time.time()
            outcome, status, payload, tries = call_any(cluster, rng, token, "POST", "/api/v1/orders", body, key=key)
            history.add(kind="place", key=key, start=t0, end=time.time(), outcome=outcome, status=status,
                        order=(payload or {}).get("id") if outcome == "ok" else None, body=body, attempts=tries)
            if outcome == "ok":
                with orders_lock:
                    orders[payload["id"]] = {"id": payload["id"], "status": "placed", "customer": index % len(customers),
                                             "maybe": set(), "key": key}
        else:
            o = rng.choice(placed if roll < 0.85 else (mine or placed))
            action = "confirm" if roll < 0.85 else "cancel"
            token = merchant_token if action == "confirm" else customers[o["customer"]]
            t0 = time.time()
            outcome, status, payload, tries = call_any(cluster, rng, token, "POST",
                                                       "/api/v1/orders/%s/%s" % (o["id"], action))
            history.add(kind=action, order=o["id"], start=t0, end=time.time(), outcome=outcome, status=status,
                        attempts=tries)
            with orders_lock:
                if outcome == "ok":
                    o["status"] = payload["status"]
                elif outcome == "unknown":
                    o["maybe"].add("confirmed" if action == "confirm" else "cancelled")


def faults(cluster, stop, seed, report):
    rng = random.Random(seed)
    while not stop.wait(rng.uniform(2.0, 5.0)):
        i = rng.randrange(len(cluster.nodes))
        node = cluster.nodes[i]
        kind = rng.choice(["kill", "kill", "pause"])
        t0 = time.time()
        if kind == "kill":
            node.proc.kill()
            node.proc.wait()
            with cluster.lock:
                cluster.down.add(i)
            if stop.wait(rng.uniform(1.0, 4.0)):
                pass
            node.start(timeout_s=60)
            with cluster.lock:
                cluster.down.discard(i)
        else:
            with cluster.lock:
                cluster.frozen.add(i)
            node.proc.send_signal(signal.SIGSTOP)
            stop.wait(rng.uniform(2.5, 5.0))  # past the failure detector's timeout
            node.proc.send_signal(signal.SIGCONT)
            with cluster.lock:
                cluster.frozen.discard(i)
        report.append({"kind": kind, "node": node.id, "start": t0, "end": time.time()})


def healed(cluster, timeout_s=30):
    """(True, None) once every node names a leader for every shard, else (False, what was missing)."""
    deadline = time.time() + timeout_s
    missing = None
    while time.time() < deadline:
        missing = []
        for n in cluster.nodes:
            try:
                status, view = Client(n.port).call("GET", "/api/v1/cluster")
                if status != 200:
                    missing.append("%s answers %s" % (n.id, status))
                    continue
                missing += ["%s: shard %s has no leader" % (n.id, g.get("shard")) for g in view.get("shard_groups", [])
                            if not g.get("leader")]
            except Exception as e:
                missing.append("%s: %s" % (n.id, e))
        if not missing:
            return True, None
        time.sleep(0.2)  # polling interval of a bounded wait
    return False, missing


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--binary", default="build/bin/bento-node")
    p.add_argument("--log-level", default="warn", help="the nodes' BENTO_LOG_LEVEL (info to diagnose a failure)")
    a = p.parse_args()
    replay = "tests/chaos/chaos.py --seconds %d --seed %d --nodes %d" % (a.seconds, a.seed, a.nodes)
    top = tempfile.mkdtemp(prefix="bento-chaos-")
    nodes = start_cluster(a.binary, top, a.nodes, "chaos-cluster-secret-0123",
                          {"BENTO_REPLICAS": "3", "BENTO_SHARDS": "16", "BENTO_LOG_LEVEL": a.log_level})
    cluster = Cluster(nodes)
    violations = []
    try:
        rng = random.Random(a.seed)
        setup = Client(nodes[0].port)
        sign_up_retrying(setup, "chaosm", "merchant")
        status, r = setup.call("POST", "/api/v1/restaurants", {"name": "Chaos Kitchen", "place": "taipei"})
        assert status == 201, (status, r)
        rid = r["id"]
        initial = {}
        for it in ITEMS:
            initial[it] = 1500
            status, _ = setup.call("PUT", "/api/v1/restaurants/%s/menu/items/%s" % (rid, it),
                                   {"name": it, "price_cents": 500, "stock": initial[it]})
            assert status in (200, 201), status
        customers = []
        for c in range(10):
            cl = Client(nodes[c % len(nodes)].port)
            sign_up_retrying(cl, "chaosc%d" % c, "customer")
            customers.append(cl.token)
        history, orders, orders_lock = History(), {}, threading.Lock()
        stop, fault_report = threading.Event(), []
        workers = [threading.Thread(target=workload, args=(cluster, history, stop, a.seed, w, customers, setup.token,
                                                           rid, orders, orders_lock)) for w in range(a.workers)]
        fault_thread = threading.Thread(target=faults, args=(cluster, stop, a.seed, fault_report))
        for t in workers + [fault_thread]:
            t.start()
        time.sleep(a.seconds)  # the run's length, not a synchronisation
        stop.set()
        for t in workers + [fault_thread]:
            t.join()
        last_fault = max([f["end"] for f in fault_report] or [time.time()])
        ok, missing = healed(cluster)
        if not ok:
            violations.append("healed: not every node answers with a leader for every shard within 30 s: %s"
                              % "; ".join(missing[:6]))
            for n in nodes:  # what each node says, for diagnosis
                try:
                    _, view = Client(n.port).call("GET", "/api/v1/cluster")
                    with open(os.path.join(top, "cluster-%s.json" % n.id), "w") as f:
                        json.dump(view, f, indent=1)
                except Exception:
                    pass
        heal_s = time.time() - last_fault

        # Reads through every node.
        ops = history.ops
        acked = {o["order"] for o in ops if o["kind"] == "place" and o["outcome"] == "ok"}
        keys = {}
        for o in ops:
            if o["kind"] == "place" and o["outcome"] == "ok":
                if keys.setdefault(o["key"], o["order"]) != o["order"]:
                    violations.append("once: key %s gave %s and %s" % (o["key"], keys[o["key"]], o["order"]))
        def listing_of(n):
            merchant = Client(n.port, setup.token)
            seen, cursor = {}, None
            while True:
                path = "/api/v1/orders?limit=500" + ("&cursor=" + cursor if cursor else "")
                status, page = merchant.call("GET", path)
                if status != 200:
                    return None, "listing: %s answered %s" % (n.id, status)
                for o in page["orders"]:
                    if o["id"] in seen:
                        return None, "once: %s listed twice on %s" % (o["id"], n.id)
                    seen[o["id"]] = o
                cursor = page.get("next_cursor")
                if not cursor:
                    return seen, None

        # Listings are read models fed by replicated events: wait (bounded) until every node lists the same.
        deadline = time.time() + 30
        while True:
            fetched = [listing_of(n) for n in nodes]
            same = all(f[0] is not None for f in fetched) and len({tuple(sorted((k, v["status"]) for k, v in f[0].items()))
                                                                   for f in fetched}) == 1
            if same or time.time() > deadline:
                break
            time.sleep(0.2)  # polling interval of a bounded wait
        listings = []
        for n, (seen, error) in zip(nodes, fetched):
            if error:
                violations.append(error)
                continue
            merchant = Client(n.port, setup.token)
            listings.append((n, seen))
            missing = acked - set(seen)
            if missing:
                violations.append("acked: %d acknowledged orders missing on %s (e.g. %s)" % (len(missing), n.id, sorted(missing)[:3]))
            for oid in acked & set(seen):
                o = orders[oid]
                allowed = {o["status"]} | o["maybe"]
                if o["status"] == "confirmed":
                    allowed |= {"confirmed"}
                if seen[oid]["status"] not in allowed:
                    tried = [(x["kind"], x["outcome"], x["status"], x.get("attempts")) for x in ops
                             if x.get("order") == oid]
                    violations.append("acked: %s is %s on %s, history allows %s (operations on it: %s)"
                                      % (oid, seen[oid]["status"], n.id, sorted(allowed), tried))
            status, menu = merchant.call("GET", "/api/v1/restaurants/%s/menu" % rid)
            stock = {i["id"]: i["stock"] for i in (menu or {}).get("items", [])}
            held = {it: 0 for it in ITEMS}
            for o in seen.values():
                if o["status"] != "cancelled":
                    for line in o["items"]:
                        held[line["item_id"]] += line["qty"]
            for it in ITEMS:
                if stock.get(it, -1) + held[it] != initial[it]:
                    violations.append("stock: %s on %s: %s in stock + %d held != %d" % (it, n.id, stock.get(it), held[it], initial[it]))
        if len({tuple(sorted(s)) for _, s in listings}) > 1:
            violations.append("listing: nodes list different orders")
        attempted = sum(1 for o in ops if o["kind"] == "place" and o["outcome"] in ("ok", "unknown"))
        if listings and len(listings[0][1]) > attempted:
            violations.append("once: %d orders exist for %d placements acknowledged or unknown" % (len(listings[0][1]), attempted))

        # Report.
        def count(kind, outcome):
            return sum(1 for o in ops if o["kind"] == kind and o["outcome"] == outcome)
        print("chaos run: %d s, seed %d, %d nodes (3 replicas), %d workers" % (a.seconds, a.seed, a.nodes, a.workers))
        for kind in ("place", "confirm", "cancel"):
            print("  %-8s ok %5d  refused %5d  unknown %3d" % (kind, count(kind, "ok"), count(kind, "refused"), count(kind, "unknown")))
        windows = {}
        for f in fault_report:
            after = [o["end"] for o in ops if o["outcome"] == "ok" and o["end"] >= f["start"]]
            windows.setdefault(f["kind"], []).append((min(after) - f["start"]) if after else float("nan"))
            print("  fault %-5s %s at %+.1fs for %.1fs; first success after %.2fs" % (
                f["kind"], f["node"], f["start"] - fault_report[0]["start"], f["end"] - f["start"], windows[f["kind"]][-1]))
        for kind, w in windows.items():
            w = sorted(x for x in w if x == x)
            if w:
                print("  unavailability %-5s p50 %.2fs max %.2fs (%d faults)" % (kind, w[len(w) // 2], w[-1], len(w)))
        print("  healed within %.1fs of the last fault" % heal_s)
        for name in ("acked", "stock", "once", "listing", "healed"):
            bad = [v for v in violations if v.startswith(name + ":")]
            print("  invariant %-8s %s" % (name, "ok" if not bad else "VIOLATED (%d): %s" % (len(bad), bad[0])))
        if violations:
            # The whole history for diagnosis: every operation with its times and outcome, and the orders as the
            # clients last saw them.
            with open(os.path.join(top, "history.json"), "w") as f:
                json.dump({"seed": a.seed, "violations": violations, "faults": fault_report, "operations": ops,
                           "orders": {k: dict(v, maybe=sorted(v["maybe"])) for k, v in orders.items()}},
                          f, indent=1, default=str)
            print("FAILED: seed %d; replay: %s; node logs and history.json kept in %s" % (a.seed, replay, top))
            return 1
        return 0
    finally:
        for n in nodes:
            try:
                if n.proc:
                    n.proc.send_signal(signal.SIGCONT)
            except Exception:
                pass
            n.stop()
        if not violations:
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
