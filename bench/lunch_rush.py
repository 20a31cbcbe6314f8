#!/usr/bin/env python3
"""The reference workload of issue 10, with a ceiling measured in the same run on the same machine.

A lunch rush at one popular restaurant: 1 restaurant with 20 items, 50 logged-in customers, each request an
order of 1-3 distinct random items with quantity 1-2 (bench/lunch_rush.lua), 64 keep-alive connections from one
wrk thread; the node(s) and wrk share this machine. Measured, in rounds (each round: every target once, so that
a slow minute of a shared machine hits all of them alike):

  ceiling     nginx (nginx-light) serving the restaurant's menu JSON as a static file, keep-alive
  menu        GET /api/v1/restaurants/{rid}/menu                 (one node)
  catalog     GET /api/v1/menu?place=taipei&limit=20             (one node)
  order       POST /api/v1/orders                                (one node)
  order_3n    POST /api/v1/orders through node 1 of a 3-node cluster, replication 3 (--nodes 3, the default),
              measured after the one node is stopped, beside the ceiling again (ceiling_3n)

Prints each sample and the medians with their ratios (to the ceiling measured in the same round; the 3-node
figure to the one-node one, each taken against its own phase's ceiling), checks issue 10's targets, and writes a JSON summary (--out).

Usage: bench/lunch_rush.py [--seconds 10] [--rounds 3] [--connections 64] [--nodes 3|0] [--out FILE]
       (after `make build`; `make bench` runs it; needs wrk and nginx-light: `scripts/setup.sh --bench`)
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from bench_common import (Client, Node, background_seconds, cpu_seconds, free_port, start_cluster,  # noqa: E402
                          write_summary)

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "lunch_rush.lua")
ITEMS = ["item%02d" % i for i in range(1, 21)]
CUSTOMERS = 50
# The figure for a conventional Go net/http + PostgreSQL implementation on this machine (not measured
# here: no Go or PostgreSQL in the project's dependencies); the ratio uses its upper end.
GO_PG_ORDERS_PER_S = 2400
# Argon2 only costs the 50 logins of the set-up, never a measured request: cheap parameters keep set-up short.
FAST_LOGIN = {"BENTO_ARGON2_MEM_KIB": "8192", "BENTO_ARGON2_OPS": "1"}


def sign_up_patiently(port, username):
    """Registers and logs in a customer, waiting out the node's sign-up and login throttles (429 + Retry-After)
    and a cluster's moving leads (503, 504)."""
    c = Client(port)
    body = {"username": username, "password": "attack-password", "email": username + "@example.com",
            "role": "customer", "place": "taipei"}
    for path, payload, ok in (("/api/v1/users", body, (201, 409)),
                              ("/api/v1/sessions", {"username": username, "password": "attack-password"}, (201,))):
        for _ in range(600):
            status, r = c.call("POST", path, payload)
            if status in ok:
                break
            # 504 outcome_unknown: the shard's lead moved meanwhile (a new cluster hands leaderships back in its
            # first ~30 s); both calls may be repeated (a repeated sign-up answers 409, a login makes a session).
            assert status in (429, 503, 504), (path, status, r)
            time.sleep(0.1)  # back-off while the throttle's window passes
        else:
            raise RuntimeError("%s: still throttled" % path)
    return r["token"]


def set_up(port):
    """A merchant, the restaurant and its 20 items, and 50 logged-in customers; returns (rid, tokens)."""
    m = Client(port)
    m.sign_up("rushm", "merchant")
    status, r = m.call("POST", "/api/v1/restaurants", {"name": "Lunch Rush", "place": "taipei"})
    assert status == 201, (status, r)
    rid = r["id"]
    for i, it in enumerate(ITEMS):
        status, _ = m.call("PUT", "/api/v1/restaurants/%s/menu/items/%s" % (rid, it),
                           {"name": "Bento %d" % (i + 1), "price_cents": 500 + 10 * i, "stock": 1000000,
                            "description": "rice, pickles and the dish of the day", "tags": ["lunch"]})
        assert status in (200, 201), status
    tokens = []
    for k in range(CUSTOMERS):
        tokens.append(sign_up_patiently(port, "rushc%02d" % k))
    return rid, tokens


def start_rush_node(binary, data_dir, extra_env=None):
    """One node as every lunch-rush bench runs it (fast logins, warn logs), started in `data_dir`."""
    node = Node(binary, env=dict(FAST_LOGIN, BENTO_LOG_LEVEL="warn", **(extra_env or {})), data_dir=data_dir)
    os.makedirs(node.dir, exist_ok=True)
    node.start()
    return node


def start_rush(binary, top, nodes):
    """One rush node, or a cluster of `nodes` (replication 3), under `top`; each node has an `id`. A single node
    gets a client-protocol port of its own, so that two of them can run side by side."""
    if nodes > 1:
        return start_cluster(binary, os.path.join(top, "cluster"), nodes, "bench cluster secret 0123456789",
                             dict(FAST_LOGIN, BENTO_LOG_LEVEL="warn", BENTO_REPLICAS="3"))
    node = start_rush_node(binary, os.path.join(top, "n"), {"BENTO_CLIENT_PORT": str(free_port())})
    node.id = "n1"
    return [node]


def rush_entry(started, rid):
    """The node to load: in a cluster the restaurant's leader, as the lunch rush's order_3n (entering at a
    follower pays a forward per request, ~20 % fewer orders, and which node leads depends on the restaurant's
    id); a single node, or a cluster that cannot say, its first."""
    if len(started) == 1:
        return started[0]
    lead = restaurant_leader(started[0].port, rid)
    return next((n for n in started if n.id == lead), started[0])


def stop_all(started):
    for n in started:
        n.stop()


def add_comparison_args(p, default_seconds):
    """The arguments every comparison of two builds takes."""
    p.add_argument("--a", required=True, help="the baseline binary")
    p.add_argument("--b", default="build/bin/bento-node", help="the binary compared with it")
    p.add_argument("--mode", default="order", choices=["order", "menu", "catalog"])
    p.add_argument("--seconds", type=int, default=default_seconds)


def wrk_env(mode, rid, tokens):
    """What bench/lunch_rush.lua reads: the request kind, the customers' tokens, the restaurant and its items."""
    return {"BENTO_MODE": mode, "BENTO_TOKENS": ",".join(tokens), "BENTO_RID": rid, "BENTO_ITEMS": ",".join(ITEMS)}


def wrk(url, seconds, connections, env):
    e = dict(os.environ)
    e.update(env)
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "--latency", "-s", LUA, url],
                         env=e, capture_output=True, text=True, timeout=seconds + 120).stdout
    m = re.search(r"^JSON (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError("wrk printed no summary:\n" + out)
    r = json.loads(m.group(1))
    r["rps"] = r["2xx"] / r["seconds"] if r["seconds"] else 0.0
    return r


class Nginx:
    """nginx serving `body` as /menu.json from a temp dir, on a free loopback port."""

    def __init__(self, body):
        self.dir = tempfile.mkdtemp(prefix="bento-bench-nginx-")
        os.makedirs(os.path.join(self.dir, "www"))
        with open(os.path.join(self.dir, "www", "menu.json"), "wb") as f:
            f.write(body)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""user root; worker_processes auto; daemon off; pid %(d)s/nginx.pid; error_log %(d)s/error.log;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 10000000; keepalive_timeout 120s;
  # A tuned static server, not nginx's defaults: the file's descriptor and metadata cached (no open, fstat and
  # close per request) and sent with sendfile. The ceiling should be the best a plain server does here.
  open_file_cache max=16 inactive=60s; open_file_cache_valid 3600s; sendfile on; tcp_nopush on;
  types { application/json json; }
  server { listen 127.0.0.1:%(p)d; root %(d)s/www; }
}
""" % {"d": self.dir, "p": self.port})
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                status, _ = Client(self.port).call("GET", "/menu.json")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)  # polling interval of a bounded wait
        raise RuntimeError("nginx did not start (see %s/error.log)" % self.dir)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def restaurant_leader(port, rid):
    """The node that leads the restaurant's shard, as the node at `port` sees it (None if it cannot say)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/cluster?entity=restaurant/%s" % (port, rid),
                                    timeout=5) as r:
            return json.loads(r.read())["entity"].get("leader")
    except (OSError, ValueError, KeyError):
        return None


def cpu_percent(pids, seconds):
    """CPU time the processes used over `seconds` of wall time, in percent of one core."""
    before = cpu_seconds(pids)
    time.sleep(seconds)  # the measurement window, not a synchronisation
    return 100.0 * (cpu_seconds(pids) - before) / seconds


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2] if s else float("nan")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--nodes", type=int, default=3, help="cluster size for order_3n (0: skip the cluster)")
    p.add_argument("--binary", default="build/bin/bento-node")
    p.add_argument("--out", default="build/bench/lunch_rush.json")
    a = p.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("%s missing: run scripts/setup.sh --bench (as root)" % tool)

    top = tempfile.mkdtemp(prefix="bento-bench-rush-")
    node = Node(a.binary, env=dict(FAST_LOGIN, BENTO_LOG_LEVEL="warn"), data_dir=os.path.join(top, "one"))
    os.makedirs(node.dir, exist_ok=True)
    cluster, nginx, idle_cpu, entry_leads = [], None, None, None
    try:
        node.start()
        rid, tokens = set_up(node.port)
        status, menu = Client(node.port, tokens[0]).call("GET", "/api/v1/restaurants/%s/menu" % rid)
        assert status == 200
        nginx = Nginx(json.dumps(menu).encode())
        targets = {
            "ceiling": ("http://127.0.0.1:%d/menu.json" % nginx.port, {"BENTO_MODE": "static"}),
            "menu": ("http://127.0.0.1:%d" % node.port, {"BENTO_MODE": "menu"}),
            "catalog": ("http://127.0.0.1:%d" % node.port, {"BENTO_MODE": "catalog"}),
            "order": ("http://127.0.0.1:%d" % node.port, {"BENTO_MODE": "order"}),
        }
        env_of = {k: wrk_env(v[1]["BENTO_MODE"], rid, tokens) for k, v in targets.items()}
        samples = {k: [] for k in targets}
        pids_of = {k: [node.proc.pid] for k in ("menu", "catalog", "order")}

        def rounds(names):
            for name in names:  # warm-up: caches, actor activations, TCP
                wrk(targets[name][0], 2, a.connections, env_of[name])
            for r in range(a.rounds):
                for name in names:
                    # The node(s)' CPU per request too: steadier than req/s on a machine wrk shares.
                    pids = pids_of.get(name, [])
                    before, before_bg = cpu_seconds(pids), background_seconds(pids)
                    s = wrk(targets[name][0], a.seconds, a.connections, env_of[name])
                    if pids and s["2xx"]:  # per answered request, as rps counts them
                        s["node_cpu_us_per_request"] = (cpu_seconds(pids) - before) * 1e6 / s["2xx"]
                        # The part in RocksDB's flushes and compactions: what grows over the rounds.
                        s["background_us_per_request"] = (background_seconds(pids) - before_bg) * 1e6 / s["2xx"]
                    samples.setdefault(name, []).append(s)
                    print("round %d %-9s %8.0f/s  p50 %6.2f ms  p99 %6.2f ms  p999 %6.2f ms  non-2xx %d  errors %d%s" % (
                        r + 1, name, s["rps"], s["p50_us"] / 1e3, s["p99_us"] / 1e3, s["p999_us"] / 1e3,
                        s["4xx"] + s["5xx"] + s["other"], s["errors"],
                        "  node CPU %.0f us/request (%.0f background)" % (s["node_cpu_us_per_request"],
                                                                         s["background_us_per_request"])
                        if "node_cpu_us_per_request" in s else ""), flush=True)

        # Phase 1, one node (and nothing else running but nginx); phase 2, the cluster, the one node stopped.
        # Each phase measures the ceiling in its rounds, so its figures are normalised by its own ceiling.
        rounds(["ceiling", "menu", "catalog", "order"])
        rss_kib = node.rss_kib()
        if a.nodes > 0:
            node.stop()
            cluster = start_cluster(a.binary, os.path.join(top, "cluster"), a.nodes, "bench cluster secret 0123456789",
                                    dict(FAST_LOGIN, BENTO_REPLICAS="3", BENTO_LOG_LEVEL="warn"))
            crid, ctokens = set_up(cluster[0].port)
            idle_cpu = cpu_percent([n.proc.pid for n in cluster], 5.0)
            targets["ceiling_3n"] = targets["ceiling"]
            env_of["ceiling_3n"] = env_of["ceiling"]
            # Where the load enters matters: through a follower of the restaurant's shard every order is
            # forwarded to its leader. Both are measured, so that a run does not depend on where the election
            # put the lead: order_3n enters at the leader (the target's figure), order_3n_fwd at a follower.
            lead = restaurant_leader(cluster[0].port, crid)
            entry = next((n for n in cluster if n.id == lead), cluster[0])
            follower = next(n for n in cluster if n is not entry)
            entry_leads = entry.id == lead
            for name, at in (("order_3n", entry), ("order_3n_fwd", follower)):
                targets[name] = ("http://127.0.0.1:%d" % at.port, {"BENTO_MODE": "order"})
                env_of[name] = wrk_env("order", crid, ctokens)
                pids_of[name] = [n.proc.pid for n in cluster]
            rounds(["ceiling_3n", "order_3n", "order_3n_fwd"])
            if restaurant_leader(cluster[0].port, crid) != lead:
                print("  (the restaurant's shard changed leader during the run: the figures mix both entries)")
    finally:
        if nginx:
            nginx.stop()
        node.stop()
        for n in cluster:
            n.stop()
        shutil.rmtree(top, ignore_errors=True)

    # Ratios within each round, then medians.
    def ratio(name, base):
        return median([s["rps"] / b["rps"] for s, b in zip(samples[name], samples[base]) if b["rps"]])
    summary = {"seconds": a.seconds, "rounds": a.rounds, "connections": a.connections, "cores": os.cpu_count(),
               "node_rss_kib": rss_kib, "targets": {}}
    print("\nmedians over %d rounds of %d s, %d connections, wrk -t1, %d cores shared by wrk and the node(s):"
          % (a.rounds, a.seconds, a.connections, os.cpu_count()))
    for name in targets:
        xs = samples[name]
        t = {"rps": median([s["rps"] for s in xs]), "p50_ms": median([s["p50_us"] for s in xs]) / 1e3,
             "p99_ms": median([s["p99_us"] for s in xs]) / 1e3, "p999_ms": median([s["p999_us"] for s in xs]) / 1e3,
             "non_2xx": sum(s["4xx"] + s["5xx"] + s["other"] for s in xs), "samples": xs}
        cpu = [s["node_cpu_us_per_request"] for s in xs if "node_cpu_us_per_request" in s]
        if cpu:
            t["node_cpu_us_per_request"] = median(cpu)
            t["background_us_per_request"] = median([s["background_us_per_request"] for s in xs
                                                     if "background_us_per_request" in s])
        if not name.startswith("ceiling"):
            t["ratio_to_ceiling"] = ratio(name, "ceiling_3n" if name.startswith("order_3n") else "ceiling")
        summary["targets"][name] = t
        print("  %-9s %8.0f/s  p50 %6.2f ms  p99 %6.2f ms  p999 %6.2f ms%s%s" % (
            name, t["rps"], t["p50_ms"], t["p99_ms"], t["p999_ms"],
            "  %.1f%% of the ceiling" % (100 * t["ratio_to_ceiling"]) if "ratio_to_ceiling" in t else "",
            "  node CPU %.0f us/request (%.0f background)" % (t["node_cpu_us_per_request"],
                                                             t["background_us_per_request"])
            if "node_cpu_us_per_request" in t else ""))
    o = summary["targets"]["order"]
    checks = [
        ("one node: place-order >= 30% of the ceiling", o["ratio_to_ceiling"] >= 0.30,
         "%.1f%%" % (100 * o["ratio_to_ceiling"])),
        ("one node: place-order >= 10x Go+PostgreSQL (%d/s, the issue's figure)" % GO_PG_ORDERS_PER_S,
         o["rps"] >= 10 * GO_PG_ORDERS_PER_S, "%.1fx" % (o["rps"] / GO_PG_ORDERS_PER_S)),
        ("one node: place-order p99 <= 5 ms at %d connections" % a.connections, o["p99_ms"] <= 5.0,
         "%.2f ms" % o["p99_ms"]),
        ("one node: menu reads >= 60% of the ceiling", summary["targets"]["menu"]["ratio_to_ceiling"] >= 0.60,
         "%.1f%%" % (100 * summary["targets"]["menu"]["ratio_to_ceiling"])),
    ]
    if "order_3n" in samples:
        # Raw medians: the cluster's own idle load is part of what it costs (ceiling_3n shows it).
        r3 = summary["targets"]["order_3n"]["rps"] / o["rps"]
        summary["idle_cluster_cpu_percent"] = idle_cpu
        print("  an idle %d-node cluster uses %.0f%% of one core (the ceiling beside it: %.0f%% of the one-node "
              "phase's)" % (a.nodes, idle_cpu, 100 * summary["targets"]["ceiling_3n"]["rps"]
                            / summary["targets"]["ceiling"]["rps"]))
        summary["targets"]["order_3n"]["ratio_to_one_node"] = r3
        summary["entry_node_led_restaurant"] = entry_leads
        r3f = summary["targets"]["order_3n_fwd"]["rps"] / o["rps"]
        summary["targets"]["order_3n_fwd"]["ratio_to_one_node"] = r3f
        print("  order_3n entered at the restaurant's leader%s; order_3n_fwd at a follower (every order forwarded "
              "to the leader): %.1f%% of one node" % ("" if entry_leads else " (not known: at n1)", 100 * r3f))
        checks.append(("3 nodes: place-order >= 40% of one node", r3 >= 0.40, "%.1f%%" % (100 * r3)))
    summary["checks"] = [{"target": c[0], "met": c[1], "measured": c[2]} for c in checks]
    print("\ntargets (issue 10):")
    for c in checks:
        print("  %-4s %-66s %s" % ("met" if c[1] else "MISS", c[0], c[2]))
    print("node RSS after the run: %d MiB" % (rss_kib // 1024))
    write_summary(a.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
