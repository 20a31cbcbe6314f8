#!/usr/bin/env python3
"""Orders flowing through a cluster, one line a second: how many were acknowledged, how many answers said
"retry" (503 no leader yet / 504 outcome unknown, resolved by retrying with the same Idempotency-Key / 429 while
the order settles a change the failover interrupted) and which
nodes did not answer. Kill a node meanwhile and watch. At the end every acknowledged order is read back through
every node that answers, and the restaurant's stock is checked against them.

Usage: scripts/order_flow.py [seconds=60] [url ...]   (default: the `make cluster` nodes, :8081 :8082 :8083)
"""
import http.client
import json
import sys
import time
import urllib.parse

STOCK = 1000000


class Node:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.url, self.host, self.port = url, u.hostname, u.port
        self.conn = None

    def call(self, method, path, body=None, token=None, key=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        if key:
            headers["Idempotency-Key"] = key
        try:
            if self.conn is None:
                # Short: a frozen node holds a request forever; the same key goes to the next node instead.
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
            self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
        except (OSError, http.client.HTTPException, ValueError):
            if self.conn:
                self.conn.close()
            self.conn = None
            return 0, None


def first_answer(nodes, *args, **kw):
    for n in nodes:
        status, body = n.call(*args, **kw)
        if status:
            return status, body
    raise SystemExit("no node answers")


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    urls = sys.argv[2:] or ["http://127.0.0.1:%d" % p for p in (8081, 8082, 8083)]
    nodes = [Node(u) for u in urls]
    tag = str(int(time.time()))
    tokens = {}
    for name, role in (("flowm" + tag, "merchant"), ("flowc" + tag, "customer")):
        first_answer(nodes, "POST", "/api/v1/users", {"username": name, "password": "order-flow-pw",
                                                       "email": name + "@example.com", "role": role,
                                                       "place": "taipei"})
        status, body = first_answer(nodes, "POST", "/api/v1/sessions", {"username": name, "password": "order-flow-pw"})
        assert status == 201, (status, body)
        tokens[role] = body["token"]
    status, body = first_answer(nodes, "POST", "/api/v1/restaurants", {"name": "Flow " + tag, "place": "taipei"},
                                token=tokens["merchant"])
    assert status == 201, (status, body)
    rid = body["id"]
    status, body = first_answer(nodes, "PUT", "/api/v1/restaurants/%s/menu/items/bento" % rid,
                                {"name": "Bento", "price_cents": 500, "stock": STOCK}, token=tokens["merchant"])
    assert status in (200, 201), (status, body)
    print("restaurant %s; ordering through %s for %ds (Ctrl-C stops early)" % (rid, " ".join(urls), seconds))

    order = {"restaurant_id": rid, "items": [{"item_id": "bento", "qty": 1}], "meal": "lunch"}
    acked, k, i = [], 0, 0
    start = time.monotonic()
    st = {"tick": start + 1, "ok": 0, "retried": 0}
    silent = set()
    retry_at = {}

    def report():
        while time.monotonic() >= st["tick"]:  # a second spent waiting on one call prints as its own line
            print("t=%3ds  acknowledged %4d/s  retried %3d  not answering: %s" % (
                int(st["tick"] - start), st["ok"], st["retried"], " ".join(sorted(silent)) or "-"), flush=True)
            st.update(ok=0, retried=0)
            st["tick"] += 1

    try:
        while time.monotonic() - start < seconds:
            key = "flow-%s-%d" % (tag, k)
            while True:  # the same key until it is answered: never a duplicate, never an uncounted order
                n = nodes[i % len(nodes)]
                i += 1
                # A node that did not answer is tried again only once a second, as a client's pool would.
                if n.url in silent and time.monotonic() < retry_at.get(n.url, 0) and len(silent) < len(nodes):
                    continue
                status, body = n.call("POST", "/api/v1/orders", order, token=tokens["customer"], key=key)
                if status == 201:
                    acked.append(body["id"])
                    st["ok"] += 1
                    silent.discard(n.url)
                    break
                if status == 0:
                    silent.add(n.url)
                    retry_at[n.url] = time.monotonic() + 1
                elif status in (429, 503, 504):  # 429: settling a change a failover interrupted
                    st["retried"] += 1
                else:
                    raise SystemExit("order refused: %d %s" % (status, body))
                report()
            k += 1
            report()
    except KeyboardInterrupt:
        # The order in flight may have been placed: resolve it with its key before counting.
        key = "flow-%s-%d" % (tag, k)
        for _ in range(100):
            status, body = nodes[i % len(nodes)].call("POST", "/api/v1/orders", order, token=tokens["customer"],
                                                      key=key)
            i += 1
            if status == 201:
                if body["id"] not in acked:
                    acked.append(body["id"])
                break
            time.sleep(0.1)  # a client's retry pause
    print("checking %d acknowledged orders through every node that answers..." % len(acked))
    for n in nodes:
        status, _ = n.call("GET", "/healthz")
        if status != 200:
            print("  %s: not answering, skipped" % n.url)
            continue
        missing = [oid for oid in acked if n.call("GET", "/api/v1/orders/" + oid, token=tokens["customer"])[0] != 200]
        status, item = n.call("GET", "/api/v1/restaurants/%s/menu/items/bento" % rid, token=tokens["merchant"])
        stock = item["stock"] if status == 200 else None
        print("  %s: %d missing, stock %s (expected %d)" % (n.url, len(missing), stock, STOCK - len(acked)))
        if missing or stock != STOCK - len(acked):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
