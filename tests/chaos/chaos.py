#!/usr/bin/env python3
"""Chaos run against a real cluster: concurrent customers and a merchant through HTTP while nodes are killed
(kill -9, one or two at once, restarted on the same data dir), frozen (SIGSTOP past the failure detector, then
SIGCONT) and partitioned (a minority cut off through a proxy in front of each cluster port,
tests/chaos/proxy_main.cpp), on a schedule drawn from the seed; the merchant restocks items meanwhile
(conditional on the item's version). Every operation is recorded (invocation, completion, ok / refused /
unknown, each attempt's node and status). After the faults stop and the cluster heals, the invariants are
checked through every node:

  acked      every acknowledged order exists, in a state its acknowledged (or possibly-applied) history allows
  stock      per item: stock + units held by non-cancelled orders == initial stock + acknowledged restocks (+ at
             most the unknown ones): no oversell, no lost or double reservation, the same on every node
  once       an idempotency key gave one order id; no order appears twice; an unknown outcome happened at most once
  monotonic  a read of an order right after an acknowledged write, through a random node, shows it (reads never
             go back in time)
  listing    every node lists the same orders for the merchant, and every acknowledged one among them
  healed     every node answers and every shard has a leader within 30 s of the last fault

Prints a report (operations, faults and their unavailability windows, invariants) and exits 1 on a violation,
printing the seed and the command that replays the schedule; node logs and history.json of a failed run are kept.

Usage: tests/chaos/chaos.py [--seconds 60] [--seed 1] [--nodes 5] [--binary build/bin/bento-node]
Not yet: link delays, wiped data dirs, disk faults (tests/integration/disk_faults_test.cpp covers them), SDK
clients.
"""
import argparse
import http.client
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


def call_any(cluster, rng, token, method, path, body=None, key=None, budget_s=10.0, headers=None):
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
        # One request on a fresh connection, never resent here: bench_common.Client.call resends once after a
        # lost connection, which made a timed-out, maybe-applied cancel look like one attempt answered 409 (and
        # the rig report an acknowledged order cancelled by nobody).
        conn = http.client.HTTPConnection("127.0.0.1", cluster.nodes[i].port, timeout=3)
        try:
            h = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
            if key:
                h["Idempotency-Key"] = key
            h.update(headers or {})
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=h)
            r = conn.getresponse()
            raw = r.read()
            status, payload = r.status, (json.loads(raw) if raw else None)
        except Exception:  # a killed or frozen node, or no answer in time: maybe applied; try another node
            status, payload = None, None
        finally:
            conn.close()
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
                read_back(cluster, rng, history, token, payload["id"], "placed")
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
            if outcome == "ok":
                read_back(cluster, rng, history, token, o["id"], payload["status"])


# How far along its life an order is: a read after an acknowledged write must not show an earlier state.
PROGRESS = {"placed": 0, "confirmed": 1, "cancelled": 1, "delivered": 2}


def read_back(cluster, rng, history, token, oid, acked_status):
    """Reads an order just written through a random node: it must exist and not be behind the acknowledged state
    (reads never go back in time, on any node). A read that cannot be answered now (503/504, node down) is
    skipped, not judged."""
    i = rng.choice(cluster.live() or list(range(len(cluster.nodes))))
    conn = http.client.HTTPConnection("127.0.0.1", cluster.nodes[i].port, timeout=3)
    try:
        conn.request("GET", "/api/v1/orders/" + oid, headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        raw = r.read()
        status, body = r.status, (json.loads(raw) if raw else {})
    except Exception:
        return
    finally:
        conn.close()
    if status in RETRY_STATUSES:
        return
    seen = body.get("status") if status == 200 else None
    if status != 200 or PROGRESS.get(seen, -1) < PROGRESS[acked_status]:
        history.add(kind="read_back", order=oid, node=cluster.nodes[i].id, acked=acked_status, status=status,
                    seen=seen, start=time.time(), end=time.time(), outcome="stale")


def restocks(cluster, history, stop, seed, merchant_token, rid):
    """The merchant adds 40 units to an item every second or so: a read of the item, then a PATCH conditional on
    its version (If-Match), so an acknowledged restock added exactly 40; a 412 (the item changed meanwhile: an
    order reserved) is retried afresh. An unknown outcome may or may not have added them."""
    rng = random.Random(seed * 7919)
    while not stop.wait(rng.uniform(0.5, 1.5)):
        item = rng.choice(ITEMS)
        t0 = time.time()
        outcome = "refused"
        for _ in range(10):
            got, status, payload, _ = call_any(cluster, rng, merchant_token, "GET",
                                               "/api/v1/restaurants/%s/menu/items/%s" % (rid, item), budget_s=5.0)
            if got != "ok":
                outcome = "refused"  # nothing was sent that could change the stock
                break
            outcome, status, _, tries = call_any(cluster, rng, merchant_token, "PATCH",
                                                 "/api/v1/restaurants/%s/menu/items/%s" % (rid, item),
                                                 {"stock": payload["stock"] + 40}, budget_s=5.0,
                                                 headers={"If-Match": '"%d"' % payload["version"]})
            if not (outcome == "refused" and status == 412):
                break
        history.add(kind="restock", item=item, delta=40, start=t0, end=time.time(), outcome=outcome)


def partition(cluster, side):
    """Cuts every link between the nodes in `side` and the others, both ways, through the proxies."""
    nodes = cluster.nodes
    for i, n in enumerate(nodes):
        others = [m.proc.pid for k, m in enumerate(nodes) if (k in side) != (i in side) and m.proc]
        n.proxy.cut(others)


def heal(cluster):
    for n in cluster.nodes:
        n.proxy.heal()


def leader_of(cluster, entity):
    """Index of the node the live nodes name as `entity`'s shard leader, or None."""
    for i in cluster.live():
        try:
            status, view = Client(cluster.nodes[i].port).call("GET", "/api/v1/cluster?entity=" + entity)
            leader = (view or {}).get("entity", {}).get("leader") if status == 200 else None
            for k, n in enumerate(cluster.nodes):
                if n.id == leader:
                    return k
        except Exception:
            pass
    return None


def faults(cluster, stop, seed, report, rid):
    rng = random.Random(seed)
    kinds = ["kill", "kill_leader", "pause", "partition"] + (["kill2"] if len(cluster.nodes) >= 5 else [])
    while not stop.wait(rng.uniform(2.0, 5.0)):
        i = rng.randrange(len(cluster.nodes))
        kind = rng.choice(kinds)
        if kind == "kill_leader":
            # The hottest key: every order reserves at the one restaurant. Its window is a failover's.
            leader = leader_of(cluster, "restaurant/" + rid)
            i = leader if leader is not None else i
        node = cluster.nodes[i]
        t0 = time.time()
        if kind == "partition":
            # A minority (one or two nodes) cut off from the rest: the majority side goes on, the minority must
            # acknowledge nothing it cannot commit.
            side = set(rng.sample(range(len(cluster.nodes)), rng.choice([1, 2])))
            partition(cluster, side)
            stop.wait(rng.uniform(2.0, 6.0))
            heal(cluster)
            report.append({"kind": kind, "node": "+".join(cluster.nodes[k].id for k in sorted(side)), "start": t0,
                           "end": time.time()})
            continue
        if kind == "kill2":
            # Two at once (each shard has three replicas: a shard with two of them down waits for one back).
            j = rng.choice([k for k in range(len(cluster.nodes)) if k != i])
            for k in (i, j):
                cluster.nodes[k].proc.kill()
                cluster.nodes[k].proc.wait()
                with cluster.lock:
                    cluster.down.add(k)
            stop.wait(rng.uniform(1.0, 4.0))
            for k in (i, j):
                cluster.nodes[k].start(timeout_s=60)
                with cluster.lock:
                    cluster.down.discard(k)
            report.append({"kind": kind, "node": node.id + "+" + cluster.nodes[j].id, "start": t0, "end": time.time()})
            continue
        if kind in ("kill", "kill_leader"):
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
    p.add_argument("--proxy", default="build/bin/bento-chaos-proxy", help="tests/chaos/proxy_main.cpp's binary")
    p.add_argument("--log-level", default="warn", help="the nodes' BENTO_LOG_LEVEL (info to diagnose a failure)")
    a = p.parse_args()
    replay = "tests/chaos/chaos.py --seconds %d --seed %d --nodes %d" % (a.seconds, a.seed, a.nodes)
    top = tempfile.mkdtemp(prefix="bento-chaos-")
    nodes = start_cluster(a.binary, top, a.nodes, "chaos-cluster-secret-0123",
                          {"BENTO_REPLICAS": "3", "BENTO_SHARDS": "16", "BENTO_LOG_LEVEL": a.log_level},
                          proxy_binary=a.proxy)
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
        rig_errors = []

        def run_faults():
            try:
                faults(cluster, stop, a.seed, fault_report, rid)
            except Exception as e:  # a node that did not come back: reported as a violation, the run stops
                rig_errors.append("rig: the fault thread stopped: %s" % e)
                stop.set()

        fault_thread = threading.Thread(target=run_faults)
        restock_thread = threading.Thread(target=restocks, args=(cluster, history, stop, a.seed, setup.token, rid))
        for t in workers + [fault_thread, restock_thread]:
            t.start()
        stop.wait(a.seconds)  # the run's length (cut short if the fault thread fails), not a synchronisation
        stop.set()
        for t in workers + [fault_thread, restock_thread]:
            t.join()
        violations.extend(rig_errors)
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
                # Acknowledged restocks added their units; one whose outcome is unknown may have.
                low = initial[it] + sum(o["delta"] for o in ops if o["kind"] == "restock" and o["item"] == it
                                        and o["outcome"] == "ok")
                high = low + sum(o["delta"] for o in ops if o["kind"] == "restock" and o["item"] == it
                                 and o["outcome"] == "unknown")
                total = (stock.get(it) if stock.get(it) is not None else -10**9) + held[it]
                if not low <= total <= high:
                    violations.append("stock: %s on %s: %s in stock + %d held, expected %d%s" % (
                        it, n.id, stock.get(it), held[it], low, "" if high == low else " to %d" % high))
        if len({tuple(sorted(s)) for _, s in listings}) > 1:
            violations.append("listing: nodes list different orders")
        attempted = sum(1 for o in ops if o["kind"] == "place" and o["outcome"] in ("ok", "unknown"))
        if listings and len(listings[0][1]) > attempted:
            violations.append("once: %d orders exist for %d placements acknowledged or unknown" % (len(listings[0][1]), attempted))

        for o in ops:
            if o["kind"] == "read_back":
                violations.append("monotonic: %s read on %s as %s (HTTP %s) after %s was acknowledged"
                                  % (o["order"], o["node"], o["seen"], o["status"], o["acked"]))

        # Report.
        def count(kind, outcome):
            return sum(1 for o in ops if o["kind"] == kind and o["outcome"] == outcome)
        print("chaos run: %d s, seed %d, %d nodes (3 replicas), %d workers" % (a.seconds, a.seed, a.nodes, a.workers))
        for kind in ("place", "confirm", "cancel", "restock"):
            print("  %-8s ok %5d  refused %5d  unknown %3d" % (kind, count(kind, "ok"), count(kind, "refused"), count(kind, "unknown")))
        windows = {}
        for f in fault_report:
            # A restaurant leader's kill is over when orders (all of which reserve there) succeed again; other
            # faults when anything does.
            kinds = ("place",) if f["kind"] == "kill_leader" else ("place", "confirm", "cancel", "restock")
            after = [o["end"] for o in ops if o["outcome"] == "ok" and o["kind"] in kinds and o["start"] >= f["start"]]
            windows.setdefault(f["kind"], []).append((min(after) - f["start"]) if after else float("nan"))
            print("  fault %-5s %s at %+.1fs for %.1fs; first success after %.2fs" % (
                f["kind"], f["node"], f["start"] - fault_report[0]["start"], f["end"] - f["start"], windows[f["kind"]][-1]))
        for kind, w in windows.items():
            w = sorted(x for x in w if x == x)
            if w:
                print("  unavailability %-5s p50 %.2fs max %.2fs (%d faults)" % (kind, w[len(w) // 2], w[-1], len(w)))
        print("  healed within %.1fs of the last fault" % heal_s)
        for name in ("rig", "acked", "stock", "once", "monotonic", "listing", "healed"):
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
            if n.proxy:
                n.proxy.stop()
        if not violations:
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
