#!/usr/bin/env python3
"""Chaos run against a real cluster: concurrent customers and a merchant through HTTP, and customers through the
C++ SDK over the binary protocol (tests/chaos/sdk_worker.cpp), while nodes are killed (kill -9, one or two at
once, restarted on the same data dir), frozen (SIGSTOP past the failure detector, then SIGCONT), partitioned (a
minority cut off through a proxy in front of each cluster port, tests/chaos/proxy_main.cpp), slowed (every link
of a node 30-600 ms late each way) and wiped (data dir lost, started again under a new id: it joins and catches
up, the old id is replaced), on a schedule drawn from the seed. The merchant meanwhile restocks items
(conditional on the item's version), changes prices and adds and removes a special. Every operation is recorded
(invocation, completion, ok / refused / unknown, each attempt's node and status). After the faults stop and the
cluster heals, the invariants are checked through every node:

  acked      every acknowledged order exists, in a state its acknowledged (or possibly-applied) history allows
  stock      per item: stock + units held by non-cancelled orders == initial stock + acknowledged restocks (+ at
             most the unknown ones): no oversell, no lost or double reservation, the same on every node
  once       an idempotency key gave one order id; no order appears twice; an unknown outcome happened at most once
  monotonic  a read of an order right after an acknowledged write, through a random node, shows it (reads never
             go back in time), and each order's acknowledged states follow its state machine
  listing    every node lists the same orders for the merchant, and every acknowledged one among them
  menu       every item's price, and whether the special is on the menu, is what the last acknowledged edit
             made it (or what an edit of unknown outcome asked for)
  healed     within 30 s of the last fault every node answers, names a leader for every shard, has settled every
             interrupted order, and its replica of every shard has applied as far as every other node's (all
             caught up)

Prints a report (operations, faults and their unavailability windows, invariants) and exits 1 on a violation,
printing the seed and the command that replays the schedule; node logs and history.json of a failed run are kept.

Usage: tests/chaos/chaos.py [--seconds 60] [--seed 1] [--nodes 5] [--binary build/bin/bento-node]
Disk faults are tests/integration/disk_faults_test.cpp's.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from bench_common import Client, start_cluster  # noqa: E402

RETRY_STATUSES = (429, 503, 504)
ITEMS = ["katsu", "curry", "soba", "tofu", "eel"]
SHARDS = 16
SPECIAL = "special"  # an item the merchant adds and removes; never ordered


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


def call_any(cluster, rng, token, method, path, body=None, key=None, budget_s=10.0, headers=None,
             resend_uncertain=True):
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
            if not resend_uncertain:
                return "unknown", status, payload, attempts
        if status is not None and status not in RETRY_STATUSES:
            if status >= 300 and uncertain and not key:
                return "unknown", status, payload, attempts
            return ("ok" if status < 300 else "refused"), status, payload, attempts
        time.sleep(0.05)  # back-off between attempts of one operation
    return "unknown", last[0], last[1], attempts


def setup_call(client, method, path, body):
    """A set-up request retried (bounded) while the answer is "not now" (503, 429)."""
    for attempt in range(40):
        status, r = client.call(method, path, body)
        if status not in RETRY_STATUSES:
            return status, r
        time.sleep(0.25)  # back-off of a bounded retry
    return status, r


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


def lines_of(items):
    return tuple(sorted((line["item_id"], line["qty"]) for line in items))


def workload(cluster, history, stop, seed, index, customers, merchant_token, rid, orders, orders_lock):
    """One HTTP worker: orders with a key (most) and without one, and on the orders placed so far the merchant's
    confirms, deliveries and edits and the customers' cancels; now and then its customer logs in again."""
    rng = random.Random(seed * 1000 + index)
    me = index % len(customers)
    n = 0
    while not stop.is_set():
        n += 1
        roll = rng.random()
        with orders_lock:
            mine = [o for o in orders.values() if o["customer"] == me]
            placed = [o for o in orders.values() if o["status"] == "placed"]
            confirmed = [o for o in orders.values() if o["status"] == "confirmed"]
        if roll < 0.65 or not placed:
            token = customers[me]
            keyed = roll < 0.6 or not placed
            key = "w%d-%d" % (index, n) if keyed else None
            items = rng.sample(ITEMS, rng.randint(1, 2))
            body = {"restaurant_id": rid, "meal": "lunch",
                    "items": [{"item_id": it, "qty": rng.randint(1, 2)} for it in items]}
            t0 = time.time()
            # Without a key a request that may have run is never sent again (that is what keys are for): its
            # outcome stays unknown, and `once` checks it happened at most once.
            outcome, status, payload, tries = call_any(cluster, rng, token, "POST", "/api/v1/orders", body, key=key,
                                                       resend_uncertain=keyed)
            history.add(kind="place", key=key, start=t0, end=time.time(), outcome=outcome, status=status,
                        order=(payload or {}).get("id") if outcome == "ok" else None, body=body, attempts=tries,
                        order_status=(payload or {}).get("status") if outcome == "ok" else None)
            if outcome == "ok":
                with orders_lock:
                    orders[payload["id"]] = {"id": payload["id"], "status": "placed", "customer": me,
                                             "maybe": set(), "key": key, "lines": lines_of(body["items"]),
                                             "maybe_lines": set(), "edits": []}
                read_back(cluster, rng, history, token, payload["id"], "placed")
            continue
        if roll > 0.97:
            # A login in the middle of it all: the user's shard must answer too.
            t0 = time.time()
            outcome, status, payload, tries = call_any(cluster, rng, customers[me], "POST", "/api/v1/sessions",
                                                       {"username": "chaosc%d" % me, "password": "attack-password"},
                                                       budget_s=5.0)
            history.add(kind="login", start=t0, end=time.time(), outcome=outcome, status=status, attempts=tries)
            if outcome == "ok":
                customers[me] = payload["token"]
            continue
        if roll < 0.78:
            o, action, body = rng.choice(placed), "confirm", None
        elif roll < 0.85:
            if not confirmed:
                continue
            o, action, body = rng.choice(confirmed), "deliver", None
        elif roll < 0.9:
            # The merchant changes the quantities of the items the customer ordered (all or none, atomically).
            o = rng.choice(placed)
            action = "edit"
            body = {"items": [{"item_id": it, "qty": rng.randint(1, 3)} for it, _ in o["lines"]]}
        else:
            own = [x for x in placed if x["customer"] is not None]  # an SDK customer's orders are its to cancel
            if not (mine or own):
                continue
            o, action, body = rng.choice(mine or own), "cancel", None
        token = customers[o["customer"]] if action == "cancel" else merchant_token
        t0 = time.time()
        if action == "edit":
            outcome, status, payload, tries = call_any(cluster, rng, token, "PATCH", "/api/v1/orders/%s" % o["id"],
                                                       body)
        else:
            outcome, status, payload, tries = call_any(cluster, rng, token, "POST",
                                                       "/api/v1/orders/%s/%s" % (o["id"], action))
        history.add(kind=action, order=o["id"], start=t0, end=time.time(), outcome=outcome, status=status,
                    attempts=tries, body=body, order_status=(payload or {}).get("status") if outcome == "ok" else None)
        with orders_lock:
            if action == "edit":
                if outcome == "ok":
                    o["edits"].append((t0, time.time(), lines_of(payload["items"])))
                if outcome == "unknown" or uncertain(tries):
                    o["maybe_lines"].add(lines_of(body["items"]))
            elif outcome == "ok":
                o["status"] = payload["status"]
            elif outcome == "unknown":
                o["maybe"].add({"confirm": "confirmed", "deliver": "delivered", "cancel": "cancelled"}[action])
        if outcome == "ok":
            read_back(cluster, rng, history, token, o["id"], payload["status"])


# How far along its life an order is: a read after an acknowledged write must not show an earlier state.
PROGRESS = {"placed": 0, "confirmed": 1, "cancelled": 1, "delivered": 2}
# The order's state machine (actors/order/order_state.cpp), each state with the states it may be in later.
NEXT = {"placed": {"placed", "confirmed", "cancelled", "delivered"}, "confirmed": {"confirmed", "delivered", "cancelled"},
        "delivered": {"delivered"}, "cancelled": {"cancelled"}}


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
        if rng.random() < 0.3:
            menu_edit(cluster, history, rng, merchant_token, rid)
            continue
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


def menu_edit(cluster, history, rng, merchant_token, rid):
    """A menu edit beside the restocks: a new price for an ordered item (conditional on its version, like a
    restock, so it never undoes a reservation) or the special added or taken off the menu. The `menu`
    invariant checks that each ends as its last acknowledged edit left it."""
    t0 = time.time()
    if rng.random() < 0.5:
        item = rng.choice(ITEMS)
        price = rng.choice([450, 500, 550, 600])
        outcome = "refused"
        for _ in range(10):
            got, status, payload, _ = call_any(cluster, rng, merchant_token, "GET",
                                               "/api/v1/restaurants/%s/menu/items/%s" % (rid, item), budget_s=5.0)
            if got != "ok":
                break
            outcome, status, _, _ = call_any(cluster, rng, merchant_token, "PATCH",
                                             "/api/v1/restaurants/%s/menu/items/%s" % (rid, item),
                                             {"price_cents": price}, budget_s=5.0,
                                             headers={"If-Match": '"%d"' % payload["version"]})
            if not (outcome == "refused" and status == 412):
                break
        history.add(kind="price", item=item, price=price, start=t0, end=time.time(), outcome=outcome)
        return
    present = rng.random() < 0.5
    path = "/api/v1/restaurants/%s/menu/items/%s" % (rid, SPECIAL)
    if present:
        outcome, status, _, tries = call_any(cluster, rng, merchant_token, "PUT", path,
                                             {"name": "today's special", "price_cents": 900, "stock": 0},
                                             budget_s=5.0)
    else:
        outcome, status, _, tries = call_any(cluster, rng, merchant_token, "DELETE", path, budget_s=5.0)
        if outcome == "refused" and status == 404:
            outcome = "ok"  # already off the menu: the state asked for
    history.add(kind="special", present=present, start=t0, end=time.time(), outcome=outcome, status=status,
                uncertain=uncertain(tries))


def uncertain(attempts):
    """Whether an attempt of the operation may have run without an answer (no answer, or 504): such a request
    can still land late — the node's router retries a forwarded command after the rig's attempt gave up —, even
    after the operation was acknowledged through another attempt and after later operations."""
    return any(status is None or status == 504 for _, status, _ in attempts)


def menu_expected(ops, kind, value_of, initial):
    """The values an edited thing may end with: the last acknowledged edit's (or the initial value), or any
    edit whose outcome is unknown or that had an attempt which may still land late."""
    acked = [o for o in ops if o["kind"] == kind and o["outcome"] == "ok"]
    last = value_of(max(acked, key=lambda o: o["end"])) if acked else initial
    return {last} | {value_of(o) for o in ops if o["kind"] == kind and (o["outcome"] == "unknown" or o.get("uncertain"))}


def partition(cluster, side):
    """Cuts every link between the nodes in `side` and the others, both ways, through the proxies."""
    nodes = cluster.nodes
    for i, n in enumerate(nodes):
        others = [m.proc.pid for k, m in enumerate(nodes) if (k in side) != (i in side) and m.proc]
        n.proxy.cut(others)


def slow(cluster, i, ms):
    """Every link of node i carries each byte `ms` late, both ways: its own proxy holds what others send it, the
    others' proxies what it sends them."""
    for k, n in enumerate(cluster.nodes):
        if k == i:
            n.proxy.slow(ms)
        elif cluster.nodes[i].proc:
            n.proxy.slow(ms, [cluster.nodes[i].proc.pid])


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


def shard_of(entity_key, shards):
    """protocol/domain/shards.cpp's FNV-1a: the rig computes each operation's shards itself (checked against the
    nodes' answer at the start of a run)."""
    h = 14695981039346656037
    for c in entity_key.encode():
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % (shards or 1)


def cluster_view(cluster, exclude=()):
    """The cluster as a live node sees it (GET /api/v1/cluster), or None."""
    for i in cluster.live():
        if i in exclude:
            continue
        try:
            status, view = Client(cluster.nodes[i].port).call("GET", "/api/v1/cluster")
            if status == 200 and view:
                return view
        except Exception:
            pass
    return None


def shards_led_by(view, ids):
    return sorted(g["shard"] for g in (view or {}).get("shard_groups", []) if g.get("leader") in ids)


def settled(cluster, view):
    """True when every shard has a leader and three voters, all of them live nodes of the rig, and nobody is
    joining: only then may a node lose its data (a second loss before its seats have moved would leave shards
    without a majority for good, as it would any Raft system)."""
    if not view:
        return False
    live_ids = {cluster.nodes[i].id for i in cluster.live()}
    if any(m.get("state") == "joining" for m in view.get("members", [])):
        return False
    return all(g.get("leader") and len(g.get("voters", [])) == 3 and set(g["voters"]) <= live_ids
               for g in view.get("shard_groups", []))


def faults(cluster, stop, seed, report, rid):
    rng = random.Random(seed)
    kinds = ["kill", "kill_leader", "pause", "partition", "slow", "wipe"] + (["kill2"] if len(cluster.nodes) >= 5 else [])
    wipes = 0
    while not stop.wait(rng.uniform(2.0, 5.0)):
        i = rng.randrange(len(cluster.nodes))
        kind = rng.choice(kinds)
        if kind == "kill_leader":
            # The hottest key: every order reserves at the one restaurant. Its window is a failover's.
            leader = leader_of(cluster, "restaurant/" + rid)
            i = leader if leader is not None else i
        node = cluster.nodes[i]
        view = cluster_view(cluster, exclude=(i,))
        if kind == "wipe" and not settled(cluster, view):
            kind = "kill"  # a data loss now could be a second one for some shard: the schedule goes on with a kill
        t0 = time.time()

        def record(faulted_ids, label):
            # The shards the faulted nodes led just before: their keys are the ones the fault took away.
            report.append({"kind": kind, "node": label, "start": t0, "end": time.time(),
                           "led": shards_led_by(view, set(faulted_ids))})
        if kind == "partition":
            # A minority (one or two nodes) cut off from the rest: the majority side goes on, the minority must
            # acknowledge nothing it cannot commit.
            side = set(rng.sample(range(len(cluster.nodes)), rng.choice([1, 2])))
            partition(cluster, side)
            stop.wait(rng.uniform(2.0, 6.0))
            heal(cluster)
            record([cluster.nodes[k].id for k in side], "+".join(cluster.nodes[k].id for k in sorted(side)))
            continue
        if kind == "slow":
            # A slow link, not a dead one: below, around and above the election timeout, so that a slowed
            # leader's heartbeats sometimes arrive too late and sometimes just in time.
            ms = rng.choice([30, 100, 250, 600])
            slow(cluster, i, ms)
            stop.wait(rng.uniform(3.0, 8.0))
            heal(cluster)
            record([node.id], "%s %dms" % (node.id, ms))
            continue
        if kind == "wipe":
            # Its disk is lost: killed, data dir deleted, started again under a new id with the others as seeds,
            # as an operator replaces a machine. It joins as a new member and catches up; the old id is replaced
            # after BENTO_REPLACE_AFTER_S and its seats move.
            old_id = node.id
            node.proc.kill()
            node.proc.wait()
            with cluster.lock:
                cluster.down.add(i)
            shutil.rmtree(node.env["BENTO_DATA_DIR"], ignore_errors=True)
            wipes += 1
            node.id = "%s-w%d" % (old_id.split("-")[0], wipes)
            own = "127.0.0.1:%d" % node.proxy.port
            node.env["BENTO_NODE_ID"] = node.id
            node.env["BENTO_SEEDS"] = ",".join(x for x in node.env["BENTO_SEEDS"].split(",") if x != own)
            node.start(timeout_s=60)
            with cluster.lock:
                cluster.down.discard(i)
            record([old_id], "%s as %s" % (old_id, node.id))
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
            record([node.id, cluster.nodes[j].id], node.id + "+" + cluster.nodes[j].id)
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
        record([node.id], node.id)


def orders_settling(port):
    """The node's bento_orders_settling gauge: its orders with an interrupted change not settled yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith("bento_orders_settling"):
            return int(float(line.split()[-1]))
    raise OSError("no bento_orders_settling in /metrics")


def healed(cluster, timeout_s=30):
    """(True, None) once every node names a leader for every shard, every node's replica of each shard has
    applied the same log (all caught up), and no node has an order still settling an interrupted change (the
    stock invariant holds for settled orders: one mid-settle shows its status before a change the restaurant
    may have applied), else (False, what was missing)."""
    deadline = time.time() + timeout_s
    missing = None
    while time.time() < deadline:
        missing = []
        applied = {}  # shard -> {node: applied index}
        for n in cluster.nodes:
            try:
                status, view = Client(n.port).call("GET", "/api/v1/cluster")
                if status != 200:
                    missing.append("%s answers %s" % (n.id, status))
                    continue
                missing += ["%s: shard %s has no leader" % (n.id, g.get("shard")) for g in view.get("shard_groups", [])
                            if not g.get("leader")]
                for g in view.get("shard_groups", []):
                    if g.get("applied") is not None:
                        applied.setdefault(g["shard"], {})[n.id] = g["applied"]
                settling = orders_settling(n.port)
                if settling:
                    missing.append("%s: %d orders settling" % (n.id, settling))
            except Exception as e:
                missing.append("%s: %s" % (n.id, e))
        missing += ["shard %s: replicas not caught up (applied %s)" % (s, a) for s, a in sorted(applied.items())
                    if len(set(a.values())) > 1 or len(a) < len(cluster.nodes)]
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
    p.add_argument("--sdk-worker", default="build/bin/bento-chaos-sdk-worker",
                   help="tests/chaos/sdk_worker.cpp's binary: customers through the C++ SDK")
    p.add_argument("--sdk-workers", type=int, default=2)
    p.add_argument("--log-level", default="warn", help="the nodes' BENTO_LOG_LEVEL (info to diagnose a failure)")
    a = p.parse_args()
    replay = "tests/chaos/chaos.py --seconds %d --seed %d --nodes %d" % (a.seconds, a.seed, a.nodes)
    top = tempfile.mkdtemp(prefix="bento-chaos-")
    # The run restarts nodes for as long as it lasts: it runs its own copies, so that a rebuild meanwhile (a
    # 30-minute run beside a working tree) cannot swap or remove the binary under a restart.
    os.makedirs(os.path.join(top, "bin"))
    for attr in ("binary", "sdk_worker", "proxy"):
        copy = os.path.join(top, "bin", os.path.basename(getattr(a, attr)))
        shutil.copy2(getattr(a, attr), copy)
        setattr(a, attr, copy)
    nodes = start_cluster(a.binary, top, a.nodes, "chaos-cluster-secret-0123",
                          {"BENTO_REPLICAS": "3", "BENTO_SHARDS": str(SHARDS), "BENTO_LOG_LEVEL": a.log_level,
                           # Longer than any other fault keeps a node away (a paused or partitioned node must not
                           # lose its seats), short enough that a wiped node's old id is replaced within the run.
                           "BENTO_REPLACE_AFTER_S": "20"},
                          proxy_binary=a.proxy)
    cluster = Cluster(nodes)
    violations = []
    sdk_procs = []
    try:
        rng = random.Random(a.seed)
        setup = Client(nodes[0].port)
        sign_up_retrying(setup, "chaosm", "merchant")
        # Set-up is not under test: a fresh cluster still hands leaderships back to each shard's preferred
        # replica, and a write that meets a transfer is answered 503 (retry); item PUTs are idempotent.
        status, r = setup_call(setup, "POST", "/api/v1/restaurants", {"name": "Chaos Kitchen", "place": "taipei"})
        assert status == 201, (status, r)
        rid = r["id"]
        _, view = setup.call("GET", "/api/v1/cluster?entity=restaurant/" + rid)
        if (view or {}).get("entity", {}).get("shard") != shard_of("restaurant/" + rid, SHARDS):
            violations.append("rig: the rig's shard_of disagrees with the nodes' (%s)" % (view or {}).get("entity"))
        initial = {}
        for it in ITEMS:
            initial[it] = 1500
            status, _ = setup_call(setup, "PUT", "/api/v1/restaurants/%s/menu/items/%s" % (rid, it),
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
        # SDK customers: their operations come as JSON lines and join the history (and the orders the HTTP
        # workers may confirm) as they happen.
        client_addresses = ",".join("127.0.0.1:%s" % n.env["BENTO_CLIENT_PORT"] for n in nodes)
        sdk_readers = []

        def read_sdk(proc):
            for line in proc.stdout:
                try:
                    op = json.loads(line)
                except ValueError:
                    rig_errors.append("rig: an SDK worker printed %r" % line[:200])
                    continue
                history.add(**op)
                with orders_lock:
                    if op["kind"] == "place" and op["outcome"] == "ok" and op["order"] not in orders:
                        orders[op["order"]] = {"id": op["order"], "status": op["order_status"], "customer": None,
                                               "maybe": set(), "key": op["key"],
                                               "lines": lines_of(op["body"]["items"]), "maybe_lines": set(),
                                               "edits": []}
                    elif op["kind"] == "cancel" and op["order"] in orders:
                        o = orders[op["order"]]
                        if op["outcome"] == "ok":
                            o["status"] = op["order_status"]
                        elif op["outcome"] == "unknown":
                            o["maybe"].add("cancelled")
        for w in range(a.sdk_workers):
            proc = subprocess.Popen([a.sdk_worker, client_addresses, "chaoss%d" % w, rid, ",".join(ITEMS),
                                     str(a.seed * 100 + w)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True, bufsize=1)
            sdk_procs.append(proc)
            sdk_readers.append(threading.Thread(target=read_sdk, args=(proc,)))
        for t in workers + [fault_thread, restock_thread] + sdk_readers:
            t.start()
        stop.wait(a.seconds)  # the run's length (cut short if the fault thread fails), not a synchronisation
        stop.set()
        for t in workers + [fault_thread, restock_thread]:
            t.join()
        for proc in sdk_procs:
            proc.stdin.close()  # the worker ends its operation in progress and exits
        for proc, t in zip(sdk_procs, sdk_readers):
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                rig_errors.append("rig: an SDK worker did not stop")
            t.join()
        violations.extend(rig_errors)
        last_fault = max([f["end"] for f in fault_report] or [time.time()])
        ok, missing = healed(cluster)
        if not ok:
            violations.append("healed: not every node answers with a leader for every shard, caught up and settled "
                              "within 30 s: %s"
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
            if o["kind"] == "place" and o["outcome"] == "ok" and o["key"]:
                if keys.setdefault(o["key"], o["order"]) != o["order"]:
                    violations.append("once: key %s gave %s and %s" % (o["key"], keys[o["key"]], o["order"]))
        def listing_of(n):
            merchant = Client(n.port, setup.token)
            seen, cursor = {}, None
            while True:
                path = "/api/v1/orders?limit=500" + ("&cursor=" + cursor if cursor else "")
                try:
                    status, page = merchant.call("GET", path)
                except OSError as e:  # a node that is not up (the fault thread failed to restart it)
                    return None, "listing: %s: %s" % (n.id, e)
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
            same = all(f[0] is not None for f in fetched) and len(
                {tuple(sorted((k, v["status"], lines_of(v["items"])) for k, v in f[0].items())) for f in fetched}) == 1
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
                # Its lines: those of an acknowledged edit that no other acknowledged edit followed (two that
                # overlapped in time may have landed in either order), else the placed ones; or an unknown edit's.
                edits = o["edits"]
                last = {e[2] for e in edits if not any(f[0] > e[1] for f in edits)} or {o["lines"]}
                got_lines = lines_of(seen[oid]["items"])
                if got_lines not in last | o["maybe_lines"]:
                    violations.append("acked: %s holds %s on %s, its acknowledged lines %s (unknown edits: %s)"
                                      % (oid, got_lines, n.id, sorted(last), sorted(o["maybe_lines"])))
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
        for n, _ in listings:
            try:
                status, menu = Client(n.port, setup.token).call("GET", "/api/v1/restaurants/%s/menu" % rid)
            except OSError as e:
                status, menu = str(e), None
            if status != 200:
                violations.append("menu: %s answered %s to a menu read" % (n.id, status))
                continue
            by_id = {i["id"]: i for i in (menu or {}).get("items", [])}
            for it in ITEMS:
                price_ops = [o for o in ops if o.get("item") == it]
                allowed = menu_expected(price_ops, "price", lambda o: o["price"], 500)
                got = (by_id.get(it) or {}).get("price_cents")
                if got not in allowed:
                    violations.append("menu: %s costs %s on %s, its edits allow %s" % (it, got, n.id, sorted(allowed)))
            allowed = menu_expected(ops, "special", lambda o: o["present"], False)
            if (SPECIAL in by_id) not in allowed:
                violations.append("menu: the special is %s on %s, its edits allow %s"
                                  % ("on the menu" if SPECIAL in by_id else "off the menu", n.id, sorted(allowed)))
        if len({tuple(sorted(s)) for _, s in listings}) > 1:
            violations.append("listing: nodes list different orders")
        attempted = sum(1 for o in ops if o["kind"] == "place" and o["outcome"] in ("ok", "unknown"))
        if listings and len(listings[0][1]) > attempted:
            violations.append("once: %d orders exist for %d placements acknowledged or unknown" % (len(listings[0][1]), attempted))

        # Each order's acknowledged states form a legal path of its state machine: of two acknowledged
        # operations, the one that ended before the other began left a state the later one's may follow.
        by_order = {}
        for o in ops:
            if o["outcome"] == "ok" and o.get("order") and o.get("order_status"):
                by_order.setdefault(o["order"], []).append(o)
        for oid, acked_ops in by_order.items():
            acked_ops.sort(key=lambda o: o["start"])
            for k, earlier in enumerate(acked_ops):
                for later in acked_ops[k + 1:]:
                    if earlier["end"] < later["start"] and later["order_status"] not in NEXT[earlier["order_status"]]:
                        violations.append("monotonic: %s went from %s (%s) to %s (%s), not a legal step"
                                          % (oid, earlier["order_status"], earlier["kind"], later["order_status"],
                                             later["kind"]))
        for o in ops:
            if o["kind"] == "read_back":
                violations.append("monotonic: %s read on %s as %s (HTTP %s) after %s was acknowledged"
                                  % (o["order"], o["node"], o["seen"], o["status"], o["acked"]))

        # Report.
        def count(kind, outcome):
            return sum(1 for o in ops if o["kind"] == kind and o["outcome"] == outcome)
        print("chaos run: %d s, seed %d, %d nodes (3 replicas), %d HTTP workers and a merchant, %d SDK customers" % (
            a.seconds, a.seed, a.nodes, a.workers, a.sdk_workers))
        for kind in ("place", "confirm", "deliver", "edit", "cancel", "login", "restock", "price", "special"):
            print("  %-8s ok %5d  refused %5d  unknown %3d   (through the SDK: ok %d)" % (
                kind, count(kind, "ok"), count(kind, "refused"), count(kind, "unknown"),
                sum(1 for o in ops if o["kind"] == kind and o["outcome"] == "ok" and o.get("client") == "sdk")))
        # Each fault's unavailability window: from the fault to the first success among operations started after
        # it that touch a key of a shard the faulted nodes led (the keys it took away); a fault whose nodes led
        # none of the touched shards has no such window, and its window over all operations is printed too.
        def shards_of_op(o):
            keys = []
            if o["kind"] in ("place", "restock", "cancel", "price", "special", "edit", "deliver"):
                keys.append("restaurant/" + rid)
            if o.get("order"):
                keys.append("order/" + o["order"])
            return {shard_of(k, SHARDS) for k in keys}
        windows, any_windows = {}, {}
        for f in fault_report:
            later = [o for o in ops if o["outcome"] == "ok" and o["kind"] in ("place", "confirm", "deliver", "edit",
                                                                                "cancel", "restock", "price", "special")
                     and o["start"] >= f["start"]]
            led = set(f.get("led") or [])
            hit = [o["end"] for o in later if shards_of_op(o) & led]
            any_ok = [o["end"] for o in later]
            w = (min(hit) - f["start"]) if hit else None
            any_windows.setdefault(f["kind"], []).append((min(any_ok) - f["start"]) if any_ok else float("nan"))
            if w is not None:
                windows.setdefault(f["kind"], []).append(w)
            print("  fault %-9s %-14s at %+6.1fs for %4.1fs; led %2d shards; its keys back after %s, any operation after %.2fs" % (
                f["kind"], f["node"], f["start"] - fault_report[0]["start"], f["end"] - f["start"], len(led),
                "%.2fs" % w if w is not None else "(none touched)", any_windows[f["kind"]][-1]))
        for kind in sorted(set(windows) | set(any_windows)):
            w = sorted(windows.get(kind, []))
            aw = sorted(x for x in any_windows.get(kind, []) if x == x)
            print("  unavailability %-9s its keys: %s; any operation: %s" % (
                kind, ("p50 %.2fs max %.2fs (%d faults)" % (w[len(w) // 2], w[-1], len(w))) if w else "none touched",
                ("p50 %.2fs max %.2fs (%d faults)" % (aw[len(aw) // 2], aw[-1], len(aw))) if aw else "-"))
        print("  healed within %.1fs of the last fault" % heal_s)
        for name in ("rig", "acked", "stock", "once", "monotonic", "listing", "menu", "healed"):
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
        for proc in sdk_procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
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
