#!/usr/bin/env python3
"""Issue 5 item 8: one customer with many orders runs many concurrent `GET /api/v1/orders?status=delivered`
(the attack); another customer's `GET /api/v1/orders` (the victim) is timed meanwhile. Prints the victim's p50
and p99 without and with the attack.

Usage: scripts/bench_listings.py [--binary build/bin/bento-node] [--orders 40000] [--attackers 48]
                                 [--seconds 15]
Run it once with the binary before the fix and once after; each run starts its own node on a free loopback
port with a temp data dir. The attack is wrk (48 keep-alive connections) so that the attacker's speed does not
depend on Python; the victim is one sequential client."""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import Client, Node, percentile  # noqa: E402


def place_orders(port, token, rid, n, threads=4):
    done = [0]
    lock = threading.Lock()

    def worker(count):
        c = Client(port, token)
        for _ in range(count):
            status, body = c.call("POST", "/api/v1/orders", {"restaurant_id": rid, "meal": "lunch",
                                                            "items": [{"item_id": "rice", "qty": 1}]})
            assert status == 201, (status, body)
            with lock:
                done[0] += 1

    ts = [threading.Thread(target=worker, args=(n // threads + (1 if i < n % threads else 0),)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return done[0]


def victim_latencies(port, token, seconds):
    c = Client(port, token)
    lat, errors = [], 0
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.perf_counter()
        status, _ = c.call("GET", "/api/v1/orders")
        lat.append((time.perf_counter() - t0) * 1000.0)
        if status != 200:
            errors += 1
    return lat, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/bin/bento-node")
    ap.add_argument("--orders", type=int, default=40000)
    ap.add_argument("--attackers", type=int, default=48)
    ap.add_argument("--seconds", type=int, default=15)
    args = ap.parse_args()

    node = Node(os.path.abspath(args.binary))
    try:
        node.start()
        mia, heavy, victim = Client(node.port), Client(node.port), Client(node.port)
        mia.sign_up("mia", "merchant")
        heavy.sign_up("heavy", "customer")
        victim.sign_up("victim", "customer")
        _, r = mia.call("POST", "/api/v1/restaurants", {"name": "Mia's", "place": "taipei"})
        rid = r["id"]
        status, _ = mia.call("PUT", "/api/v1/restaurants/%s/menu/items/rice" % rid,
                             {"name": "Rice", "price_cents": 100, "stock": 1000000})
        assert status in (200, 201)
        # A few delivered orders, the oldest ones: a filtered listing must look past everything else to find them.
        for _ in range(20):
            _, o = heavy.call("POST", "/api/v1/orders", {"restaurant_id": rid, "meal": "lunch",
                                                         "items": [{"item_id": "rice", "qty": 1}]})
            assert mia.call("POST", "/api/v1/orders/%s/confirm" % o["id"])[0] == 200
            assert mia.call("POST", "/api/v1/orders/%s/deliver" % o["id"])[0] == 200
        t0 = time.time()
        place_orders(node.port, heavy.token, rid, args.orders - 20)
        print("placed %d orders for the attacker in %.1fs" % (args.orders, time.time() - t0))
        for _ in range(5):
            victim.call("POST", "/api/v1/orders", {"restaurant_id": rid, "meal": "lunch",
                                                   "items": [{"item_id": "rice", "qty": 1}]})

        base, base_err = victim_latencies(node.port, victim.token, 3)
        print("victim alone:       n=%d p50=%.1fms p99=%.1fms errors=%d"
              % (len(base), percentile(base, 50), percentile(base, 99), base_err))

        lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        lua.write('wrk.headers["Authorization"] = "Bearer %s"\n' % heavy.token)
        lua.close()
        url = "http://127.0.0.1:%d/api/v1/orders?status=delivered" % node.port
        wrk = subprocess.Popen(["wrk", "-t2", "-c%d" % args.attackers, "-d%ds" % (args.seconds + 2), "--timeout",
                                "30s", "-s", lua.name, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
        time.sleep(1)  # let the attack reach its steady state (a measurement delay, not synchronisation)
        lat, err = victim_latencies(node.port, victim.token, args.seconds)
        out, _ = wrk.communicate(timeout=args.seconds + 60)
        os.unlink(lua.name)
        rps = [l for l in out.splitlines() if "Requests/sec" in l]
        non2xx = [l for l in out.splitlines() if "Non-2xx" in l]
        print("victim under attack: n=%d p50=%.1fms p99=%.1fms max=%.1fms errors=%d"
              % (len(lat), percentile(lat, 50), percentile(lat, 99), max(lat) if lat else float("nan"), err))
        print("attack (%d connections, ?status=delivered): %s %s"
              % (args.attackers, rps[0].strip() if rps else "?", non2xx[0].strip() if non2xx else "Non-2xx: 0"))
        print("node RSS after: %d MiB" % (node.rss_kib() // 1024))
    finally:
        node.cleanup()


if __name__ == "__main__":
    main()
