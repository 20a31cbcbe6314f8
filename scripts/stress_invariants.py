#!/usr/bin/env python3
"""Concurrent ordering stress against a running node, then a check of the stock invariants.

Customers place orders (some with Idempotency-Key, dates over three days) and cancel some; the merchant
confirms, delivers, cancels and edits at random. Afterwards, for every item:
  daily item: today's stock + what live orders for today hold == daily_stock, and no day holds more;
  plain item: stock + what all live orders hold == initial stock.
Exit 0 when every invariant holds and no answer was a 5xx or unexpected. For a chaos run, kill -9 and
restart the node while this runs: orders that got no answer are simply not counted.

Usage: scripts/stress_invariants.py http://127.0.0.1:8080 [seconds=20] [seed=1]
Start the node with a low BENTO_MAX_ACTIVE_ENTITIES (100) and BENTO_IDLE_PASSIVATE_S=1 to stress passivation.
"""
import datetime
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import zoneinfo

BASE = sys.argv[1].rstrip("/") + "/api/v1"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 20
random.seed(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
RUN = str(int(time.time()))  # fresh user names per run


def req(method, path, body=None, token=None, headers=None, retry_reads=True):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(BASE + path, data=data, method=method)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        r.add_header(k, v)
    try:
        with urllib.request.urlopen(r, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except OSError:
        if method == "GET" and retry_reads:  # the node may be restarting under a chaos run
            time.sleep(0.2)
            return req(method, path, body, token, headers)
        return 0, None


def user(name, role):
    req("POST", "/users", {"username": name, "password": "password1", "email": name + "@example.com",
                           "role": role, "place": "stress"})
    return req("POST", "/sessions", {"username": name, "password": "password1"})[1]["token"]


merchant = user("m" + RUN, "merchant")
rid = req("POST", "/restaurants", {"name": "Stress", "place": "stress"}, merchant)[1]["id"]
DAILY = {"a": 60, "b": 40, "c": 20}
PLAIN = {"d": 150}
for iid, n in DAILY.items():
    req("PUT", f"/restaurants/{rid}/menu/items/{iid}", {"name": iid, "price_cents": 100, "stock": n,
                                                        "daily_stock": n}, merchant)
for iid, n in PLAIN.items():
    req("PUT", f"/restaurants/{rid}/menu/items/{iid}", {"name": iid, "price_cents": 100, "stock": n}, merchant)
today = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Taipei")).date()  # the node's default BENTO_TZ
days = [str(today + datetime.timedelta(days=k)) for k in range(3)]
customers = [user(f"c{i}x{RUN}", "customer") for i in range(6)]
placed, lock, unexpected = [], threading.Lock(), []
stop_at = time.time() + SECONDS


def customer(token):
    while time.time() < stop_at:
        lines = [{"item_id": random.choice("abcd"), "qty": random.randint(1, 4)} for _ in range(random.randint(1, 3))]
        headers = {"Idempotency-Key": str(random.randint(0, 300))} if random.random() < 0.3 else {}
        status, body = req("POST", "/orders", {"restaurant_id": rid, "items": lines, "date": random.choice(days)},
                           token, headers)
        if status == 201:
            with lock:
                placed.append((body["id"], token))
        elif status not in (0, 409, 422, 429, 504):
            unexpected.append(("place", status, body))
        if random.random() < 0.2 and placed:
            oid, owner = random.choice(placed)
            status, body = req("POST", f"/orders/{oid}/cancel", None, owner)
            if status not in (0, 200, 404, 409, 429, 504):
                unexpected.append(("cancel", status, body))


def merchant_loop():
    while time.time() < stop_at:
        if not placed:
            time.sleep(0.01)
            continue
        oid, _ = random.choice(placed)
        action = random.choice(["confirm", "deliver", "cancel", "patch"])
        if action == "patch":
            # A merchant changes quantities of what was ordered (adding an item is a 400 by design).
            status, order = req("GET", f"/orders/{oid}", None, merchant)
            if status != 200:
                continue
            lines = [{"item_id": l["item_id"], "qty": random.randint(1, 5)} for l in order["items"]]
            status, body = req("PATCH", f"/orders/{oid}", {"items": lines[:random.randint(1, len(lines))]},
                               merchant)
        else:
            status, body = req("POST", f"/orders/{oid}/{action}", None, merchant)
        if status not in (0, 200, 409, 429, 504):
            unexpected.append((action, status, body))


threads = [threading.Thread(target=customer, args=(t,)) for t in customers]
threads += [threading.Thread(target=merchant_loop) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()

# What live (not cancelled) orders hold, per item and day.
held, statuses, cursor = {}, {}, None
while True:
    status, page = req("GET", "/orders?limit=500" + (f"&cursor={cursor}" if cursor else ""), None, merchant)
    for o in page["orders"]:
        statuses[o["status"]] = statuses.get(o["status"], 0) + 1
        if o["status"] != "cancelled":
            for line in o["items"]:
                key = (line["item_id"], o["date"] if line["item_id"] in DAILY else "*")
                held[key] = held.get(key, 0) + line["qty"]
    cursor = page["next_cursor"]
    if not cursor:
        break
menu = {i["id"]: i["stock"] for i in req("GET", f"/restaurants/{rid}/menu", None, merchant)[1]["items"]}
catalog = {i["id"]: i["stock"] for i in req("GET", "/menu?place=stress", None, merchant)[1]["items"]}
ok = not unexpected
print(f"orders: {sum(statuses.values())} {statuses}; answered 201: {len(placed)}")
for iid, n in DAILY.items():
    per_day = [held.get((iid, d), 0) for d in days]
    good = menu[iid] + per_day[0] == n and catalog[iid] == menu[iid] and all(h <= n for h in per_day)
    ok &= good
    print(f"{iid}: daily {n}, stock today {menu[iid]} (catalog {catalog[iid]}), held by day {per_day}: "
          f"{'OK' if good else 'BROKEN'}")
for iid, n in PLAIN.items():
    h = held.get((iid, "*"), 0)
    good = menu[iid] + h == n and catalog[iid] == menu[iid]
    ok &= good
    print(f"{iid}: initial {n}, stock {menu[iid]} (catalog {catalog[iid]}), held {h}: {'OK' if good else 'BROKEN'}")
print(f"unexpected answers: {len(unexpected)} {unexpected[:5]}")
sys.exit(0 if ok else 1)
