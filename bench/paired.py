#!/usr/bin/env python3
"""Two builds compared in alternating runs, for a machine whose speed swings (this 2-core one: up to 1.6x within
minutes, so two single runs at different times say little).

Each run: a fresh node (the lunch rush's set-up: one restaurant, 20 items, 50 customers), 2 s of warm-up, then
`--seconds` of wrk at 64 connections in `--mode` (order | menu | catalog, as bench/lunch_rush.lua). Runs come in
`--pairs` pairs, A then B, then B then A (ABBA), ...; printed: each run's req/s, p99 and the node's CPU
(utime+stime) per answered request, then the medians and B's change against A, and each pair's own change with
their median (the steadier figure when the machine changes speed between pairs).

With --nodes 3: a fresh 3-node cluster per run (replication 3), wrk against the restaurant's leader (after the
settling), CPU summed over the nodes;
--settle S waits S idle seconds after the set-up (a new cluster hands shard leaderships back for ~30 s).

Usage: bench/paired.py --a OLD_BINARY --b NEW_BINARY [--mode order] [--seconds 8] [--pairs 5] [--nodes 1] [--settle 0]
       (build the old one from `git worktree add` or `git stash`; needs wrk: scripts/setup.sh --bench)
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import lunch_rush  # noqa: E402


def one_run(binary, mode, seconds, nodes=1, settle=0):
    top = tempfile.mkdtemp(prefix="bento-bench-paired-")
    started = []
    try:
        started = lunch_rush.start_rush(binary, top, nodes)
        pids = [n.proc.pid for n in started]
        rid, tokens = lunch_rush.set_up(started[0].port)
        env = lunch_rush.wrk_env(mode, rid, tokens)
        time.sleep(settle)  # a new cluster hands shard leaderships back to their home nodes for its first ~30 s
        url = "http://127.0.0.1:%d" % lunch_rush.rush_entry(started, rid).port
        lunch_rush.wrk(url, 2, 64, env)
        before = lunch_rush.cpu_seconds(pids)
        r = lunch_rush.wrk(url, seconds, 64, env)
        r["cpu_us"] = (lunch_rush.cpu_seconds(pids) - before) * 1e6 / max(r["2xx"], 1)
        return r
    finally:
        lunch_rush.stop_all(started)
        shutil.rmtree(top, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    lunch_rush.add_comparison_args(p, default_seconds=8)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--nodes", type=int, default=1, help="1, or a cluster of this many (replication 3)")
    p.add_argument("--settle", type=int, default=0, help="idle seconds after set-up before the load")
    a = p.parse_args()
    runs = {"A": [], "B": []}
    for i in range(a.pairs):
        # A then B, then B then A (ABBA): a machine that speeds up or slows down over the run weighs on both.
        order = (("A", a.a), ("B", a.b)) if i % 2 == 0 else (("B", a.b), ("A", a.a))
        for name, binary in order:
            r = one_run(binary, a.mode, a.seconds, a.nodes, a.settle)
            runs[name].append(r)
            print("pair %d %s %8.0f/s  p99 %6.1f ms  node CPU %6.1f us/request" % (
                i + 1, name, r["rps"], r["p99_us"] / 1e3, r["cpu_us"]), flush=True)
    med = {k: (lunch_rush.median([r["rps"] for r in v]), lunch_rush.median([r["cpu_us"] for r in v]))
           for k, v in runs.items()}
    print("\nmedians (%s, %d node(s), %d pairs of %d s):" % (a.mode, a.nodes, a.pairs, a.seconds))
    for k, binary in (("A", a.a), ("B", a.b)):
        print("  %s %-40s %8.0f/s  %6.1f us/request" % (k, binary, med[k][0], med[k][1]))
    print("  B against A: %+.0f%% req/s, %+.0f%% node CPU per request" % (
        100 * (med["B"][0] / med["A"][0] - 1), 100 * (med["B"][1] / med["A"][1] - 1)))
    # Each pair's own ratio (its two runs back to back, in one phase of the machine), and their median: robust
    # to a phase change between pairs, which moves both medians above.
    rps = [b["rps"] / x["rps"] - 1 for x, b in zip(runs["A"], runs["B"]) if x["rps"] > 0]
    cpu = [b["cpu_us"] / x["cpu_us"] - 1 for x, b in zip(runs["A"], runs["B"]) if x["cpu_us"] > 0]
    if rps and cpu:
        print("  per pair: req/s %s (median %+.0f%%), node CPU per request %s (median %+.0f%%)" % (
            " ".join("%+.0f%%" % (100 * v) for v in rps), 100 * lunch_rush.median(rps),
            " ".join("%+.0f%%" % (100 * v) for v in cpu), 100 * lunch_rush.median(cpu)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
