#!/usr/bin/env python3
"""Failover time of a 3-node cluster: kill -9 the leader of a restaurant's shard, then time until the first order
on that restaurant succeeds through a surviving node (the same idempotency key retried on 503/504/connection
errors). Repeats KILLS times (the killed node restarts and the cluster settles between kills), prints every
sample and p50/p90/max, then checks that every acknowledged order is still there and stock adds up.

Usage: bench/failover.py [kills=20]        (after `make build`; uses free loopback ports and a temp dir)
Env:   BENTO_BIN (default build/bin/bento-node), and any BENTO_* timing to try (BENTO_HEARTBEAT_MS ...).
"""
import http.client
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from bench_common import Client, percentile, start_cluster  # noqa: E402

BIN = os.environ.get("BENTO_BIN", "build/bin/bento-node")
SECRET = "failover bench cluster secret 0123456789"


def view(node, entity=None):
    try:
        c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=2)
        c.request("GET", "/api/v1/cluster" + ("?entity=" + entity if entity else ""))
        r = c.getresponse()
        return json.loads(r.read()) if r.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        return None


def leader_of(nodes, entity):
    """The node all live replicas name as the entity's leader, or None while they disagree."""
    agreed = None
    for n in nodes:
        if n.proc is None:
            continue
        v = view(n, entity)
        if not v or not v["entity"]["leader"]:
            return None
        if agreed not in (None, v["entity"]["leader"]):
            return None
        agreed = v["entity"]["leader"]
    for n in nodes:
        if n.id == agreed and n.proc is not None:
            return n
    return None


def settled(nodes):
    """Every live node sees every shard led by its first placed replica (leadership goes back to a replica only
    once it holds the whole log): the restarted node has caught up, so the next kill is one failure, not two."""
    for n in nodes:
        if n.proc is None:
            continue
        v = view(n)
        if not v:
            return False
        for g in v["shard_groups"]:
            if not g["replicas"] or g["leader"] != g["replicas"][0]:
                return False
    return True


def wait(pred, timeout_s, what):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.01)  # polling interval of a bounded wait
    raise RuntimeError("timed out waiting for " + what)


def place(client, rid, key, timeout_s=30):
    body = json.dumps({"restaurant_id": rid, "items": [{"item_id": "bento", "qty": 1}], "meal": "lunch"})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + client.token,
               "Idempotency-Key": key}
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            client.conn.request("POST", "/api/v1/orders", body=body, headers=headers)
            r = client.conn.getresponse()
            raw = r.read()
            if r.status == 201:
                return json.loads(raw)["id"]
            if r.status not in (429, 503, 504):  # 429: the order settles a change the kill interrupted
                raise RuntimeError("order refused: %d %s" % (r.status, raw[:200]))
        except (OSError, http.client.HTTPException):
            client.conn.close()
            client.conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=10)
        time.sleep(0.005)  # a client's retry pause
    raise RuntimeError("no order within %ss" % timeout_s)


def main():
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    top = tempfile.mkdtemp(prefix="bento-failover-")
    nodes = []
    try:
        nodes = start_cluster(BIN, top, 3, SECRET)
        mia = Client(nodes[0].port)
        mia.sign_up("mia", "merchant")
        status, body = mia.call("POST", "/api/v1/restaurants", {"name": "Failover", "place": "taipei"})
        assert status == 201, (status, body)
        rid = body["id"]
        status, body = mia.call("PUT", "/api/v1/restaurants/%s/menu/items/bento" % rid,
                                {"name": "Bento", "price_cents": 500, "stock": 1000000})
        assert status in (200, 201), (status, body)
        carl = Client(nodes[0].port)
        carl.sign_up("carl", "customer")
        entity = "restaurant/" + rid
        acked = []
        samples = []
        for k in range(kills):
            leader = wait(lambda: leader_of(nodes, entity), 30, "a leader everyone agrees on")
            survivors = [n for n in nodes if n is not leader]
            via = Client(survivors[k % 2].port, carl.token)
            acked.append(place(via, rid, "warm-%d" % k))  # the survivor's connection is open and warm
            leader.proc.kill()
            t0 = time.monotonic()
            leader.proc.wait()
            acked.append(place(via, rid, "kill-%d" % k))
            dt = (time.monotonic() - t0) * 1000
            leader.proc = None
            samples.append(dt)
            print("kill %2d: %s was leader; first order through %s after %7.1f ms" % (k + 1, leader.id,
                  survivors[k % 2].id, dt), flush=True)
            leader.start(timeout_s=60)
            wait(lambda: settled(nodes), 60, "the restarted node caught up and leading its shards again")
        # Nothing acknowledged was lost, and stock adds up, read through every node.
        for n in nodes:
            c = Client(n.port, carl.token)
            for oid in acked:
                status, _ = c.call("GET", "/api/v1/orders/" + oid)
                assert status == 200, (n.id, oid, status)
            status, body = Client(n.port, mia.token).call("GET", "/api/v1/restaurants/%s/menu/items/bento" % rid)
            assert status == 200 and body["stock"] == 1000000 - len(acked), (n.id, status, body)
        print()
        print("failover over %d kill -9s of the restaurant's leader (kill -> first successful order on its keys):"
              % len(samples))
        print("  p50 %.0f ms   p90 %.0f ms   max %.0f ms   min %.0f ms" % (
            percentile(samples, 50), percentile(samples, 90), max(samples), min(samples)))
        print("  %d acknowledged orders, all present on all 3 nodes; stock consistent" % len(acked))
    finally:
        for n in nodes:
            n.stop()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
