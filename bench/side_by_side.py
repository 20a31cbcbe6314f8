#!/usr/bin/env python3
"""Two builds loaded at the same time, each with its own wrk, so that both live through the same phase of the
machine: the comparison for changes smaller than this machine's swings.

This 2-core machine's speed changes by up to 1.6x within minutes, with no steal time to show it; runs one
after the other (bench/paired.py, even in ABBA order) then differ by more than most changes: 3-node pairs of
one build showed a +-12 % order effect, and two paired runs of one change gave +12 % and -16 %. Side by side,
both deployments share the cores under one scheduler, so a build that needs less CPU per order places more
orders in the same time, and a phase of the machine moves both alike. The same build on both sides (A against
A) measured within +-1 % per round (3 nodes, 3 rounds of 30 s; `--a X --b X`). What it measures is a
saturated machine: each side has half of it, so each places about half the orders it would alone; a change
that only helps an idle machine (less latency, not less CPU) shows little here, and one in how many threads a
node runs is judged for half the cores it would have alone.

Each round: fresh deployments of A and B (one node each, or a 3-node cluster each with replication 3, entered
at the restaurant's leader after `--settle` idle seconds), each set up as the lunch rush (one restaurant, 20
items, 50 customers), 2 s of warm-up, then `--seconds` of wrk at `--connections` on both at once. Printed per
round: each side's req/s, p99 and CPU per answered request (utime+stime of its nodes; in brackets the part of
it in RocksDB's flush and compaction threads), and B's change; then the medians of B/A over the rounds. The
order of starting alternates between rounds. Background work that a change saves frees a share of the machine
that the scheduler hands to both sides, so such a change shows in B's CPU per request more than in its req/s.

Usage: bench/side_by_side.py --a OLD_BINARY --b NEW_BINARY [--nodes 1|3] [--rounds 3] [--seconds 30]
       [--mode order|menu|catalog] [--settle 25] [--connections 64] [--out FILE]
       (build the old one from `git worktree add` or `git stash`; needs wrk: scripts/setup.sh --bench)
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import lunch_rush  # noqa: E402
from bench_common import background_seconds, cpu_seconds  # noqa: E402


def one_round(a, binaries, order):
    top = tempfile.mkdtemp(prefix="bento-bench-side-")
    deployed = {}
    try:
        for name in order:
            deployed[name] = lunch_rush.start_rush(binaries[name], os.path.join(top, name), a.nodes)
        targets = {}
        for name in order:
            rid, tokens = lunch_rush.set_up(deployed[name][0].port)
            targets[name] = (rid, lunch_rush.wrk_env(a.mode, rid, tokens))
        time.sleep(a.settle if a.nodes > 1 else 0)  # a new cluster hands leaderships back for its first ~30 s
        for name in order:
            rid, env = targets[name]
            targets[name] = ("http://127.0.0.1:%d" % lunch_rush.rush_entry(deployed[name], rid).port, env)
        results, failures = {}, []

        def load(name, seconds):
            try:
                results[name] = lunch_rush.wrk(targets[name][0], seconds, a.connections, targets[name][1])
            except Exception as e:  # reported below, after both loads have ended
                failures.append("%s: %s" % (name, e))

        def both(seconds):
            threads = [threading.Thread(target=load, args=(name, seconds)) for name in order]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if failures:
                raise RuntimeError("; ".join(failures))

        both(2)
        pids = {name: [n.proc.pid for n in deployed[name]] for name in order}
        before = {name: (cpu_seconds(pids[name]), background_seconds(pids[name])) for name in order}
        both(a.seconds)
        for name in order:
            r = results[name]
            answered = max(r["2xx"], 1)
            r["cpu_us"] = (cpu_seconds(pids[name]) - before[name][0]) * 1e6 / answered
            r["background_us"] = (background_seconds(pids[name]) - before[name][1]) * 1e6 / answered
        return results
    finally:
        for nodes in deployed.values():
            lunch_rush.stop_all(nodes)
        shutil.rmtree(top, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    lunch_rush.add_comparison_args(p, default_seconds=30)
    p.add_argument("--nodes", type=int, default=1, choices=[1, 3])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--settle", type=int, default=25, help="idle seconds after a cluster's set-up (3 nodes)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections on each side")
    p.add_argument("--out", help="write the rounds and medians as JSON here")
    a = p.parse_args()
    binaries = {"A": a.a, "B": a.b}
    rounds = []
    for i in range(a.rounds):
        order = ["A", "B"] if i % 2 == 0 else ["B", "A"]
        r = one_round(a, binaries, order)
        rounds.append(r)
        print("round %d: %s | B against A %+.1f%% req/s, %+.1f%% CPU per request" % (
            i + 1, "  ".join("%s %6.0f/s p99 %5.1f ms %5.1f us (%4.1f background)" % (
                k, r[k]["rps"], r[k]["p99_us"] / 1e3, r[k]["cpu_us"], r[k]["background_us"]) for k in ("A", "B")),
            100 * (r["B"]["rps"] / r["A"]["rps"] - 1), 100 * (r["B"]["cpu_us"] / r["A"]["cpu_us"] - 1)), flush=True)
    rps = [r["B"]["rps"] / r["A"]["rps"] - 1 for r in rounds]
    cpu = [r["B"]["cpu_us"] / r["A"]["cpu_us"] - 1 for r in rounds]
    summary = {"a": a.a, "b": a.b, "nodes": a.nodes, "mode": a.mode, "seconds": a.seconds,
               "connections": a.connections, "rounds": rounds,
               "median_rps_change": lunch_rush.median(rps), "median_cpu_change": lunch_rush.median(cpu)}
    print("\nB against A, side by side (%s, %d node(s), %d rounds of %d s): %+.1f%% req/s (rounds %s), %+.1f%% CPU "
          "per request (rounds %s)" % (a.mode, a.nodes, a.rounds, a.seconds, 100 * summary["median_rps_change"],
                                       " ".join("%+.1f%%" % (100 * v) for v in rps), 100 * summary["median_cpu_change"],
                                       " ".join("%+.1f%%" % (100 * v) for v in cpu)))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
