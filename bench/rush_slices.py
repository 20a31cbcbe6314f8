#!/usr/bin/env python3
"""Place-order on one node in consecutive slices, to see how its cost follows the orders already placed.

One fresh node with the lunch rush's set-up (one restaurant, 20 items, 50 customers), then `--slices` runs of wrk
at 64 connections for `--seconds` each, back to back. Printed per slice: the orders placed so far, req/s, p99, the
node's CPU (utime+stime) per answered order and its RSS. The lunch rush's one-node order rounds sit on this curve
(they follow each other on one node), which is why its one-node figure is below a fresh node's.

Usage: bench/rush_slices.py [--slices 8] [--seconds 5] [--binary build/bin/bento-node]
"""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import lunch_rush  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--slices", type=int, default=8)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--binary", default="build/bin/bento-node")
    a = p.parse_args()
    top = tempfile.mkdtemp(prefix="bento-bench-slices-")
    node = None
    try:
        node = lunch_rush.start_rush_node(a.binary, os.path.join(top, "n"))
        rid, tokens = lunch_rush.set_up(node.port)
        env = lunch_rush.wrk_env("order", rid, tokens)
        placed = 0
        for i in range(a.slices):
            before = lunch_rush.cpu_seconds([node.proc.pid])
            r = lunch_rush.wrk("http://127.0.0.1:%d" % node.port, a.seconds, 64, dict(env, BENTO_SEED=str(i)))
            cpu = lunch_rush.cpu_seconds([node.proc.pid]) - before
            placed += r["2xx"]
            print("slice %d  %8d orders placed  %6.0f/s  p99 %5.1f ms  node CPU %4.0f us/order  RSS %d MiB" % (
                i + 1, placed, r["rps"], r["p99_us"] / 1e3, cpu * 1e6 / max(1, r["2xx"]), node.rss_kib() // 1024),
                flush=True)
    finally:
        if node:
            node.stop()
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
