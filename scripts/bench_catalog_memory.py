#!/usr/bin/env python3
"""Issue 5 item 9: one merchant creates 20 restaurants x 500 items of the maximum size (name of 100 and
description of 2000 four-byte characters, 20 tags of 32 characters, a 2048-byte image URL: about 11 KB of
UTF-8 each); prints the node's RSS before, after, and after a restart (when the old catalog reloaded every
item into memory), and checks that a menu query still finds the items.

Usage: scripts/bench_catalog_memory.py [--binary build/bin/bento-node] [--restaurants 20] [--items 500]
Starts its own node on a free loopback port with a temp data dir (BENTO_IDLE_PASSIVATE_S=2, so restaurant
actors, which hold their own menus while active, are passivated before the measurement: what stays is the
catalog's share)."""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import Client, Node  # noqa: E402

WIDE = "\U0001F371"  # a bento box: four bytes of UTF-8


def big_item(r, i):
    return {"name": (WIDE * 99) + chr(ord("a") + i % 26),
            "description": WIDE * 2000,
            "price_cents": 100 + i, "stock": 1000,
            "tags": ["t%02d-%s" % (t, "x" * 28) for t in range(20)],
            "image_url": "https://example.com/" + "p" * (2048 - len("https://example.com/"))}


def settle_rss(node, seconds=6):
    """RSS after entities went idle: sampled until it stops falling (bounded)."""
    time.sleep(seconds)  # passivation needs the idle time to pass: a measured delay, not synchronisation
    return node.rss_kib()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/bin/bento-node")
    ap.add_argument("--restaurants", type=int, default=20)
    ap.add_argument("--items", type=int, default=500)
    args = ap.parse_args()
    node = Node(os.path.abspath(args.binary), env={"BENTO_IDLE_PASSIVATE_S": "2"})
    try:
        node.start()
        mia = Client(node.port)
        mia.sign_up("mia", "merchant")
        customer = Client(node.port)
        customer.sign_up("carl", "customer")
        customer.call("GET", "/api/v1/menu?place=taipei")
        before = settle_rss(node)
        rids = []
        for r in range(args.restaurants):
            status, body = mia.call("POST", "/api/v1/restaurants", {"name": "Shop %02d" % r, "place": "taipei"})
            assert status == 201, (status, body)
            rids.append(body["id"])

        def fill(rid_list):
            c = Client(node.port, mia.token)
            for rid in rid_list:
                for i in range(args.items):
                    status, body = c.call("PUT", "/api/v1/restaurants/%s/menu/items/i%03d" % (rid, i), big_item(0, i))
                    assert status in (200, 201), (status, body)

        t0 = time.time()
        threads = [threading.Thread(target=fill, args=(rids[k::2],)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("created %d restaurants x %d items in %.1fs" % (args.restaurants, args.items, time.time() - t0))
        status, page = customer.call("GET", "/api/v1/menu?place=taipei&limit=100")
        assert status == 200 and len(page["items"]) == 100, status
        after = settle_rss(node)
        node.stop()
        node.start(timeout_s=120)
        status, page = customer.call("GET", "/api/v1/menu?place=taipei&tag=t19-" + "x" * 28 + "&limit=100")
        assert status == 200 and len(page["items"]) == 100, status
        restarted = settle_rss(node, 3)
        mib = lambda k: k / 1024.0  # noqa: E731
        print("RSS before: %.0f MiB; after creating: %.0f MiB (+%.0f); after a restart: %.0f MiB (+%.0f over before)"
              % (mib(before), mib(after), mib(after - before), mib(restarted), mib(restarted - before)))
    finally:
        node.cleanup()


if __name__ == "__main__":
    main()
