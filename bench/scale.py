#!/usr/bin/env python3
"""One node after many orders (issue 10, "Scale"): the lunch rush (bench/lunch_rush.py's workload) until
--orders orders are placed, then:

  - the node's RSS and active entity actors, the data dir's size, and both per stored order;
  - the p50/p99 of reading single orders (GET /api/v1/orders/{id}) of a random sample, one at a time, and of
    listing pages (GET /api/v1/orders?limit=50, a random customer's first page);
  - a restart (SIGTERM, start on the same data dir) and the time of the restaurant's first menu read after it:
    its activation, on the path of every failover too;
  - then --activate orders read once each (their owners' listings give the ids): every read activates an order
    actor from the store (p50/p99: the time to reactivate an entity), and the RSS they add, per actor: what an
    idle entity costs (they stay active, idle, until their idle timeout).

With --users N: N customers are first written into the node's data dir (stopped for it) as their
registrations write them, by `bento-bench-load-users` (registering them through the API would take hours of
password hashing, by design, and meets its per-address throttle), and --logins of them, one at a time, give the
p50/p99 of activating a user among them (the password check included).

Usage: bench/scale.py [--orders 200000] [--users 0] [--out build/bench/scale.json]
       (make bench-scale ORDERS=1000000 USERS=1000000)
"""
import argparse
import http.client
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import Client, percentile, write_summary  # noqa: E402
import lunch_rush  # noqa: E402


def du_bytes(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout.split()[0])


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    total = 0.0
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=int, default=200000)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--reads", type=int, default=2000)
    p.add_argument("--listings", type=int, default=300, help="listing pages timed, one at a time")
    p.add_argument("--activate", type=int, default=20000)
    p.add_argument("--users", type=int, default=0,
                   help="customers loaded into the data dir first (bento-bench-load-users), beside the 50")
    p.add_argument("--logins", type=int, default=300, help="with --users: logins of random loaded users")
    p.add_argument("--binary", default="build/bin/bento-node")
    p.add_argument("--out", default="build/bench/scale.json")
    a = p.parse_args()
    top = tempfile.mkdtemp(prefix="bento-bench-scale-")
    node = None
    try:
        node = lunch_rush.start_rush_node(a.binary, os.path.join(top, "n"))
        users_s = 0.0
        if a.users:
            # The node formed its data dir; stopped, its store takes the users as their registrations write
            # them (one password hash for all: hashing a million is the API's cost, by design, not the store's).
            node.stop()
            loader = os.path.join(os.path.dirname(os.path.abspath(a.binary)), "bento-bench-load-users")
            t0 = time.time()
            subprocess.run([loader, os.path.join(node.dir, "data"), str(a.users)], env=node.env, check=True,
                           timeout=3600)
            users_s = time.time() - t0
            node.start(timeout_s=600)
            print("  %d users loaded in %.0f s" % (a.users, users_s), flush=True)
        rid, tokens = lunch_rush.set_up(node.port)
        env = lunch_rush.wrk_env("order", rid, tokens)
        placed, started = 0, time.time()
        while placed < a.orders:
            # Chunks of 20 s; the last one shorter, by the rate seen so far.
            rate = placed / (time.time() - started) if placed else 3000.0
            seconds = max(2, min(20, int((a.orders - placed) / max(rate, 1.0)) + 1))
            run = lunch_rush.wrk("http://127.0.0.1:%d" % node.port, seconds, a.connections, dict(env, BENTO_SEED=str(placed)))
            placed += run["2xx"]
            print("  %d orders placed (%.0f/s in the last %d s)" % (placed, run["rps"], seconds), flush=True)
        load_s = time.time() - started
        rss = node.rss_kib() * 1024
        actors = metric(node.port, "bento_entity_actors")
        data = du_bytes(os.path.join(node.dir, "data"))
        clients = {}
        # Single-order reads, each by its own customer: a sample of the first listing pages of 10 customers.
        lat = []
        owner = {}
        for t in random.Random(1).sample(tokens, 10):
            status, page = Client(node.port, t).call("GET", "/api/v1/orders?limit=500")
            for o in (page or {}).get("orders", []):
                owner[o["id"]] = t
        for oid in random.Random(2).sample(sorted(owner), min(a.reads, len(owner))):
            c = clients.setdefault(owner[oid], Client(node.port, owner[oid]))
            t0 = time.perf_counter()
            status, _ = c.call("GET", "/api/v1/orders/" + oid)
            lat.append(time.perf_counter() - t0)
            assert status == 200, status
        # Listing pages, one at a time: a random customer's first page of 50 orders, from the index column (an
        # iterator over its memtables and L0 files, which the column lets pile up to 16 before compacting).
        listings = []
        pick = random.Random(4)
        for _ in range(a.listings):
            t = pick.choice(tokens)
            c = clients.setdefault(t, Client(node.port, t))
            t0 = time.perf_counter()
            status, page = c.call("GET", "/api/v1/orders?limit=50")
            listings.append(time.perf_counter() - t0)
            assert status == 200, status
        # Logins of random loaded users, one at a time: each activates a user among all of them from the store
        # (and verifies the password: Argon2 at the bench's light settings, BENTO_ARGON2_*).
        logins = []
        if a.users:
            for i in random.Random(3).sample(range(a.users), min(a.logins, a.users)):
                c = Client(node.port)
                t0 = time.perf_counter()
                status, body = c.call("POST", "/api/v1/sessions", {"username": "bulk_%d" % i,
                                                                   "password": "bulk password 1"})
                logins.append(time.perf_counter() - t0)
                assert status in (200, 201), (status, body)
        node.stop()
        t0 = time.time()
        node.start(timeout_s=600)
        ready_s = time.time() - t0
        t0 = time.perf_counter()
        status, menu = Client(node.port, tokens[0]).call("GET", "/api/v1/restaurants/%s/menu" % rid)
        first_menu_s = time.perf_counter() - t0
        assert status == 200, status
        t0 = time.perf_counter()
        Client(node.port, tokens[0]).call("GET", "/api/v1/restaurants/%s/menu" % rid)
        second_menu_s = time.perf_counter() - t0
        rss_after_restart = node.rss_kib() * 1024
        # Reactivation: order ids from the listings (served from the index, no order actor is activated).
        ids = []
        for t in tokens:
            cursor, c = "", Client(node.port, t)
            while len(ids) < a.activate:
                status, page = c.call("GET", "/api/v1/orders?limit=100"
                                      + ("&cursor=" + urllib.parse.quote(cursor, safe="") if cursor else ""))
                assert status == 200, status
                ids += [(o["id"], t) for o in page.get("orders", [])]
                cursor = page.get("next_cursor") or ""
                if not cursor:
                    break
            if len(ids) >= a.activate:
                break
        ids = ids[:a.activate]
        cache_stat = 'bento_rocksdb{stat="block_cache_usage_bytes"}'
        readers_stat = 'bento_rocksdb{stat="table_readers_bytes"}'
        time.sleep(1.1)  # a render of its own, after the listings' reads
        actors_before = metric(node.port, "bento_entity_actors")
        cache_before = metric(node.port, cache_stat)
        readers_before = metric(node.port, readers_stat)
        rss_before_activation = node.rss_kib() * 1024
        react = []
        for oid, t in ids:
            c = clients.setdefault(("r", t), Client(node.port, t))
            t0 = time.perf_counter()
            status, _ = c.call("GET", "/api/v1/orders/" + oid)
            react.append(time.perf_counter() - t0)
            assert status == 200, status
        # A /metrics render is shared for a second: 2,000 fast reads fit in one, and a scrape right after them
        # could be the one taken before them (0 actors added, seen at 193c59b).
        time.sleep(1.1)
        activated = metric(node.port, "bento_entity_actors") - actors_before
        # The reads also fill RocksDB's block cache and open SST files' index and filter blocks (more files at 1M
        # orders than at 100k): that is the store's memory, not the actors'.
        cache_grew = metric(node.port, cache_stat) - cache_before
        readers_grew = metric(node.port, readers_stat) - readers_before
        rss_activated = node.rss_kib() * 1024 - rss_before_activation - cache_grew - readers_grew
    finally:
        if node:
            node.stop()
        shutil.rmtree(top, ignore_errors=True)

    summary = {"orders": placed, "load_seconds": load_s, "rss_bytes": rss, "active_entity_actors": actors,
               "data_dir_bytes": data, "rss_bytes_per_order": rss / placed, "disk_bytes_per_order": data / placed,
               "order_read_p50_ms": percentile(lat, 50) * 1e3, "order_read_p99_ms": percentile(lat, 99) * 1e3,
               "listing_p50_ms": percentile(listings, 50) * 1e3, "listing_p99_ms": percentile(listings, 99) * 1e3,
               "restart_ready_s": ready_s, "restaurant_first_read_s": first_menu_s,
               "restaurant_second_read_s": second_menu_s, "rss_bytes_after_restart": rss_after_restart,
               "reactivated": len(react), "reactivation_p50_ms": percentile(react, 50) * 1e3,
               "reactivation_p99_ms": percentile(react, 99) * 1e3, "entity_actors_added": activated,
               "rss_bytes_per_idle_entity": rss_activated / max(activated, 1), "block_cache_grew_bytes": cache_grew,
               "table_readers_grew_bytes": readers_grew, "users_loaded": a.users, "users_load_seconds": users_s,
               "login_p50_ms": percentile(logins, 50) * 1e3 if logins else None,
               "login_p99_ms": percentile(logins, 99) * 1e3 if logins else None}
    if a.users:
        print("%d users loaded (in %.0f s; `bento-bench-load-users`), then:" % (a.users, users_s))
    print("%d orders at one restaurant in %.0f s (%.0f/s)" % (placed, load_s, placed / load_s))
    print("  RSS %.0f MiB (%.0f B per order; %d entity actors active), data dir %.0f MiB (%.0f B per order)" % (
        rss / 2**20, rss / placed, actors, data / 2**20, data / placed))
    print("  single-order reads, %d of them one at a time: p50 %.2f ms, p99 %.2f ms" % (
        len(lat), summary["order_read_p50_ms"], summary["order_read_p99_ms"]))
    print("  listing pages (a customer's first 50 orders), %d of them one at a time: p50 %.2f ms, p99 %.2f ms" % (
        len(listings), summary["listing_p50_ms"], summary["listing_p99_ms"]))
    print("  restart: ready in %.2f s; the restaurant's first menu read (its activation) %.3f s, the next %.4f s;"
          " RSS then %.0f MiB" % (ready_s, first_menu_s, second_menu_s, rss_after_restart / 2**20))
    print("  %d orders read once each after the restart (each reactivates its actor): p50 %.2f ms, p99 %.2f ms;"
          " %d actors added %.0f KiB of RSS (besides %.0f KiB of block cache and %.0f KiB of SST index/filter"
          " blocks): %.0f B per idle entity" % (
              len(react), summary["reactivation_p50_ms"], summary["reactivation_p99_ms"], activated,
              rss_activated / 1024, cache_grew / 1024, readers_grew / 1024, summary["rss_bytes_per_idle_entity"]))
    if logins:
        print("  logins of %d random loaded users, one at a time (each activates its user; Argon2 included):"
              " p50 %.2f ms, p99 %.2f ms" % (len(logins), summary["login_p50_ms"], summary["login_p99_ms"]))
    write_summary(a.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
