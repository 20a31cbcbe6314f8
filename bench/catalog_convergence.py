#!/usr/bin/env python3
"""How long a menu change takes to show in every node's catalog (GET /api/v1/menu) in a 5-node cluster with 3
replicas per shard, so most nodes hold the restaurant's shard only as a learner. Each round changes the price of
an item through one node and polls every node's catalog until it shows the new price; prints p50/p99/max of the
time from the change's acknowledgement to its appearance, per node and over all.

Usage: bench/catalog_convergence.py [changes=40]    (after `make build`; free loopback ports, a temp dir)
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from bench_common import Client, percentile, start_cluster  # noqa: E402

BIN = os.environ.get("BENTO_BIN", "build/bin/bento-node")
SECRET = "catalog convergence bench secret 0123456789"
NODES = 5


def price_seen(client, rid, price):
    status, body = client.call("GET", "/api/v1/menu?place=convergence")
    if status != 200:
        return False
    return any(i["restaurant_id"] == rid and i["price_cents"] == price for i in body.get("items", []))


def main():
    changes = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    top = tempfile.mkdtemp(prefix="bento-convergence-")
    nodes = []
    try:
        nodes = start_cluster(BIN, top, NODES, SECRET, {"BENTO_REPLICAS": "3", "BENTO_LOG_LEVEL": "warn"})
        mia = Client(nodes[0].port)
        mia.sign_up("mia", "merchant")
        status, body = mia.call("POST", "/api/v1/restaurants", {"name": "Convergence", "place": "convergence"})
        assert status == 201, (status, body)
        rid = body["id"]
        readers = [Client(n.port, mia.token) for n in nodes]
        per_node = [[] for _ in nodes]
        for k in range(changes):
            price = 1000 + k
            writer = Client(nodes[k % NODES].port, mia.token)
            status, body = writer.call("PUT", "/api/v1/restaurants/%s/menu/items/bento" % rid,
                                       {"name": "Bento", "price_cents": price, "stock": 100})
            assert status in (200, 201), (status, body)
            acked = time.monotonic()
            pending = set(range(NODES))
            while pending:
                for i in list(pending):
                    if price_seen(readers[i], rid, price):
                        per_node[i].append((time.monotonic() - acked) * 1000)
                        pending.discard(i)
                if time.monotonic() - acked > 10:
                    raise SystemExit("change %d not seen within 10 s on %s" % (k, sorted(pending)))
        everything = [ms for samples in per_node for ms in samples]
        print("menu change -> visible in GET /menu, %d changes, %d nodes, 3 replicas per shard:" % (changes, NODES))
        for i, samples in enumerate(per_node):
            print("  n%d: p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (i + 1, percentile(samples, 50),
                                                                      percentile(samples, 99), max(samples)))
        print("  all: p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (percentile(everything, 50),
                                                                percentile(everything, 99), max(everything)))
    finally:
        for n in nodes:
            n.stop()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
